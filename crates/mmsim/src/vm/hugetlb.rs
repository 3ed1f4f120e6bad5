//! hugetlb: a boot-time pool of 2 MiB pages and private anonymous hugetlb
//! mappings (mm/hugetlb.c; reference kernel-gup-cow.md §1.1, §3.3, §3.4).
//!
//! `machine ... hugepages=N` sets aside N order-9 folios at boot, typed
//! PageHuge, refcount 0 while in the pool. A `MAP_HUGETLB` mapping takes one
//! per 2 MiB on first touch and maps it with a huge PMD; it is never split,
//! swapped or merged.
//!
//! There are no mmap-time reservations: a fault that finds the pool empty
//! fails as the kernel's SIGBUS would (-EFAULT here). hugetlb pages are not
//! migrated or dissolved, so a block holding pool pages cannot go offline.
//!
//! A hugetlbfs file (`file F SIZE hugetlb`, like `memfd_create(MFD_HUGETLB)`)
//! keeps its 2 MiB folios in its page cache; a private mapping of it maps
//! them read-only and copies on write or unshare.
//!
//! Exclusivity lives on the head page. The rules differ from THP in one
//! place the COW selftest is known for: `hugetlb_wp()` reuses a page when
//! its *mapcount* is 1, not when its refcount is, so a page a pipe still
//! references after the other process unmapped it is reused and written —
//! the vmsplice cases leak, and cow.c marks them XFAIL on hugetlb.

use super::fault::VmFault;
use super::huge::{haddr, mk_huge_pmd, HPAGE_PMD_NR, HPAGE_PMD_ORDER, HPAGE_PMD_SIZE};
use super::pte::{PTE_DIRTY, PTE_RW, PTE_YOUNG};
use super::{Mm, Vma, VM_SHARED, VM_WRITE};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{PageType, Pfn, PAGE_SIZE, PG_ANON_EXCLUSIVE, PG_UPTODATE};
use crate::zone::alloc::Gfp;

/// The pool (`struct hstate` for 2 MiB pages).
#[derive(Default, Debug)]
pub struct HugetlbPool {
    /// Free folios (heads).
    free: Vec<Pfn>,
    /// `nr_huge_pages`.
    total: u64,
}

impl Machine {
    /// Fills the pool with `n` huge pages at boot (`hugetlb_hstate_alloc_pages`).
    pub(crate) fn hugetlb_boot(&self, n: u64) -> KResult<()> {
        for _ in 0..n {
            let head = self.alloc_pages(Gfp::KERNEL.comp(), HPAGE_PMD_ORDER, 0)?;
            self.page(head).set_type(PageType::Hugetlb);
            self.page(head).set_ref_count(0);
            let mut pool = self.vm().hugetlb.lock();
            pool.free.push(head);
            pool.total += 1;
        }
        Ok(())
    }

    /// `HugePages_Total` and `HugePages_Free`.
    pub fn hugetlb_counts(&self) -> (u64, u64) {
        let pool = self.vm().hugetlb.lock();
        (pool.total, pool.free.len() as u64)
    }

    /// The folios free in the pool (refcount 0, PageHuge).
    pub(crate) fn hugetlb_free_folios(&self) -> Vec<Pfn> {
        self.vm().hugetlb.lock().free.clone()
    }

    /// `alloc_hugetlb_folio()`: a zeroed folio from the pool, refcount 1.
    /// An empty pool is the fault's SIGBUS, which the model reports as
    /// -EFAULT (there are no mmap-time reservations).
    pub(crate) fn alloc_hugetlb_folio(&self) -> KResult<Pfn> {
        let head = self.vm().hugetlb.lock().free.pop().ok_or(Errno::EFAULT)?;
        self.page(head).set_ref_count(1);
        for i in 0..HPAGE_PMD_NR {
            self.physmem().clear_page(head + i)?;
        }
        // hugetlb_no_page(): folio_zero_user() + __folio_mark_uptodate().
        self.page(head).set(PG_UPTODATE);
        Ok(head)
    }

