//! Hotplug cases of reference §10 that a scenario cannot express (custom
//! notifiers and callbacks, concurrency, internal return values).

mod common;

use mmsim::hotplug::notifier::{MemAction, MemoryNotifier, MemoryNotify, NOTIFY_OK};
use mmsim::hotplug::owner::Mark;
use mmsim::hotplug::{MemoryBlock, MemoryBlockState, OnlinePageCallback, OnlineType, Task};
use mmsim::page::{PageType, Pfn, PhysAddr, ZoneType};
use mmsim::sync::atomic::{AtomicBool, Ordering};
use mmsim::sync::{thread, Arc, Mutex};
use mmsim::walkers::KPF_BUDDY;
use mmsim::zone::isolation::IsolateMode;
use mmsim::{Errno, Machine, MachineConfig};

const GIB4: u64 = 4 << 30;
const BLOCK_PAGES: u64 = 32768;

fn machine() -> Machine {
    Machine::boot(MachineConfig::default(), Default::default()).expect("boot")
}

fn assert_clean(m: &Machine) {
    let v = m.check_all();
    assert!(v.is_empty(), "{v:#?}");
}

/// Hot-adds memory32 at 4 GiB and onlines it to ZONE_MOVABLE.
fn movable_block(m: &Machine) -> Arc<MemoryBlock> {
    m.add_memory(0, PhysAddr(GIB4), 128 << 20).unwrap();
    let blk = m.hotplug().find_block(32).unwrap();
    m.online_memory_block(&blk, OnlineType::OnlineMovable)
        .unwrap();
    blk
}

/// An unmovable page (slab) in memory32's ZONE_MOVABLE, which isolation lets
/// through: an offline of the block loops until a signal.
fn pin_unmovable(m: &Machine) {
    m.owner_alloc_contig("pin", PhysAddr(GIB4).pfn() + 100, 1)
        .unwrap();
    m.owner_mark("pin", Mark::Slab).unwrap();
}

/// Polls `cond` between yields, at most `steps` times (a bound in steps, not
/// time); whether it came true.
fn poll(steps: u64, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..steps {
        if cond() {
            return true;
        }
        thread::yield_now();
    }
    cond()
}

