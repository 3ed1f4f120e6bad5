//! The per-CPU page lists (mm/page_alloc.c `struct per_cpu_pages`): refills
//! by `rmqueue_bulk()`, drains by `free_pcppages_bulk()`, what a page on a
//! list looks like to /proc, and `zone_pcp_disable()` in `offline_pages()`.

mod common;

use mmsim::hotplug::owner::Mark;
use mmsim::hotplug::{MemoryBlock, OnlineType, Task};
use mmsim::page::{Pfn, PhysAddr, ZoneType};
use mmsim::sync::{thread, Arc};
use mmsim::walkers::KPF_BUDDY;
use mmsim::zone::alloc::Gfp;
use mmsim::zone::pcp::{zone_batchsize, PagesetLimits};
use mmsim::zone::Zone;
use mmsim::{Errno, Machine};

const GIB4: u64 = 4 << 30;

fn assert_clean(m: &Machine) {
    let v = m.check_all();
    assert!(v.is_empty(), "{v:#?}");
}

/// Hot-adds `n` blocks at 4 GiB (memory32...) and onlines them as `how`.
fn hot_blocks(m: &Machine, n: u64, how: OnlineType) -> Vec<Arc<MemoryBlock>> {
    m.add_memory(0, PhysAddr(GIB4), n << 27).unwrap();
    (32..32 + n)
        .map(|id| {
            let blk = m.hotplug().find_block(id).unwrap();
            m.online_memory_block(&blk, how).unwrap();
            blk
        })
        .collect()
}

fn in_block(blk: &MemoryBlock, pfn: Pfn) -> bool {
    blk.start_pfn <= pfn && pfn < blk.end_pfn()
}

/// Every CPU's lists carry the zone's limits (`zone_pcp_enable()` ran).
fn assert_enabled(zone: &Zone) {
    let limits = zone.pcp.limits();
    assert!(limits.high > 0, "{limits:?}");
    assert!(zone.pcp.cpu_limits().iter().all(|l| *l == limits));
}

// zone_batchsize(): min(managed / 1024, 256) / 4, times 1.5, rounded down
// to a power of two, minus one; zone_highsize()'s floor is batch * 4.
#[test]
fn zone_batchsize_and_highsize_follow_the_managed_pages() {
    assert_eq!(zone_batchsize(0), 1);
    assert_eq!(zone_batchsize(4096), 1);
    // 1 GiB: 262144 >> 10 = 256, / 4 = 64, * 1.5 = 96 → 64 - 1.
    assert_eq!(zone_batchsize(262_144), 63);
    assert_eq!(zone_batchsize(1 << 30), 63);
    // 128 MiB: 32, / 4 = 8, * 1.5 = 12 → 8 - 1.
    assert_eq!(zone_batchsize(32_768), 7);
    common::model_test(|| {
        let m = common::small_machine(0);
        let zone = m.zone(0, ZoneType::Dma32);
        let batch = zone_batchsize(zone.managed_pages());
        assert_eq!(
            zone.pcp.limits(),
            PagesetLimits {
                high: batch << 2,
                batch
            }
        );
        assert_enabled(zone);
    });
}

// rmqueue_pcplist() → rmqueue_bulk(): the first order-0 allocation takes a
// whole batch off the buddy lists (NR_FREE_PAGES drops by batch), hands out
// one page and keeps batch - 1 on the list; the next ones take no buddy page.
#[test]
fn rmqueue_bulk_refills_the_pcp_list_by_batch() {
    common::model_test(|| {
        let m = common::small_machine(0);
        let zone = m.zone(0, ZoneType::Dma32);
        let batch = u64::from(zone.pcp.limits().batch);
        assert_eq!(zone.pcp.count(), 0);
        let free = zone.nr_free();
        let first = m.alloc_pages(Gfp::MOVABLE, 0, 0).unwrap();
        assert_eq!(zone.nr_free(), free - batch as i64);
        assert_eq!(zone.pcp.count(), batch - 1);
        // The list is in physical order (list_add_tail in rmqueue_bulk()).
        let second = m.alloc_pages(Gfp::MOVABLE, 0, 0).unwrap();
        assert_eq!(second, first + 1);
        assert_eq!(zone.nr_free(), free - batch as i64);
        assert_eq!(zone.pcp.count(), batch - 2);
        m.put_pages(second, 0);
        m.put_pages(first, 0);
        assert_eq!(zone.pcp.count(), batch);
        assert_clean(&m);
    });
}

// free_unref_page_commit(): a free that brings the CPU's count to high
// gives back nr_pcp_free() pages (free_pcppages_bulk()): the consecutive
// frees so far, at least batch and at most high - batch, so at least a
// batch stays on the lists; the count never stays at high.
#[test]
fn free_over_high_drains_a_batch_by_free_pcppages_bulk() {
    common::model_test(|| {
        let m = common::small_machine(0);
        let zone = m.zone(0, ZoneType::Dma32);
        let PagesetLimits { high, batch } = zone.pcp.limits();
        let (high, batch) = (u64::from(high), u64::from(batch));
        let held: Vec<Pfn> = (0..2 * high)
            .map(|_| m.alloc_pages(Gfp::MOVABLE, 0, 0).unwrap())
            .collect();
        let mut frees = 0;
        let mut drains = 0;
        for pfn in held {
            let (count, free) = (zone.pcp.count(), zone.nr_free());
            m.put_pages(pfn, 0);
            frees += 1;
            if count + 1 < high {
                assert_eq!(zone.pcp.count(), count + 1);
                assert_eq!(zone.nr_free(), free);
                continue;
            }
            // Allocations halved free_count to 0; each free since added 1.
            let drained = frees.clamp(batch, high - batch);
            assert_eq!(zone.pcp.count(), high - drained);
            assert_eq!(zone.nr_free(), free + drained as i64);
            drains += 1;
        }
        assert!(drains >= 2, "only {drains} drains");
        assert_clean(&m);
    });
}

