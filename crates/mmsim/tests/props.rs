//! Property tests: random sequences of buddy operations and of hotplug
//! operations keep every invariant of reference §9 (`Machine::check_all`).

// proptest's prop_oneof! expands to std::sync::Arc; the rule is for model code.
#![allow(clippy::disallowed_types)]

use mmsim::hotplug::owner::Mark;
use mmsim::hotplug::{MemoryBlockState, OnlineType, Task};
use mmsim::page::{Pfn, PhysAddr, MAX_PAGE_ORDER};
use mmsim::zone::alloc::Gfp;
use mmsim::{Errno, Machine, MachineConfig};
use proptest::prelude::*;

fn assert_clean(m: &Machine, step: &str) {
    let v = m.check_all();
    assert!(v.is_empty(), "after {step}: {v:#?}");
}

/// Every invariant but `leak`: while the test itself holds pages it
/// allocated with `alloc_pages()` — a kernel user the model cannot know —
/// those pages are neither free nor owned. The test checks that it gets
/// them all back itself, and asserts [`assert_clean`] once it freed them.
fn assert_clean_but_held(m: &Machine, step: &str) {
    let v: Vec<_> = m
        .check_all()
        .into_iter()
        .filter(|v| v.rule != "leak")
        .collect();
    assert!(v.is_empty(), "after {step}: {v:#?}");
}

#[derive(Clone, Debug)]
enum BuddyOp {
    Alloc { order: u32, movable: bool },
    Free(usize),
}

fn buddy_op() -> impl Strategy<Value = BuddyOp> {
    let alloc = (0..=MAX_PAGE_ORDER, any::<bool>())
        .prop_map(|(order, movable)| BuddyOp::Alloc { order, movable });
    let free = any::<usize>().prop_map(BuddyOp::Free);
    prop_oneof![3 => alloc, 2 => free]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    // mm/page_alloc.c __rmqueue/expand/__free_one_page: any interleaving of
    // allocations and frees keeps the free lists consistent, and freeing
    // everything merges every block back.
    #[test]
    fn buddy_alloc_free_sequences_keep_invariants(ops in proptest::collection::vec(buddy_op(), 1..60)) {
        let m = Machine::boot(
            MachineConfig { ram: 256 << 20, movable: 128 << 20, ..Default::default() },
            Default::default(),
        ).unwrap();
        let free_at_boot: i64 = m.nodes()[0].zones.iter().map(|z| z.nr_free()).sum();
        let mut held: Vec<(Pfn, u32)> = Vec::new();
        for op in &ops {
            match *op {
                BuddyOp::Alloc { order, movable } => {
                    let gfp = if movable { Gfp::MOVABLE } else { Gfp::KERNEL };
                    match m.alloc_pages(gfp, order, 0) {
                        Ok(pfn) => {
                            prop_assert!(pfn.is_aligned(1 << order));
                            prop_assert!(held.iter().all(|&(p, o)| pfn + (1 << order) <= p || p + (1 << o) <= pfn),
                                "block {pfn} overlaps a held block");
                            held.push((pfn, order));
                        }
                        Err(e) => prop_assert_eq!(e, Errno::ENOMEM),
                    }
                }
                BuddyOp::Free(i) => {
                    if !held.is_empty() {
                        let (pfn, order) = held.swap_remove(i % held.len());
                        m.put_pages(pfn, order);
                    }
                }
            }
            assert_clean_but_held(&m, &format!("{op:?}"));
        }
        for (pfn, order) in held.drain(..) {
            m.put_pages(pfn, order);
        }
        // NR_FREE_PAGES leaves out the pcp lists (account_freepages()):
        // the two together hold every page, and drain_all_pages() merges
        // the lists' pages back.
        let zones = || m.nodes()[0].zones.iter();
        let free_now: i64 = zones().map(|z| z.nr_free()).sum();
        let on_pcp: u64 = zones().map(|z| z.pcp.count()).sum();
        prop_assert_eq!(free_now + on_pcp as i64, free_at_boot);
        assert_clean(&m, "freeing everything");
        m.drain_all_pages(None);
        let free_drained: i64 = zones().map(|z| z.nr_free()).sum();
        prop_assert_eq!(free_drained, free_at_boot);
        assert_clean(&m, "draining the pcp lists");
    }
}

#[derive(Clone, Debug)]
enum HotplugOp {
    Online {
        block: u64,
        kind: u8,
    },
    Offline {
        block: u64,
    },
    Alloc {
        block: u64,
        page: u64,
        nr: u64,
        mark: u8,
    },
    Free(usize),
    Remove {
        block: u64,
    },
    Add {
        block: u64,
    },
}

fn hotplug_op() -> impl Strategy<Value = HotplugOp> {
    prop_oneof![
        (0..4u64, 0..3u8).prop_map(|(block, kind)| HotplugOp::Online { block, kind }),
        (0..4u64).prop_map(|block| HotplugOp::Offline { block }),
        (0..4u64, 0..32768u64, 1..600u64, 0..6u8).prop_map(|(block, page, nr, mark)| {
            HotplugOp::Alloc {
                block,
                page,
                nr,
                mark,
            }
        }),
        any::<usize>().prop_map(HotplugOp::Free),
        (0..4u64).prop_map(|block| HotplugOp::Remove { block }),
        (0..4u64).prop_map(|block| HotplugOp::Add { block }),
    ]
}

