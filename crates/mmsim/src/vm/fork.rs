//! fork(): `dup_mm()` and `copy_page_range()` (reference kernel-gup-cow.md
//! §3.4).
//!
//! For a COW mapping the parent's `write_protect_seq` is held for write during
//! the walk. Each anonymous page is either shared — PG_anon_exclusive cleared,
//! a reference and a mapping added, and both PTEs write-protected — or, when
//! the parent ever pinned (MMF_HAS_PINNED) and the page may be pinned and is
//! exclusive, copied eagerly for the child (`copy_present_page()`), so the
//! parent keeps its pinned page writable and the pin stays coherent. The early
//! copy exists since 5.9; the `cow_reuse=mapcount` variant (≤ 5.7) shares
//! pinned pages too.
//!
//! A huge PMD is shared whole (`copy_huge_pmd`); if its THP may be pinned
//! and is exclusive, the PMD is split first and each subpage follows the
//! PTE rules above, so pinned subpages are copied one by one. A hugetlb
//! page that may be pinned is copied whole for the child.

use super::huge::{HPAGE_PMD_ORDER, HPAGE_PMD_SIZE};
use super::pte::{Pte, SwapEntry, PTE_RW, PTE_SOFT_DIRTY, PTE_YOUNG};
use super::rmap::head_anon;
use super::walk::{pmd_addr_end, pte_index};
use super::{Mm, Vma, VM_DONTCOPY, VM_HUGETLB, VM_SHARED, VM_WRITE};
use crate::errno::KResult;
use crate::machine::Machine;
use crate::page::{Folio, Pfn, PAGE_SHIFT, PAGE_SIZE};
use crate::physmem::PageWords;
use crate::sync::Arc;
use crate::variant::CowReuse;
use std::ops::Range;

/// What `copy_pte_range()` hands down for one PTE table: the child, the
/// parent's table (its PTL held) and the child's, whether the mapping is
/// copy-on-write, and whether a page that may be pinned must be copied.
struct PteCopy<'a> {
    dst: &'a Mm,
    st: Pfn,
    dt: Pfn,
    /// The two tables' words, checked once for the loop over them (None:
    /// every access goes through `read_entry`/`write_entry`).
    st_words: Option<PageWords<'a>>,
    dt_words: Option<PageWords<'a>>,
    cow: bool,
    pinned_check: bool,
}

impl PteCopy<'_> {
    /// Entry `idx` of the parent's table.
    fn read_src(&self, m: &Machine, idx: u64) -> Pte {
        match &self.st_words {
            Some(w) => Pte(w.read(idx)),
            None => m.read_entry(self.st, idx),
        }
    }

    /// Writes entry `idx` of the parent's table.
    fn write_src(&self, m: &Machine, idx: u64, pte: Pte) {
        match &self.st_words {
            Some(w) => w.write(idx, pte.0),
            None => m.write_entry(self.st, idx, pte),
        }
    }

    /// Writes entry `idx` of the child's table.
    fn write_dst(&self, m: &Machine, idx: u64, pte: Pte) {
        match &self.dt_words {
            Some(w) => w.write(idx, pte.0),
            None => m.write_entry(self.dt, idx, pte),
        }
    }
}

/// What [`Machine::copy_one_pte`] did with an entry.
enum Copied {
    /// This many entries copied (or nothing to copy).
    Done(u64),
    /// A migration entry: wait for the migration, then look again.
    Migrating,
    /// An exclusive anonymous page that may be pinned: the child needs its
    /// own copy, made without the page-table lock.
    MayBePinned(Pfn),
}

