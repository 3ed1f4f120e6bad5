//! Which address spaces map a large folio: CONFIG_MM_ID (6.15 on; "mm:
//! CONFIG_MM_ID", include/linux/rmap.h `folio_add_large_mapcount()`,
//! `folio_sub_large_mapcount()`; reference kernel-gup-cow.md §1.1, §3.3).
//!
//! A large anonymous folio (not hugetlb) has two slots, each an mm id and
//! how many of the folio's mappings (PTEs and PMDs) are in that mm, and a
//! "maybe mapped shared" bit. Picture the slots as two seats: the first mm
//! to map the folio takes seat 0, the second seat 1; a third mm finds no seat
//! and its mappings are counted only in `_large_mapcount`. The bit is set
//! as soon as a second mm maps the folio, and cleared when one seated mm
//! holds all of its mappings again. It may stay set when only one mm maps
//! the folio (that mm had no seat), never clear while two do: a write fault
//! trusts a clear bit to reuse a PTE-mapped large folio
//! (`__wp_can_reuse_large_anon_folio()`).
//!
//! A slot may count fewer mappings than its mm has: mappings added while
//! the mm had no slot are not in it, and when they go they may be taken
//! from a slot the mm got meanwhile. Never more, so "one slot holds every
//! mapping" is true when it says so.
//!
//! The kernel stores the per-slot mapcounts with the usual -1 offset; the
//! model stores plain counts (0 = a free slot, mm id 0 = `MM_ID_DUMMY`).
//! Every change of `_large_mapcount` of such a folio and of its slots
//! happens under `folio_lock_large_mapcount()` — a bit spinlock in the
//! kernel, a stripe of spinlocks chosen by the folio here — because two
//! address spaces (parent and child after fork) update one folio under
//! different page-table locks.

use super::rmap::LARGE_MAPCOUNT;
use super::Mm;
use crate::machine::Machine;
use crate::page::{Pfn, PG_HEAD};
use crate::sync::{SpinLock, SpinLockGuard};

/// Tail pages (offsets from the head) holding `_mm_id[0]`, `_mm_id[1]`.
const MM_ID: [u64; 2] = [4, 5];
/// Tail pages holding `_mm_id_mapcount[0]`, `_mm_id_mapcount[1]`.
const MM_ID_MAPCOUNT: [u64; 2] = [6, 7];
/// Tail page holding `FOLIO_MM_IDS_SHARED_BIT` (1 when set).
const MM_IDS_SHARED: u64 = 8;

/// `MM_ID_DUMMY`: a free slot.
const MM_ID_DUMMY: i32 = 0;

/// Stripes of `folio_lock_large_mapcount()`.
const LOCK_STRIPES: usize = 64;

/// The stand-in for the per-folio bit spinlock.
pub(crate) struct LargeMapcountLocks([SpinLock<()>; LOCK_STRIPES]);

impl LargeMapcountLocks {
    /// Unlocked stripes.
    pub(crate) fn new() -> LargeMapcountLocks {
        LargeMapcountLocks(std::array::from_fn(|_| SpinLock::new(())))
    }
}

/// A large folio's mm tracking, as the checker reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FolioMmIds {
    /// (mm id, mappings) of each occupied slot.
    pub slots: [Option<(u32, i32)>; 2],
    /// `folio_test_large_maybe_mapped_shared()`.
    pub maybe_mapped_shared: bool,
}

impl Machine {
    /// Whether `head`'s folio tracks mm ids: large and not hugetlb.
    fn tracks_mm_ids(&self, head: Pfn) -> bool {
        self.page(head).test(PG_HEAD) && !self.folio_test_hugetlb(head)
    }

