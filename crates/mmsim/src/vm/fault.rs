//! Page faults on anonymous memory (mm/memory.c; reference kernel-gup-cow.md
//! §3.1–3.3).
//!
//! * A read fault on an empty PTE maps the shared zero page read-only.
//! * A write fault on an empty PTE allocates a zeroed page, exclusive
//!   (PG_anon_exclusive) and writable.
//! * A write fault — or an unshare fault from GUP taking a read-only pin — on
//!   a read-only PTE goes to `do_wp_page()`, which reuses the page if it may
//!   and copies it otherwise. *When* it may reuse is the `cow_reuse` variant:
//!   PG_anon_exclusive or a sole reference (5.19 on), refcount == 1 (5.8 to
//!   5.18), or mapcount == 1 (up to 5.7).
//!
//! A fault travels through its handlers as a `VmFault` (the kernel's
//! `struct vm_fault`): the mm, the VMA, the address, the flags, and the
//! entry being handled with its value when the fault read it. Every handler
//! rechecks that entry under the page-table lock before changing it
//! (`pte_same`), and a fault that loses a race simply returns: the access
//! is retried, as the hardware would re-fault.

use super::pte::{Pte, SwapEntry, PTE_DIRTY, PTE_RW, PTE_SPECIAL, PTE_YOUNG};
use super::{huge, Mm, MmMaps, Vma, VM_WRITE};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, PG_ANON_EXCLUSIVE, PG_UPTODATE};
use crate::sync::{thread, Arc};
use crate::variant::CowReuse;
use crate::zone::alloc::Gfp;

/// FAULT_FLAG_WRITE / FAULT_FLAG_UNSHARE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultFlags {
    /// A write access.
    pub write: bool,
    /// GUP wants the page exclusive without writing (R/O pin).
    pub unshare: bool,
}

/// `struct vm_fault`: one fault, as its handlers pass it on. `table[idx]`
/// is the entry at the level the handler works on — the PTE (`vmf->pte`),
/// or the PMD (`vmf->pmd`) for the huge-PMD and hugetlb handlers — and
/// `orig` that entry as the fault read it (`orig_pte` / `orig_pmd`): every
/// handler rechecks it under the page-table lock ([`VmFault::same`], the
/// kernel's `pte_same()`) before it changes anything.
#[derive(Clone, Copy)]
pub(crate) struct VmFault<'a> {
    /// `vmf->vma->vm_mm`.
    pub(crate) mm: &'a Mm,
    /// `vmf->vma`.
    pub(crate) vma: &'a Vma,
    /// `vmf->address`, not rounded down.
    pub(crate) address: u64,
    /// `vmf->flags`, sanitised (`sanitize_fault_flags()`): never write and
    /// unshare together, unshare only in a COW mapping.
    pub(crate) flags: FaultFlags,
    /// The page-table page holding the entry.
    pub(crate) table: Pfn,
    /// The entry's index in `table`.
    pub(crate) idx: u64,
    /// `orig_pte` / `orig_pmd`.
    pub(crate) orig: Pte,
}

impl VmFault<'_> {
    /// FAULT_FLAG_WRITE.
    pub(crate) fn write(&self) -> bool {
        self.flags.write
    }

    /// FAULT_FLAG_UNSHARE.
    pub(crate) fn unshare(&self) -> bool {
        self.flags.unshare
    }

    /// The same fault at another entry (or the same entry read again).
    pub(crate) fn at(self, table: Pfn, idx: u64, orig: Pte) -> Self {
        VmFault {
            table,
            idx,
            orig,
            ..self
        }
    }

    /// `pte_same()` / `pmd_same()`: the entry is still what the fault read
    /// (the caller holds the page-table lock).
    pub(crate) fn same(&self, m: &Machine) -> bool {
        m.read_entry(self.table, self.idx) == self.orig
    }

    /// Replaces the entry (page-table lock held).
    pub(crate) fn set(&self, m: &Machine, entry: Pte) {
        m.write_entry(self.table, self.idx, entry);
    }
}

/// x86 `access_error()`: whether a user access of this kind may not fault
/// in at all — a store to a VMA without VM_WRITE, or any access to a
/// PROT_NONE one (`!vma_is_accessible()`).
pub(crate) fn access_error(vma: &Vma, write: bool) -> bool {
    if write {
        vma.flags & VM_WRITE == 0
    } else {
        !vma.is_accessible()
    }
}

impl Machine {
    /// `handle_mm_fault()` taking `mmap_lock` for read.
    pub fn handle_mm_fault(&self, mm: &Arc<Mm>, addr: u64, flags: FaultFlags) -> KResult<()> {
        let maps = mm.mmap_lock.down_read();
        self.handle_mm_fault_locked(mm, &maps, addr, flags)
    }