impl Machine {
    /// `dup_mm()`: a child address space with copies of every VMA not marked
    /// VM_DONTCOPY and of the page tables of the private ones.
    pub fn dup_mm(&self, parent: &Arc<Mm>) -> KResult<Arc<Mm>> {
        let child = self.mm_alloc()?;
        let maps = parent.mmap_lock.down_write();
        let mut child_maps = child.mmap_lock.down_write();
        let copied: Vec<Vma> = maps
            .iter()
            .filter(|v| v.flags & VM_DONTCOPY == 0)
            .cloned()
            .collect();
        for vma in &copied {
            if let Some(av) = vma.anon_vma {
                self.anon_vma_link(av, &child);
            }
            // reset_vma_resv_huge_pages(): the reservations of a private
            // hugetlb mapping stay with the process that mmap()ed it.
            child_maps.insert(Vma {
                resv: None,
                ..vma.clone()
            });
            // vma_needs_copy(): a shared mapping has no anon_vma, and a page
            // fault fills its PTEs correctly from the page cache, so fork
            // copies none of them (the model has no VM_PFNMAP, VM_MIXEDMAP
            // or uffd-wp, which would force the copy).
            if vma.flags & VM_SHARED != 0 {
                continue;
            }
            if let Err(e) = self.copy_page_range(&child, parent, vma) {
                drop(child_maps);
                drop(maps);
                self.exit_mmap(&child);
                return Err(e);
            }
        }
        Ok(child.clone())
    }

    /// `copy_page_range()` for one VMA.
    fn copy_page_range(&self, dst: &Mm, src: &Mm, vma: &Vma) -> KResult<()> {
        let cow = vma.is_cow();
        let _fork = src.fork_lock.lock();
        if cow {
            src.write_protect_seq.write_begin();
        }
        let pinned_check = self.variants().cow_reuse != CowReuse::Mapcount && src.has_pinned();
        let ret = self.copy_pmd_ranges(dst, src, vma, cow, pinned_check);
        if cow {
            src.write_protect_seq.write_end();
        }
        ret
    }

    /// `copy_pmd_range()` over the VMA: one PMD range at a time, a huge
    /// PMD whole, a PTE table by [`Machine::copy_pte_range`].
    fn copy_pmd_ranges(
        &self,
        dst: &Mm,
        src: &Mm,
        vma: &Vma,
        cow: bool,
        pinned_check: bool,
    ) -> KResult<()> {
        let mut addr = vma.start;
        while addr < vma.end {
            if vma.flags & VM_HUGETLB != 0 {
                // copy_hugetlb_page_range(): one PMD per huge page, whatever
                // it holds (a folio under migration is waited for).
                if let Some((spt, spi)) = self.walk_pmd(src, addr, false)? {
                    self.copy_hugetlb_pmd(dst, src, vma, spt, spi, addr, pinned_check)?;
                }
                addr += HPAGE_PMD_SIZE;
                continue;
            }
            let next = pmd_addr_end(addr).min(vma.end);
            let Some((spt, spi)) = self.walk_pmd(src, addr, false)? else {
                addr = next;
                continue;
            };
            let pmd = self.read_entry(spt, spi);
            // A huge PMD is copied whole, unless its folio may be pinned
            // (then it was split and its PTEs follow).
            let whole =
                pmd.huge() && self.copy_huge_pmd(dst, src, spt, spi, addr, cow, pinned_check)?;
            if !whole {
                self.copy_pte_range(dst, src, vma, addr..next, cow, pinned_check)?;
            }
            addr = next;
        }
        Ok(())
    }

    /// `copy_pte_range()`: the PTEs of `range` (within one PMD). As in the
    /// kernel, the child's table is allocated first, then the parent's
    /// page-table lock is held across the whole table; it is dropped only
    /// to wait for a migration or to copy a page that may be pinned.
    fn copy_pte_range(
        &self,
        dst: &Mm,
        src: &Mm,
        vma: &Vma,
        range: Range<u64>,
        cow: bool,
        pinned_check: bool,
    ) -> KResult<()> {
        let Some((st, _)) = self.walk(src, range.start, false)? else {
            return Ok(());
        };
        let (dt, _) = self.walk(dst, range.start, true)?.expect("allocating walk");
        let c = PteCopy {
            dst,
            st,
            dt,
            st_words: self.physmem().page_words(st),
            dt_words: self.physmem().page_words(dt),
            cow,
            pinned_check,
        };
        let mut addr = range.start;
        let mut src_ptl = src.ptl(st);
        while addr < range.end {
            let idx = pte_index(addr);
            let pte = c.read_src(self, idx);
            if pte.is_none() {
                addr += PAGE_SIZE;
                continue;
            }
            let max_nr = (range.end - addr) / PAGE_SIZE;
            match self.copy_one_pte(&c, idx, pte, max_nr) {
                Copied::Done(nr) => addr += nr * PAGE_SIZE,
                Copied::Migrating => {
                    // A page under migration: wait until it has moved on.
                    drop(src_ptl);
                    crate::sync::thread::yield_now();
                    src_ptl = src.ptl(st);
                }
                Copied::MayBePinned(pfn) => {
                    // "Page may be pinned, we have to copy."
                    drop(src_ptl);
                    self.copy_present_page(vma, dt, idx, addr, pfn)?;
                    addr += PAGE_SIZE;
                    src_ptl = src.ptl(st);
                }
            }
        }
        Ok(())
    }

