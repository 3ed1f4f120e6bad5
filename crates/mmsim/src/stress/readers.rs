//! The PFN walkers: /proc/kcore and /proc/kpageflags readers, and the
//! compaction scanner taking speculative references.
//!
//! Half of the readers' PFNs fall in the part of the virtio-mem device the
//! host may plug (half of those in the top 4 MiB of plugged memory, where
//! the driver fake-offlines and unplugs sub-blocks next), a quarter in the
//! admin's hot blocks, the rest anywhere.

use super::{Actor, Ctx, Rng, BLOCK};
use crate::page::{Pfn, PAGEBLOCK_NR_PAGES, PAGE_SIZE};
use crate::walkers::compact::IsolateStats;
use crate::walkers::KPMSIZE;
use crate::zone::Zone;

/// PFNs one kpageflags read covers.
const KPAGE_BATCH: u64 = 64;

/// A PFN where things happen.
fn target_pfn(ctx: &Ctx, rng: &mut Rng) -> Pfn {
    let l = ctx.layout;
    let addr = match rng.below(4) {
        // The top 4 MiB of plugged memory: what the driver unplugs next.
        0 => {
            let plugged = ctx.host.as_ref().map_or(0, |h| h.config().plugged_size);
            let top = l.dev_addr + plugged;
            top.saturating_sub(4 << 20).max(l.dev_addr) + rng.below(4 << 20)
        }
        1 => l.dev_addr + rng.below(l.dev_max),
        2 => l.hot_base + rng.below(l.hot_blocks * BLOCK),
        _ => rng.below(l.dev_addr + l.dev_size),
    };
    Pfn(addr / PAGE_SIZE)
}

/// A /proc/kcore reader: one whole page a step.
pub struct Kcore;

impl Actor for Kcore {
    fn step(&mut self, ctx: &Ctx, rng: &mut Rng) -> Result<(), String> {
        let pfn = target_pfn(ctx, rng);
        ctx.m.kcore_page(pfn, 0, PAGE_SIZE);
        Ok(())
    }
}

/// A /proc/kpageflags and /proc/kpagecount reader: 64 entries of each a
/// step.
pub struct Kpageflags;

impl Actor for Kpageflags {
    fn step(&mut self, ctx: &Ctx, rng: &mut Rng) -> Result<(), String> {
        let pfn = target_pfn(ctx, rng);
        let (off, len) = (pfn.0 * KPMSIZE, KPAGE_BATCH * KPMSIZE);
        ctx.m
            .kpageflags_read(off, len)
            .map_err(|e| format!("kpageflags at pfn {pfn}: {e}"))?;
        ctx.m
            .kpagecount_read(off, len)
            .map_err(|e| format!("kpagecount at pfn {pfn}: {e}"))?;
        Ok(())
    }
}

/// The compaction scanner (`isolate_migratepages_block()`, see
/// [`crate::walkers::compact`]): one pageblock of a random populated zone a
/// step, in one RCU read-side section.
pub struct Scanner;

impl Actor for Scanner {
    fn step(&mut self, ctx: &Ctx, rng: &mut Rng) -> Result<(), String> {
        let m = &*ctx.m;
        let zones: Vec<&Zone> = m
            .nodes()
            .iter()
            .flat_map(|n| n.zones.iter())
            .filter(|z| !z.is_empty())
            .collect();
        if zones.is_empty() {
            return Ok(());
        }
        let zone = zones[rng.below(zones.len() as u64) as usize];
        // The span is read once: hotplug may have emptied the zone since.
        let (start, end) = zone.span();
        if start >= end {
            return Ok(());
        }
        let blocks = (end.0 - start.0).div_ceil(PAGEBLOCK_NR_PAGES);
        let first = Pfn(start.0 + rng.below(blocks) * PAGEBLOCK_NR_PAGES);
        let last = Pfn((first.0 + PAGEBLOCK_NR_PAGES).min(end.0));
        let mut stats = IsolateStats::default();
        let rcu = m.reader_rcu_lock();
        m.isolate_migratepages_block(&rcu, zone, first, last, &mut stats);
        Ok(())
    }
}
