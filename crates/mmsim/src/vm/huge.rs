//! Transparent huge pages: PMD-mapped anonymous THPs, their splits and
//! collapse, and the huge zero page (mm/huge_memory.c, mm/khugepaged.c;
//! reference kernel-gup-cow.md §3.1–3.4, §6.3, §7.2–7.4).
//!
//! # Where a THP comes from
//!
//! A VMA with VM_HUGEPAGE (`mmap ... thp` or MADV_HUGEPAGE; the model runs
//! with `transparent_hugepage/enabled` = madvise) gets a THP on a write fault
//! into an empty, fully covered, 2 MiB-aligned PMD: an order-9 compound page
//! mapped by one PMD, exclusive (PG_anon_exclusive on the head) and
//! writable. A read fault there maps the huge zero page read-only instead.
//!
//! # Mapped whole or by PTEs
//!
//! A PMD mapping is handled whole where the kernel does so: write faults
//! reuse it when the head is exclusive or the folio's only reference is the
//! mapping (`do_huge_pmd_wp_page`), fork shares it write-protected
//! (`copy_huge_pmd`), munmap/exit/MADV_DONTNEED of the whole 2 MiB drop it
//! (`zap_huge_pmd`), mprotect of the whole 2 MiB changes it
//! (`change_huge_pmd`), GUP pins through it. Everything else first splits
//! the PMD into 512 PTEs (`__split_huge_pmd_locked`): each subpage gets a
//! PTE with the PMD's bits, its own mapcount, a reference, and
//! PG_anon_exclusive if the head had it. The folio stays large: a
//! PTE-mapped THP, whose subpages have per-page exclusivity.
//!
//! Swap-out, migration and KSM split the folio itself (`split_huge_page`):
//! every PTE mapping it becomes a migration entry carrying its exclusivity,
//! the refcount is frozen (any extra reference — a pin, a pipe — makes the
//! split fail with -EAGAIN), the compound page becomes 512 small folios, and
//! the entries are turned back into PTEs. Unmapped subpages are freed.
//!
//! # Collapse
//!
//! MADV_COLLAPSE (`madvise_collapse` → `collapse_huge_page`) copies the 512
//! pages of a PTE-mapped range into a new THP and maps it with one PMD,
//! exclusive and writable; the old pages lose this mapping and stay with
//! whoever else maps them. As in 6.12 it needs every present page to carry
//! no reference beyond its mappings (-EAGAIN) and at least one writable PTE
//! (-EINVAL, SCAN_PAGE_RO).

use super::fault::VmFault;
use super::pte::{
    MigrationKind, Pte, SwapEntry, PTE_DIRTY, PTE_PSE, PTE_RW, PTE_SPECIAL, PTE_YOUNG,
};
use super::vma::{Holes, RangeCall, UserRange};
use super::walk::PMD_SHIFT;
use super::{Mm, MmMaps, Vma, VM_HUGEPAGE, VM_NOHUGEPAGE, VM_WRITE};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{
    Pfn, PAGE_SHIFT, PAGE_SIZE, PG_ANON_EXCLUSIVE, PG_LARGE_RMAPPABLE, PG_LRU, PG_UPTODATE,
};
use crate::sync::atomic::Ordering;
use crate::sync::Arc;
use crate::variant::CowReuse;
use crate::zone::alloc::Gfp;

/// `HPAGE_PMD_ORDER`: a PMD maps 2^9 pages.
pub const HPAGE_PMD_ORDER: u32 = PMD_SHIFT - PAGE_SHIFT;
/// `HPAGE_PMD_NR`.
pub const HPAGE_PMD_NR: u64 = 1 << HPAGE_PMD_ORDER;
/// `HPAGE_PMD_SIZE`.
pub const HPAGE_PMD_SIZE: u64 = HPAGE_PMD_NR * PAGE_SIZE;

/// What a PMD-level fault did.
pub(crate) enum HugeFault {
    /// Handled, or lost a race the access will retry.
    Done,
    /// Fall back to the PTE level (`VM_FAULT_FALLBACK`).
    Fallback,
}

/// What maps an address (re-exported for the scenario layer's path).
pub use super::walk::Mapping;