/// Records, at each event and each online_page callback, whether the
/// block's first PFN has an online page.
#[derive(Default)]
struct OnlineProbe {
    start: Pfn,
    seen: Mutex<Vec<(&'static str, bool)>>,
}

impl OnlineProbe {
    fn record(&self, m: &Machine, what: &'static str) {
        let online = m.mem().pfn_to_online_page(self.start).is_some();
        self.seen.lock().push((what, online));
    }
}

impl OnlinePageCallback for OnlineProbe {
    fn online_page(&self, m: &Machine, pfn: Pfn, order: u32) {
        self.record(m, "callback");
        m.generic_online_page(pfn, order);
    }
}

impl MemoryNotifier for OnlineProbe {
    fn notify(&self, m: &Machine, action: MemAction, _arg: &MemoryNotify) -> i32 {
        self.record(m, action.name());
        NOTIFY_OK
    }
}

// Reference §10 case 16: while the online_page callbacks run,
// pfn_to_online_page() of the block is NULL — online_pages_range() calls
// them before online_mem_sections() sets SECTION_IS_ONLINE — and it is
// non-NULL by MEM_ONLINE.
#[test]
fn case16_pfn_to_online_page_null_while_online_callbacks_run() {
    common::model_test(|| {
        let m = machine();
        m.add_memory(0, PhysAddr(GIB4), 128 << 20).unwrap();
        let probe = Arc::new(OnlineProbe {
            start: PhysAddr(GIB4).pfn(),
            ..Default::default()
        });
        let cb: Arc<dyn OnlinePageCallback> = probe.clone();
        m.set_online_page_callback(cb.clone()).unwrap();
        m.hotplug().register_memory_notifier(probe.clone(), 0);
        let blk = m.hotplug().find_block(32).unwrap();
        m.online_memory_block(&blk, OnlineType::OnlineMovable)
            .unwrap();
        let seen = probe.seen.lock().clone();
        // MAX_PAGE_ORDER chunks: 32768 / 1024 callbacks between the two events.
        let mut want = vec![("MEM_GOING_ONLINE", false)];
        want.extend(std::iter::repeat_n(("callback", false), 32));
        want.push(("MEM_ONLINE", true));
        assert_eq!(seen, want);
        m.restore_online_page_callback(&cb).unwrap();
        assert_clean(&m);
    });
}

// Reference §10 case 31: during a long offline attempt (offline_pages()
// retries forever on an unmovable page in ZONE_MOVABLE) another reader sees
// `state` = going-offline (memory_block_change_state() sets it before
// offline_pages() runs; state_show() reads it unlocked), while a read of
// `online` waits for the attempt to end (online_show() takes device_lock,
// which device_offline() holds) and then reads 1.
#[test]
fn case31_state_reads_going_offline_during_a_long_offline_attempt() {
    common::model_test(|| {
        let m = Arc::new(machine());
        movable_block(&m);
        pin_unmovable(&m);
        let state = "devices/system/memory/memory32/state";
        let task = Arc::new(Task::new());
        let writer = {
            let (m, task) = (m.clone(), task.clone());
            thread::spawn(move || m.sysfs_write(state, "offline", &task))
        };
        let seen = poll(10_000_000, || {
            m.sysfs_read(state).unwrap() == "going-offline\n"
        });
        // The reader of `online` blocks on device_lock until the attempt ends.
        let reader_done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (m, done) = (m.clone(), reader_done.clone());
            thread::spawn(move || {
                let online = m.sysfs_read("devices/system/memory/memory32/online");
                // Release pairs with the Acquire loads below.
                done.store(true, Ordering::Release);
                (online, m.sysfs_read(state))
            })
        };
        // Acquire pairs with the reader's Release store.
        let returned_early = poll(100_000, || reader_done.load(Ordering::Acquire));
        task.send_signal();
        assert_eq!(writer.join().unwrap(), Err(Errno::EINTR));
        let (online, after) = reader.join().unwrap();
        assert!(seen, "`state` never read going-offline");
        assert!(!returned_early, "`online` was read while the offline ran");
        assert_eq!(online.unwrap(), "1\n");
        assert_eq!(after.unwrap(), "online\n");
        m.owner_free("pin").unwrap();
        assert_clean(&m);
    });
}

// offline_pages() checks signal_pending() once per retry and gives up the
// CPU (cond_resched) between retries: a task told to signal itself after
// 20 ms of waiting ends an offline that cannot finish with -EINTR after 20
// retries, and one that can finish is never interrupted (the explorer's
// clockless signal, Task::signal_after_waiting).
#[test]
fn offline_pages_is_interrupted_only_after_waiting_its_signal_time() {
    common::model_test(|| {
        let m = machine();
        let blk = movable_block(&m);
        let task = Task::new();
        task.signal_after_waiting(std::time::Duration::from_millis(20));
        assert_eq!(m.device_offline(&blk, &task), Ok(true));
        assert!(!task.signal_pending(), "a finishing offline waited 20 ms");

        m.online_memory_block(&blk, OnlineType::OnlineMovable)
            .unwrap();
        pin_unmovable(&m);
        let task = Task::new();
        task.signal_after_waiting(std::time::Duration::from_millis(20));
        assert_eq!(m.device_offline(&blk, &task), Err(Errno::EINTR));
        assert_eq!(blk.state(), MemoryBlockState::Online);
        m.owner_free("pin").unwrap();
        assert_clean(&m);
    });
}

