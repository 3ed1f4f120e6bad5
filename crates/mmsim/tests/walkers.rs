//! PFN walkers: /proc/kcore, /proc/kpageflags, /proc/kpagecount and the
//! page_offline_freeze/begin protocol (reference §6.1, §6.2, §8.2 and test
//! cases 10 and 57–61 of §10).

mod common;

use common::wait_until;

use common::{page_types, page_types_summary};
use mmsim::errno::Errno;
use mmsim::hotplug::owner::Mark;
use mmsim::hotplug::OnlineType;
use mmsim::page::{PageType, Pfn, PhysAddr, PAGE_SIZE};
use mmsim::sparse::PAGES_PER_SECTION;
use mmsim::sync::atomic::{AtomicBool, Ordering};
use mmsim::sync::{thread, Arc};
use mmsim::variant::{KcoreSync, Variants};
use mmsim::walkers::*;
use mmsim::zone::alloc::Gfp;
use mmsim::zone::buddy::buddy_order;
use mmsim::{Machine, MachineConfig};
use std::path::PathBuf;
use std::process::Command;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn boot_with(ram: u64, variants: Variants) -> Machine {
    let cfg = MachineConfig {
        ram,
        ..Default::default()
    };
    Machine::boot(cfg, variants).expect("boot")
}

fn boot(ram: u64) -> Machine {
    boot_with(ram, Variants::default())
}

/// A free page well inside boot RAM (DMA32, far from the reserved kernel
/// image) that tests may allocate.
const FREE_PFN: Pfn = Pfn(0x20000);