// A page on a pcp list is free but not PageBuddy: stable_page_flags() shows
// no KPF_BUDDY (nor anything else), page_count() is 0; drain_all_pages()
// makes it (part of) a buddy block again.
#[test]
fn kpageflags_of_a_pcp_page_has_no_buddy_stable_page_flags() {
    common::model_test(|| {
        let m = common::small_machine(0);
        let pfn = m.alloc_pages(Gfp::MOVABLE, 0, 0).unwrap();
        m.put_pages(pfn, 0);
        let zone = m.zone(0, ZoneType::Dma32);
        assert!(zone.pcp.pages().contains(&(pfn, 0)));
        assert_eq!(m.kpageflags(pfn), 0);
        assert_eq!(m.kpagecount(pfn), 0);
        m.drain_all_pages(None);
        assert_eq!(zone.pcp.count(), 0);
        assert_ne!(m.kpageflags(pfn) & 1 << KPF_BUDDY, 0);
        assert_clean(&m);
    });
}

// offline_pages(): zone_pcp_disable() before isolation drains every CPU's
// lists, so the pages of the range that sat on them reach the (isolated)
// buddy lists and leave with the block; zone_pcp_enable() at the end gives
// the zone's remaining memory its (recomputed) limits back.
#[test]
fn zone_pcp_disable_in_offline_pages_leaves_no_pcp_page_in_the_range() {
    common::model_test(|| {
        let m = common::small_machine(0);
        let blocks = hot_blocks(&m, 2, OnlineType::OnlineMovable);
        let zone = m.zone(0, ZoneType::Movable);
        let pfns: Vec<Pfn> = (0..200)
            .map(|_| m.alloc_pages(Gfp::MOVABLE, 0, 0).unwrap())
            .collect();
        for &pfn in &pfns {
            m.put_pages(pfn, 0);
        }
        let on_pcp = |b: &MemoryBlock| zone.pcp.pages().iter().any(|&(p, _)| in_block(b, p));
        let busy = blocks.iter().position(|b| on_pcp(b)).expect("pcp pages");
        m.device_offline(&blocks[busy], &Task::new()).unwrap();
        assert!(!on_pcp(&blocks[busy]));
        assert_enabled(zone);
        // init_per_zone_wmark_min() → zone_pcp_update(): one block left.
        assert_eq!(zone.pcp.limits().batch, zone_batchsize(32_768));
        assert_clean(&m);
        // The zone's last block: zone_pcp_reset() leaves the boot pageset.
        m.device_offline(&blocks[1 - busy], &Task::new()).unwrap();
        assert_eq!(zone.pcp.count(), 0);
        assert_eq!(zone.pcp.limits(), PagesetLimits { high: 0, batch: 1 });
        assert_clean(&m);
    });
}

// failed_removal_pcplists_disabled: an offline that fails (here: isolation
// meets an unmovable page in a kernel zone) re-enables the lists too.
#[test]
fn zone_pcp_enable_after_a_failed_offline_pages() {
    common::model_test(|| {
        let m = common::small_machine(0);
        let blk = &hot_blocks(&m, 1, OnlineType::OnlineKernel)[0];
        m.owner_alloc_contig("slab", blk.start_pfn + 100, 1)
            .unwrap();
        m.owner_mark("slab", Mark::Slab).unwrap();
        assert_eq!(m.device_offline(blk, &Task::new()), Err(Errno::EBUSY));
        assert_enabled(m.zone(0, ZoneType::Normal));
        m.owner_free("slab").unwrap();
        m.device_offline(blk, &Task::new()).unwrap();
        assert_clean(&m);
    });
}

// Several CPUs allocate and free (orders 0 to 3, all cached on pcp lists)
// while the block they allocate from goes offline and online again: every
// offline succeeds once they let go, leaves no page of the range on any
// list (zone_pcp_disable() vs free_unref_page()), and no page is lost.
#[test]
fn free_unref_page_races_zone_pcp_disable_in_offline_pages() {
    common::model_test(|| {
        let rounds = if cfg!(mmsim_shuttle) { 6 } else { 3000 };
        let offlines = if cfg!(mmsim_shuttle) { 2 } else { 20 };
        let m = Arc::new(common::small_machine(0));
        let blk = hot_blocks(&m, 1, OnlineType::OnlineMovable).remove(0);
        let free_at_start = common::free_pages(&m);
        let workers: Vec<_> = (0..3usize)
            .map(|cpu| {
                let m = m.clone();
                thread::spawn(move || {
                    for round in 0..rounds {
                        let order = [0, 0, 1, 3][(round + cpu) % 4];
                        let held: Vec<Pfn> = (0..4)
                            .filter_map(|_| m.alloc_pages(Gfp::MOVABLE, order, 0).ok())
                            .collect();
                        for pfn in held {
                            m.put_pages(pfn, order);
                        }
                    }
                })
            })
            .collect();
        let zone = m.zone(0, ZoneType::Movable);
        for _ in 0..offlines {
            m.device_offline(&blk, &Task::new()).unwrap();
            assert!(zone.pcp.pages().iter().all(|&(p, _)| !in_block(&blk, p)));
            m.online_memory_block(&blk, OnlineType::OnlineMovable)
                .unwrap();
        }
        for w in workers {
            w.join().unwrap();
        }
        assert_enabled(zone);
        assert_eq!(common::free_pages(&m), free_at_start);
        assert_clean(&m);
    });
}
