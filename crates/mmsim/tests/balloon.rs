//! The balloon driver under concurrency: the host inflating and deflating
//! while blocks holding balloon pages go offline and online, a kernel user
//! allocates contiguous ranges over them and PFN walkers read them. Balloon
//! migration races with fill_balloon()/leak_balloon() on `balloon_lock`
//! (virtballoon_migratepage only trylocks it: -EAGAIN and a retry) and with
//! dequeueing on the page list (balloon_page_isolate refuses a page a
//! deflate took). Bounded by iteration counts, not time.

mod common;

use common::{
    machine_with_movable_blocks, offline_online_blocks, racing_state_write, run_with_pfn_walker,
    Rng, BLOCK_PAGES,
};
use mmsim::page::{Pfn, PAGE_SIZE};
use mmsim::sync::thread;
use mmsim::walkers::{KPF_OFFLINE, KPF_UPTODATE};
use mmsim::Errno;

const FIRST_BLOCK: u64 = 32;
const BLOCKS: u64 = 2;

#[test]
fn balloon_migration_races_inflate_deflate_offline_and_contig_allocation() {
    common::model_test(|| {
        let m = machine_with_movable_blocks(FIRST_BLOCK, BLOCKS);
        // Balloon pages in the hot blocks from the start (movable allocations
        // prefer ZONE_MOVABLE), so the first offline has some to migrate.
        assert_eq!(m.balloon().inflate(16 << 20), Ok(16 << 20));
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
                    // EBUSY: a scan saw a page between __SetPageOffline() and
                    // SetPageMovableOps() in balloon_page_insert() — a window
                    // the kernel has too.
                    racing_state_write(&m, &path, value, 50);
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

        run_with_pfn_walker(&m, FIRST_BLOCK, BLOCKS, workers);

        let v = m.check_all();
        assert!(v.is_empty(), "{v:#?}");
        let b = m.balloon();
        let stats = b.stats();
        assert_eq!(stats.inflated - stats.deflated, stats.pages);
        for pfn in b.pages() {
            assert_eq!(m.kpageflags(pfn), 1 << KPF_OFFLINE | 1 << KPF_UPTODATE);
        }
        // Every block can go offline with the balloon inflated, and the whole
        // balloon deflates.
        // How much migrated while racing depends on the schedule; offlining
        // the blocks below must move every balloon page still in them.
        let bs = m.hotplug().pages_per_block();
        let in_blocks = b
            .pages()
            .iter()
            .filter(|p| (FIRST_BLOCK * bs..(FIRST_BLOCK + BLOCKS) * bs).contains(&p.0))
            .count() as u64;
        offline_online_blocks(&m, FIRST_BLOCK, BLOCKS);
        assert!(
            b.stats().migrated >= stats.migrated + in_blocks,
            "balloon pages left in offlined blocks: {:?}, {in_blocks} were in them",
            b.stats()
        );
        let held = stats.pages * PAGE_SIZE;
        assert_eq!(b.deflate(held + PAGE_SIZE), Ok(held));
        let v = m.check_all();
        assert!(v.is_empty(), "{v:#?}");
    });
}