// Reference §10 case 32: of two isolators of overlapping ranges the later
// one gets EBUSY (set_migratetype_isolate() on a pageblock that is already
// isolated), and undoes only its own pageblocks.
#[test]
fn case32_overlapping_isolation_is_busy() {
    common::model_test(|| {
        let m = machine();
        let start = Pfn(0x20000);
        m.start_isolate_page_range(start, start + 1024, IsolateMode::Other)
            .unwrap();
        assert_eq!(
            m.alloc_contig_range(start + 512, start + 2048, IsolateMode::Other),
            Err(Errno::EBUSY)
        );
        assert!(m.mem().pageblock_isolated(start));
        assert!(!m.mem().pageblock_isolated(start + 1536));
        m.undo_isolate_page_range(start, start + 1024);
        m.alloc_contig_range(start + 512, start + 2048, IsolateMode::Other)
            .unwrap();
        m.free_contig_range(start + 512, 1536);
        assert_clean(&m);
    });
}

// Reference §10 case 32 against offlining: alloc_contig_range() over part of
// a block whose offline is in progress (offline_pages() isolated it, then
// loops) gets EBUSY; an offline of a block while alloc_contig_range() holds
// part of it isolated fails with EBUSY "failure to isolate range".
#[test]
fn case32_alloc_contig_range_and_offline_exclude_each_other() {
    common::model_test(|| {
        let m = Arc::new(machine());
        let blk = movable_block(&m);
        let start = PhysAddr(GIB4).pfn();
        pin_unmovable(&m);
        let task = Arc::new(Task::new());
        let offliner = {
            let (m, blk, task) = (m.clone(), blk.clone(), task.clone());
            thread::spawn(move || m.device_offline(&blk, &task))
        };
        // Until offline_pages() has isolated the range.
        let last = start + BLOCK_PAGES - 512;
        assert!(
            poll(10_000_000, || m.mem().pageblock_isolated(last)),
            "the offline never isolated"
        );
        // The offline cannot finish before we signal it, so the range stays
        // online for alloc_contig_range()'s caller (see its doc).
        assert_eq!(
            m.alloc_contig_range(start + 4096, start + 4608, IsolateMode::Other),
            Err(Errno::EBUSY)
        );
        task.send_signal();
        assert_eq!(offliner.join().unwrap(), Err(Errno::EINTR));
        m.owner_free("pin").unwrap();

        // The other way round: the offline starts while alloc_contig_range()
        // has its pageblock isolated and is migrating a movable page out.
        m.owner_alloc_contig("mover", start + 4100, 1).unwrap();
        m.owner_mark("mover", Mark::MovableOps).unwrap();
        let mut offline = None;
        m.page_alloc()
            .alloc_contig_range(
                start + 4096,
                start + 4608,
                IsolateMode::Other,
                &mut |first, end| {
                    if offline.is_none() {
                        offline = Some(m.device_offline(&blk, &Task::new()));
                    }
                    m.do_migrate_range(first, end)
                },
            )
            .unwrap();
        assert_eq!(offline, Some(Err(Errno::EBUSY)));
        assert_eq!(blk.state(), MemoryBlockState::Online);
        assert!(m
            .dmesg()
            .iter()
            .any(|l| l.contains("failed due to failure to isolate range")));
        m.free_contig_range(start + 4096, 512);
        m.owner_free("mover").unwrap();
        assert_clean(&m);
    });
}

