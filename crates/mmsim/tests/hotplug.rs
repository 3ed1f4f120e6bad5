//! Hotplug cases of reference §10 that a scenario cannot express (custom
//! notifiers and callbacks, concurrency, internal return values).

use mmsim::hotplug::notifier::{MemAction, MemoryNotifier, MemoryNotify, NOTIFY_BAD, NOTIFY_OK};
use mmsim::hotplug::owner::Mark;
use mmsim::hotplug::{MemoryBlockState, OnlinePageCallback, OnlineType, Task};
use mmsim::page::{PageType, Pfn, PhysAddr, ZoneType};
use mmsim::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use mmsim::sync::{thread, Arc};
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

/// Vetoes MEM_GOING_ONLINE for one PFN range only.
struct VetoRange(Pfn);

impl MemoryNotifier for VetoRange {
    fn notify(&self, _m: &Machine, action: MemAction, arg: &MemoryNotify) -> i32 {
        if action == MemAction::GoingOnline && arg.start_pfn == self.0 {
            NOTIFY_BAD
        } else {
            NOTIFY_OK
        }
    }
}

// Reference §10 case 6: add_memory() auto-onlines block by block and stops at
// the first failure; the add itself succeeds (add_memory_resource ignores the
// walk's result).
#[test]
fn auto_online_stops_at_first_failure_add_memory_succeeds() {
    let m = Machine::boot(
        MachineConfig {
            auto_online: OnlineType::Online,
            ..Default::default()
        },
        Default::default(),
    )
    .unwrap();
    let second = PhysAddr(GIB4 + (128 << 20)).pfn();
    m.hotplug()
        .register_memory_notifier(Arc::new(VetoRange(second)), 0);
    m.add_memory(0, PhysAddr(GIB4), 384 << 20).unwrap();
    let state = |id| m.hotplug().find_block(id).unwrap().state();
    assert_eq!(state(32), MemoryBlockState::Online);
    assert_eq!(state(33), MemoryBlockState::Offline);
    assert_eq!(state(34), MemoryBlockState::Offline);
    assert_clean(&m);
}

/// Records whether any PFN of the block had an online page while the
/// callback ran.
struct Probe {
    seen_online: AtomicBool,
    calls: AtomicUsize,
}

impl OnlinePageCallback for Probe {
    fn online_page(&self, m: &Machine, pfn: Pfn, order: u32) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if m.mem().pfn_to_online_page(pfn).is_some() {
            self.seen_online.store(true, Ordering::Relaxed);
        }
        m.generic_online_page(pfn, order);
    }
}

// Reference §10 case 16: while online callbacks run, pfn_to_online_page() of
// the block is NULL (online_pages_range sets SECTION_IS_ONLINE afterwards).
#[test]
fn online_callback_runs_before_section_is_online() {
    let m = machine();
    m.add_memory(0, PhysAddr(GIB4), 128 << 20).unwrap();
    let probe = Arc::new(Probe {
        seen_online: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
    });
    let cb: Arc<dyn OnlinePageCallback> = probe.clone();
    m.set_online_page_callback(cb.clone()).unwrap();
    let blk = m.hotplug().find_block(32).unwrap();
    m.online_memory_block(&blk, OnlineType::OnlineMovable)
        .unwrap();
    assert!(!probe.seen_online.load(Ordering::Relaxed));
    // MAX_PAGE_ORDER chunks: 32768 / 1024.
    assert_eq!(probe.calls.load(Ordering::Relaxed), 32);
    assert!(m.mem().pfn_to_online_page(PhysAddr(GIB4).pfn()).is_some());
    m.restore_online_page_callback(&cb).unwrap();
    assert_clean(&m);
}

// Reference §10 case 31: `state` reads going-offline during a long offline
// attempt and `online` reads 1 (memory_block_change_state sets the state
// before offline_pages runs).
#[test]
fn state_reads_going_offline_during_offline_attempt() {
    let m = Arc::new(machine());
    m.add_memory(0, PhysAddr(GIB4), 128 << 20).unwrap();
    let blk = m.hotplug().find_block(32).unwrap();
    m.online_memory_block(&blk, OnlineType::OnlineMovable)
        .unwrap();
    // An unmovable page in ZONE_MOVABLE: the offline loops until a signal.
    m.owner_alloc_contig("pin", PhysAddr(GIB4).pfn() + 100, 1)
        .unwrap();
    m.owner_mark("pin", Mark::Slab).unwrap();
    let task = Arc::new(Task::new());
    let worker = {
        let (m, blk, task) = (m.clone(), blk.clone(), task.clone());
        thread::spawn(move || m.device_offline(&blk, &task))
    };
    while blk.state() != MemoryBlockState::GoingOffline {
        thread::yield_now();
    }
    assert!(blk.dev_online(), "`online` reads 1 while going offline");
    task.send_signal();
    assert_eq!(worker.join().unwrap(), Err(Errno::EINTR));
    assert_eq!(blk.state(), MemoryBlockState::Online);
    m.owner_free("pin").unwrap();
    assert_clean(&m);
}

