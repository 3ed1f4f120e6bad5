//! Lockless memmap readers against hot-remove (issue 11, item 1): kpageflags,
//! kpagecount, kcore, GUP-fast and the compaction scanner each look a memmap
//! slot up under RCU, and a test hook hot-removes the slot's memory block
//! right after the lookup. Under `memmap_free=immediate` (mainline) the
//! memmap is freed under the reader, which must report the use after free
//! naming itself and the PFN; under `memmap_free=rcu` the free waits for the
//! reader's grace period and nothing is reported. A mutant reader outside
//! the machine's RCU domain is caught under `rcu` too.
//!
//! The hook runs the remove on another thread: a remove that waited for a
//! grace period inside the reader's own section would never return. It
//! waits, inside the reader, until the memmap is freed (immediate, mutant)
//! or at least unpublished (rcu); the test joins the remover after the
//! reader is done.

mod common;

use common::wait_until;
use mmsim::errno::KResult;
use mmsim::gup::{GupFlags, Pinned};
use mmsim::hotplug::{OnlineType, Task};
use mmsim::page::{Pfn, PhysAddr, ZoneType, PAGE_SIZE};
use mmsim::sync::{thread, Arc, Mutex};
use mmsim::variant::Variants;
use mmsim::vm::{VM_READ, VM_WRITE};
use mmsim::{Machine, MachineConfig};

const GIB4: u64 = 4 << 30;
const BLOCK: u64 = 128 << 20;

/// A machine with one hot-added ZONE_MOVABLE block at 4 GiB, online.
fn boot(variants: &[(&str, &str)]) -> Arc<Machine> {
    let mut v = Variants::default();
    for (k, val) in variants {
        v.set(k, val).unwrap();
    }
    let m = Machine::boot(MachineConfig::default(), v).unwrap();
    m.add_memory(0, PhysAddr(GIB4), BLOCK).unwrap();
    let blk = m.hotplug().find_block(GIB4 / BLOCK).unwrap();
    m.online_memory_block(&blk, OnlineType::OnlineMovable)
        .unwrap();
    Arc::new(m)
}

/// How long the hook holds the reader.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The memmap chunk is back in the pool (poisoned).
    Freed,
    /// The section has lost its memmap pointer (the free may be deferred).
    Unpublished,
    /// The PFN's `pfn_active` bit is clear, and then a while longer: the
    /// offline must wait for the reader's grace period before it poisons
    /// the memmap (`pfn_active`'s promise, checked by the reader).
    Inactive,
}

/// The remover thread the hook started.
type Remover = Arc<Mutex<Option<thread::JoinHandle<KResult<()>>>>>;

/// Arms the reader hook: the first time a reader looks up `pfn`,
/// `offline_and_remove_memory()` of the block runs on another thread and
/// the reader waits `until`.
fn remove_block_at_lookup(m: &Arc<Machine>, pfn: Pfn, until: Until) -> Remover {
    let remover: Remover = Arc::new(Mutex::new(None));
    let slot = remover.clone();
    let weak = Arc::downgrade(m);
    m.set_memmap_reader_hook(Some(Arc::new(move |m: &Machine, at: Pfn| {
        if at != pfn || slot.lock().is_some() {
            return;
        }
        let freed_before = m.mem().memmap_stats().1;
        let owned = weak.upgrade().expect("the machine outlives its readers");
        let h = thread::spawn(move || {
            owned.offline_and_remove_memory(PhysAddr(GIB4), BLOCK, &Task::new())
        });
        match until {
            Until::Freed => wait_until("the memmap is freed", || {
                m.mem().memmap_stats().1 > freed_before
            }),
            Until::Unpublished => wait_until("the section is removed", || !m.mem().pfn_valid(pfn)),
            Until::Inactive => {
                wait_until("pfn_active is cleared", || !m.mem().pfn_active(pfn));
                // Long enough for an offline that did not wait to poison
                // the slot under the reader.
                for _ in 0..20_000 {
                    if m.mem().pfn_to_page(pfn).is_none_or(|p| p.is_poisoned()) {
                        break;
                    }
                    thread::yield_now();
                }
            }
        }
        *slot.lock() = Some(h);
    })));
    remover
}

/// Joins the remover, disarms the hook, lets deferred frees run; returns
/// the bugs reported.
fn finish(m: &Machine, remover: &Remover) -> Vec<String> {
    let h = remover.lock().take().expect("the hook ran");
    h.join().unwrap().expect("offline_and_remove_memory");
    m.set_memmap_reader_hook(None);
    m.rcu().barrier();
    assert!(!m.mem().pfn_valid(PhysAddr(GIB4).pfn()));
    m.take_bugs()
}

fn uaf(reader: &str, pfn: Pfn) -> String {
    format!(
        "memmap use-after-free: {reader} read PFN {:#x} after its memmap was freed by remove_memory",
        pfn.0
    )
}

const IMMEDIATE: &[(&str, &str)] = &[("memmap_free", "immediate")];
const RCU: &[(&str, &str)] = &[("memmap_free", "rcu")];
const RCU_ACTIVE: &[(&str, &str)] = &[("memmap_free", "rcu"), ("pfn_walker", "active")];

