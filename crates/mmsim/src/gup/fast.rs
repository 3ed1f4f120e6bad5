//! GUP-fast: pinning without `mmap_lock` (mm/gup.c `gup_fast_fallback()`;
//! reference kernel-gup-cow.md §4.6 and §2.4).
//!
//! The walk reads the page tables locklessly, inside an RCU read-side section
//! (the kernel disables interrupts, which holds off the TLB-flush IPI that
//! page-table freeing waits for). For each PTE, in the kernel's order:
//!
//! * (B1) read the PTE; stop at anything not present, PROT_NONE or special
//!   (the zero page), or read-only when writing;
//! * (B3) take a speculative reference (`try_grab_folio_fast()`:
//!   get_page_unless_zero, plus the pin bias for FOLL_PIN); a longterm pin of
//!   a ZONE_MOVABLE page backs off;
//! * (B4) re-read the PTE and back off if it changed — the `gup_fast_recheck`
//!   variant can switch this off to show why it exists;
//! * (B5) for a read-only pin of a read-only PTE, back off unless the page is
//!   PG_anon_exclusive (`gup_must_unshare()` without a VMA).
//!
//! A FOLL_PIN walk also samples the mm's `write_protect_seq` before and checks
//! it after (variant `gup_fork_seq`): if fork ran meanwhile, every pin is
//! dropped and the slow path takes over. Whatever GUP-fast could not take, the
//! slow path finishes.

use super::{GupFlags, Pinned};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, ZoneType, PAGE_SIZE};
use crate::sync::{Arc, RcuReadGuard};
use crate::variant::{GupFastRecheck, GupForkSeq};
use crate::vm::walk::{pte_index, Mapping};
use crate::vm::Mm;
use crate::walkers::MemmapReader;

impl Machine {
    /// `gup_fast()`: pins what it can from `start` without locks; returns
    /// the pages taken, in order, possibly fewer than `nr`.
    pub fn gup_fast(&self, mm: &Mm, start: u64, nr: u64, flags: GupFlags) -> Vec<Pfn> {
        if flags.pin {
            // Before the walk: fork must see it (paired through
            // write_protect_seq below).
            mm.set_has_pinned();
        }
        let use_seq = flags.pin && self.variants().gup_fork_seq == GupForkSeq::On;
        let seq = mm.write_protect_seq.raw_read();
        if use_seq && seq & 1 == 1 {
            // fork() is write-protecting this mm right now.
            return Vec::new();
        }
        let mut pages = Vec::new();
        {
            let rcu = self.reader_rcu_lock();
            for i in 0..nr {
                match self.gup_fast_pte(&rcu, mm, start + i * PAGE_SIZE, flags) {
                    Some(pfn) => pages.push(pfn),
                    None => break,
                }
            }
        }
        if use_seq && mm.write_protect_seq.read_retry(seq) {
            // Fork may have shared a page we pinned: give everything back.
            self.release_pages(&pages, flags);
            return Vec::new();
        }
        pages
    }

    /// One PTE (or huge PMD) of the walk, inside the read-side section
    /// `_rcu` that keeps page tables and memmaps from being freed under it.
    fn gup_fast_pte(
        &self,
        rcu: &RcuReadGuard<'_>,
        mm: &Mm,
        addr: u64,
        flags: GupFlags,
    ) -> Option<Pfn> {
        // (B1) read the entry: a PTE, or a huge PMD (gup_fast_pmd_leaf()).
        let (table, idx, entry, pfn) = match self.lookup(mm, addr) {
            Mapping::Pte(t, i, pte) => (t, i, pte, pte.pfn()),
            Mapping::Pmd(t, i, pmd) => (t, i, pmd, pmd.pfn() + pte_index(addr)),
            Mapping::None => return None,
        };
        // "Always fallback to ordinary GUP on PROT_NONE-mapped pages"
        // (pte_protnone()), then (B2) pte_access_permitted(): present, user,
        // and writable for FOLL_WRITE.
        if entry.protnone() || !entry.access_permitted(flags.write) || entry.special() {
            return None;
        }
        let slot = self.mem().memmap_slot(rcu, pfn)?;
        self.memmap_reader_hook(pfn);
        let page = slot.page();
        // (B3) try_grab_folio_fast(): a speculative reference on the folio,
        // which then cannot be freed or split under us.
        let head = page.compound_head().unwrap_or(pfn);
        let got = self.mem().pfn_to_page(head).is_some_and(|h| h.try_get());
        // The memmap must not have been freed since the lookup (a reference
        // taken on a freed slot is not put back).
        if !self.memmap_slot_done(rcu, &slot, MemmapReader::GupFast) || !got {
            return None;
        }
        if self.folio_head(pfn) != head {
            self.folio_put(head);
            return None;
        }
        if flags.pin {
            // The rest of the pin: the bias or the pincount.
            self.folio_pin(pfn);
            self.folio_put(head);
        }
        self.gup_refs_taken(1);
        let back_off = |m: &Machine| {
            m.release_pages(&[pfn], flags);
            None
        };
        // folio_is_longterm_pinnable(): not in ZONE_MOVABLE, and (7.2) not
        // an fsdax folio; the slow path then decides (-EOPNOTSUPP).
        if flags.longterm && (page.zonenum() == ZoneType::Movable || self.folio_is_fsdax(pfn)) {
            return back_off(self);
        }
        // (B4) the entry must not have changed.
        if self.variants().gup_fast_recheck == GupFastRecheck::On
            && self.read_entry(table, idx) != entry
        {
            return back_off(self);
        }
        // (B5) gup_must_unshare() without a VMA: a read-only pin of a
        // read-only entry needs an exclusive anonymous page (on the head for
        // a PMD mapping).
        if !entry.write() && flags.pin && !flags.write {
            let at = if entry.huge() { head } else { pfn };
            let must_unshare = match self.variants().cow_reuse {
                crate::variant::CowReuse::Exclusive => {
                    !(self.folio_test_anon(at) && self.page_anon_exclusive(at))
                }
                _ => false,
            };
            if must_unshare {
                return back_off(self);
            }
        }
        Some(pfn)
    }

    /// `pin_user_pages_fast()` / `get_user_pages_fast()`: GUP-fast for as
    /// much as it can, the slow path for the rest.
    pub fn get_user_pages_fast(
        &self,
        mm: &Arc<Mm>,
        start: u64,
        nr: u64,
        flags: GupFlags,
    ) -> KResult<Pinned> {
        if start % PAGE_SIZE != 0 || nr == 0 {
            return Err(Errno::EINVAL);
        }
        let mut pages = self.gup_fast(mm, start, nr, flags);
        let done = pages.len() as u64;
        if done < nr {
            match self.get_user_pages(mm, start + done * PAGE_SIZE, nr - done, flags) {
                Ok(rest) => pages.extend(rest.pages),
                Err(e) => {
                    self.release_pages(&pages, flags);
                    return Err(e);
                }
            }
        }
        Ok(Pinned {
            mm: mm.clone(),
            pages,
            flags,
        })
    }
}
