//! Real threads at once: sysfs online/offline of hot-added blocks, buddy
//! allocations, kernel users allocating contiguous ranges and marking pages,
//! and PFN walkers reading everything — then every invariant must hold.
//! Bounded by iteration counts, not time.

mod common;

use common::{
    machine_with_movable_blocks, offline_online_blocks, racing_state_write, run_with_pfn_walker,
    Rng, BLOCK_PAGES,
};
use mmsim::hotplug::owner::Mark;
use mmsim::page::Pfn;
use mmsim::sync::atomic::{AtomicU64, Ordering};
use mmsim::sync::{thread, Arc};
use mmsim::zone::alloc::Gfp;

const FIRST_BLOCK: u64 = 32;
const BLOCKS: u64 = 4;

#[test]
fn hotplug_allocators_and_walkers_race_cleanly() {
    common::model_test(|| {
        let m = machine_with_movable_blocks(FIRST_BLOCK, BLOCKS);
        let onlined = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();

        // Two hotplug threads flip blocks between online and offline.
        for seed in [1u64, 2] {
            let (m, onlined) = (m.clone(), onlined.clone());
            workers.push(thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9 * seed);
                for _ in 0..150 {
                    let b = FIRST_BLOCK + rng.below(BLOCKS);
                    let path = format!("devices/system/memory/memory{b}/state");
                    let value =
                        ["online_movable", "online_kernel", "offline"][rng.below(3) as usize];
                    if racing_state_write(&m, &path, value, 20) && value != "offline" {
                        onlined.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }

        // A buddy user holding and releasing pages of every order.
        {
            let m = m.clone();
            workers.push(thread::spawn(move || {
                let mut rng = Rng(77);
                let mut held: Vec<(Pfn, u32)> = Vec::new();
                for _ in 0..3000 {
                    if rng.below(3) != 0 || held.is_empty() {
                        let order = rng.below(4) as u32;
                        let gfp = if rng.below(2) == 0 {
                            Gfp::MOVABLE
                        } else {
                            Gfp::KERNEL
                        };
                        if let Ok(pfn) = m.alloc_pages(gfp, order, 0) {
                            held.push((pfn, order));
                        }
                    } else {
                        let (pfn, order) = held.swap_remove(rng.below(held.len() as u64) as usize);
                        m.put_pages(pfn, order);
                    }
                }
                for (pfn, order) in held {
                    m.put_pages(pfn, order);
                }
            }));
        }

        // A kernel user taking ranges of the hot blocks and marking them.
        {
            let m = m.clone();
            workers.push(thread::spawn(move || {
                let mut rng = Rng(4242);
                let mut names = Vec::new();
                for i in 0..600 {
                    let start =
                        Pfn(FIRST_BLOCK * BLOCK_PAGES + rng.below(BLOCKS * BLOCK_PAGES - 64));
                    let name = format!("r{i}");
                    if m.owner_alloc_contig(&name, start, 1 + rng.below(32))
                        .is_ok()
                    {
                        let mark = [Mark::MovableOps, Mark::FakeOffline, Mark::Slab]
                            [rng.below(3) as usize];
                        m.owner_mark(&name, mark).unwrap();
                        names.push(name);
                    }
                    if names.len() > 4 {
                        let victim = names.swap_remove(0);
                        // Pages that left with an offlined block are gone.
                        let _ = m.owner_free(&victim);
                    }
                }
                for n in names {
                    let _ = m.owner_free(&n);
                }
            }));
        }

        run_with_pfn_walker(&m, FIRST_BLOCK, BLOCKS, workers);

        let v = m.check_all();
        assert!(v.is_empty(), "{v:#?}");
        // Everything can go offline once nobody holds pages there.
        offline_online_blocks(&m, FIRST_BLOCK, BLOCKS);
        let v = m.check_all();
        assert!(v.is_empty(), "{v:#?}");
        assert!(onlined.load(Ordering::Relaxed) > 0);
    });
}
