//! Per-CPU page lists (`struct per_cpu_pages`, mm/page_alloc.c).
//!
//! Picture each zone with a small private cache of free pages in front of
//! its buddy free lists, one cache per CPU. An order-0 allocation (or one of
//! order ≤ PAGE_ALLOC_COSTLY_ORDER, or a THP) takes the first page of its
//! CPU's list for that (order, migratetype); only when the list is empty does
//! it take `zone->lock` and move a batch of pages off the buddy lists at once
//! (`rmqueue_bulk()`). A free puts the page at the head of its CPU's list;
//! only when the CPU holds `high` pages or more does it take `zone->lock` and
//! give back a batch from the cold ends of its lists (`free_pcppages_bulk()`).
//! A page sitting on a per-CPU list is in neither state the rest of the
//! kernel knows: it is not PageBuddy (PFN walkers and
//! `test_pages_isolated()` see a plain refcount-0 page), it is not counted
//! in NR_FREE_PAGES (since 6.10 `account_freepages()` runs only when a page
//! enters or leaves a buddy free list), and it belongs to nobody. Its
//! migratetype is the list it sits on.
//!
//! # Protocol
//!
//! * Each CPU's lists sit behind their own `pcp->lock` (a [`SpinLock`]).
//!   Allocation and free only **try** it (`pcp_spin_trylock()`): the lock
//!   may be held by a remote drain, or — in the kernel — by the code an IRQ
//!   interrupted; on failure the allocation falls back to the buddy lists
//!   and the free goes straight to them (`free_one_page()`). The model's
//!   threads are not pinned to CPUs, so two threads may share a CPU's lists
//!   (`sync::this_cpu_shard`); the lock makes that safe, and under the
//!   explorer the CPU is derived from the task number, so replays are
//!   identical.
//! * Bulk moves take `zone->lock` inside `pcp->lock` (lock order
//!   `pcp->lock → zone->lock`); `zone->lock` is never held while a
//!   `pcp->lock` is taken.
//! * `pcp->high` and `pcp->batch` live under `pcp->lock`; the zone's values
//!   (`zone->pageset_high_min`, `zone->pageset_batch`) live under
//!   `pcp_batch_high_lock`, which `zone_pcp_update()` takes to recompute
//!   them from the managed pages and which `zone_pcp_disable()` holds until
//!   `zone_pcp_enable()`.
//! * **Isolated pageblocks never feed a per-CPU list.** A free reads its
//!   pageblock's isolation before it takes `pcp->lock`, so a free racing
//!   with isolation may still put a page of a just-isolated pageblock on a
//!   list. Offlining closes that window with `zone_pcp_disable()` before it
//!   isolates: every CPU's `high` becomes 0 and every list is drained, so
//!   from then on a free that reaches a list drains it again at once (under
//!   `zone->lock`, which sees the isolation and puts the page on the isolate
//!   list). `alloc_contig_range()` only drains once after isolating
//!   (`drain_all_pages()`), and copes with a straggler by failing with
//!   -EBUSY, as in the kernel. Refills come from `__rmqueue()`, which never
//!   takes from the isolate list.
//!
//! # Where the model differs
//!
//! The model has no watermarks, so `high` stays at its floor `batch * 4`
//! (`zone_highsize()` without `low_wmark_pages()`): high_min == high_max and
//! the 6.7 auto-tuning of `pcp->high` never moves it. The batch scaling by
//! consecutive allocations (`alloc_factor`) and frees (`free_count`) is
//! modelled; the `free_high` rule for orders 1..=3 (PCPF_PREV_FREE_HIGH_ORDER)
//! and the vmstat-driven `decay_pcp_high()` are not. `pcp_batch_high_lock` is
//! one per zone rather than global: its holders all run under
//! `mem_hotplug_lock` (write) and touch one zone each. `__drain_all_pages()`
//! locks every CPU's lists (the `force_all_cpus` behaviour) instead of
//! reading their counts racily first, and has no `pcpu_drain_mutex`: drains
//! of one CPU's lists serialise on its `pcp->lock` already.

use super::alloc::PageAlloc;
use super::{buddy, Migratetype, Zone};
// pageblock_order is HPAGE_PMD_ORDER on x86-64 with THP.
use crate::page::{Pfn, PAGEBLOCK_ORDER as HPAGE_PMD_ORDER, PAGE_SIZE};
use crate::sync::{per_cpu, this_cpu_shard, CachePadded, Mutex, MutexGuard, SpinLock};
use std::collections::VecDeque;

