//! PFN walkers: readers of /proc that look at every page frame of the
//! machine — /proc/kpageflags, /proc/kpagecount and /proc/kcore.
//!
//! # The protocol
//!
//! Picture a reader sweeping a lamp over the memmap from PFN 0 upwards while
//! hotplug, the allocator and drivers keep changing what it lights up. A
//! walker takes no hotplug lock: for each PFN it asks the sparse model for the
//! page ([`Machine::pfn_walker_page`], `pfn_to_online_page()` in mainline),
//! and what it learns can be stale the moment it learns it — a section may go
//! offline, a free block may be allocated, a page may become PageOffline. The
//! kernel accepts that for flags and counts (user space gets a snapshot that
//! was true at some instant, per page). Every memmap field is an atomic and a
//! memmap is never unmapped while the machine lives (`sparse`), so in the
//! model staleness gives a wrong answer, never undefined behaviour.
//!
//! Reading page *content* is different: a PageOffline page may be
//! inaccessible in the hypervisor, so touching it can be fatal. /proc/kcore
//! therefore holds `page_offline_freeze()` (the read side of
//! `page_offline_rwsem`, [`page_offline`]) while it checks a page and copies
//! it, and drivers set PageOffline only inside `page_offline_begin()` /
//! `page_offline_end()` (the write side). While any reader is frozen no page
//! becomes PageOffline; clearing PageOffline is not covered and needs no
//! cover. The `kcore_sync=none` variant drops the reader side to show the
//! race it closes.
//!
//! # Which page a walker may look at
//!
//! The `pfn_walker` variant decides, in one function
//! ([`Machine::pfn_walker_page`]): `online_page` is mainline's unsynchronised
//! `pfn_to_online_page()`; `active` is the proposed `pfn_active()` read under
//! RCU. Every walker here goes through that function.
//!
//! That function takes the RCU read guard the walker runs under, and the
//! [`WalkedPage`] it returns borrows from the guard: a walker can only look at
//! a memmap slot inside a read-side section, and cannot keep the slot past
//! it. Under `memmap_free=rcu` that is what keeps a hot-removed memmap from
//! being poisoned under a walker; under mainline's `immediate` nobody waits
//! for the section, which is the race — and every walker checks, when done
//! with a PFN, that its memmap was not freed meanwhile, reporting a use
//! after free if it was ([`lockless`]). Each PFN is looked at in its own
//! section (the kernel's walkers `cond_resched()` per page; the compaction
//! scanner, [`compact`], holds one per pageblock), and nothing inside one
//! sleeps: kcore checks the page inside the section and copies its bytes,
//! which are not the memmap, after it.
//!
//! # Locks, in order
//!
//! (Among the machine's other locks: the [lock order](crate::machine#lock-order).)
//!
//! 1. the kcore RAM list (`kclist_lock`; the model snapshots the System RAM
//!    resources, taking their mutex briefly, before freezing);
//! 2. `page_offline_rwsem`. Drivers may take its write side under
//!    `mem_hotplug_lock` (from a memory notifier), so a frozen reader must
//!    never wait for `mem_hotplug_lock`, and walkers never do.
//! 3. an RCU read-side section, innermost (nothing sleeps inside it).
//!
//! Submodules, one per reader: [`kpageflags`], [`kpagecount`], [`kcore`],
//! [`compact`] (the compaction scanner's `isolate_migratepages_block()`),
//! [`pagemap`] (a process's /proc/PID/pagemap, and a view of one PTE);
//! [`page_offline`] holds the freeze/begin protocol they share with drivers;
//! [`lockless`] the use-after-free check every lockless reader makes;
//! [`info`] renders zone, node, section and page state as named fields.

pub mod compact;
pub mod info;
pub mod kcore;
pub mod kcore_elf;
pub mod kpagecount;
pub mod kpageflags;
pub mod lockless;
pub mod page_offline;
pub mod pagemap;

use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{pfn_range, Page, Pfn, ZoneType};
use crate::sparse::{MemmapSlot, PAGES_PER_SECTION};
use crate::sync::RcuReadGuard;
use crate::variant::PfnWalker;
use std::ops::Range;