    /// `free_huge_folio()`: back to the pool.
    pub(crate) fn free_huge_folio(&self, head: Pfn) {
        let p = self.page(head);
        p.set_private(0);
        p.clear(PG_ANON_EXCLUSIVE);
        for i in 1..4 {
            self.page(head + i).set_tail_word(0);
        }
        self.vm().hugetlb.lock().free.push(head);
    }

    /// `hugetlb_fault()`: `vmf` is at the PMD of the faulting address in a
    /// hugetlb VMA.
    pub(crate) fn hugetlb_fault(&self, vmf: &VmFault<'_>) -> KResult<()> {
        let (mm, vma, pmd) = (vmf.mm, vmf.vma, vmf.orig);
        if pmd.is_none() && vma.file.is_some() {
            return self.hugetlb_file_no_page(vmf);
        }
        if pmd.huge() && vma.flags & VM_SHARED != 0 {
            // A shared mapping never copies: a write just makes it writable.
            if vmf.write() && !pmd.write() && vma.flags & VM_WRITE != 0 {
                let _ptl = mm.ptl(vmf.table);
                if vmf.same(self) {
                    vmf.set(self, pmd.with(PTE_RW | PTE_DIRTY | PTE_YOUNG));
                }
            }
            return Ok(());
        }
        if pmd.is_none() {
            // hugetlb_no_page(): a fresh exclusive page, mapped read-only
            // unless this is a write (the COW "optimisation" that follows in
            // the kernel reuses it at once).
            let head = self.alloc_hugetlb_folio()?;
            let _ptl = mm.ptl(vmf.table);
            if !vmf.same(self) {
                drop(_ptl);
                self.folio_put(head);
                return Ok(());
            }
            let h = haddr(vmf.address);
            self.map_new_hugetlb(mm, vma, vmf.table, vmf.idx, h, head, vmf.write());
            return Ok(());
        }
        if pmd.huge() && (vmf.write() || vmf.unshare()) && !pmd.write() {
            return self.hugetlb_wp(vmf);
        }
        if vmf.write() {
            let _ptl = mm.ptl(vmf.table);
            if vmf.same(self) {
                vmf.set(self, pmd.with(PTE_DIRTY | PTE_YOUNG));
            }
        }
        Ok(())
    }