// Reference §10 case 32: a second isolator of an overlapping range gets EBUSY
// (set_migratetype_isolate on an already isolated pageblock).
#[test]
fn overlapping_isolation_is_busy() {
    let m = machine();
    let start = Pfn(0x20000);
    m.start_isolate_page_range(start, start + 1024, IsolateMode::Other)
        .unwrap();
    assert_eq!(
        m.alloc_contig_range(start + 512, start + 2048, IsolateMode::Other),
        Err(Errno::EBUSY)
    );
    // The failed isolator undid only its own pageblocks.
    assert!(m.mem().pageblock_isolated(start));
    assert!(!m.mem().pageblock_isolated(start + 1536));
    m.undo_isolate_page_range(start, start + 1024);
    m.alloc_contig_range(start + 512, start + 2048, IsolateMode::Other)
        .unwrap();
    m.free_contig_range(start + 512, 1536);
    assert_clean(&m);
}

// Reference §10 case 34: test_pages_isolated() accepts buddy, HWPoison and
// refcount-0 PageOffline pages only in MEM_OFFLINE mode.
#[test]
fn test_pages_isolated_page_kinds() {
    let m = machine();
    let start = Pfn(0x30000);
    let end = start + 512;
    m.owner_alloc_contig("off", start + 7, 1).unwrap();
    m.owner_mark("off", Mark::Offline).unwrap();
    m.start_isolate_page_range(start, end, IsolateMode::MemOffline)
        .unwrap();
    // Refcount 1: not isolated in any mode.
    assert_eq!(
        m.test_pages_isolated(start, end, IsolateMode::MemOffline),
        Err(Errno::EBUSY)
    );
    let page = m.page(start + 7);
    assert!(page.ref_dec_and_test());
    m.test_pages_isolated(start, end, IsolateMode::MemOffline)
        .unwrap();
    assert_eq!(
        m.test_pages_isolated(start, end, IsolateMode::Other),
        Err(Errno::EBUSY)
    );
    page.ref_inc();
    m.undo_isolate_page_range(start, end);
    m.owner_free("off").unwrap();
    // A free range is isolated in every mode once isolated.
    m.start_isolate_page_range(start, end, IsolateMode::Other)
        .unwrap();
    m.test_pages_isolated(start, end, IsolateMode::Other)
        .unwrap();
    m.undo_isolate_page_range(start, end);
    assert_clean(&m);
}

// Reference §10 case 35: __offline_isolated_pages() returns nr_pages minus the
// PageOffline pages; a referenced PageOffline page there is a BUG the model
// reports.
#[test]
fn offline_isolated_pages_counts_and_reports_referenced_pageoffline() {
    let m = machine();
    m.add_memory(0, PhysAddr(GIB4), 128 << 20).unwrap();
    let blk = m.hotplug().find_block(32).unwrap();
    m.online_memory_block(&blk, OnlineType::OnlineMovable)
        .unwrap();
    let start = PhysAddr(GIB4).pfn();
    m.owner_alloc_contig("fake", start + 512, 512).unwrap();
    m.owner_mark("fake", Mark::FakeOffline).unwrap();
    let zone = m.zone(0, ZoneType::Movable);
    let managed = zone.managed_pages();
    assert_eq!(managed, (BLOCK_PAGES - 512) as i64);
    m.device_offline(&blk, &Task::new()).unwrap();
    assert_eq!(zone.managed_pages(), 0);
    assert!(m.take_bugs().is_empty());

    // Drive the internal step directly with a referenced PageOffline page:
    // the pipeline never gets there (scan_movable_pages says EBUSY first), so
    // reaching it is a kernel BUG, which the model records.
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
}

// mm/page_alloc.c: movable allocations prefer ZONE_MOVABLE, kernel allocations
// never use it (zonelist order, gfp_zone).
#[test]
fn zonelist_movable_prefers_zone_movable() {
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
}

// Balloon migration keeps the page's bytes (movable_ops migrate_page copies).
#[test]
fn movable_ops_migration_keeps_bytes() {
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
}

// Hot-remove with memmap_free=rcu returns the memmap only after a grace
// period: a reader inside rcu_read_lock still sees initialised slots.
#[test]
fn memmap_free_rcu_defers_poisoning_past_readers() {
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
}

// mm/page_alloc.c prep_compound_page / free_pages_prepare: a __GFP_COMP
// allocation is a folio (head PG_head, tails point at it, order in the first
// tail); freeing undoes it and the block merges back.
#[test]
fn compound_allocation_is_a_folio_and_frees_clean() {
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
}

// mm/memory_hotplug.c: __add_pages() runs under mem_hotplug_begin(), which
// waits for every get_online_mems() reader; `sparse add` takes the lock
// itself (Machine::sparse_add).
#[test]
fn sparse_add_waits_for_online_mems_reader() {
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
    let (m, blk, pfn) = fake_offline_block("skippable");
    m.page_get(pfn).unwrap();
    m.device_offline(&blk, &Task::new()).unwrap();
    let bugs = m.take_bugs();
    assert_eq!(bugs.len(), 1, "{bugs:?}");
    assert!(bugs[0].contains("refcount 2"), "{bugs:?}");
}

// offline_skip=frozen (the future the proposal's comment describes): the
// driver's pages sit frozen at refcount 0, so the speculative reference
// fails and the offline leaves nothing behind; freeing thaws them.
#[test]
fn frozen_offline_admits_no_speculative_reference() {
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
}