/// Boots with `variants` (and the outside-RCU mutant if `mutant`), arms the
/// hook at `pfn`, runs `read`, and returns the bugs reported.
fn read_vs_remove(
    variants: &[(&str, &str)],
    mutant: bool,
    pfn: Pfn,
    read: impl FnOnce(&Machine),
) -> Vec<String> {
    let m = boot(variants);
    m.set_mutant_reader_outside_rcu(mutant);
    let r = remove_block_at_lookup(&m, pfn, until(variants, mutant));
    read(&m);
    finish(&m, &r)
}

/// What the hook can wait for: with the memmap free deferred past the
/// reader, only for the section to be unpublished.
fn until(variants: &[(&str, &str)], mutant: bool) -> Until {
    if mutant {
        Until::Freed
    } else if variants.contains(&("pfn_walker", "active")) {
        Until::Inactive
    } else if variants.contains(&("memmap_free", "rcu")) {
        Until::Unpublished
    } else {
        Until::Freed
    }
}

/// `reader` reports the use after free under `memmap_free=immediate`, and
/// under `rcu` when it runs outside the machine's RCU domain (the mutant).
fn assert_caught(reader: &str, pfn: Pfn, read: impl Fn(&Machine)) {
    assert_eq!(
        read_vs_remove(IMMEDIATE, false, pfn, &read),
        vec![uaf(reader, pfn)]
    );
    for variants in [RCU, RCU_ACTIVE] {
        assert_eq!(
            read_vs_remove(variants, true, pfn, &read),
            vec![uaf(reader, pfn)],
            "mutant outside RCU under {variants:?}"
        );
    }
}

/// Under `memmap_free=rcu` (with either walker) nothing is reported.
fn assert_clean(pfn: Pfn, read: impl Fn(&Machine)) {
    for variants in [RCU, RCU_ACTIVE] {
        assert_eq!(
            read_vs_remove(variants, false, pfn, &read),
            Vec::<String>::new(),
            "{variants:?}"
        );
    }
}

// ----- kpageflags / kpagecount (fs/proc/page.c kpage_read()) -----------------

// kpage_read() while remove_memory() frees the memmap (mainline); what was
// read from a freed memmap is dropped (0).
#[test]
fn kpageflags_reports_memmap_freed_by_remove_memory() {
    common::model_test(|| {
        let pfn = PhysAddr(GIB4).pfn() + 7;
        assert_caught("kpageflags", pfn, |m| assert_eq!(m.kpageflags(pfn), 0));
    });
}

// The proposal: section_deactivate() frees the memmap after a grace period.
// The value may be stale (offlining poisons the memmap in
// remove_pfn_range_from_zone()), but the memmap is not freed under it.
#[test]
fn kpageflags_clean_with_memmap_free_rcu() {
    common::model_test(|| {
        let pfn = PhysAddr(GIB4).pfn() + 7;
        assert_clean(pfn, |m| {
            m.kpageflags(pfn);
        });
    });
}

// kpagecount goes through the same kpage_read().
#[test]
fn kpagecount_reports_memmap_freed_by_remove_memory() {
    common::model_test(|| {
        let pfn = PhysAddr(GIB4).pfn() + 9;
        assert_caught("kpagecount", pfn, |m| {
            assert_eq!(m.kpagecount_read(pfn.0 * 8, 16).unwrap(), vec![0; 16]);
        });
    });
}

// ----- kcore (fs/proc/kcore.c read_kcore_iter(), KCORE_RAM) ------------------

fn kcore_read_at(m: &Machine, pfn: Pfn) {
    m.physmem().write(pfn.phys(), b"kcore").unwrap();
    m.kcore_read(pfn.phys(), 5);
}

#[test]
fn kcore_reports_memmap_freed_by_remove_memory() {
    common::model_test(|| {
        let pfn = PhysAddr(GIB4).pfn() + 3;
        assert_caught("kcore", pfn, |m| kcore_read_at(m, pfn));
    });
}

#[test]
fn kcore_clean_with_memmap_free_rcu() {
    common::model_test(|| {
        let pfn = PhysAddr(GIB4).pfn() + 3;
        assert_clean(pfn, |m| kcore_read_at(m, pfn));
    });
}

// ----- GUP-fast (mm/gup.c gup_fast_pte_range(), try_grab_folio_fast()) ------

const GET: GupFlags = GupFlags {
    write: false,
    pin: false,
    longterm: false,
};