/// PAGE_ALLOC_COSTLY_ORDER: the highest order the per-CPU lists cache
/// besides the THP order.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
/// MIGRATE_PCPTYPES: unmovable, movable and reclaimable have lists.
const MIGRATE_PCPTYPES: usize = 3;
const NR_LOWORDER_PCP_LISTS: usize = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER as usize + 1);
/// NR_PCP_LISTS: the low orders' lists and two THP lists (movable or not).
pub const NR_PCP_LISTS: usize = NR_LOWORDER_PCP_LISTS + 2;
/// CONFIG_PCP_BATCH_SCALE_MAX (default 5).
const PCP_BATCH_SCALE_MAX: u32 = 5;
/// BOOT_PAGESET_HIGH and BOOT_PAGESET_BATCH: a zone whose limits were never
/// computed caches nothing.
const BOOT_PAGESET_HIGH: u32 = 0;
const BOOT_PAGESET_BATCH: u32 = 1;

/// `pcp_allowed_order()`: orders up to PAGE_ALLOC_COSTLY_ORDER and the THP
/// order go through the per-CPU lists.
pub fn pcp_allowed_order(order: u32) -> bool {
    order <= PAGE_ALLOC_COSTLY_ORDER || order == HPAGE_PMD_ORDER
}

/// `order_to_pindex()`: the list of `order` for `mt` (a per-CPU type).
fn order_to_pindex(mt: Migratetype, order: u32) -> usize {
    if order > PAGE_ALLOC_COSTLY_ORDER {
        NR_LOWORDER_PCP_LISTS + usize::from(mt == Migratetype::Movable)
    } else {
        MIGRATE_PCPTYPES * order as usize + mt as usize
    }
}

/// `pindex_to_order()`.
fn pindex_to_order(pindex: usize) -> u32 {
    if pindex >= NR_LOWORDER_PCP_LISTS {
        HPAGE_PMD_ORDER
    } else {
        (pindex / MIGRATE_PCPTYPES) as u32
    }
}

/// One CPU's `struct per_cpu_pages` for one zone (under its `pcp->lock`).
#[derive(Debug)]
pub struct PerCpuPages {
    /// `count`: pages on the lists (a block of order n counts 2^n).
    count: u32,
    /// `high`: a free that brings `count` to this drains a batch.
    high: u32,
    /// `batch`: pages moved to or from the buddy lists at once.
    batch: u32,
    /// `free_count`: pages freed since the last allocation halved it; frees
    /// drain more at once after many consecutive frees.
    free_count: u32,
    /// `alloc_factor`: refills double (up to 2^PCP_BATCH_SCALE_MAX batches)
    /// while allocations come without frees.
    alloc_factor: u32,
    /// `lists[NR_PCP_LISTS]`: head is hot (frees push, allocations pop),
    /// tail is cold (bulk frees take from there).
    lists: [VecDeque<Pfn>; NR_PCP_LISTS],
}

impl PerCpuPages {
    /// `per_cpu_pages_init()`: empty, with the boot pageset's limits.
    fn new() -> PerCpuPages {
        PerCpuPages {
            count: 0,
            high: BOOT_PAGESET_HIGH,
            batch: BOOT_PAGESET_BATCH,
            free_count: 0,
            alloc_factor: 0,
            lists: Default::default(),
        }
    }

    /// `nr_pcp_alloc()`: how many blocks of `order` a refill asks for.
    fn nr_pcp_alloc(&mut self, order: u32) -> u32 {
        let base_batch = self.batch;
        let high = self.high;
        // PCP disabled (zone_pcp_disable) or boot pageset: one at a time.
        if high < base_batch {
            return 1;
        }
        let mut batch = if order > 0 {
            base_batch
        } else {
            base_batch << self.alloc_factor
        };
        if order == 0 {
            let max_nr_alloc = high.saturating_sub(self.count + base_batch).max(base_batch);
            if batch <= max_nr_alloc && self.alloc_factor < PCP_BATCH_SCALE_MAX {
                self.alloc_factor += 1;
            }
            batch = batch.min(max_nr_alloc);
        }
        if batch > 1 {
            batch = (batch >> order).max(2);
        }
        batch
    }