    /// `folio_lock_large_mapcount()`.
    fn folio_lock_large_mapcount(&self, head: Pfn) -> SpinLockGuard<'_, ()> {
        self.vm().large_mapcount_locks.0[(head.0 as usize) % LOCK_STRIPES].lock()
    }

    fn tail(&self, head: Pfn, which: u64) -> &crate::page::Page {
        self.page(head + which)
    }

    fn slot(&self, head: Pfn, i: usize) -> (i32, i32) {
        (
            self.tail(head, MM_ID[i]).tail_word(),
            self.tail(head, MM_ID_MAPCOUNT[i]).tail_word(),
        )
    }

    fn set_slot(&self, head: Pfn, i: usize, id: i32, count: i32) {
        self.tail(head, MM_ID[i]).set_tail_word(id);
        self.tail(head, MM_ID_MAPCOUNT[i]).set_tail_word(count);
    }

    fn set_maybe_mapped_shared(&self, head: Pfn, shared: bool) {
        self.tail(head, MM_IDS_SHARED)
            .set_tail_word(i32::from(shared));
    }

    /// `folio_test_large_maybe_mapped_shared()`.
    pub fn folio_test_large_maybe_mapped_shared(&self, head: Pfn) -> bool {
        self.tail(head, MM_IDS_SHARED).tail_word() != 0
    }

    /// The slots and the shared bit of a large folio (None for a small or
    /// hugetlb one).
    pub fn folio_mm_ids(&self, pfn: Pfn) -> Option<FolioMmIds> {
        let head = self.folio_head(pfn);
        if !self.tracks_mm_ids(head) {
            return None;
        }
        let _lock = self.folio_lock_large_mapcount(head);
        let slot = |i| {
            let (id, n) = self.slot(head, i);
            (id != MM_ID_DUMMY).then_some((id as u32, n))
        };
        Some(FolioMmIds {
            slots: [slot(0), slot(1)],
            maybe_mapped_shared: self.folio_test_large_maybe_mapped_shared(head),
        })
    }

    /// `folio_set_large_mapcount()`: a new folio mapped `mapcount` times,
    /// all in `mm` (slot 0).
    pub(crate) fn folio_set_large_mapcount(&self, head: Pfn, mapcount: i32, mm: &Mm) {
        self.tail(head, LARGE_MAPCOUNT).set_tail_word(mapcount);
        if self.tracks_mm_ids(head) {
            self.set_slot(head, 0, mm.id as i32, mapcount);
            self.set_slot(head, 1, MM_ID_DUMMY, 0);
            self.set_maybe_mapped_shared(head, false);
        }
    }

    /// `folio_add_large_mapcount()`: `diff` more mappings of the folio in
    /// `mm`. A new mm takes a free slot; if the folio had mappings already
    /// (or takes slot 1, so slot 0 has some), it may be mapped shared now.
    pub(crate) fn folio_add_large_mapcount(&self, head: Pfn, diff: i32, mm: &Mm) {
        let large = self.tail(head, LARGE_MAPCOUNT);
        if !self.tracks_mm_ids(head) {
            large.tail_word_add(diff);
            return;
        }
        let _lock = self.folio_lock_large_mapcount(head);
        let new = large.tail_word() + diff;
        large.set_tail_word(new);
        let id = mm.id as i32;
        let (s0, s1) = (self.slot(head, 0), self.slot(head, 1));
        if s0.0 == id {
            self.set_slot(head, 0, id, s0.1 + diff);
        } else if s1.0 == id {
            self.set_slot(head, 1, id, s1.1 + diff);
        } else if s0.0 == MM_ID_DUMMY {
            self.set_slot(head, 0, id, diff);
            // "We might have other mappings already."
            if new != diff {
                self.set_maybe_mapped_shared(head, true);
            }
        } else if s1.0 == MM_ID_DUMMY {
            self.set_slot(head, 1, id, diff);
            // "Slot 0 certainly has mappings as well."
            self.set_maybe_mapped_shared(head, true);
        }
    }

    /// `folio_sub_large_mapcount()`: `diff` mappings of the folio in `mm`
    /// fewer; returns the folio's mappings left. A slot whose count runs
    /// out is freed; if one slot then holds every mapping left (or none are
    /// left), the folio is mapped exclusively again.
    pub(crate) fn folio_sub_large_mapcount(&self, head: Pfn, diff: i32, mm: &Mm) -> i32 {
        let large = self.tail(head, LARGE_MAPCOUNT);
        if !self.tracks_mm_ids(head) {
            return large.tail_word_add(-diff);
        }
        let _lock = self.folio_lock_large_mapcount(head);
        let new = large.tail_word() - diff;
        large.set_tail_word(new);
        let id = mm.id as i32;
        for i in 0..2 {
            let (sid, n) = self.slot(head, i);
            if sid != id {
                continue;
            }
            if n - diff > 0 {
                self.set_slot(head, i, id, n - diff);
                return new;
            }
            // "There are valid corner cases where we might underflow a
            // per-MM mapcount ... so we always set it to -1 once we go
            // negative."
            self.set_slot(head, i, MM_ID_DUMMY, 0);
            break;
        }
        if self.slot(head, 0).1 == new || self.slot(head, 1).1 == new {
            self.set_maybe_mapped_shared(head, false);
        }
        new
    }

    /// `__wp_can_reuse_large_anon_folio()` (7.2): a write fault in `mm` may
    /// reuse a page of a PTE-mapped large anonymous folio if every
    /// reference of the folio is a mapping and every mapping is in `mm`:
    /// more than one mapping (a single one is copied, so the large folio is
    /// freed sooner), not maybe mapped shared, and `_large_mapcount ==
    /// _refcount`, rechecked under the large-mapcount lock.
    pub(crate) fn wp_can_reuse_large_anon_folio(&self, pfn: Pfn, mm: &Mm) -> bool {
        let head = self.folio_head(pfn);
        let large = self.tail(head, LARGE_MAPCOUNT);
        if large.tail_word() <= 1 || self.folio_test_large_maybe_mapped_shared(head) {
            return false;
        }
        if large.tail_word() != self.folio_ref_count(head) {
            return false;
        }
        // "Stabilize the mapcount vs. refcount and recheck."
        let _lock = self.folio_lock_large_mapcount(head);
        if self.folio_test_large_maybe_mapped_shared(head)
            || large.tail_word() != self.folio_ref_count(head)
        {
            return false;
        }
        let id = mm.id as i32;
        if self.slot(head, 0).0 != id && self.slot(head, 1).0 != id {
            self.report_bug(format!(
                "WARNING: folio {head} reused by mm {} which holds no slot",
                mm.id
            ));
        }
        true
    }
}
