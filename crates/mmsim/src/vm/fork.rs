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

use super::huge::HPAGE_PMD_SIZE;
use super::pte::{Pte, SwapEntry, PTE_YOUNG};
use super::walk::Mapping;
use super::{Mm, Vma, VM_DONTCOPY, VM_HUGETLB, VM_SHARED, VM_WRITE};
use crate::errno::KResult;
use crate::machine::Machine;
use crate::page::{Pfn, PAGE_SIZE};
use crate::sync::Arc;
use crate::variant::CowReuse;

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
            child_maps.insert(vma.clone());
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
        let mut ret = Ok(());
        let mut addr = vma.start;
        while addr < vma.end {
            // copy_pmd_range(): a huge PMD is copied whole, unless the folio
            // may be pinned (then it was split and its PTEs follow).
            if vma.flags & VM_HUGETLB != 0 {
                // copy_hugetlb_page_range(): one PMD per huge page, whatever
                // it holds (a folio under migration is waited for).
                let copied = match self.walk_pmd(src, addr, false) {
                    Ok(Some((spt, spi))) => {
                        self.copy_hugetlb_pmd(dst, src, vma, spt, spi, addr, pinned_check)
                    }
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                };
                if let Err(e) = copied {
                    ret = Err(e);
                    break;
                }
                addr += HPAGE_PMD_SIZE;
                continue;
            }
            let pmd_start = addr == vma.start || addr % HPAGE_PMD_SIZE == 0;
            if let (true, Mapping::Pmd(spt, spi, _)) = (pmd_start, self.lookup(src, addr)) {
                let whole = self.copy_huge_pmd(dst, src, spt, spi, addr, cow, pinned_check);
                match whole {
                    Ok(true) => {
                        addr += HPAGE_PMD_SIZE;
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        ret = Err(e);
                        break;
                    }
                }
            }
            if let Err(e) = self.copy_one_pte(dst, src, vma, addr, cow, pinned_check) {
                ret = Err(e);
                break;
            }
            addr += PAGE_SIZE;
        }
        if cow {
            src.write_protect_seq.write_end();
        }
        ret
    }

    fn copy_one_pte(
        &self,
        dst: &Mm,
        src: &Mm,
        vma: &Vma,
        addr: u64,
        cow: bool,
        pinned_check: bool,
    ) -> KResult<()> {
        let Some((st, si)) = self.walk(src, addr, false)? else {
            return Ok(());
        };
        if self.read_entry(st, si).is_none() {
            return Ok(());
        }
        let (dt, di) = self.walk(dst, addr, true)?.expect("allocating walk");
        loop {
            let src_ptl = src.ptl(st);
            let pte = self.read_entry(st, si);
            if !pte.present() {
                match pte.swap_entry() {
                    // A page under migration: wait until it has moved on.
                    Some(SwapEntry::Migration { .. }) => {
                        drop(src_ptl);
                        crate::sync::thread::yield_now();
                        continue;
                    }
                    Some(SwapEntry::Swap { offset, .. }) => {
                        // copy_nonpresent_pte(): "Mark the swap entry as
                        // shared" in the parent, and give the child a
                        // reference.
                        self.swap_dup(offset);
                        let shared = Pte(pte.0 & !super::pte::PTE_SWP_EXCLUSIVE);
                        self.write_entry(st, si, shared);
                        self.write_entry(dt, di, shared);
                        return Ok(());
                    }
                    Some(SwapEntry::DevicePrivate { pfn, write }) => {
                        // copy_nonpresent_pte(): a reference and a mapping
                        // (which cannot fail: device-private pages are never
                        // pinned), and read-only in both for a COW mapping.
                        self.folio_get(pfn);
                        let _ = self.folio_try_dup_anon_rmap_pte(pfn, dst, false);
                        let mut entry = pte;
                        if write && cow {
                            let ro = SwapEntry::DevicePrivate { pfn, write: false };
                            entry = Pte::swap(ro, false);
                            self.write_entry(st, si, entry);
                        }
                        self.write_entry(dt, di, entry);
                        return Ok(());
                    }
                    None => return Ok(()),
                }
            }
            let child_pte = if cow { pte.wrprotect() } else { pte };
            if pte.special() {
                self.write_entry(dt, di, child_pte.without(PTE_YOUNG));
                return Ok(());
            }
            let pfn = pte.pfn();
            if !self.folio_test_anon(pfn) {
                self.folio_get(pfn);
                self.page(pfn).mapcount_add(1);
                self.write_entry(dt, di, child_pte.without(PTE_YOUNG));
                return Ok(());
            }
            self.folio_get(pfn);
            if self
                .folio_try_dup_anon_rmap_pte(pfn, dst, pinned_check)
                .is_ok()
            {
                if cow && pte.write() {
                    self.write_entry(st, si, pte.wrprotect());
                }
                self.write_entry(dt, di, child_pte.without(PTE_YOUNG));
                return Ok(());
            }
            // "Page may be pinned, we have to copy."
            self.folio_put(pfn);
            drop(src_ptl);
            return self.copy_present_page(vma, dt, di, addr, pfn);
        }
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