    /// `nr_pcp_free()` (without the `free_high` rule): how many pages a
    /// free over `high` gives back.
    fn nr_pcp_free(&self) -> u32 {
        let (batch, high) = (self.batch, self.high);
        if high < batch {
            return 1;
        }
        // Leave at least a batch on the lists; after many consecutive frees
        // give back more at once.
        self.free_count.clamp(batch, high - batch)
    }
}

/// The zone's `pageset_high_min` and `pageset_batch`, under
/// `pcp_batch_high_lock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagesetLimits {
    /// `zone->pageset_high_min` (== high_max in the model).
    pub high: u32,
    /// `zone->pageset_batch`.
    pub batch: u32,
}

/// `zone->per_cpu_pageset` and what governs it.
pub struct Pageset {
    /// One `pcp->lock` and its lists per CPU.
    cpus: Box<[CachePadded<SpinLock<PerCpuPages>>]>,
    /// `pcp_batch_high_lock` and the zone-wide limits it protects (boxed:
    /// the explorer's mutex is large, and machines build their nodes on
    /// the stack of an explorer task).
    limits: Box<Mutex<PagesetLimits>>,
}

impl Pageset {
    /// `setup_zone_pageset()` before any limit is known: every CPU's lists
    /// behave as the boot pageset. Never inlined: each CPU's lists are built
    /// on the stack (cache-line aligned) before they move to the heap, and
    /// a node builds five zones in one frame, on an explorer task's small
    /// stack too.
    #[inline(never)]
    pub fn new() -> Pageset {
        Pageset {
            cpus: per_cpu(|| SpinLock::new(PerCpuPages::new())),
            limits: Box::new(Mutex::new(PagesetLimits {
                high: BOOT_PAGESET_HIGH,
                batch: BOOT_PAGESET_BATCH,
            })),
        }
    }

    /// `this_cpu_ptr(zone->per_cpu_pageset)`.
    fn this_cpu(&self) -> &SpinLock<PerCpuPages> {
        &self.cpus[this_cpu_shard(self.cpus.len())].0
    }

    /// `__zone_set_pageset_high_and_batch()`: every CPU's limits.
    fn set_high_and_batch(&self, l: PagesetLimits) {
        for cpu in self.cpus.iter() {
            let mut pcp = cpu.0.lock();
            pcp.high = l.high;
            pcp.batch = l.batch;
        }
    }

    /// Pages on every CPU's lists (`/proc/zoneinfo`'s pagesets, summed).
    pub fn count(&self) -> u64 {
        self.cpus.iter().map(|c| u64::from(c.0.lock().count)).sum()
    }

    /// The zone-wide limits (`zone->pageset_high_min`, `pageset_batch`).
    pub fn limits(&self) -> PagesetLimits {
        *self.limits.lock()
    }

    /// The limits of each CPU's lists now (`pcp->high`, `pcp->batch`).
    pub fn cpu_limits(&self) -> Vec<PagesetLimits> {
        self.cpus
            .iter()
            .map(|c| {
                let pcp = c.0.lock();
                PagesetLimits {
                    high: pcp.high,
                    batch: pcp.batch,
                }
            })
            .collect()
    }

    /// Every block on every CPU's lists, with its order (for the checker:
    /// these pages are free, not leaked).
    pub fn pages(&self) -> Vec<(Pfn, u32)> {
        let mut out = Vec::new();
        for cpu in self.cpus.iter() {
            let pcp = cpu.0.lock();
            for (pindex, list) in pcp.lists.iter().enumerate() {
                out.extend(list.iter().map(|&pfn| (pfn, pindex_to_order(pindex))));
            }
        }
        out
    }
}

impl Default for Pageset {
    fn default() -> Self {
        Self::new()
    }
}

/// `zone_batchsize()` as `zone_set_pageset_high_and_batch()` uses it:
/// about 0.1% of the zone or 1 MiB, whichever is smaller, a quarter of that
/// times 1.5 rounded down to a power of two, minus one (2^n - 1 spreads
/// cache colours), and never 0.
pub fn zone_batchsize(managed_pages: i64) -> u32 {
    let managed = managed_pages.max(0) as u64;
    let batch = ((managed >> 10).min((1 << 20) / PAGE_SIZE) / 4).max(1);
    let scaled = batch + batch / 2;
    let rounddown_pow_of_two = 1u64 << (u64::BITS - 1 - scaled.leading_zeros());
    ((rounddown_pow_of_two - 1) as u32).max(1)
}