/// Decodes a kpage read into its u64 entries.
fn entries(bytes: &[u8]) -> Vec<u64> {
    assert_eq!(bytes.len() % 8, 0);
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

/// True once a writer waits for (or holds) page_offline_rwsem: the rwsem
/// prefers writers, so a read trylock then fails.
fn writer_queued(m: &Machine) -> bool {
    m.page_offline_rwsem().down_read_trylock().is_none()
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mmsim-walkers-{}-{name}", std::process::id()))
}

// ----- /proc/kcore (case 57) -------------------------------------------------

// read_kcore_iter(), KCORE_RAM: an online, ordinary page reads as its bytes,
// also across a page boundary (case 57, "real content otherwise").
#[test]
fn kcore_reads_real_content() {
    common::model_test(|| {
        let m = boot(GIB);
        let addr = FREE_PFN.phys() + (PAGE_SIZE - 3);
        m.physmem().write(addr, b"across").unwrap();
        assert_eq!(m.kcore_read(addr, 6), b"across");
        assert_eq!(m.kcore_page(FREE_PFN + 1, 0, 3), b"oss");
    });
}

// read_kcore_iter(): PageOffline pages read as zeros (case 57).
#[test]
fn kcore_zeros_for_page_offline() {
    common::model_test(|| {
        let m = boot(GIB);
        m.owner_alloc_contig("balloon", FREE_PFN, 1).unwrap();
        m.physmem().fill(FREE_PFN.phys(), PAGE_SIZE, 0xaa).unwrap();
        assert_eq!(
            m.kcore_page(FREE_PFN, 0, PAGE_SIZE),
            vec![0xaa; PAGE_SIZE as usize]
        );
        m.owner_mark("balloon", Mark::Offline).unwrap();
        assert_eq!(
            m.kcore_page(FREE_PFN, 0, PAGE_SIZE),
            vec![0; PAGE_SIZE as usize]
        );
    });
}

// read_kcore_iter(): is_page_hwpoison() pages read as zeros (case 57).
#[test]
fn kcore_zeros_for_hwpoison() {
    common::model_test(|| {
        let m = boot(GIB);
        m.physmem().fill(FREE_PFN.phys(), PAGE_SIZE, 0x55).unwrap();
        m.memory_failure(FREE_PFN).unwrap();
        assert_eq!(m.kcore_page(FREE_PFN, 0, 16), vec![0; 16]);
        assert_eq!(
            m.kcore_page(FREE_PFN + 1, 0, 1),
            [0x00],
            "the neighbour was never written"
        );
        assert_eq!(kpageflags_names(m.kpageflags(FREE_PFN)), "hwpoison");
    });
}

// read_kcore_iter(): pfn_to_online_page() is NULL in an offline section, so
// its bytes read as zeros; once onlined, the same bytes are visible (case 57).
#[test]
fn kcore_zeros_for_offline_section() {
    common::model_test(|| {
        let m = boot(GIB);
        let start = PhysAddr(GIB);
        m.add_memory(0, start, 128 * MIB).unwrap();
        m.physmem().write(start + 0x10, b"hotplugged").unwrap();
        assert_eq!(m.kcore_read(start + 0x10, 10), vec![0; 10]);
        let block = m.hotplug().find_block(8).unwrap();
        m.online_memory_block(&block, OnlineType::Online).unwrap();
        assert_eq!(m.kcore_read(start + 0x10, 10), b"hotplugged");
    });
}

// read_kcore_iter(): the legacy hole [0xa0000, 0x100000) is not System RAM,
// so no KCORE_RAM entry covers it; the RAM page below it reads (case 57).
#[test]
fn kcore_zeros_for_hole() {
    common::model_test(|| {
        let m = boot(GIB);
        m.physmem().fill(PhysAddr(0x9f000), 0x2000, 0x77).unwrap();
        let out = m.kcore_read(PhysAddr(0x9f000), 0x2000);
        assert_eq!(out[..0x1000], vec![0x77; 0x1000]);
        assert_eq!(out[0x1000..], vec![0; 0x1000]);
    });
}

// ----- page_offline_rwsem (case 58) ------------------------------------------

// mm/util.c: a frozen reader blocks page_offline_begin() until it thaws
// (case 58).
#[test]
fn page_offline_begin_waits_for_frozen_reader() {
    common::model_test(|| {
        let m = Arc::new(boot(GIB));
        let entered = Arc::new(AtomicBool::new(false));
        let frozen = m.page_offline_freeze();
        let driver = {
            let (m, entered) = (m.clone(), entered.clone());
            thread::spawn(move || {
                let begun = m.page_offline_begin();
                entered.store(true, Ordering::SeqCst);
                m.page_offline_end(begun);
            })
        };
        wait_until("the driver waits in page_offline_begin", || {
            writer_queued(&m)
        });
        assert!(
            !entered.load(Ordering::SeqCst),
            "the driver got in while frozen"
        );
        m.page_offline_thaw(frozen);
        driver.join().unwrap();
        assert!(entered.load(Ordering::SeqCst));
    });
}

// read_kcore_iter(): a driver waiting in page_offline_begin() gets in at the
// reader's first thaw, after at most 1023 pages (every MAX_ORDER_NR_PAGES);
// the page it sets PageOffline meanwhile is then read as zeros (case 58).
#[test]
fn kcore_reader_lets_driver_in_every_1024_pages() {
    common::model_test(|| {
        let m = Arc::new(boot(GIB));
        let victim = FREE_PFN + 1500;
        m.owner_alloc_contig("victim", victim, 1).unwrap();
        m.physmem().fill(victim.phys(), PAGE_SIZE, 0xaa).unwrap();

        let go = Arc::new(AtomicBool::new(false));
        let entered = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let driver = {
            let (m, go, entered, done) = (m.clone(), go.clone(), entered.clone(), done.clone());
            thread::spawn(move || {
                wait_until("the reader is frozen", || go.load(Ordering::SeqCst));
                let begun = m.page_offline_begin();
                entered.store(true, Ordering::SeqCst);
                m.owner_mark("victim", Mark::Offline).unwrap();
                m.page_offline_end(begun);
                done.store(true, Ordering::SeqCst);
            })
        };

        let mut copied_before_thaw = None;
        let mut copied = 0u64;
        let out = m.read_kcore_iter(FREE_PFN.phys(), 2048 * PAGE_SIZE, |step| match step {
            KcoreStep::Copy(pfn) => {
                if pfn == FREE_PFN {
                    go.store(true, Ordering::SeqCst);
                    wait_until("the driver waits in page_offline_begin", || {
                        writer_queued(&m)
                    });
                }
                if copied_before_thaw.is_none() {
                    assert!(
                        !entered.load(Ordering::SeqCst),
                        "driver entered while frozen"
                    );
                }
                copied += 1;
            }
            KcoreStep::Resched => {
                if copied_before_thaw.is_none() {
                    copied_before_thaw = Some(copied);
                    wait_until("the driver is done", || done.load(Ordering::SeqCst));
                }
            }
        });
        driver.join().unwrap();
        assert_eq!(copied_before_thaw, Some(1023));
        let page = |i: u64| &out[(i * PAGE_SIZE) as usize..((i + 1) * PAGE_SIZE) as usize];
        assert_eq!(
            page(1500),
            vec![0; PAGE_SIZE as usize],
            "PageOffline once thawed"
        );
        assert_eq!(copied, 2047, "every page but the victim was copied");
    });
}

// kcore_sync=none: without page_offline_freeze() a driver sets PageOffline
// on the very page the reader has checked and is copying — the race the
// rwsem closes (reference §6.1).
#[test]
fn kcore_sync_none_lets_driver_race_the_copy() {
    common::model_test(|| {
        let variants = Variants {
            kcore_sync: KcoreSync::None,
            ..Default::default()
        };
        let m = Arc::new(boot_with(GIB, variants));
        m.owner_alloc_contig("victim", FREE_PFN, 1).unwrap();
        m.physmem().fill(FREE_PFN.phys(), PAGE_SIZE, 0xaa).unwrap();
        let go = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let driver = {
            let (m, go, done) = (m.clone(), go.clone(), done.clone());
            thread::spawn(move || {
                wait_until("the reader checked the page", || go.load(Ordering::SeqCst));
                let begun = m.page_offline_begin();
                m.owner_mark("victim", Mark::Offline).unwrap();
                m.page_offline_end(begun);
                done.store(true, Ordering::SeqCst);
            })
        };
        let out = m.read_kcore_iter(FREE_PFN.phys(), PAGE_SIZE, |step| {
            if step == KcoreStep::Copy(FREE_PFN) {
                go.store(true, Ordering::SeqCst);
                wait_until("the driver set PageOffline", || done.load(Ordering::SeqCst));
            }
        });
        driver.join().unwrap();
        assert!(m.kpageflags(FREE_PFN) & (1 << KPF_OFFLINE) != 0);
        assert_eq!(
            out,
            vec![0xaa; PAGE_SIZE as usize],
            "content of a PageOffline page"
        );
    });
}

// ----- /proc/kpageflags and /proc/kpagecount (cases 59, 60, 10) ---------------

// kpage_read(): offset or size not a multiple of 8 → -EINVAL (case 59).
#[test]
fn kpage_read_rejects_misaligned() {
    common::model_test(|| {
        let m = boot(GIB);
        assert_eq!(m.kpageflags_read(4, 8), Err(Errno::EINVAL));
        assert_eq!(m.kpageflags_read(8, 12), Err(Errno::EINVAL));
        assert_eq!(m.kpagecount_read(1, 8), Err(Errno::EINVAL));
        assert_eq!(m.kpagecount_read(0, 7), Err(Errno::EINVAL));
    });
}

// get_max_dump_pfn(): EOF at round_up(max_pfn, PAGES_PER_SECTION) * 8; a read
// across it is clipped (case 59).
#[test]
fn kpage_read_eof_at_max_dump_pfn() {
    common::model_test(|| {
        let m = boot(GIB);
        let max = m.max_dump_pfn();
        assert_eq!(max, m.max_pfn().align_up(PAGES_PER_SECTION));
        assert_eq!(max, Pfn(GIB / PAGE_SIZE));
        assert_eq!(m.kpageflags_read(max.0 * 8, 8), Ok(vec![]));
        assert_eq!(m.kpagecount_read(max.0 * 8 + 800, 8), Ok(vec![]));
        assert_eq!(m.kpageflags_read((max.0 - 1) * 8, 64).unwrap().len(), 8);
        assert_eq!(m.kpagecount_read((max.0 - 2) * 8, 64).unwrap().len(), 16);
        assert_eq!(m.kpageflags(max), 0);
    });
}

// kpage_read() (7.2): a PFN below max_dump_pfn without an online memmap reads
// 0 — not KPF_NOPAGE as in 6.12 — in both files (case 59; §9 "offline or
// absent section").
#[test]
fn kpage_read_zero_for_offline_and_absent_pfns() {
    common::model_test(|| {
        let m = boot(GIB);
        m.add_memory(0, PhysAddr(2 * GIB), 128 * MIB).unwrap();
        assert_eq!(m.max_dump_pfn(), Pfn((2 * GIB + 128 * MIB) / PAGE_SIZE));
        let offline = Pfn(2 * GIB / PAGE_SIZE);
        let absent = Pfn(GIB / PAGE_SIZE + 5);
        for pfn in [offline, offline + 32767, absent] {
            assert_eq!(
                entries(&m.kpageflags_read(pfn.0 * 8, 8).unwrap()),
                [0],
                "{pfn}"
            );
            assert_eq!(
                entries(&m.kpagecount_read(pfn.0 * 8, 8).unwrap()),
                [0],
                "{pfn}"
            );
        }
    });
}

// stable_page_flags(): KPF_BUDDY on every page of an order-10 free block,
// not only on its PageBuddy head; free pages are mapped nowhere (case 60).
#[test]
fn kpageflags_buddy_on_every_page_of_a_free_block() {
    common::model_test(|| {
        let m = boot(GIB);
        let head = (FREE_PFN.0..GIB / PAGE_SIZE)
            .step_by(1024)
            .map(Pfn)
            .find(|&pfn| {
                let p = m.page(pfn);
                p.is_type(PageType::Buddy) && buddy_order(p) == 10
            })
            .expect("an order-10 free block");
        let flags = entries(&m.kpageflags_read(head.0 * 8, 1024 * 8).unwrap());
        assert!(flags.iter().all(|&f| f == 1 << KPF_BUDDY), "{flags:x?}");
        let counts = entries(&m.kpagecount_read(head.0 * 8, 1024 * 8).unwrap());
        assert!(counts.iter().all(|&c| c == 0));
    });
}

// stable_page_flags(): a page-table page has KPF_PGTABLE (bit 26), a slab
// page KPF_SLAB (case 60).
#[test]
fn kpageflags_pgtable_and_slab() {
    common::model_test(|| {
        let m = boot(GIB);
        let table = m.owner_alloc("pt", 0, Gfp::KERNEL, 0).unwrap();
        m.owner_mark("pt", Mark::Table).unwrap();
        assert_eq!(m.kpageflags(table), 1 << 26);
        assert_eq!(kpageflags_names(m.kpageflags(table)), "pgtable");
        let slab = m.owner_alloc("slab", 0, Gfp::KERNEL, 0).unwrap();
        m.owner_mark("slab", Mark::Slab).unwrap();
        assert_eq!(kpageflags_names(m.kpageflags(slab)), "slab");
        assert_eq!(m.kpagecount(table), 0);
        assert_eq!(m.kpagecount(slab), 0);
    });
}

// stable_page_flags(): a PageOffline page has KPF_OFFLINE (bit 23) and, being
// typed, mapcount 0 in /proc/kpagecount (case 60).
#[test]
fn kpageflags_offline_and_kpagecount_zero() {
    common::model_test(|| {
        let m = boot(GIB);
        m.owner_alloc_contig("balloon", FREE_PFN, 4).unwrap();
        m.owner_mark("balloon", Mark::Offline).unwrap();
        for pfn in [FREE_PFN, FREE_PFN + 3] {
            assert_eq!(m.kpageflags(pfn), 1 << 23);
            assert_eq!(kpageflags_names(m.kpageflags(pfn)), "offline");
            assert_eq!(entries(&m.kpagecount_read(pfn.0 * 8, 8).unwrap()), [0]);
        }
        // The page after the allocation is still free.
        assert_eq!(kpageflags_names(m.kpageflags(FREE_PFN + 4)), "buddy");
    });
}

// stable_page_flags(): PG_reserved boot pages (page 0, the legacy hole, the
// kernel image) show the kernel-hacking bit KPF_RESERVED (32) (§6.2).
#[test]
fn kpageflags_reserved_boot_pages() {
    common::model_test(|| {
        let m = boot(GIB);
        for pfn in [Pfn(0), Pfn(0xa0), Pfn(0x1001)] {
            assert_eq!(m.kpageflags(pfn), 1 << KPF_RESERVED, "{pfn}");
            assert_eq!(kpageflags_names(m.kpageflags(pfn)), "reserved");
        }
        // The shared zero page is the image's first page: KPF_ZERO_PAGE too.
        assert_eq!(
            kpageflags_names(m.kpageflags(m.zero_pfn())),
            "zero_page,reserved"
        );
    });
}

// generic_online_page(): after onlining a hot-added block every page is a
// free buddy page: `buddy` in kpageflags, 0 in kpagecount (case 10).
#[test]
fn onlined_hotplug_block_is_all_buddy() {
    common::model_test(|| {
        let m = boot(GIB);
        m.add_memory(0, PhysAddr(GIB), 128 * MIB).unwrap();
        let block = m.hotplug().find_block(8).unwrap();
        m.online_memory_block(&block, OnlineType::Online).unwrap();
        let start = block.start_pfn;
        let flags = entries(&m.kpageflags_read(start.0 * 8, block.nr_pages * 8).unwrap());
        assert_eq!(flags.len() as u64, block.nr_pages);
        assert!(flags.iter().all(|&f| kpageflags_names(f) == "buddy"));
        let counts = entries(&m.kpagecount_read(start.0 * 8, block.nr_pages * 8).unwrap());
        assert!(counts.iter().all(|&c| c == 0));
    });
}

// `kpageflags dump FILE`: the file is /proc/kpageflags byte for byte,
// max_dump_pfn entries of native-endian u64 (§6.2).
#[test]
fn kpageflags_dump_is_the_whole_file() {
    common::model_test(|| {
        let m = boot(GIB);
        m.add_memory(0, PhysAddr(GIB), 128 * MIB).unwrap();
        m.owner_alloc_contig("balloon", FREE_PFN, 2).unwrap();
        m.owner_mark("balloon", Mark::Offline).unwrap();
        let path = temp_path("dump");
        m.kpageflags_dump(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(bytes.len() as u64, m.max_dump_pfn().0 * 8);
        for (pfn, flags) in entries(&bytes).into_iter().enumerate() {
            assert_eq!(flags, m.kpageflags(Pfn(pfn as u64)), "pfn {pfn:#x}");
        }
    });
}

// ----- page-types (case 61) --------------------------------------------------

/// What page-types counts an entry as without `-r`: the kernel-hacking bits
/// 32..47 cleared, compound bits cleared unless huge.
fn page_types_cooked(f: u64) -> u64 {
    let mut f = f & !(0xffff << 32);
    if f & (1 << KPF_HUGE) == 0 {
        f &= !(1 << KPF_COMPOUND_HEAD | 1 << KPF_COMPOUND_TAIL);
    }
    f
}

fn count_of(rows: &[(u64, u64)], flags: u64) -> u64 {
    rows.iter().find(|r| r.0 == flags).map_or(0, |r| r.1)
}

// tools/mm/page-types.c on a kpageflags dump: offline PFNs are counted under
// flags 0; bit 32 (reserved) only shows with -r; an unknown bit 27 aborts,
// bit 42 only with -r; a size not a multiple of 8 is a partial read (case 61).
#[test]
fn page_types_reads_the_dump() {
    common::model_test(|| {
        let Some(tool) = page_types() else {
            eprintln!("skipped: page-types not on PATH and MMSIM_PAGE_TYPES unset (.ci/install-page-types builds it)");
            return;
        };
        let m = boot(GIB);
        m.add_memory(0, PhysAddr(GIB), 128 * MIB).unwrap();
        m.owner_alloc_contig("balloon", FREE_PFN, 3).unwrap();
        m.owner_mark("balloon", Mark::Offline).unwrap();
        let path = temp_path("page-types");
        m.kpageflags_dump(&path).unwrap();
        let flags = entries(&std::fs::read(&path).unwrap());
        let run = |args: &[&str], file: &PathBuf| {
            Command::new(&tool)
                .args(args)
                .arg("-F")
                .arg(file)
                .output()
                .expect("run page-types")
        };

        let cooked = run(&[], &path);
        assert!(cooked.status.success(), "{cooked:?}");
        let rows = page_types_summary(&cooked.stdout);
        let zero = flags.iter().filter(|&&f| page_types_cooked(f) == 0).count() as u64;
        assert!(zero >= PAGES_PER_SECTION, "the offline block is among them");
        assert_eq!(count_of(&rows, 0), zero);
        assert_eq!(count_of(&rows, 1 << KPF_OFFLINE), 3);
        assert!(
            rows.iter().all(|r| r.0 & (1 << KPF_RESERVED) == 0),
            "{rows:x?}"
        );
        assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), flags.len() as u64);

        let raw = run(&["-r"], &path);
        assert!(raw.status.success(), "{raw:?}");
        let rows = page_types_summary(&raw.stdout);
        let reserved = flags.iter().filter(|&&f| f == 1 << KPF_RESERVED).count() as u64;
        assert!(reserved > 0);
        assert_eq!(count_of(&rows, 1 << KPF_RESERVED), reserved);
        assert_eq!(
            count_of(&rows, 0),
            flags.iter().filter(|&&f| f == 0).count() as u64
        );
        std::fs::remove_file(&path).unwrap();

        let bad = temp_path("page-types-bad");
        let fails = |bytes: Vec<u8>, args: &[&str], msg: &str| {
            std::fs::write(&bad, bytes).unwrap();
            let out = run(args, &bad);
            assert_eq!(out.status.code(), Some(1), "{args:?} {out:?}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(msg),
                "{out:?}"
            );
        };
        let file_of = |v: &[u64]| v.iter().flat_map(|f| f.to_ne_bytes()).collect::<Vec<u8>>();
        fails(file_of(&[0, 1 << 27]), &[], "unknown flag bit 27");
        fails(file_of(&[0, 1 << 42]), &["-r"], "unknown flag bit 42");
        fails(vec![0; 12], &[], "partial read");
        std::fs::write(&bad, file_of(&[0, 1 << 42])).unwrap();
        assert!(
            run(&[], &bad).status.success(),
            "bit 42 is hidden without -r"
        );
        std::fs::remove_file(&bad).unwrap();
    });
}