pub use compact::IsolateStats;
pub use info::Fields;
pub use kcore::KcoreStep;
pub use kpageflags::*;
pub use lockless::MemmapReader;
pub use page_offline::{PageOfflineBegun, PageOfflineFrozen};

/// `KPMSIZE`: bytes per entry of /proc/kpageflags and /proc/kpagecount.
pub const KPMSIZE: u64 = 8;

/// A page frame and its memmap slot, as a PFN walker found it online. Only
/// [`Machine::pfn_walker_page`] makes one, so the PFN and the slot always
/// belong together.
#[derive(Clone, Copy)]
pub struct WalkedPage<'a> {
    slot: MemmapSlot<'a>,
}

impl<'a> WalkedPage<'a> {
    /// The frame number.
    pub fn pfn(&self) -> Pfn {
        self.slot.pfn()
    }

    /// The memmap slot (`struct page`).
    pub fn page(&self) -> &'a Page {
        self.slot.page()
    }

    /// The slot with its lookup generation, for
    /// [`Machine::memmap_slot_done`].
    pub fn slot(&self) -> &MemmapSlot<'a> {
        &self.slot
    }
}

impl Machine {
    /// The page a PFN walker may look at, or None if it must treat the PFN as
    /// having no memmap (hole, absent or offline section). The one place
    /// where the `pfn_walker` variant is decided.
    ///
    /// The slot is borrowed from the read-side section `rcu`, inside which
    /// the walker must finish with it, and end with
    /// [`Machine::memmap_slot_done`].
    ///
    /// ```
    /// use mmsim::page::Pfn;
    /// use mmsim::{Machine, MachineConfig};
    ///
    /// let m = Machine::boot(MachineConfig::default(), Default::default()).unwrap();
    /// let rcu = m.rcu().read_lock();
    /// assert!(m.pfn_walker_page(&rcu, Pfn(0x1000)).is_some());
    /// assert!(m.pfn_walker_page(&rcu, m.max_pfn()).is_none());
    /// ```
    pub fn pfn_walker_page<'a>(
        &'a self,
        rcu: &'a RcuReadGuard<'_>,
        pfn: Pfn,
    ) -> Option<WalkedPage<'a>> {
        let walker = self.variants().pfn_walker;
        let usable = match walker {
            PfnWalker::OnlinePage => self.mem().pfn_is_online(pfn),
            PfnWalker::Active => self.mem().pfn_active(pfn),
        };
        if !usable {
            return None;
        }
        let slot = self.mem().memmap_slot(rcu, pfn)?;
        // The proposal: pfn_to_online_page() = pfn_active() && zone !=
        // ZONE_DEVICE, no pgmap slow path. (Were the memmap freed under
        // this read, None would still be a right answer: the section is
        // gone.)
        if walker == PfnWalker::Active && slot.page().zonenum() == ZoneType::Device {
            return None;
        }
        self.memmap_reader_hook(pfn);
        Some(WalkedPage { slot })
    }

    /// `get_max_dump_pfn()`: `round_up(max_pfn, PAGES_PER_SECTION)`. Early
    /// sections are online over their whole memmap even where `max_pfn`
    /// ends inside them, so the files reach the end of the last section.
    pub fn max_dump_pfn(&self) -> Pfn {
        self.max_pfn().align_up(PAGES_PER_SECTION)
    }

    /// The validation half of `kpage_read()`: the PFNs that a read of `count`
    /// bytes at file offset `offset` covers. -EINVAL unless both are
    /// multiples of 8; an empty range (EOF) at or beyond `max_dump_pfn`;
    /// otherwise clipped to `max_dump_pfn`.
    fn kpage_range(&self, offset: u64, count: u64) -> KResult<Range<Pfn>> {
        if offset % KPMSIZE != 0 || count % KPMSIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let first = Pfn(offset / KPMSIZE);
        let max = self.max_dump_pfn();
        if first >= max {
            return Ok(first..first);
        }
        Ok(first..first + (count / KPMSIZE).min(max - first))
    }

    /// `kpage_read()` (7.2): one native-endian u64 per PFN, `value` of the
    /// walker's page, or 0 where the walker finds none (6.12 wrote
    /// KPF_NOPAGE there for kpageflags).
    fn kpage_read(
        &self,
        offset: u64,
        count: u64,
        reader: MemmapReader,
        value: impl Fn(WalkedPage<'_>) -> u64,
    ) -> KResult<Vec<u8>> {
        let pfns = self.kpage_range(offset, count)?;
        let mut out = Vec::with_capacity(((pfns.end - pfns.start) * KPMSIZE) as usize);
        for pfn in pfn_range(pfns.start, pfns.end) {
            let v = self.kpage_value(pfn, reader, &value);
            out.extend_from_slice(&v.to_ne_bytes());
        }
        Ok(out)
    }

    /// The entry a kpage read at `pfn * 8` returns; 0 also at or beyond
    /// `max_dump_pfn`, where a read would hit EOF.
    fn kpage_entry(
        &self,
        pfn: Pfn,
        reader: MemmapReader,
        value: impl Fn(WalkedPage<'_>) -> u64,
    ) -> u64 {
        if pfn >= self.max_dump_pfn() {
            return 0;
        }
        self.kpage_value(pfn, reader, value)
    }

    /// One PFN of a kpage file, in its own read-side section: `value` of
    /// the walker's page, 0 without one — and 0 after a use after free,
    /// which is reported.
    fn kpage_value(
        &self,
        pfn: Pfn,
        reader: MemmapReader,
        value: impl Fn(WalkedPage<'_>) -> u64,
    ) -> u64 {
        let rcu = self.reader_rcu_lock();
        let Some(p) = self.pfn_walker_page(&rcu, pfn) else {
            return 0;
        };
        let v = value(p);
        if self.memmap_slot_done(&rcu, p.slot(), reader) {
            v
        } else {
            0
        }
    }

    /// Folio metadata word `which` (1: entire mapcount, 2: large mapcount)
    /// of the large folio `p` belongs to; 0 for a small folio or a memmap
    /// that has gone.
    fn walked_folio_word(&self, p: WalkedPage<'_>, which: u64) -> i32 {
        let (head_pfn, head) = self.walked_folio(p);
        if !head.test(crate::page::PG_HEAD) {
            return 0;
        }
        self.mem()
            .pfn_to_page(head_pfn + which)
            .map_or(0, |t| t.tail_word())
    }

    /// `page_folio()` for a walked page: the PFN and slot of the head of its
    /// compound page (the page itself unless it is a tail). A tail whose
    /// head has no memmap slot (a torn read of a page being split, or a
    /// memmap freed under the walker) is treated as its own folio.
    fn walked_folio<'a>(&'a self, p: WalkedPage<'a>) -> (Pfn, &'a Page) {
        p.page()
            .compound_head()
            .and_then(|pfn| self.mem().pfn_to_page(pfn).map(|page| (pfn, page)))
            .unwrap_or((p.pfn(), p.page()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::MachineConfig;

    fn machine() -> Machine {
        let cfg = MachineConfig {
            ram: 256 << 20,
            ..Default::default()
        };
        Machine::boot(cfg, Default::default()).unwrap()
    }

    // fs/proc/page.c kpage_read(): alignment is checked before EOF, and the
    // count is clipped to max_dump_pfn (reference §6.2).
    #[test]
    fn kpage_range_validates_then_clips() {
        let m = machine();
        let max = m.max_dump_pfn();
        assert_eq!(max, Pfn(65536));
        assert_eq!(m.kpage_range(4, 8), Err(Errno::EINVAL));
        assert_eq!(m.kpage_range(8, 12), Err(Errno::EINVAL));
        assert_eq!(m.kpage_range(max.0 * 8 + 4, 8), Err(Errno::EINVAL));
        assert_eq!(m.kpage_range(max.0 * 8, 8), Ok(max..max));
        assert_eq!(m.kpage_range((max.0 - 2) * 8, 80), Ok(max - 2..max));
        assert_eq!(m.kpage_range(16, 0), Ok(Pfn(2)..Pfn(2)));
    }
}