/// A process page in the hot-added block, and GUP-fast of it while its
/// block is offlined (the page migrates away) and removed.
fn gup_fast_vs_remove(variants: &[(&str, &str)], mutant: bool) -> (Pfn, Vec<Pfn>, Vec<String>) {
    let m = boot(variants);
    m.set_mutant_reader_outside_rcu(mutant);
    let mm = m.mm_alloc().unwrap();
    let a = m
        .mmap_anon(&mm, 64 * PAGE_SIZE, VM_READ | VM_WRITE, false)
        .unwrap();
    let block = PhysAddr(GIB4).pfn()..PhysAddr(GIB4 + BLOCK).pfn();
    let mut addr = None;
    for i in 0..64 {
        m.user_write(&mm, a + i * PAGE_SIZE, &[1]).unwrap();
        if block.contains(&m.pte_at(&mm, a + i * PAGE_SIZE).pfn()) {
            addr = Some(a + i * PAGE_SIZE);
            break;
        }
    }
    let addr = addr.expect("user memory comes from ZONE_MOVABLE first");
    let pfn = m.pte_at(&mm, addr).pfn();
    let r = remove_block_at_lookup(&m, pfn, until(variants, mutant));
    let got = m.gup_fast(&mm, addr, 1, GET);
    let bugs = finish(&m, &r);
    m.unpin_user_pages(Pinned {
        mm,
        pages: got.clone(),
        flags: GET,
    });
    (pfn, got, bugs)
}

#[test]
fn gup_fast_reports_memmap_freed_by_remove_memory() {
    common::model_test(|| {
        let (pfn, got, bugs) = gup_fast_vs_remove(IMMEDIATE, false);
        assert_eq!(bugs, vec![uaf("gup_fast", pfn)]);
        assert!(
            got.is_empty(),
            "no reference on a freed memmap is handed out"
        );
        let (pfn, _, bugs) = gup_fast_vs_remove(RCU, true);
        assert_eq!(bugs, vec![uaf("gup_fast", pfn)], "mutant outside RCU");
    });
}

// The proposal for pageunmap_range()/section_deactivate(): the memmap free
// waits for GUP-fast's read-side section.
#[test]
fn gup_fast_clean_with_memmap_free_rcu() {
    common::model_test(|| {
        let (_, got, bugs) = gup_fast_vs_remove(RCU, false);
        assert_eq!(bugs, Vec::<String>::new());
        assert!(got.is_empty(), "the section went: GUP-fast backs off");
    });
}

// ----- the compaction scanner (mm/compaction.c isolate_migratepages_block())

fn scan_movable(m: &Machine) {
    let stats = m.isolate_migratepages_scan(0, ZoneType::Movable).unwrap();
    assert!(stats.scanned > 0);
}

#[test]
fn isolate_migratepages_reports_memmap_freed_by_remove_memory() {
    common::model_test(|| {
        let pfn = PhysAddr(GIB4).pfn() + 1024;
        assert_caught("isolate_migratepages", pfn, scan_movable);
    });
}

#[test]
fn isolate_migratepages_clean_with_memmap_free_rcu() {
    common::model_test(|| {
        assert_clean(PhysAddr(GIB4).pfn() + 1024, scan_movable);
    });
}

// ----- no hook: real threads ------------------------------------------------

/// Readers sweep the hot-plugged block while another thread adds, onlines,
/// offlines and removes it `cycles` times; returns the bugs reported. No
/// reader may crash, whatever it reads.
fn readers_vs_hotplug_cycles(variants: &[(&str, &str)], cycles: u32) -> Vec<String> {
    let m = boot(variants);
    let done = Arc::new(mmsim::sync::atomic::AtomicBool::new(false));
    let first = PhysAddr(GIB4).pfn();
    let reader = {
        let (m, done) = (m.clone(), done.clone());
        thread::spawn(move || {
            use mmsim::sync::atomic::Ordering;
            let mut sweeps = 0u64;
            while !done.load(Ordering::Relaxed) || sweeps == 0 {
                for i in (0..BLOCK / PAGE_SIZE).step_by(4099) {
                    m.kpageflags(first + i);
                    m.kcore_read((first + i).phys(), 8);
                }
                m.isolate_migratepages_scan(0, ZoneType::Movable).unwrap();
                sweeps += 1;
            }
        })
    };
    for _ in 0..cycles {
        m.offline_and_remove_memory(PhysAddr(GIB4), BLOCK, &Task::new())
            .unwrap();
        m.add_memory(0, PhysAddr(GIB4), BLOCK).unwrap();
        let blk = m.hotplug().find_block(GIB4 / BLOCK).unwrap();
        m.online_memory_block(&blk, OnlineType::OnlineMovable)
            .unwrap();
    }
    done.store(true, mmsim::sync::atomic::Ordering::Relaxed);
    reader.join().expect("a reader crashed");
    m.rcu().barrier();
    m.take_bugs()
}

// Unsynchronised walkers vs hot-remove on real threads: under mainline any
// report is a use after free (never a crash); under memmap_free=rcu there
// is none.
#[test]
fn readers_never_crash_on_freed_memmaps() {
    common::model_test(|| {
        let bugs = readers_vs_hotplug_cycles(IMMEDIATE, 40);
        eprintln!(
            "{} uses after free caught under memmap_free=immediate",
            bugs.len()
        );
        for bug in bugs {
            assert!(bug.starts_with("memmap use-after-free: "), "{bug}");
        }
        assert_eq!(
            readers_vs_hotplug_cycles(RCU_ACTIVE, 40),
            Vec::<String>::new()
        );
    });
}