/// The 2 MiB-aligned start of `addr`'s PMD range.
pub fn haddr(addr: u64) -> u64 {
    addr & !(HPAGE_PMD_SIZE - 1)
}

/// `thp_vma_allowable_order()` for the PMD order under enabled=madvise:
/// a private anonymous VMA with VM_HUGEPAGE covering the aligned range.
pub(crate) fn thp_vma_suitable(vma: &Vma, addr: u64) -> bool {
    let h = haddr(addr);
    vma.file.is_none()
        && vma.flags & super::VM_SHARED == 0
        && vma.flags & VM_HUGEPAGE != 0
        && vma.flags & VM_NOHUGEPAGE == 0
        && h >= vma.start
        && h + HPAGE_PMD_SIZE <= vma.end
}

/// A young huge PMD mapping the folio at `head` in `vma` (PROT_NONE if the
/// VMA is), writable and dirty if `writable` (`mk_huge_pmd(page,
/// vma->vm_page_prot)` + `maybe_pmd_mkwrite(pmd_mkdirty())`).
pub(crate) fn mk_huge_pmd(vma: &Vma, head: Pfn, writable: bool) -> Pte {
    let bits = PTE_PSE | PTE_YOUNG | if writable { PTE_RW | PTE_DIRTY } else { 0 };
    vma.mk_pte(head, bits)
}

impl Machine {
    /// The huge zero folio (`mm_get_huge_zero_folio`), allocated on first use
    /// from the kernel zones, zeroed, and never freed.
    pub fn huge_zero_pfn(&self) -> KResult<Pfn> {
        let vm = self.vm();
        let _alloc = vm.huge_zero_lock.lock();
        // Relaxed: the lock orders us against the only store.
        let known = vm.huge_zero.load(Ordering::Relaxed);
        if known != 0 {
            return Ok(Pfn(known));
        }
        let gfp = Gfp::KERNEL.comp();
        let pfn = self.alloc_pages(gfp, HPAGE_PMD_ORDER, 0)?;
        self.page(pfn + 1).set(PG_LARGE_RMAPPABLE);
        for i in 0..HPAGE_PMD_NR {
            if let Err(e) = self.physmem().clear_page(pfn + i) {
                self.folio_put(pfn);
                return Err(e);
            }
        }
        // Release: the zeroed bytes before the folio is known; pairs with
        // the Acquire in is_huge_zero_pfn().
        vm.huge_zero.store(pfn.0, Ordering::Release);
        Ok(pfn)
    }

    /// The huge zero folio, if it was ever needed.
    pub fn huge_zero_if_allocated(&self) -> Option<Pfn> {
        // Acquire pairs with the Release store in huge_zero_pfn().
        let z = self.vm().huge_zero.load(Ordering::Acquire);
        (z != 0).then_some(Pfn(z))
    }

    /// Whether `pfn` is a page of the huge zero folio.
    pub fn is_huge_zero_pfn(&self, pfn: Pfn) -> bool {
        // Acquire pairs with the Release store in huge_zero_pfn().
        let z = self.vm().huge_zero.load(Ordering::Acquire);
        z != 0 && pfn.0 >= z && pfn.0 < z + HPAGE_PMD_NR
    }

    /// A new THP: order 9, movable, zeroed (`vma_alloc_anon_folio_pmd`).
    fn alloc_thp(&self) -> KResult<Pfn> {
        let head = self.alloc_pages(Gfp::MOVABLE.comp(), HPAGE_PMD_ORDER, 0)?;
        // folio_prep_large_rmappable(): a THP (kpageflags `thp`).
        self.page(head + 1).set(PG_LARGE_RMAPPABLE);
        for i in 0..HPAGE_PMD_NR {
            if let Err(e) = self.physmem().clear_page(head + i) {
                self.folio_put(head);
                return Err(e);
            }
        }
        // __folio_mark_uptodate().
        self.page(head).set(PG_UPTODATE);
        Ok(head)
    }