    /// `hugetlb_no_page()` in a hugetlbfs file mapping: the cache folio,
    /// mapped shared (writable on a write) or read-only into a private
    /// mapping; a write into a private mapping copies it at once
    /// (`hugetlb_wp()` right after the fault).
    fn hugetlb_file_no_page(&self, vmf: &VmFault<'_>) -> KResult<()> {
        let (mm, vma) = (vmf.mm, vmf.vma);
        let file = vma.file.expect("file VMA");
        let index = (vma.pgoff * PAGE_SIZE + haddr(vmf.address) - vma.start) / HPAGE_PMD_SIZE;
        let cache = self.file_get_huge(file, index)?;
        let shared = vma.flags & VM_SHARED != 0;
        let mapped = {
            let _ptl = mm.ptl(vmf.table);
            if !vmf.same(self) {
                return Ok(());
            }
            // hugetlb_add_file_rmap(): one more whole-folio mapping.
            self.folio_get(cache);
            self.folio_add_anon_rmap_pmd(cache, mm, false);
            let writable = shared && vmf.write() && vma.flags & VM_WRITE != 0;
            let pmd = mk_huge_pmd(vma, cache, writable);
            vmf.set(self, pmd);
            pmd
        };
        if vmf.write() && !shared {
            return self.hugetlb_wp(&vmf.at(vmf.table, vmf.idx, mapped));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn map_new_hugetlb(
        &self,
        mm: &Mm,
        vma: &Vma,
        pt: Pfn,
        pi: u64,
        h: u64,
        head: Pfn,
        write: bool,
    ) {
        let anon_vma = vma
            .anon_vma
            .expect("private mappings get an anon_vma at mmap");
        self.folio_add_new_anon_rmap_pmd(head, mm, anon_vma, vma.linear_page_index(h));
        self.write_entry(
            pt,
            pi,
            mk_huge_pmd(vma, head, write && vma.flags & VM_WRITE != 0),
        );
    }

    /// `hugetlb_wp()`: reuse when mapped once, else copy the whole page.
    fn hugetlb_wp(&self, vmf: &VmFault<'_>) -> KResult<()> {
        let (mm, orig) = (vmf.mm, vmf.orig);
        let old = orig.pfn();
        {
            let _ptl = mm.ptl(vmf.table);
            if !vmf.same(self) {
                return Ok(());
            }
            // "Note that we don't rely on the (safer) refcount check".
            if self.folio_mapcount(old) == 1 && self.folio_test_anon(old) {
                self.page(old).set(PG_ANON_EXCLUSIVE);
                if !vmf.unshare() {
                    vmf.set(self, orig.with(PTE_RW | PTE_DIRTY | PTE_YOUNG));
                }
                return Ok(());
            }
            self.folio_get(old);
        }
        let new = match self.alloc_hugetlb_folio() {
            Ok(n) => n,
            Err(e) => {
                self.folio_put(old);
                return Err(e);
            }
        };
        let copied = (0..HPAGE_PMD_NR).try_for_each(|i| self.physmem().copy_page(new + i, old + i));
        let ptl = mm.ptl(vmf.table);
        if copied.is_err() || !vmf.same(self) {
            drop(ptl);
            self.folio_put(new);
            self.folio_put(old);
            return copied;
        }
        let h = haddr(vmf.address);
        self.map_new_hugetlb(mm, vmf.vma, vmf.table, vmf.idx, h, new, !vmf.unshare());
        self.folio_remove_rmap_pmd(old, mm);
        self.folio_put(old);
        drop(ptl);
        self.folio_put(old);
        Ok(())
    }

    /// `copy_hugetlb_page_range()` for one PMD: share it write-protected, or
    /// copy it for the child when the page may be pinned and is exclusive.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn copy_hugetlb_pmd(
        &self,
        dst: &Mm,
        src: &Mm,
        vma: &Vma,
        spt: Pfn,
        spi: u64,
        addr: u64,
        pinned_check: bool,
    ) -> KResult<()> {
        let (dpt, dpi) = self.walk_pmd(dst, addr, true)?.expect("allocating walk");
        let head = {
            let _sptl = src.ptl(spt);
            let pmd = self.read_entry(spt, spi);
            if !pmd.huge() {
                return Ok(());
            }
            let head = pmd.pfn();
            self.folio_get(head);
            // hugetlb_try_dup_anon_rmap(), or hugetlb_add_file_rmap() for a
            // file folio (which is never exclusive, so never refused).
            if self
                .folio_try_dup_anon_rmap_pmd(head, dst, pinned_check)
                .is_ok()
            {
                let cow = vma.is_cow();
                if cow && pmd.write() {
                    self.write_entry(spt, spi, pmd.wrprotect());
                }
                let child = if cow { pmd.wrprotect() } else { pmd };
                self.write_entry(dpt, dpi, child.without(PTE_YOUNG));
                return Ok(());
            }
            head
        };
        // Maybe pinned: the child gets its own copy now.
        let new = match self.alloc_hugetlb_folio() {
            Ok(n) => n,
            Err(e) => {
                self.folio_put(head);
                return Err(e);
            }
        };
        let copied =
            (0..HPAGE_PMD_NR).try_for_each(|i| self.physmem().copy_page(new + i, head + i));
        self.folio_put(head);
        if let Err(e) = copied {
            self.folio_put(new);
            return Err(e);
        }
        self.map_new_hugetlb(dst, vma, dpt, dpi, haddr(addr), new, true);
        Ok(())
    }
}
