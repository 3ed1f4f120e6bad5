//! Real threads at once: sysfs online/offline of hot-added blocks, buddy
//! allocations, kernel users allocating contiguous ranges and marking pages,
//! and PFN walkers reading everything — then every invariant must hold.
//! Bounded by iteration counts, not time.

mod common;

use common::write_with_signal;
use mmsim::hotplug::owner::Mark;
use mmsim::hotplug::{MemoryBlockState, Task};
use mmsim::page::{Pfn, PhysAddr};
use mmsim::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use mmsim::sync::{thread, Arc};
use mmsim::zone::alloc::Gfp;
use mmsim::{Errno, Machine, MachineConfig};

const FIRST_BLOCK: u64 = 32;
const BLOCKS: u64 = 4;
const BLOCK_PAGES: u64 = 32768;

/// A tiny xorshift so each thread's choices are reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn hotplug_allocators_and_walkers_race_cleanly() {
    let m = Arc::new(Machine::boot(MachineConfig::default(), Default::default()).unwrap());
    m.add_memory(0, PhysAddr(FIRST_BLOCK * (128 << 20)), BLOCKS * (128 << 20))
        .unwrap();
    for b in FIRST_BLOCK..FIRST_BLOCK + BLOCKS {
        let path = format!("devices/system/memory/memory{b}/state");
        m.sysfs_write(&path, "online_movable", &Task::new())
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
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
                let value = ["online_movable", "online_kernel", "offline"][rng.below(3) as usize];
                match write_with_signal(&m, &path, value, 20) {
                    Ok(()) if value != "offline" => {
                        onlined.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(()) => {}
                    Err(e) => assert!(
                        [Errno::EINVAL, Errno::EBUSY, Errno::EINTR].contains(&e),
                        "{path} <- {value}: {e}"
                    ),
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
                let start = Pfn(FIRST_BLOCK * BLOCK_PAGES + rng.below(BLOCKS * BLOCK_PAGES - 64));
                let name = format!("r{i}");
                if m.owner_alloc_contig(&name, start, 1 + rng.below(32))
                    .is_ok()
                {
                    let mark =
                        [Mark::MovableOps, Mark::FakeOffline, Mark::Slab][rng.below(3) as usize];
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

    // PFN walkers over the hot range until everybody else is done.
    {
        let (m, stop) = (m.clone(), stop.clone());
        workers.push(thread::spawn(move || {
            let mut rng = Rng(99);
            // Acquire pairs with the Release store of `stop` below.
            while !stop.load(Ordering::Acquire) {
                let pfn = Pfn(FIRST_BLOCK * BLOCK_PAGES + rng.below(BLOCKS * BLOCK_PAGES));
                let _ = m.kpageflags(pfn);
                let _ = m.kpagecount(pfn);
                let _ = m.kcore_page(pfn, 0, 64);
            }
        }));
    }

    let walker = workers.pop().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Release); // pairs with the walker's Acquire
    walker.join().unwrap();

    let v = m.check_all();
    assert!(v.is_empty(), "{v:#?}");
    // Everything can go offline once nobody holds pages there.
    for b in FIRST_BLOCK..FIRST_BLOCK + BLOCKS {
        let blk = m.hotplug().find_block(b).unwrap();
        if blk.state() == MemoryBlockState::Online {
            m.device_offline(&blk, &Task::new()).unwrap();
        }
    }
    let v = m.check_all();
    assert!(v.is_empty(), "{v:#?}");
    assert!(onlined.load(Ordering::Relaxed) > 0);
}