    /// `do_huge_pmd_anonymous_page()`: an empty PMD in a THP-enabled VMA.
    pub(crate) fn do_huge_pmd_anonymous_page(&self, vmf: &VmFault<'_>) -> HugeFault {
        let (mm, vma) = (vmf.mm, vmf.vma);
        if !vmf.write() {
            // The huge zero page, read-only (use_zero_page=1).
            let Ok(zero) = self.huge_zero_pfn() else {
                return HugeFault::Fallback;
            };
            let _ptl = mm.ptl(vmf.table);
            if vmf.same(self) {
                vmf.set(self, vma.mk_pte(zero, PTE_PSE | PTE_SPECIAL | PTE_YOUNG));
            }
            return HugeFault::Done;
        }
        let Ok(head) = self.alloc_thp() else {
            return HugeFault::Fallback;
        };
        let _ptl = mm.ptl(vmf.table);
        if !vmf.same(self) {
            drop(_ptl);
            self.folio_put(head);
            return HugeFault::Done;
        }
        let writable = vma.flags & VM_WRITE != 0;
        let h = haddr(vmf.address);
        self.map_new_thp(mm, vma, vmf.table, vmf.idx, h, head, writable);
        HugeFault::Done
    }

    /// Maps a new exclusive THP with one PMD (PMD lock held).
    #[allow(clippy::too_many_arguments)]
    fn map_new_thp(&self, mm: &Mm, vma: &Vma, pt: Pfn, pi: u64, h: u64, head: Pfn, writable: bool) {
        let anon_vma = vma
            .anon_vma
            .expect("private mappings get an anon_vma at mmap");
        self.folio_add_new_anon_rmap_pmd(head, mm, anon_vma, vma.linear_page_index(h));
        self.write_entry(pt, pi, mk_huge_pmd(vma, head, writable));
    }

    /// `do_huge_pmd_wp_page()`: a write or unshare fault on a read-only huge
    /// PMD. Reuses the THP if the head is exclusive or the mapping holds the
    /// only reference; a huge zero PMD gets a fresh THP
    /// (`do_huge_zero_wp_pmd`); anything else splits the PMD and falls back
    /// to the PTE level, which handles each subpage.
    pub(crate) fn do_huge_pmd_wp_page(&self, vmf: &VmFault<'_>) -> KResult<HugeFault> {
        let (mm, vma, orig) = (vmf.mm, vmf.vma, vmf.orig);
        let (pt, pi) = (vmf.table, vmf.idx);
        if orig.special() {
            let Ok(head) = self.alloc_thp() else {
                self.split_huge_pmd(mm, pt, pi)?;
                return Ok(HugeFault::Fallback);
            };
            let _ptl = mm.ptl(pt);
            if !vmf.same(self) {
                drop(_ptl);
                self.folio_put(head);
                return Ok(HugeFault::Done);
            }
            let writable = !vmf.unshare() && vma.flags & VM_WRITE != 0;
            self.map_new_thp(mm, vma, pt, pi, haddr(vmf.address), head, writable);
            return Ok(HugeFault::Done);
        }
        {
            let _ptl = mm.ptl(pt);
            if !vmf.same(self) {
                return Ok(HugeFault::Done);
            }
            let head = orig.pfn();
            let p = self.page(head);
            let reuse = match self.variants().cow_reuse {
                CowReuse::Exclusive => p.test(PG_ANON_EXCLUSIVE) || p.ref_count() == 1,
                CowReuse::Refcount => p.ref_count() == 1,
                CowReuse::Mapcount => self.folio_mapcount(head) == 1,
            };
            if reuse {
                p.set(PG_ANON_EXCLUSIVE);
                if !vmf.unshare() {
                    vmf.set(self, orig.with(PTE_RW | PTE_DIRTY | PTE_YOUNG));
                }
                return Ok(HugeFault::Done);
            }
        }
        self.split_huge_pmd(mm, pt, pi)?;
        Ok(HugeFault::Fallback)
    }