/// The pages a block of `order` counts for.
fn nr_pages(order: u32) -> u32 {
    1 << order
}

/// A zone's per-CPU lists disabled (`zone_pcp_disable()`): every CPU's
/// `high` is 0 and its lists were drained; `pcp_batch_high_lock` is held.
/// Dropping it is `zone_pcp_enable()`: the zone's limits come back and the
/// lock is released — so every exit from an offline attempt, success or
/// failure, re-enables the lists.
pub struct PcpDisabled<'a> {
    zone: &'a Zone,
    limits: MutexGuard<'a, PagesetLimits>,
}

impl PcpDisabled<'_> {
    /// `zone_pcp_enable()`, at a chosen point rather than at the end of
    /// the scope.
    pub fn enable(self) {}
}

impl Drop for PcpDisabled<'_> {
    fn drop(&mut self) {
        self.zone.pcp.set_high_and_batch(*self.limits);
    }
}

impl PageAlloc<'_> {
    /// `rmqueue_pcplist()`: a block of `order` (pcp-allowed) for `mt` from
    /// this CPU's lists, refilled from the buddy lists when empty. None
    /// when the lists' lock is busy or the zone has nothing for a refill:
    /// the caller then tries the buddy lists directly (`rmqueue_buddy()`).
    pub fn rmqueue_pcplist(&self, zone: &Zone, order: u32, mt: Migratetype) -> Option<Pfn> {
        // Spin_trylock may fail due to a parallel drain (or, in the kernel,
        // IRQ reentrancy).
        let mut pcp = zone.pcp.this_cpu().try_lock()?;
        pcp.free_count >>= 1;
        let pindex = order_to_pindex(mt, order);
        if pcp.lists[pindex].is_empty() {
            let batch = pcp.nr_pcp_alloc(order);
            let alloced = self.rmqueue_bulk(zone, order, batch, &mut pcp.lists[pindex], mt);
            pcp.count += alloced * nr_pages(order);
        }
        let pfn = pcp.lists[pindex].pop_front()?;
        pcp.count -= nr_pages(order);
        Some(pfn)
    }

    /// `rmqueue_bulk()`: up to `count` blocks of `order` off the buddy lists
    /// onto the tail of `list`, under one `zone->lock`. Returns how many.
    fn rmqueue_bulk(
        &self,
        zone: &Zone,
        order: u32,
        count: u32,
        list: &mut VecDeque<Pfn>,
        mt: Migratetype,
    ) -> u32 {
        let mut locked = zone.lock.lock();
        for i in 0..count {
            let Some(pfn) = buddy::rmqueue(zone, &mut locked, self.mem, order, mt) else {
                return i;
            };
            list.push_back(pfn);
        }
        count
    }

    /// `free_unref_page()` after `free_pages_prepare()`: a block of a
    /// pcp-allowed order goes to this CPU's lists, unless its pageblock is
    /// isolated or the lists' lock is busy, when it goes straight to the
    /// buddy lists (`free_one_page()`).
    pub fn free_unref_page(&self, zone: &Zone, pfn: Pfn, order: u32) {
        // HIGHATOMIC and CMA (not modelled) would be cached as movable;
        // an isolated pageblock's page must reach the isolate list.
        let mt = buddy::list_for(self.mem, pfn);
        let cached = mt != Migratetype::Isolate
            && match zone.pcp.this_cpu().try_lock() {
                Some(mut pcp) => {
                    self.free_unref_page_commit(zone, &mut pcp, pfn, mt, order);
                    true
                }
                None => false,
            };
        if !cached {
            let mut locked = zone.lock.lock();
            buddy::free_one_page(zone, &mut locked, self.mem, pfn, order, false);
        }
    }

    /// `free_unref_page_commit()`: the block goes to the head of its list;
    /// reaching `high` gives a batch back to the buddy lists.
    fn free_unref_page_commit(
        &self,
        zone: &Zone,
        pcp: &mut PerCpuPages,
        pfn: Pfn,
        mt: Migratetype,
        order: u32,
    ) {
        pcp.alloc_factor >>= 1;
        let pindex = order_to_pindex(mt, order);
        pcp.lists[pindex].push_front(pfn);
        pcp.count += nr_pages(order);
        if pcp.free_count < pcp.batch << PCP_BATCH_SCALE_MAX {
            pcp.free_count += nr_pages(order);
        }
        if pcp.count >= pcp.high {
            let n = pcp.nr_pcp_free();
            self.free_pcppages_bulk(zone, n, pcp, pindex);
        }
    }

    /// `free_pcppages_bulk()`: gives `count` pages back to the buddy lists
    /// under one `zone->lock`, from the cold end of each list, round-robin
    /// over the lists starting with `pindex`. Each block goes to the list
    /// its pageblock says now (isolated or not), merging as it can.
    fn free_pcppages_bulk(&self, zone: &Zone, count: u32, pcp: &mut PerCpuPages, pindex: usize) {
        let mut count = count.min(pcp.count);
        let mut pindex = pindex + NR_PCP_LISTS - 1;
        let mut locked = zone.lock.lock();
        while count > 0 {
            pindex = (pindex + 1) % NR_PCP_LISTS;
            if pcp.lists[pindex].is_empty() {
                continue;
            }
            let order = pindex_to_order(pindex);
            while let Some(pfn) = pcp.lists[pindex].pop_back() {
                count = count.saturating_sub(nr_pages(order));
                pcp.count -= nr_pages(order);
                buddy::free_one_page(zone, &mut locked, self.mem, pfn, order, false);
                if count == 0 {
                    break;
                }
            }
        }
    }

    /// `drain_pages_zone()`: empties one CPU's lists of `zone`, a bounded
    /// bulk at a time (`batch << CONFIG_PCP_BATCH_SCALE_MAX`).
    fn drain_pages_zone(&self, zone: &Zone, cpu: usize) {
        loop {
            let mut pcp = zone.pcp.cpus[cpu].0.lock();
            let count = pcp.count;
            if count == 0 {
                return;
            }
            let to_drain = count.min(pcp.batch << PCP_BATCH_SCALE_MAX);
            self.free_pcppages_bulk(zone, to_drain, &mut pcp, 0);
        }
    }

    /// `drain_all_pages(zone)`: every CPU's lists of `zone` (of every zone
    /// with `None`) back to the buddy lists. Pages freed meanwhile may land
    /// on a list again; `zone_pcp_disable()` is what prevents that.
    pub fn drain_all_pages(&self, zone: Option<&Zone>) {
        let drain = |z: &Zone| {
            for cpu in 0..z.pcp.cpus.len() {
                self.drain_pages_zone(z, cpu);
            }
        };
        match zone {
            Some(z) => drain(z),
            None => self
                .nodes
                .iter()
                .flat_map(|n| n.zones.iter())
                .filter(|z| z.populated())
                .for_each(drain),
        }
    }

    /// `zone_pcp_update()` (what `init_per_zone_wmark_min()` does for each
    /// zone after its managed pages changed): batch and high from the
    /// managed pages, written to every CPU's lists if they changed.
    pub fn zone_pcp_update(&self, zone: &Zone) {
        let mut limits = zone.pcp.limits.lock();
        let batch = zone_batchsize(zone.managed_pages());
        let new = PagesetLimits {
            high: batch << 2,
            batch,
        };
        if *limits != new {
            *limits = new;
            zone.pcp.set_high_and_batch(new);
        }
    }

    /// `zone_pcp_reset()` of a zone that lost its last present page: its
    /// lists (empty: the offline disabled and drained them) go back to the
    /// boot pageset's limits.
    pub fn zone_pcp_reset(&self, zone: &Zone) {
        let mut limits = zone.pcp.limits.lock();
        *limits = PagesetLimits {
            high: BOOT_PAGESET_HIGH,
            batch: BOOT_PAGESET_BATCH,
        };
        zone.pcp.set_high_and_batch(*limits);
    }

    /// `zone_pcp_disable()`: takes `pcp_batch_high_lock`, sets every CPU's
    /// high to 0 and batch to 1, and drains every CPU's lists. Until the
    /// returned guard goes (`zone_pcp_enable()`), a page freed to the lists
    /// goes on to the buddy lists at once and a refill moves one page.
    pub fn zone_pcp_disable<'z>(&self, zone: &'z Zone) -> PcpDisabled<'z> {
        let limits = zone.pcp.limits.lock();
        zone.pcp
            .set_high_and_batch(PagesetLimits { high: 0, batch: 1 });
        self.drain_all_pages(Some(zone));
        PcpDisabled { zone, limits }
    }
}
