//! The balloon driver under concurrency: the host inflating and deflating
//! while blocks holding balloon pages go offline and online, a kernel user
//! allocates contiguous ranges over them and PFN walkers read them. Balloon
//! migration races with fill_balloon()/leak_balloon() on `balloon_lock`
//! (virtballoon_migratepage only trylocks it: -EAGAIN and a retry) and with
//! dequeueing on the page list (balloon_page_isolate refuses a page a
//! deflate took). Bounded by iteration counts, not time.

mod common;

use common::write_with_signal;
use mmsim::hotplug::{MemoryBlockState, Task};
use mmsim::page::{Pfn, PhysAddr, PAGE_SIZE};
use mmsim::sync::atomic::{AtomicBool, Ordering};
use mmsim::sync::{thread, Arc};
use mmsim::walkers::{KPF_OFFLINE, KPF_UPTODATE};
use mmsim::{Errno, Machine, MachineConfig};

const FIRST_BLOCK: u64 = 32;
const BLOCKS: u64 = 2;
const BLOCK_PAGES: u64 = 32768;

/// A tiny xorshift so each thread's choices are reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn balloon_migration_races_inflate_deflate_offline_and_contig_allocation() {
    let m = Arc::new(Machine::boot(MachineConfig::default(), Default::default()).unwrap());
    m.add_memory(0, PhysAddr(FIRST_BLOCK * (128 << 20)), BLOCKS * (128 << 20))
        .unwrap();
    for b in FIRST_BLOCK..FIRST_BLOCK + BLOCKS {
        let path = format!("devices/system/memory/memory{b}/state");
        m.sysfs_write(&path, "online_movable", &Task::new())
            .unwrap();
    }
    // Balloon pages in the hot blocks from the start (movable allocations
    // prefer ZONE_MOVABLE), so the first offline has some to migrate.
    assert_eq!(m.balloon().inflate(16 << 20), Ok(16 << 20));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();

    // The host moves the balloon up and down, never beyond 64 MiB, so
    // migration always finds a target.
    {
        let m = m.clone();
        workers.push(thread::spawn(move || {
            let mut rng = Rng(0x5eed);
            for _ in 0..400 {
                let pages = 1 + rng.below(512);
                let b = m.balloon();
                if rng.below(2) == 0 && b.stats().pages + pages <= 16384 {
                    assert_eq!(b.inflate(pages * PAGE_SIZE), Ok(pages * PAGE_SIZE));
                } else {
                    // Pages isolated for migration cannot be dequeued now:
                    // a deflate may come back short, never long.
                    let got = b.deflate(pages * PAGE_SIZE).unwrap();
                    assert!(got <= pages * PAGE_SIZE);
                }
            }
        }));
    }

    // A hotplug thread flips the first block between offline and online.
    {
        let m = m.clone();
        workers.push(thread::spawn(move || {
            let path = format!("devices/system/memory/memory{FIRST_BLOCK}/state");
            for i in 0..40 {
                let value = ["offline", "online_movable"][i % 2];
                match write_with_signal(&m, &path, value, 50) {
                    Ok(()) => {}
                    // EINVAL: the previous offline failed, the block is
                    // still online. EBUSY: a scan saw a page between
                    // __SetPageOffline() and SetPageMovableOps() in
                    // balloon_page_insert() — a window the kernel has too.
                    Err(e) => assert!(
                        [Errno::EINVAL, Errno::EBUSY, Errno::EINTR].contains(&e),
                        "{path} <- {value}: {e}"
                    ),
                }
            }
        }));
    }

    // A kernel user allocating ranges of the second block, over balloon
    // pages that alloc_contig_range() must migrate.
    {
        let m = m.clone();
        workers.push(thread::spawn(move || {
            let mut rng = Rng(0xc0de);
            let base = (FIRST_BLOCK + 1) * BLOCK_PAGES;
            for i in 0..200 {
                let start = Pfn(base + rng.below(BLOCK_PAGES - 64));
                let name = format!("c{i}");
                match m.owner_alloc_contig(&name, start, 1 + rng.below(64)) {
                    Ok(_) => m.owner_free(&name).unwrap(),
                    // Five rounds without progress (the balloon held its
                    // lock, or another isolator owns the pageblock).
                    Err(e) => assert_eq!(e, Errno::EBUSY, "alloc_contig_range at {start}"),
                }
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
    let b = m.balloon();
    let stats = b.stats();
    assert!(stats.migrated > 0, "nothing migrated: {stats:?}");
    assert_eq!(stats.inflated - stats.deflated, stats.pages);
    for pfn in b.pages() {
        assert_eq!(m.kpageflags(pfn), 1 << KPF_OFFLINE | 1 << KPF_UPTODATE);
    }
    // Every block can go offline with the balloon inflated, and the whole
    // balloon deflates.
    for id in FIRST_BLOCK..FIRST_BLOCK + BLOCKS {
        let blk = m.hotplug().find_block(id).unwrap();
        if blk.state() == MemoryBlockState::Online {
            m.device_offline(&blk, &Task::new()).unwrap();
        }
    }
    let held = stats.pages * PAGE_SIZE;
    assert_eq!(b.deflate(held + PAGE_SIZE), Ok(held));
    let v = m.check_all();
    assert!(v.is_empty(), "{v:#?}");
}
