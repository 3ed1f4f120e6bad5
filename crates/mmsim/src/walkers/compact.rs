//! The compaction scanner's PFN walk (mm/compaction.c
//! `isolate_migratepages_block()`), as a lockless memmap reader.
//!
//! Compaction's migration scanner sweeps a zone's PFNs looking for pages it
//! could move. It takes no hotplug lock: per pageblock it asks
//! `pageblock_pfn_to_page()` (which uses `pfn_to_online_page()` where the
//! zone has holes), then per PFN it reads the slot, skips what cannot move,
//! and takes a speculative reference (`folio_get_nontail_page()`, i.e.
//! `get_page_unless_zero()`) on an LRU page — or, for a non-LRU page with
//! movable_ops, `isolate_movable_page()` does the same `folio_try_get()` —
//! before checking it again. Those references are what races with hot-remove
//! and with PageOffline pages are about.
//!
//! # What the model does
//!
//! [`Machine::isolate_migratepages_scan`] walks a zone's span pageblock by
//! pageblock, each pageblock inside one RCU read-side section
//! ([`Machine::reader_rcu_lock`]): the kernel checks a pageblock once and
//! then trusts the memmap for all its PFNs, so under the `pfn_active`
//! proposal the whole pageblock must be one section for that check to stay
//! true (the kernel's scanner also reschedules only at pageblock or
//! SWAP_CLUSTER_MAX boundaries). Each PFN still goes through
//! [`Machine::pfn_walker_page`], so the `pfn_walker` variant applies per
//! PFN, which subsumes the per-pageblock check. Per PFN
//! ([`Machine::isolate_migratepages_pfn`]), as 6.12 does for
//! `cc->order == -1` (`/proc/sys/vm/compact_memory`):
//!
//! * no walker page, or a page of another zone: skipped;
//! * PageBuddy: skipped, with the rest of the free block when its order
//!   (read without the zone lock, `buddy_order_unsafe()`) is sane;
//! * neither PG_lru nor movable_ops: skipped;
//! * otherwise `get_page_unless_zero()`; on success the page is checked
//!   again (still LRU or movable_ops, not a tail), then the reference is
//!   dropped with `folio_put()` — possibly the last one, which frees the
//!   page.
//!
//! The model does not isolate or migrate: the speculative reference and its
//! put are what the races need, and isolating for real would take the page
//! off its LRU list and on to a migration list that the model only builds
//! inside `migrate_pages()`. Compound pages of at least pageblock order
//! (`skip_isolation_on_order()`) are not skipped in bulk: their tails fail
//! `get_page_unless_zero()` one by one.
//!
//! The scan ends every PFN with [`Machine::memmap_slot_done`]; a use after
//! free drops the reference untouched (the slot it would decrement is
//! freed) and is reported as `isolate_migratepages`.

use super::{Fields, MemmapReader};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{PageType, Pfn, ZoneType, MAX_PAGE_ORDER, PAGEBLOCK_NR_PAGES, PG_LRU};
use crate::sync::RcuReadGuard;
use crate::zone::buddy::buddy_order;
use crate::zone::Zone;

/// What a scan did, PFN by PFN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IsolateStats {
    /// PFNs covered (`nr_scanned`), including those skipped inside a free
    /// block.
    pub scanned: u64,
    /// Speculative references taken (and dropped).
    pub referenced: u64,
    /// Of those, pages still movable (LRU or movable_ops, not a tail) under
    /// the reference: what the kernel would go on to isolate.
    pub isolatable: u64,
    /// PFNs passed over without a reference: no page, another zone, free,
    /// not movable, or a reference that could not be taken.
    pub skipped: u64,
}

impl IsolateStats {
    /// The counters as named fields (`compact scan`).
    pub fn fields(&self) -> Fields {
        let mut f = Fields::default();
        f.push("scanned", self.scanned);
        f.push("referenced", self.referenced);
        f.push("isolatable", self.isolatable);
        f.push("skipped", self.skipped);
        f
    }
}

/// The outcome of one PFN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsolateStep {
    /// Passed over, together with this many PFNs (1, or a free block).
    Skipped(u64),
    /// A speculative reference was taken, the page checked again (still
    /// movable or not) and the reference dropped.
    Referenced {
        /// The check under the reference passed.
        isolatable: bool,
    },
}