// Reference §10 case 34: test_pages_isolated() accepts free (buddy) pages in
// every mode, but HWPoison pages and PageOffline pages with refcount 0 only
// in MEM_OFFLINE mode; a PageOffline page with refcount 1 is EBUSY in any
// (__test_page_isolated_in_pageblock()).
#[test]
fn case34_test_pages_isolated_page_kinds_by_mode() {
    common::model_test(|| {
        let m = machine();
        // ZONE_MOVABLE: isolation lets every page through in every mode, so
        // only test_pages_isolated() decides.
        let blk = movable_block(&m);
        let start = PhysAddr(GIB4).pfn();
        let end = start + 512;
        let isolated = |mode| {
            m.start_isolate_page_range(start, end, mode).unwrap();
            // As alloc_contig_range() does: a page on a pcp list is no
            // PageBuddy page to test_pages_isolated().
            m.drain_all_pages(Some(m.zone(0, ZoneType::Movable)));
            let ret = m.test_pages_isolated(start, end, mode);
            m.undo_isolate_page_range(start, end);
            ret
        };
        // Free pages only.
        assert_eq!(isolated(IsolateMode::Other), Ok(()));
        assert_eq!(isolated(IsolateMode::MemOffline), Ok(()));
        // A PageOffline page its owner holds (refcount 1).
        m.owner_alloc_contig("off", start + 7, 1).unwrap();
        m.owner_mark("off", Mark::Offline).unwrap();
        assert_eq!(isolated(IsolateMode::MemOffline), Err(Errno::EBUSY));
        assert_eq!(isolated(IsolateMode::Other), Err(Errno::EBUSY));
        // Its owner let go (as in MEM_GOING_OFFLINE): refcount 0.
        let page = m.page(start + 7);
        assert!(page.ref_dec_and_test());
        assert_eq!(isolated(IsolateMode::MemOffline), Ok(()));
        assert_eq!(isolated(IsolateMode::Other), Err(Errno::EBUSY));
        page.ref_inc();
        m.owner_free("off").unwrap();
        // A HWPoison page (memory_failure() took it off the buddy).
        m.memory_failure(start + 9).unwrap();
        assert_eq!(isolated(IsolateMode::MemOffline), Ok(()));
        assert_eq!(isolated(IsolateMode::Other), Err(Errno::EBUSY));
        // The block still goes offline around it.
        m.device_offline(&blk, &Task::new()).unwrap();
        assert_clean(&m);
    });
}

// Reference §10 case 35: __offline_isolated_pages() returns nr_pages minus
// the PageOffline pages (they were never managed); a PageOffline page still
// referenced there is a BUG the model reports.
#[test]
fn case35_offline_isolated_pages_counts_and_reports_referenced_pageoffline() {
    common::model_test(|| {
        let m = machine();
        let blk = movable_block(&m);
        let start = PhysAddr(GIB4).pfn();
        m.owner_alloc_contig("fake", start + 512, 512).unwrap();
        m.owner_mark("fake", Mark::FakeOffline).unwrap();
        let zone = m.zone(0, ZoneType::Movable);
        let managed = zone.managed_pages();
        assert_eq!(managed, (BLOCK_PAGES - 512) as i64);
        m.device_offline(&blk, &Task::new()).unwrap();
        assert_eq!(zone.managed_pages(), 0);
        assert!(m.take_bugs().is_empty());

        // Drive the internal step directly: the pipeline never gets there with
        // a referenced PageOffline page (scan_movable_pages() says EBUSY first),
        // so reaching it is a kernel BUG, which the model records.
        m.online_memory_block(&blk, OnlineType::OnlineMovable)
            .unwrap();
        m.owner_alloc_contig("held", start, 1).unwrap();
        m.owner_mark("held", Mark::Offline).unwrap();
        let hp = m.mem_hotplug_begin();
        m.start_isolate_page_range(start, start + BLOCK_PAGES, IsolateMode::MemOffline)
            .unwrap();
        let removed = m.offline_isolated_pages(&hp, zone, start, start + BLOCK_PAGES);
        assert_eq!(removed, BLOCK_PAGES - 1);
        let bugs = m.take_bugs();
        assert_eq!(bugs.len(), 1, "{bugs:?}");
        assert!(bugs[0].contains("refcount 1"), "{bugs:?}");
    });
}