    /// `handle_mm_fault()` with `mmap_lock` held by the caller. -EFAULT is
    /// the model's SIGSEGV (no VMA, or a write to a VMA without VM_WRITE).
    pub fn handle_mm_fault_locked(
        &self,
        mm: &Mm,
        maps: &MmMaps,
        addr: u64,
        flags: FaultFlags,
    ) -> KResult<()> {
        let vma = maps.find(addr).ok_or(Errno::EFAULT)?;
        if flags.write && vma.flags & VM_WRITE == 0 {
            return Err(Errno::EFAULT);
        }
        // sanitize_fault_flags(): unsharing only applies to COW mappings,
        // and a write fault breaks COW anyway.
        let flags = FaultFlags {
            unshare: flags.unshare && !flags.write && vma.is_cow(),
            ..flags
        };
        // __handle_mm_fault(): the upper levels exist from here on, and
        // the fault starts at the PMD (vmf->pmd, vmf->orig_pmd).
        let (pt, pi) = self.walk_pmd(mm, addr, true)?.ok_or(Errno::ENOMEM)?;
        let fault = VmFault {
            mm,
            vma,
            address: addr,
            flags,
            table: pt,
            idx: pi,
            orig: self.read_entry(pt, pi),
        };
        if vma.flags & super::VM_HUGETLB != 0 {
            return self.hugetlb_fault(&fault);
        }
        if vma.file.is_none() {
            if let huge::HugeFault::Done = self.huge_pmd_fault(&fault)? {
                return Ok(());
            }
        }
        let (table, idx) = self.walk(mm, addr, true)?.ok_or(Errno::ENOMEM)?;
        loop {
            // handle_pte_fault()
            let vmf = fault.at(table, idx, self.read_entry(table, idx));
            let pte = vmf.orig;
            if pte.is_none() {
                if vma.file.is_some() {
                    return self.do_file_fault(&vmf);
                }
                return self.do_anonymous_page(&vmf);
            }
            if !pte.present() {
                match pte.swap_entry() {
                    // migration_entry_wait(): the migration finishes quickly.
                    Some(SwapEntry::Migration { .. }) => {
                        thread::yield_now();
                        continue;
                    }
                    Some(SwapEntry::Swap { .. }) => {
                        self.do_swap_page(&vmf)?;
                        continue;
                    }
                    // do_swap_page()'s is_device_private_entry() branch.
                    Some(SwapEntry::DevicePrivate { .. }) => {
                        self.do_device_private_fault(&vmf)?;
                        continue;
                    }
                    None => return Err(Errno::EFAULT),
                }
            }
            if (vmf.write() || vmf.unshare()) && !pte.write() {
                return self.do_wp_page(&vmf);
            }
            if vmf.write() {
                let _ptl = mm.ptl(table);
                if vmf.same(self) {
                    vmf.set(self, pte.with(PTE_DIRTY | PTE_YOUNG));
                }
            }
            return Ok(());
        }
    }

    /// The PMD level of `handle_mm_fault()`: a THP or the huge zero page for
    /// an empty PMD of a THP-enabled VMA (`create_huge_pmd`), and
    /// `wp_huge_pmd` for a write or unshare on a read-only huge PMD. On
    /// `Fallback` the PMD is empty or a PTE table, and the PTE level runs.
    fn huge_pmd_fault(&self, vmf: &VmFault<'_>) -> KResult<huge::HugeFault> {
        let pmd = vmf.orig;
        if pmd.is_none() && huge::thp_vma_suitable(vmf.vma, vmf.address) {
            return Ok(self.do_huge_pmd_anonymous_page(vmf));
        }
        if !pmd.huge() {
            return Ok(huge::HugeFault::Fallback);
        }
        if (vmf.write() || vmf.unshare()) && !pmd.write() {
            return self.do_huge_pmd_wp_page(vmf);
        }
        if vmf.write() {
            let _ptl = vmf.mm.ptl(vmf.table);
            if vmf.same(self) {
                vmf.set(self, pmd.with(PTE_DIRTY | PTE_YOUNG));
            }
        }
        Ok(huge::HugeFault::Done)
    }

    /// A new page for an anonymous mapping (`folio_prealloc()`): a copy of
    /// `src`, or zeros. Nothing is leaked on failure.
    pub(crate) fn alloc_anon_page(&self, src: Option<Pfn>) -> KResult<Pfn> {
        let new = self.alloc_pages(Gfp::MOVABLE, 0, 0)?;
        let filled = match src {
            Some(s) => self.physmem().copy_page(new, s),
            None => self.physmem().clear_page(new),
        };
        if let Err(e) = filled {
            self.put_pages(new, 0);
            return Err(e);
        }
        // __folio_mark_uptodate(): the contents are there before the PTE.
        self.page(new).set(PG_UPTODATE);
        Ok(new)
    }