impl Machine {
    /// Compaction's migration scanner over zone `zt` of node `nid`
    /// (`isolate_migratepages()` → `isolate_migratepages_block()` for each
    /// pageblock of the zone's span), one RCU read-side section per
    /// pageblock. See the module doc. -EINVAL for a node the machine
    /// does not have.
    ///
    /// ```
    /// use mmsim::page::ZoneType;
    /// use mmsim::{Machine, MachineConfig};
    ///
    /// let m = Machine::boot(MachineConfig::default(), Default::default()).unwrap();
    /// let s = m.isolate_migratepages_scan(0, ZoneType::Normal).unwrap();
    /// assert_eq!(s.scanned, s.referenced + s.skipped);
    /// assert_eq!(s.referenced, 0, "a fresh machine has no LRU pages");
    /// ```
    pub fn isolate_migratepages_scan(&self, nid: usize, zt: ZoneType) -> KResult<IsolateStats> {
        if nid >= self.nodes().len() {
            return Err(Errno::EINVAL);
        }
        let zone = self.zone(nid, zt);
        let (start, end) = zone.span();
        let mut stats = IsolateStats::default();
        let mut block = start.align_down(PAGEBLOCK_NR_PAGES);
        while block < end {
            let block_end = (block + PAGEBLOCK_NR_PAGES).min(end);
            let rcu = self.reader_rcu_lock();
            self.isolate_migratepages_block(&rcu, zone, block.max(start), block_end, &mut stats);
            drop(rcu);
            block = block + PAGEBLOCK_NR_PAGES;
        }
        Ok(stats)
    }

    /// `isolate_migratepages_block()` over `[start, end)` inside the
    /// read-side section `rcu`, adding to `stats`.
    pub fn isolate_migratepages_block(
        &self,
        rcu: &RcuReadGuard<'_>,
        zone: &Zone,
        start: Pfn,
        end: Pfn,
        stats: &mut IsolateStats,
    ) {
        let mut pfn = start;
        while pfn < end {
            let step = self.isolate_migratepages_pfn(rcu, zone, pfn);
            match step {
                IsolateStep::Skipped(n) => {
                    // A free block may reach past the range: count only
                    // what lies in it.
                    let n = n.min(end - pfn);
                    stats.scanned += n;
                    stats.skipped += n;
                    pfn = pfn + n;
                }
                IsolateStep::Referenced { isolatable } => {
                    stats.scanned += 1;
                    stats.referenced += 1;
                    stats.isolatable += u64::from(isolatable);
                    pfn = pfn + 1;
                }
            }
        }
    }

    /// One PFN of `isolate_migratepages_block()` inside `rcu` (see the
    /// module doc), ending with the use-after-free check.
    pub fn isolate_migratepages_pfn(
        &self,
        rcu: &RcuReadGuard<'_>,
        zone: &Zone,
        pfn: Pfn,
    ) -> IsolateStep {
        let Some(p) = self.pfn_walker_page(rcu, pfn) else {
            return IsolateStep::Skipped(1);
        };
        let page = p.page();
        // Every read of the slot happens before the check below; what is
        // done with a reference waits for it.
        let (step, referenced) = if !std::ptr::eq(self.page_zone(page), zone) {
            (IsolateStep::Skipped(1), false)
        } else if page.is_type(PageType::Buddy) {
            // buddy_order_unsafe(): only a sane order may skip ahead.
            let order = buddy_order(page);
            let span = if (1..=MAX_PAGE_ORDER).contains(&order) {
                1 << order
            } else {
                1
            };
            (IsolateStep::Skipped(span), false)
        } else if !(page.test(PG_LRU) || page.has_movable_ops()) {
            (IsolateStep::Skipped(1), false)
        } else if page.try_get() {
            // folio_get_nontail_page(), then the checks again under the
            // reference ("a check now makes later tests safe"). The model
            // isolates nothing, so either way the reference is dropped.
            let isolatable = !page.is_tail() && (page.test(PG_LRU) || page.has_movable_ops());
            (IsolateStep::Referenced { isolatable }, true)
        } else {
            (IsolateStep::Skipped(1), false)
        };
        if !self.memmap_slot_done(rcu, p.slot(), MemmapReader::IsolateMigratepages) {
            // The reference, if any, went to a freed slot: nothing to put.
            return IsolateStep::Skipped(1);
        }
        if referenced {
            // We hold a reference, so the page (and its memmap: offlining
            // waits for it) stays.
            self.folio_put(pfn);
        }
        step
    }
}