// mm/page_alloc.c: movable allocations prefer ZONE_MOVABLE, kernel allocations
// never use it (zonelist order, gfp_zone).
#[test]
fn zonelist_movable_prefers_zone_movable() {
    common::model_test(|| {
        use mmsim::zone::alloc::Gfp;
        let m = Machine::boot(
            MachineConfig {
                movable: 512 << 20,
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap();
        let movable = m.alloc_pages(Gfp::MOVABLE, 0, 0).unwrap();
        assert_eq!(m.page(movable).zonenum(), ZoneType::Movable);
        let kernel = m.alloc_pages(Gfp::KERNEL, 0, 0).unwrap();
        assert_eq!(m.page(kernel).zonenum(), ZoneType::Dma32);
        m.put_pages(movable, 0);
        m.put_pages(kernel, 0);
        assert_clean(&m);
    });
}

// Balloon migration keeps the page's bytes (movable_ops migrate_page copies).
#[test]
fn movable_ops_migration_keeps_bytes() {
    common::model_test(|| {
        let m = machine();
        m.add_memory(0, PhysAddr(GIB4), 128 << 20).unwrap();
        let blk = m.hotplug().find_block(32).unwrap();
        m.online_memory_block(&blk, OnlineType::OnlineMovable)
            .unwrap();
        let pfn = PhysAddr(GIB4).pfn() + 42;
        m.owner_alloc_contig("b", pfn, 1).unwrap();
        m.owner_mark("b", Mark::MovableOps).unwrap();
        m.physmem().write(pfn.phys(), b"balloon contents").unwrap();
        m.device_offline(&blk, &Task::new()).unwrap();
        let moved = m.owner_pages("b").unwrap()[0];
        assert_ne!(moved, pfn);
        let mut buf = [0u8; 16];
        m.physmem().read(moved.phys(), &mut buf).unwrap();
        assert_eq!(&buf, b"balloon contents");
        assert!(m.page(moved).is_type(PageType::Offline));
        assert_clean(&m);
    });
}

// Hot-remove with memmap_free=rcu returns the memmap only after a grace
// period: a reader inside rcu_read_lock still sees initialised slots.
#[test]
fn memmap_free_rcu_defers_poisoning_past_readers() {
    common::model_test(|| {
        let mut variants = mmsim::variant::Variants::default();
        variants.set("memmap_free", "rcu").unwrap();
        let m = Machine::boot(MachineConfig::default(), variants).unwrap();
        m.add_memory(0, PhysAddr(GIB4), 128 << 20).unwrap();
        let blk = m.hotplug().find_block(32).unwrap();
        m.online_memory_block(&blk, OnlineType::OnlineMovable)
            .unwrap();
        m.device_offline(&blk, &Task::new()).unwrap();
        let pfn = PhysAddr(GIB4).pfn();
        let guard = m.rcu().read_lock();
        let page = m.mem().pfn_to_page(pfn).unwrap();
        let before = m.mem().memmap_stats();
        m.remove_memory(PhysAddr(GIB4), 128 << 20).unwrap();
        // The chunk is not back in the pool while we read.
        assert_eq!(m.mem().memmap_stats(), before);
        let _ = page.flags_raw();
        drop(guard);
        m.rcu().barrier();
        assert_eq!(m.mem().memmap_stats().1, before.1 + 1);
    });
}

// mm/page_alloc.c prep_compound_page / free_pages_prepare: a __GFP_COMP
// allocation is a folio (head PG_head, tails point at it, order in the first
// tail); freeing undoes it and the block merges back.
#[test]
fn compound_allocation_is_a_folio_and_frees_clean() {
    common::model_test(|| {
        use mmsim::page::{Folio, PG_HEAD};
        use mmsim::zone::alloc::Gfp;
        let m = machine();
        let head = m.alloc_pages(Gfp::KERNEL.comp(), 3, 0).unwrap();
        let folio = Folio::new(m.page(head), head, Some(m.page(head + 1)));
        assert_eq!((folio.order(), folio.nr_pages()), (3, 8));
        assert!(folio.is_large() && folio.head().test(PG_HEAD));
        assert_eq!(folio.ref_count(), 1);
        for i in 1..8 {
            assert_eq!(m.page(head + i).compound_head(), Some(head));
        }
        // page_is_unmovable: a compound page that is not on the LRU is unmovable
        // outside ZONE_MOVABLE, and the scan steps over the whole folio.
        let zone = m.page_zone(m.page(head));
        assert_eq!(
            m.page_is_unmovable(zone, head + 2, IsolateMode::Other),
            (true, 1)
        );
        m.put_pages(head, 3);
        assert!(!m.page(head).test(PG_HEAD));
        assert!(m.page(head + 5).compound_head().is_none());
        assert_clean(&m);
    });
}

// mm/memory_hotplug.c: __add_pages() runs under mem_hotplug_begin(), which
// waits for every get_online_mems() reader; `sparse add` takes the lock
// itself (Machine::sparse_add).
#[test]
fn sparse_add_waits_for_online_mems_reader() {
    common::model_test(|| {
        let m = Arc::new(machine());
        let mems = m.get_online_mems();
        let added = Arc::new(AtomicBool::new(false));
        let adder = {
            let (m, added) = (m.clone(), added.clone());
            thread::spawn(move || {
                m.sparse_add(PhysAddr(GIB4), 2 << 20).unwrap();
                added.store(true, Ordering::SeqCst);
            })
        };
        thread::sleep(std::time::Duration::from_millis(30));
        assert!(
            !added.load(Ordering::SeqCst),
            "__add_pages ran beside a get_online_mems() reader"
        );
        m.put_online_mems(mems);
        adder.join().unwrap();
        assert!(m.mem().pfn_valid(PhysAddr(GIB4).pfn()));
        assert!(!m.mem().pfn_valid(PhysAddr(GIB4 + (2 << 20)).pfn()));
        assert_eq!(
            m.sparse_add(PhysAddr(GIB4 + 4096), 2 << 20),
            Err(Errno::EINVAL)
        );
    });
}

/// Boots with `offline_skip=VALUE`, onlines the first hot-added block into
/// ZONE_NORMAL and fake-offlines one page of it; returns the block and page.
fn fake_offline_block(skip: &str) -> (Machine, Arc<mmsim::hotplug::MemoryBlock>, Pfn) {
    let mut variants = mmsim::variant::Variants::default();
    variants.set("offline_skip", skip).unwrap();
    let m = Machine::boot(MachineConfig::default(), variants).unwrap();
    m.add_memory(0, PhysAddr(GIB4), 128 << 20).unwrap();
    let blk = m.hotplug().find_block(32).unwrap();
    m.online_memory_block(&blk, OnlineType::OnlineKernel)
        .unwrap();
    let pfn = PhysAddr(GIB4).pfn() + 512;
    m.owner_alloc_contig("vmem", pfn, 1).unwrap();
    m.owner_mark("vmem", Mark::FakeOffline).unwrap();
    (m, blk, pfn)
}

// offline_skip=skippable (May 2025 proposal, reference §1.5): the skipped
// page keeps refcount 1, so a speculative reference (get_page_unless_zero by
// a PFN walker) succeeds on it and survives the offline:
// __offline_isolated_pages() finds refcount 2 — memory left with a
// reference on it.
#[test]
fn skippable_offline_leaves_a_speculative_reference_behind() {
    common::model_test(|| {
        let (m, blk, pfn) = fake_offline_block("skippable");
        m.page_get(pfn).unwrap();
        m.device_offline(&blk, &Task::new()).unwrap();
        let bugs = m.take_bugs();
        assert_eq!(bugs.len(), 1, "{bugs:?}");
        assert!(bugs[0].contains("refcount 2"), "{bugs:?}");
    });
}

// offline_skip=frozen (the future the proposal's comment describes): the
// driver's pages sit frozen at refcount 0, so the speculative reference
// fails and the offline leaves nothing behind; freeing thaws them.
#[test]
fn frozen_offline_admits_no_speculative_reference() {
    common::model_test(|| {
        let (m, blk, pfn) = fake_offline_block("frozen");
        assert_eq!(m.page(pfn).ref_count(), 0);
        assert_eq!(m.page_get(pfn), Err(Errno::EBUSY));
        assert_clean(&m);
        m.device_offline(&blk, &Task::new()).unwrap();
        assert!(m.take_bugs().is_empty());
        assert_clean(&m);

        // A page the driver keeps can be freed again: thawed, then put.
        let (m, _blk, pfn) = fake_offline_block("frozen");
        let managed = m.zone(0, ZoneType::Normal).managed_pages();
        m.owner_free("vmem").unwrap();
        assert_eq!(m.page(pfn).ref_count(), 0);
        // free_unref_page(): on a pcp list first, PageBuddy once drained.
        assert_eq!(m.kpageflags(pfn) & (1 << KPF_BUDDY), 0, "on a pcp list");
        m.drain_all_pages(None);
        assert_ne!(m.kpageflags(pfn) & (1 << KPF_BUDDY), 0, "back in the buddy");
        assert_eq!(m.zone(0, ZoneType::Normal).managed_pages(), managed + 1);
        assert_clean(&m);

        // Freezing fails while someone else holds a reference.
        let mut variants = mmsim::variant::Variants::default();
        variants.set("offline_skip", "frozen").unwrap();
        let m = Machine::boot(MachineConfig::default(), variants).unwrap();
        let pfn = PhysAddr(1 << 30).pfn();
        m.owner_alloc_contig("held", pfn, 1).unwrap();
        m.page_get(pfn).unwrap();
        assert_eq!(m.owner_mark("held", Mark::FakeOffline), Err(Errno::EBUSY));
    });
}

// The configuration's `prealloc` (QEMU's prealloc=on): boot RAM and every
// range add_memory() adds are backed by the host up front; without it a
// hot-added range costs the host nothing until it is written.
#[test]
fn prealloc_backs_boot_ram_and_hot_added_memory() {
    common::model_test(|| {
        // Preallocated first: its store is given back whole, so the next
        // machine of the thread starts with nothing resident (a recycled
        // store is only zeroed where it was written). The hot-added range
        // is one no other test writes.
        for prealloc in [true, false] {
            let ram = 256 << 20;
            let m = Machine::boot(
                MachineConfig {
                    ram,
                    prealloc,
                    ..Default::default()
                },
                Default::default(),
            )
            .unwrap();
            let (hot, size) = (100u64 << 30, 128u64 << 20);
            m.add_memory(0, PhysAddr(hot), size).unwrap();
            let resident = |addr: u64, len: u64| -> u64 {
                let runs = m.physmem().resident(PhysAddr(addr), len).unwrap();
                runs.iter().map(|r| r.end - r.start).sum()
            };
            if prealloc {
                assert_eq!(resident(0, ram), ram, "boot RAM");
                assert_eq!(resident(hot, size), size, "hot-added memory");
            } else {
                assert_eq!(resident(hot, size), 0, "hot-added memory");
            }
            assert_clean(&m);
        }
    });
}

// has_unmovable_pages() in ZONE_MOVABLE stops at the first PG_reserved page
// and nothing else: isolation fails there (the page is dumped with its PFN),
// while a slab page further on would be let through.
#[test]
fn movable_isolation_stops_at_the_first_reserved_page() {
    common::model_test(|| {
        let m = machine();
        let blk = movable_block(&m);
        let base = PhysAddr(GIB4).pfn();
        // Well inside a pageblock, past a subsection boundary.
        let reserved = base + 2 * 512 + 700;
        m.owner_alloc_contig("slab", base + 5, 1).unwrap();
        m.owner_mark("slab", Mark::Slab).unwrap();
        m.owner_alloc_contig("r", reserved, 1).unwrap();
        m.owner_mark("r", Mark::Reserved).unwrap();
        let before = m.dmesg().len();
        assert_eq!(m.device_offline(&blk, &Task::new()), Err(Errno::EBUSY));
        let dumped = format!("page dumped because: unmovable page (pfn {reserved})");
        assert!(
            m.dmesg()[before..].iter().any(|l| l.contains(&dumped)),
            "{:?}",
            &m.dmesg()[before..]
        );
        assert_eq!(blk.state(), MemoryBlockState::Online);
        assert_clean(&m);
    });
}