    /// `copy_nonpresent_pte()` / `copy_present_ptes()` for one non-empty
    /// entry `pte` at index `idx`, with at most `max_nr` entries left in
    /// the range.
    fn copy_one_pte(&self, c: &PteCopy<'_>, idx: u64, pte: Pte, max_nr: u64) -> Copied {
        if pte.present() {
            return self.copy_present_ptes(c, idx, pte, max_nr);
        }
        match pte.swap_entry() {
            Some(SwapEntry::Migration { .. }) => return Copied::Migrating,
            Some(SwapEntry::Swap { offset, .. }) => {
                // copy_nonpresent_pte(): "Mark the swap entry as shared" in
                // the parent, and give the child a reference.
                self.swap_dup(offset);
                let shared = Pte(pte.0 & !super::pte::PTE_SWP_EXCLUSIVE);
                c.write_src(self, idx, shared);
                c.write_dst(self, idx, shared);
            }
            Some(SwapEntry::DevicePrivate { pfn, write }) => {
                // copy_nonpresent_pte(): a reference and a mapping (which
                // cannot fail: device-private pages are never pinned), and
                // read-only in both for a COW mapping.
                self.folio_get(pfn);
                let _ = self.folio_try_dup_anon_rmap_pte(pfn, c.dst, false);
                let mut entry = pte;
                if write && c.cow {
                    let ro = SwapEntry::DevicePrivate { pfn, write: false };
                    entry = Pte::swap(ro, false);
                    c.write_src(self, idx, entry);
                }
                c.write_dst(self, idx, entry);
            }
            None => {}
        }
        Copied::Done(1)
    }

    /// `copy_present_ptes()`: the present entry `pte` at `idx`, and the
    /// entries after it (at most `max_nr` in all) that map the rest of the
    /// same large folio. Returns how many were copied.
    // Inlined, with the two below, into copy_pte_range()'s loop: a
    // one-entry batch then costs no call, no slice and no loop (fork of
    // small folios: 14 → 10 ns per PTE, `mmsim bench`).
    #[inline(always)]
    fn copy_present_ptes(&self, c: &PteCopy<'_>, idx: u64, pte: Pte, max_nr: u64) -> Copied {
        let child_pte = if c.cow { pte.wrprotect() } else { pte }.without(PTE_YOUNG);
        if pte.special() {
            c.write_dst(self, idx, child_pte);
            return Copied::Done(1);
        }
        let pfn = pte.pfn();
        let folio = self.folio(pfn);
        // folio_pte_batch(): the PTEs after this one that map the next
        // pages of the same large folio are copied together (their
        // references and mappings added at once); a small folio, the
        // common case, is one PTE.
        if folio.is_large() && max_nr > 1 {
            if let Some(nr) = self.copy_folio_batch(c, idx, pte, folio, max_nr) {
                return Copied::Done(nr);
            }
            // The kernel retries without batching: each exclusive page is
            // then copied on its own.
        }
        match self.dup_present_ptes(c, idx, folio, &[pte]) {
            Some(()) => Copied::Done(1),
            // "Page may be pinned, we have to copy."
            None => Copied::MayBePinned(pfn),
        }
    }