const BASE_BLOCK: u64 = 32;

/// device_offline() from a task that gets a signal after 20 ms unless the
/// offline finished first (offlining retries forever otherwise).
fn offline_with_signal(m: &Machine, b: &mmsim::hotplug::MemoryBlock) -> Result<bool, Errno> {
    use mmsim::sync::atomic::{AtomicBool, Ordering};
    use mmsim::sync::{thread, Arc};
    let task = Arc::new(Task::new());
    let done = Arc::new(AtomicBool::new(false));
    let timer = {
        let (task, done) = (task.clone(), done.clone());
        thread::spawn(move || {
            for _ in 0..20 {
                // Acquire pairs with the Release store below.
                if done.load(Ordering::Acquire) {
                    return;
                }
                thread::sleep(std::time::Duration::from_millis(1));
            }
            task.send_signal();
        })
    };
    let r = m.device_offline(b, &task);
    done.store(true, Ordering::Release); // pairs with the timer's Acquire
    timer.join().unwrap();
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    // Reference §2.3–2.9: any sequence of add/online/offline/remove with
    // kernel users marking pages keeps every invariant, and each operation's
    // result agrees with the block state machine of §2.14.
    #[test]
    fn hotplug_sequences_keep_invariants(ops in proptest::collection::vec(hotplug_op(), 1..40)) {
        let m = Machine::boot(MachineConfig { ram: 512 << 20, ..Default::default() }, Default::default()).unwrap();
        let block_bytes = 128u64 << 20;
        m.add_memory(0, PhysAddr(BASE_BLOCK * block_bytes), 4 * block_bytes).unwrap();
        let mut names: Vec<String> = Vec::new();
        let mut next = 0;
        for op in &ops {
            match *op {
                HotplugOp::Online { block, kind } => {
                    if let Some(b) = m.hotplug().find_block(BASE_BLOCK + block) {
                        let was = b.state();
                        let t = [OnlineType::Online, OnlineType::OnlineKernel, OnlineType::OnlineMovable][kind as usize];
                        let r = m.online_memory_block(&b, t);
                        match was {
                            MemoryBlockState::Online => prop_assert_eq!(r, Ok(false)),
                            _ => prop_assert_eq!(r, Ok(true)),
                        }
                        prop_assert_eq!(b.state(), MemoryBlockState::Online);
                    }
                }
                HotplugOp::Offline { block } => {
                    if let Some(b) = m.hotplug().find_block(BASE_BLOCK + block) {
                        let was = b.state();
                        match offline_with_signal(&m, &b) {
                            Ok(changed) => {
                                prop_assert_eq!(changed, was == MemoryBlockState::Online);
                                prop_assert_eq!(b.state(), MemoryBlockState::Offline);
                            }
                            Err(e) => {
                                // EINTR: an unmovable page in ZONE_MOVABLE made it
                                // loop until the signal.
                                prop_assert!(e == Errno::EBUSY || e == Errno::EINTR, "offline failed with {e}");
                                prop_assert_eq!(b.state(), MemoryBlockState::Online);
                            }
                        }
                    }
                }
                HotplugOp::Alloc { block, page, nr, mark } => {
                    let start = Pfn((BASE_BLOCK + block) * 32768 + page);
                    let nr = nr.min(32768 - page);
                    let name = format!("a{next}");
                    next += 1;
                    if m.owner_alloc_contig(&name, start, nr).is_ok() {
                        let mark = [None, Some(Mark::Offline), Some(Mark::FakeOffline), Some(Mark::MovableOps), Some(Mark::Slab), Some(Mark::Reserved)][mark as usize];
                        if let Some(mark) = mark {
                            m.owner_mark(&name, mark).unwrap();
                        }
                        names.push(name);
                    }
                }
                HotplugOp::Free(i) => {
                    if !names.is_empty() {
                        let name = names.swap_remove(i % names.len());
                        // Pages that went away with an offlined block are gone.
                        let _ = m.owner_free(&name);
                    }
                }
                HotplugOp::Remove { block } => {
                    let addr = PhysAddr((BASE_BLOCK + block) * block_bytes);
                    let exists = m.hotplug().find_block(BASE_BLOCK + block);
                    match m.remove_memory(addr, block_bytes) {
                        Ok(()) => prop_assert!(exists.is_none_or(|b| b.state() == MemoryBlockState::Offline)),
                        Err(e) => prop_assert_eq!(e, Errno::EBUSY),
                    }
                }
                HotplugOp::Add { block } => {
                    let addr = PhysAddr((BASE_BLOCK + block) * block_bytes);
                    let exists = m.hotplug().find_block(BASE_BLOCK + block).is_some();
                    match m.add_memory(0, addr, block_bytes) {
                        Ok(()) => prop_assert!(!exists),
                        Err(e) => { prop_assert_eq!(e, Errno::EEXIST); prop_assert!(exists); }
                    }
                }
            }
            assert_clean(&m, &format!("{op:?}"));
        }
    }
}