    /// `__split_huge_pmd()` without freeze: the huge PMD at `pt[pi]` becomes a
    /// table of 512 PTEs with its bits; PG_anon_exclusive of the head goes to
    /// every subpage, and each PTE takes a mapping and a reference. A huge
    /// zero PMD becomes 512 zero-page PTEs. Nothing happens if the entry is
    /// no longer huge.
    pub fn split_huge_pmd(&self, mm: &Mm, pt: Pfn, pi: u64) -> KResult<()> {
        if !self.read_entry(pt, pi).huge() {
            return Ok(());
        }
        // The kernel deposits this table with the THP; the model allocates it
        // at split time.
        let table = self.alloc_table()?;
        let _ptl = mm.ptl(pt);
        let pmd = self.read_entry(pt, pi);
        if !pmd.huge() {
            drop(_ptl);
            self.free_table(table);
            return Ok(());
        }
        let bits = pmd.0 & (PTE_RW | PTE_DIRTY | PTE_YOUNG | super::pte::PTE_SOFT_DIRTY);
        if pmd.special() {
            let zero = self.zero_pfn();
            for i in 0..HPAGE_PMD_NR {
                let pte = Pte::new(zero, PTE_SPECIAL | (bits & PTE_YOUNG));
                self.write_entry(table, i, pte.with_access_of(pmd));
            }
        } else {
            let head = pmd.pfn();
            let exclusive = self.page(head).test(PG_ANON_EXCLUSIVE);
            // folio_ref_add(HPAGE_PMD_NR - 1) + folio_add_anon_rmap_ptes()
            // + folio_remove_rmap_pmd().
            self.page(head).ref_add(HPAGE_PMD_NR as i32 - 1);
            for i in 0..HPAGE_PMD_NR {
                self.folio_add_anon_rmap_pte(head + i, mm, exclusive);
                self.write_entry(table, i, Pte::new(head + i, bits).with_access_of(pmd));
            }
            self.folio_remove_rmap_pmd(head, mm);
        }
        // smp_wmb() + pmd_populate(): the table is complete before it is
        // linked.
        self.write_entry(pt, pi, Pte::new(table, PTE_RW));
        Ok(())
    }

    /// `split_huge_pmd_address()`: splits a huge PMD that `addr` falls
    /// inside of (not on its boundary), before a VMA is split there.
    pub fn split_huge_pmd_address(&self, mm: &Mm, addr: u64) -> KResult<()> {
        if addr % HPAGE_PMD_SIZE == 0 {
            return Ok(());
        }
        if let Some((pt, pi)) = self.walk_pmd(mm, addr, false)? {
            self.split_huge_pmd(mm, pt, pi)?;
        }
        Ok(())
    }