    /// The batch of [`Machine::copy_present_ptes`]: `pte` at `idx` and the
    /// entries after it that map the rest of the large `folio`, copied
    /// together; how many, or None (nothing done) if the folio may be
    /// pinned and one of their pages is exclusive.
    #[inline(never)]
    fn copy_folio_batch(
        &self,
        c: &PteCopy<'_>,
        idx: u64,
        pte: Pte,
        folio: Folio<'_>,
        max_nr: u64,
    ) -> Option<u64> {
        let mut batch = [Pte::NONE; 1 << HPAGE_PMD_ORDER];
        batch[0] = pte;
        let nr = self.folio_pte_batch(folio, c, idx, max_nr, &mut batch);
        self.dup_present_ptes(c, idx, folio, &batch[..nr])?;
        Some(nr as u64)
    }

    /// The `folio_ref_add()`, rmap duplication and `__copy_present_ptes()`
    /// of [`Machine::copy_present_ptes`] for the entries `batch` from
    /// `idx`, which map consecutive pages of `folio`; None (nothing done)
    /// if the folio may be pinned and one of its pages is exclusive.
    // Inlined: see copy_present_ptes().
    #[inline(always)]
    fn dup_present_ptes(
        &self,
        c: &PteCopy<'_>,
        idx: u64,
        folio: Folio<'_>,
        batch: &[Pte],
    ) -> Option<()> {
        let (pfn, nr) = (batch[0].pfn(), batch.len());
        self.folio_ref_add(folio, nr as i32);
        if !head_anon(folio.head()) {
            for i in 0..nr as u64 {
                self.page(pfn + i).mapcount_add(1);
            }
        } else if self
            .folio_try_dup_anon_rmap_ptes(folio, pfn, nr as u64, c.dst, c.pinned_check)
            .is_err()
        {
            self.folio_put_refs(folio.pfn(), nr as i32);
            return None;
        }
        // The parent's writable entries become read-only in a COW mapping,
        // and the child's are old.
        let any_writable = batch.iter().any(|p| p.write());
        for (i, &p) in (idx..).zip(batch) {
            if c.cow && any_writable {
                c.write_src(self, i, p.wrprotect());
            }
            let child = if c.cow { p.wrprotect() } else { p };
            c.write_dst(self, i, child.without(PTE_YOUNG));
        }
        Some(())
    }

    /// `folio_pte_batch()`: how many entries from `idx` of the parent's table (at
    /// most `max_nr`; `batch[0]` the first) map consecutive pages of
    /// `folio` with the same bits, write and access bits aside; their
    /// values go to `batch`.
    fn folio_pte_batch(
        &self,
        folio: Folio<'_>,
        c: &PteCopy<'_>,
        idx: u64,
        max_nr: u64,
        batch: &mut [Pte],
    ) -> usize {
        const IGNORED: u64 = PTE_RW | PTE_YOUNG | PTE_SOFT_DIRTY;
        let first = batch[0];
        let folio_end = folio.pfn().0 + folio.nr_pages();
        let max_nr = max_nr.min(folio_end - first.pfn().0) as usize;
        // pte_advance_pfn() of the first entry, ignored bits cleared.
        let expected = |i: usize| Pte(first.without(IGNORED).0 + ((i as u64) << PAGE_SHIFT));
        let mut nr = 1;
        while nr < max_nr {
            let next = c.read_src(self, idx + nr as u64);
            if !next.present() || next.without(IGNORED) != expected(nr) {
                break;
            }
            batch[nr] = next;
            nr += 1;
        }
        nr
    }

    /// `copy_present_page()`: the child gets its own exclusive, writable
    /// copy; the parent's page and PTE are untouched.
    fn copy_present_page(
        &self,
        vma: &Vma,
        dt: Pfn,
        di: u64,
        addr: u64,
        src_pfn: Pfn,
    ) -> KResult<()> {
        let new = self.alloc_anon_page(Some(src_pfn))?;
        self.map_new_anon_page(vma, dt, di, addr, new, vma.flags & VM_WRITE != 0);
        Ok(())
    }
}