// ----- the compaction scanner (mm/compaction.c isolate_migratepages_block())

// isolate_migratepages_block(): free blocks are skipped whole; every LRU page
// gets a speculative reference (get_page_unless_zero), passes the re-check
// and has it dropped, so no refcount changes.
#[test]
fn isolate_migratepages_references_lru_pages_and_drops_them() {
    common::model_test(|| {
        use mmsim::page::{ZoneType, PG_LRU};
        use mmsim::vm::{VM_READ, VM_WRITE};
        let m = boot(GIB);
        let zone = ZoneType::Dma32;
        let idle = m.isolate_migratepages_scan(0, zone).unwrap();
        let mm = m.mm_alloc().unwrap();
        let a = m
            .mmap_anon(&mm, 16 * PAGE_SIZE, VM_READ | VM_WRITE, false)
            .unwrap();
        let mut pfns = Vec::new();
        for i in 0..16 {
            m.user_write(&mm, a + i * PAGE_SIZE, &[1]).unwrap();
            pfns.push(m.pte_at(&mm, a + i * PAGE_SIZE).pfn());
        }
        let lru = pfns.iter().filter(|&&p| m.page(p).test(PG_LRU)).count() as u64;
        let refs: Vec<i32> = pfns.iter().map(|&p| m.page(p).ref_count()).collect();
        let s = m.isolate_migratepages_scan(0, zone).unwrap();
        assert_eq!(s.scanned, idle.scanned, "the zone's whole span");
        assert_eq!(s.scanned, s.referenced + s.skipped);
        assert!(lru > 0, "anonymous pages go on the LRU");
        assert!(s.referenced >= idle.referenced + lru);
        assert!(s.isolatable >= idle.isolatable + lru);
        let after: Vec<i32> = pfns.iter().map(|&p| m.page(p).ref_count()).collect();
        assert_eq!(after, refs, "every reference was dropped");
        assert!(m.check_all().is_empty());
        assert_eq!(m.isolate_migratepages_scan(99, zone), Err(Errno::EINVAL));
    });
}