    /// Maps a fresh page exclusively at `table[idx]` (`folio_add_new_anon_rmap`
    /// with RMAP_EXCLUSIVE + `set_pte_at`), writable and dirty if `writable`.
    /// The caller holds the PTL and has checked the entry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn map_new_anon_page(
        &self,
        vma: &Vma,
        table: Pfn,
        idx: u64,
        addr: u64,
        pfn: Pfn,
        writable: bool,
    ) {
        let anon_vma = vma
            .anon_vma
            .expect("private mappings get an anon_vma at mmap");
        self.folio_add_new_anon_rmap(pfn, anon_vma, vma.linear_page_index(addr), true);
        let bits = PTE_YOUNG | if writable { PTE_RW | PTE_DIRTY } else { 0 };
        self.write_entry(table, idx, vma.mk_pte(pfn, bits));
    }

    /// `do_anonymous_page()`: the shared zero page for a read, a new
    /// exclusive page for a write.
    fn do_anonymous_page(&self, vmf: &VmFault<'_>) -> KResult<()> {
        let vma = vmf.vma;
        if !vmf.write() {
            let _ptl = vmf.mm.ptl(vmf.table);
            if vmf.same(self) {
                vmf.set(self, vma.mk_pte(self.zero_pfn(), PTE_SPECIAL | PTE_YOUNG));
            }
            return Ok(());
        }
        let pfn = self.alloc_anon_page(None)?;
        let _ptl = vmf.mm.ptl(vmf.table);
        if !vmf.same(self) {
            drop(_ptl);
            self.put_pages(pfn, 0);
            return Ok(());
        }
        let writable = vma.flags & VM_WRITE != 0;
        self.map_new_anon_page(vma, vmf.table, vmf.idx, vmf.address, pfn, writable);
        Ok(())
    }

    /// Whether a write fault in `mm` may reuse the anonymous page instead of
    /// copying it, under the machine's `cow_reuse` variant.
    fn wp_can_reuse(&self, pfn: Pfn, mm: &Mm) -> bool {
        match self.variants().cow_reuse {
            // A KSM page is always copied. do_wp_page: "If we encounter a
            // page that is marked exclusive, we must reuse the page without
            // further checks"; otherwise wp_can_reuse_anon_folio(): a small
            // folio needs the sole reference, a large one all its
            // references to be mappings in this mm (7.2, CONFIG_MM_ID).
            _ if self.folio_test_ksm(pfn) => false,
            CowReuse::Exclusive => {
                self.page_anon_exclusive(pfn)
                    || if self.folio_test_large(pfn) {
                        self.wp_can_reuse_large_anon_folio(pfn, mm)
                    } else {
                        self.folio_ref_count(pfn) == 1
                    }
            }
            CowReuse::Refcount => self.folio_ref_count(pfn) == 1,
            // reuse_swap_page(): mappings plus swap PTEs still referring to
            // the page's slot.
            CowReuse::Mapcount => {
                let swapped = self.swap_cache_slot(pfn).map_or(0, |s| self.swap_count(s));
                self.folio_mapcount(pfn) + swapped as i32 == 1
            }
        }
    }

    /// `do_wp_page()`: reuse or copy. An unshare fault keeps the PTE
    /// read-only.
    fn do_wp_page(&self, vmf: &VmFault<'_>) -> KResult<()> {
        let (orig, unshare) = (vmf.orig, vmf.unshare());
        let old = {
            let _ptl = vmf.mm.ptl(vmf.table);
            if !vmf.same(self) {
                return Ok(());
            }
            if vmf.vma.flags & super::VM_SHARED != 0 {
                // wp_page_shared(): a shared mapping never copies.
                if !unshare {
                    vmf.set(self, orig.with(PTE_RW | PTE_DIRTY | PTE_YOUNG));
                }
                return Ok(());
            }
            if orig.special() {
                None
            } else {
                let pfn = orig.pfn();
                if self.folio_test_anon(pfn) && self.wp_can_reuse(pfn, vmf.mm) {
                    self.page(pfn).set(PG_ANON_EXCLUSIVE);
                    if !unshare {
                        // wp_page_reuse()
                        vmf.set(self, orig.with(PTE_RW | PTE_DIRTY | PTE_YOUNG));
                    }
                    return Ok(());
                }
                // folio_get(): keep the old page while we copy it.
                self.folio_get(pfn);
                Some(pfn)
            }
        };
        self.wp_page_copy(vmf, old)
    }

    /// `wp_page_copy()`: a new exclusive page with the contents of `old`
    /// (`vmf->page`; zeros for the zero page) replaces it in the PTE; the
    /// old page loses the mapping after the PTE switched.
    fn wp_page_copy(&self, vmf: &VmFault<'_>, old: Option<Pfn>) -> KResult<()> {
        let new = match self.alloc_anon_page(old) {
            Ok(p) => p,
            Err(e) => {
                if let Some(o) = old {
                    self.folio_put(o);
                }
                return Err(e);
            }
        };
        let ptl = vmf.mm.ptl(vmf.table);
        if !vmf.same(self) {
            drop(ptl);
            self.put_pages(new, 0);
            if let Some(o) = old {
                self.folio_put(o);
            }
            return Ok(());
        }
        let writable = !vmf.unshare() && vmf.vma.flags & VM_WRITE != 0;
        self.map_new_anon_page(vmf.vma, vmf.table, vmf.idx, vmf.address, new, writable);
        if let Some(o) = old {
            // After the PTE switch, so nobody "reuses" the old page while
            // our stale mapping could still read it.
            self.folio_remove_rmap_pte(o, vmf.mm);
            self.folio_put(o);
        }
        drop(ptl);
        if let Some(o) = old {
            self.folio_put(o);
        }
        Ok(())
    }
}