    /// `copy_huge_pmd()`: fork of a huge PMD. Returns false if the PMD had
    /// to be split (the folio may be pinned) and the PTE level must copy it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn copy_huge_pmd(
        &self,
        dst: &Mm,
        src: &Mm,
        spt: Pfn,
        spi: u64,
        addr: u64,
        cow: bool,
        pinned_check: bool,
    ) -> KResult<bool> {
        let (dpt, dpi) = self.walk_pmd(dst, addr, true)?.expect("allocating walk");
        let _sptl = src.ptl(spt);
        let pmd = self.read_entry(spt, spi);
        if !pmd.huge() {
            return Ok(false);
        }
        let child = if cow { pmd.wrprotect() } else { pmd }.without(PTE_YOUNG);
        if pmd.special() {
            self.write_entry(dpt, dpi, child);
            return Ok(true);
        }
        let head = pmd.pfn();
        self.folio_get(head);
        if self
            .folio_try_dup_anon_rmap_pmd(head, dst, pinned_check)
            .is_err()
        {
            // "Page maybe pinned: split and retry the fault on PTEs."
            self.folio_put(head);
            drop(_sptl);
            self.split_huge_pmd(src, spt, spi)?;
            return Ok(false);
        }
        if cow && pmd.write() {
            self.write_entry(spt, spi, pmd.wrprotect());
        }
        self.write_entry(dpt, dpi, child);
        Ok(true)
    }

    /// `zap_huge_pmd()`: drops a huge PMD mapping entirely. False if the
    /// entry is no longer huge (split meanwhile): the caller zaps PTEs.
    pub(crate) fn zap_huge_pmd(&self, mm: &Mm, pt: Pfn, pi: u64) -> bool {
        let ptl = mm.ptl(pt);
        let pmd = self.read_entry(pt, pi);
        if !pmd.huge() {
            return false;
        }
        self.write_entry(pt, pi, Pte::NONE);
        drop(ptl);
        if !pmd.special() {
            self.folio_remove_rmap_pmd(pmd.pfn(), mm);
            self.folio_put(pmd.pfn());
        }
        true
    }

    /// `change_huge_pmd()`: mprotect of a whole huge PMD to `prot`
    /// ([`Machine::mprotect_entry`]). False if the entry is no longer huge
    /// (split meanwhile).
    pub(crate) fn change_huge_pmd(
        &self,
        mm: &Mm,
        pt: Pfn,
        pi: u64,
        prot: u32,
        soft_dirty_everywhere: bool,
        upgrade: bool,
    ) -> bool {
        let _ptl = mm.ptl(pt);
        let pmd = self.read_entry(pt, pi);
        if !pmd.huge() {
            return false;
        }
        let upgrade = upgrade && (soft_dirty_everywhere || pmd.soft_dirty());
        self.write_entry(pt, pi, self.mprotect_entry(pmd, prot, upgrade));
        true
    }

    /// `split_huge_page()`: splits the large anonymous folio of `page` into
    /// small folios. The caller holds one reference on it, which afterwards
    /// is on `page` alone. -EAGAIN if anybody else holds a reference (a pin,
    /// GUP, a pipe) or a pinned exclusive page cannot be unmapped; the folio
    /// is then left as it was.
    pub fn split_huge_page(&self, page: Pfn) -> KResult<()> {
        let head = self.folio_head(page);
        if !self.folio_test_large(head) || self.folio_test_hugetlb(head) {
            return Ok(());
        }
        let Some((anon_vma, index)) = self.anon_location(head) else {
            return Err(Errno::EBUSY);
        };
        let nr = 1u64 << self.folio_order(head);
        let _rmap = self.vm().rmap_lock.down_read();
        // can_split_folio(): only the mappings and our reference.
        if self.folio_ref_count(head) != self.folio_mapcount(head) + 1 {
            return Err(Errno::EAGAIN);
        }
        // unmap_folio(): TTU_SPLIT_HUGE_PMD, then migration entries. The
        // folio's pages may lie in several VMAs (mremap moves parts).
        for (mm, a) in self.anon_rmap_addresses(anon_vma, index) {
            if let Ok(Some((pt, pi))) = self.walk_pmd(&mm, a, false) {
                let pmd = self.read_entry(pt, pi);
                if pmd.huge() && pmd.pfn() == head {
                    self.split_huge_pmd(&mm, pt, pi)?;
                }
            }
        }
        // Where the entries went, with the PTE they replaced (for its
        // young/dirty bits; the kind is read back from the entry).
        let mut unmapped: Vec<(Arc<Mm>, Pfn, u64, Pte)> = Vec::new();
        let mut failed = false;
        'unmap: for i in 0..nr {
            for (mm, a) in self.anon_rmap_addresses(anon_vma, index + i) {
                let Ok(Some((t, idx))) = self.walk(&mm, a, false) else {
                    continue;
                };
                let _ptl = mm.ptl(t);
                let pte = self.read_entry(t, idx);
                if !pte.present() || pte.special() || pte.pfn() != head + i {
                    continue;
                }
                let exclusive = self.page(head + i).test(PG_ANON_EXCLUSIVE);
                // folio_try_share_anon_rmap_pte(): a pinned exclusive page
                // cannot lose its mapping.
                if exclusive && self.folio_maybe_dma_pinned(head) {
                    failed = true;
                    break 'unmap;
                }
                let kind = MigrationKind::for_pte(pte, exclusive);
                self.page(head + i).clear(PG_ANON_EXCLUSIVE);
                let entry = SwapEntry::Migration {
                    pfn: head + i,
                    kind,
                };
                self.write_entry(t, idx, Pte::swap(entry, false));
                self.folio_remove_rmap_pte(head + i, &mm);
                self.folio_put(head);
                unmapped.push((mm.clone(), t, idx, pte));
            }
        }
        // folio_ref_freeze(1): nobody else may hold a reference now.
        let frozen = !failed && self.page(head).ref_freeze(1);
        if frozen {
            // __split_huge_page(): every subpage a small anonymous folio.
            let hp = self.page(head);
            self.page(head + 1).clear(PG_LARGE_RMAPPABLE);
            for i in 1..nr {
                let t = self.page(head + i);
                t.clear_compound_head();
                t.set_tail_word(0);
                t.set_private(0);
            }
            hp.clear(crate::page::PG_HEAD);
            // __split_folio_to_order(): the new folios take the head's
            // PG_uptodate (PG_lru and PG_swapbacked come with their anon
            // mapping below).
            let uptodate = hp.test(PG_UPTODATE);
            for i in 0..nr {
                if uptodate {
                    self.page(head + i).set(PG_UPTODATE);
                }
                self.folio_set_anon(head + i, anon_vma, index + i);
                // Each new folio holds one reference for now (the caller's
                // on `page`, a temporary one on the others).
                self.page(head + i).ref_unfreeze(1);
            }
        }
        // remap_page(): entries back to PTEs, exclusivity from the entries.
        for (mm, t, idx, orig) in &unmapped {
            let _ptl = mm.ptl(*t);
            let pfn = orig.pfn();
            // The entry as it is now: mprotect may have made it read-only.
            let Some(kind) = self.migration_entry_kind(*t, *idx, pfn) else {
                continue;
            };
            self.folio_get(pfn);
            self.folio_add_anon_rmap_pte(pfn, mm, kind != MigrationKind::Read);
            let mut bits = orig.0 & (PTE_YOUNG | PTE_DIRTY);
            if kind == MigrationKind::Write {
                bits |= PTE_RW;
            }
            // The protection the PTE had: mprotect() waits for the entry
            // rather than change what it restores to (change_protection()).
            self.write_entry(*t, *idx, Pte::new(pfn, bits).with_access_of(*orig));
        }
        if !frozen {
            return Err(Errno::EAGAIN);
        }
        for i in 0..nr {
            if head + i != page {
                self.folio_put(head + i);
            }
        }
        Ok(())
    }

    /// MADV_COLLAPSE (`madvise_collapse`): in each VMA the range covers,
    /// every fully covered, 2 MiB-aligned range becomes one PMD-mapped THP.
    /// A VMA that THPs are not allowed in fails with -EINVAL; otherwise the
    /// walk stops after the first VMA in which a collapse failed, with that
    /// failure; unmapped holes give -ENOMEM at the end.
    pub fn madvise_collapse(&self, mm: &Mm, start: u64, len: u64) -> KResult<()> {
        let Some(r) = UserRange::new(RangeCall::Madvise, start, len)? else {
            return Ok(());
        };
        let maps = mm.mmap_lock.down_write();
        let (parts, holes) = Self::vma_parts(&maps, r, Holes::Skip);
        for (s, e) in parts {
            let vma = maps.find(s).expect("a part lies in a VMA");
            // thp_vma_allowable_order() without the sysfs setting.
            if vma.file.is_some() || vma.flags & (VM_NOHUGEPAGE | super::VM_HUGETLB) != 0 {
                return Err(Errno::EINVAL);
            }
            let mut ret = Ok(());
            let mut h = s.next_multiple_of(HPAGE_PMD_SIZE);
            while h + HPAGE_PMD_SIZE <= e {
                if let Err(err) = self.collapse_huge_page(mm, &maps, vma, h) {
                    ret = Err(err);
                }
                h += HPAGE_PMD_SIZE;
            }
            ret?;
        }
        holes
    }

    /// `is_refcount_suitable()`: the folio's references are its mappings'
    /// (and the swap cache's) only — no GUP, no pipe, no migration.
    fn is_refcount_suitable(&self, pfn: Pfn) -> bool {
        let extra = if self.swap_cache_slot(pfn).is_some() {
            1 << self.folio_order(pfn)
        } else {
            0
        };
        self.folio_ref_count(pfn) == self.folio_mapcount(pfn) + extra
    }

    /// The checks of `hpage_collapse_scan_pmd()` on a PTE table: every
    /// present page anonymous (not KSM) with references from its mappings
    /// only, nothing swapped or migrating (-EINVAL, -EAGAIN), and at least
    /// one writable PTE (SCAN_PAGE_RO, -EINVAL). Returns the mapped pages.
    fn collapse_scan(&self, table: Pfn) -> KResult<Vec<Pfn>> {
        let mut writable = false;
        let mut pages = Vec::new();
        for i in 0..HPAGE_PMD_NR {
            let pte = self.read_entry(table, i);
            if pte.is_none() || pte.special() {
                continue;
            }
            if !pte.present() {
                // SCAN_PTE_NON_PRESENT: under migration, or swapped out
                // again meanwhile.
                return Err(Errno::EAGAIN);
            }
            let pfn = pte.pfn();
            if !self.folio_test_anon(pfn) || self.folio_test_ksm(pfn) {
                return Err(Errno::EINVAL);
            }
            if !self.is_refcount_suitable(pfn) {
                return Err(Errno::EAGAIN);
            }
            writable |= pte.write();
            pages.push(pfn);
        }
        if !writable {
            return Err(Errno::EINVAL);
        }
        Ok(pages)
    }

    /// `collapse_huge_page()` for one aligned range (mmap_lock held for
    /// write, so no fault, GUP or fork runs in this mm meanwhile).
    fn collapse_huge_page(&self, mm: &Mm, maps: &MmMaps, vma: &Vma, h: u64) -> KResult<()> {
        let Some((pt, pi)) = self.walk_pmd(mm, h, true)? else {
            return Err(Errno::ENOMEM);
        };
        let pmd = self.read_entry(pt, pi);
        if pmd.huge() {
            // SCAN_PMD_MAPPED: already a THP.
            return Ok(());
        }
        if !pmd.present() {
            // SCAN_PMD_NULL.
            return Err(Errno::EINVAL);
        }
        let table = pmd.pfn();
        // __collapse_huge_page_swapin(): MADV_COLLAPSE brings swapped-out
        // pages back first (khugepaged would stop at max_ptes_swap).
        for i in 0..HPAGE_PMD_NR {
            if let Some(SwapEntry::Swap { .. } | SwapEntry::DevicePrivate { .. }) =
                self.read_entry(table, i).swap_entry()
            {
                let read = super::fault::FaultFlags::default();
                self.handle_mm_fault_locked(mm, maps, h + i * PAGE_SIZE, read)?;
            }
        }
        // hpage_collapse_scan_pmd(): look before changing anything.
        self.collapse_scan(table)?;
        let head = self.alloc_thp().map_err(|_| Errno::ENOMEM)?;
        // anon_vma_lock_write(): no reverse-map walker is inside this table
        // while it is replaced.
        let _rmap = self.vm().rmap_lock.down_write();
        let ptl = mm.ptl(pt);
        let tptl = if mm.same_ptl(pt, table) {
            None
        } else {
            Some(mm.ptl(table))
        };
        // __collapse_huge_page_isolate(): the same checks under the locks,
        // and every small page off the LRU, so the migration core cannot
        // take one meanwhile (a large folio is held in place by the locks).
        let mut isolated: Vec<Pfn> = Vec::new();
        let checked = self.collapse_scan(table).and_then(|pages| {
            for pfn in pages.into_iter().filter(|&p| !self.folio_test_large(p)) {
                if !self.page(pfn).test_and_clear(PG_LRU) {
                    return Err(Errno::EAGAIN);
                }
                isolated.push(pfn);
            }
            Ok(())
        });
        if let Err(e) = checked {
            for pfn in isolated {
                self.page(pfn).set(PG_LRU);
            }
            drop(tptl);
            drop(ptl);
            drop(_rmap);
            self.folio_put(head);
            return Err(e);
        }
        // Clear the PTEs, copy, then drop the old mappings.
        let mut old = Vec::new();
        for i in 0..HPAGE_PMD_NR {
            let pte = self.read_entry(table, i);
            self.write_entry(table, i, Pte::NONE);
            if pte.present() && !pte.special() {
                if let Err(e) = self.physmem().copy_page(head + i, pte.pfn()) {
                    self.report_bug(format!("collapse: copy failed: {e:?}"));
                }
                old.push(pte.pfn());
            }
        }
        // Back on the LRU: the pages stay with whoever else maps them.
        for pfn in isolated {
            self.page(pfn).set(PG_LRU);
        }
        self.map_new_thp(mm, vma, pt, pi, h, head, vma.flags & VM_WRITE != 0);
        drop(tptl);
        drop(ptl);
        for pfn in old {
            self.folio_remove_rmap_pte(pfn, mm);
            self.folio_put(pfn);
        }
        drop(_rmap);
        // GUP-fast may still be reading the old table: free it after a grace
        // period (the kernel's tlb_remove_table_sync_one()).
        self.rcu().synchronize();
        self.free_table(table);
        Ok(())
    }
}
