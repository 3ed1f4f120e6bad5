//! mremap(): resizing a mapping, and moving it or a part of it to another
//! address (mm/mremap.c, 6.12).
//!
//! The system call first checks what it is given — flags (MREMAP_FIXED
//! needs MREMAP_MAYMOVE), a page-aligned address, lengths rounded up to
//! whole pages (to whole huge pages for hugetlb, which may not grow), a
//! non-zero new length — and then, with `mmap_lock` held for write, does
//! one of three things:
//!
//! * **shrink**: the tail of the range is unmapped, as munmap would;
//! * **grow in place**: a range that ends at its VMA's end grows over free
//!   addresses (`vma_merge_extend()`);
//! * **move** (MREMAP_MAYMOVE, or MREMAP_FIXED to a given address, which is
//!   unmapped first): `move_vma()` gives the range a new VMA there — same
//!   flags, anon_vma and file, and the `vm_pgoff` of the range's first page,
//!   so every anonymous page keeps the index it records and the reverse map
//!   finds it at its new address — moves the page-table entries
//!   (`move_page_tables()`), and removes the old range.
//!
//! Moving entries keeps the pages where they are: nothing is copied,
//! mapcounts do not change (it is the same mm), and PG_anon_exclusive stays
//! on each page. A huge PMD whose whole 2 MiB moves to a 2 MiB-aligned
//! address moves as one entry (`move_pgt_entry(HPAGE_PMD)`); a THP only
//! partly moved, or moved to an unaligned address, has its PMD split first
//! (`split_huge_pmd()`, which gives each subpage the head's exclusivity), and
//! its subpages then live at two addresses of one process, which is why an
//! anonymous page is found by its index and not by where it was faulted in.
//! Moved entries become soft-dirty (`move_soft_dirty_pte()`).
//!
//! The move holds the rmap lock for write throughout (`take_rmap_locks()`):
//! a reverse-map walker (migration, a THP split) sees the VMAs and the
//! entries either all before or all after the move, and no migration entry
//! exists in the range meanwhile (every migration holds the lock for read
//! while its entries are installed).

use super::huge::{Mapping, HPAGE_PMD_SIZE};
use super::pte::{Pte, PTE_SOFT_DIRTY, PTE_SWP_SOFT_DIRTY};
use super::vma::UserRange;
use super::walk::pmd_addr_end;
use super::{Mm, MmMaps, Vma, TASK_SIZE, VM_HUGEPAGE, VM_HUGETLB};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, PAGE_SIZE};
use crate::sync::Arc;

/// `mremap()`'s flags (MREMAP_DONTUNMAP is not modelled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MremapFlags {
    /// MREMAP_MAYMOVE: a mapping that cannot grow in place may move.
    pub maymove: bool,
    /// MREMAP_FIXED: move to exactly this address, unmapping whatever is
    /// mapped there first (needs `maymove`).
    pub fixed: Option<u64>,
}

/// `PAGE_ALIGN()`, wrapping as C does: a length within a page of the top
/// becomes 0.
fn page_align(len: u64) -> u64 {
    len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

impl Machine {
    /// `mremap(addr, old_len, new_len, flags, new_addr)`: returns the
    /// mapping's address afterwards. Errors as the kernel's: -EINVAL for bad
    /// flags, an unaligned address, a new length of 0, overlapping old and
    /// new ranges, or a hugetlb mapping asked to grow or to start off a huge
    /// page; -EFAULT for an address no VMA covers or an old range across a
    /// VMA boundary; -ENOMEM when it cannot grow in place and may not (or
    /// cannot) move. An old length of 0, which the kernel takes as a request
    /// to duplicate a shared mapping, is not modelled (-EINVAL).
    pub fn mremap(
        &self,
        mm: &Arc<Mm>,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: MremapFlags,
    ) -> KResult<u64> {
        if flags.fixed.is_some() && !flags.maymove {
            return Err(Errno::EINVAL);
        }
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let (old_len, new_len) = (page_align(old_len), page_align(new_len));
        // "a zero new-len is nonsensical"
        if new_len == 0 {
            return Err(Errno::EINVAL);
        }
        let ret = {
            let mut maps = mm.mmap_lock.down_write();
            self.mremap_locked(mm, &mut maps, addr, old_len, new_len, flags)
        };
        // What the call unmapped may have been a shared anonymous
        // mapping's last.
        self.shmem_release_unmapped();
        ret
    }

    fn mremap_locked(
        &self,
        mm: &Mm,
        maps: &mut MmMaps,
        addr: u64,
        mut old_len: u64,
        mut new_len: u64,
        flags: MremapFlags,
    ) -> KResult<u64> {
        let vma = maps.find(addr).ok_or(Errno::EFAULT)?;
        if vma.flags & VM_HUGETLB != 0 {
            let align = |len: u64| len.checked_next_multiple_of(HPAGE_PMD_SIZE);
            old_len = align(old_len).ok_or(Errno::EINVAL)?;
            new_len = align(new_len).ok_or(Errno::EINVAL)?;
            if addr % HPAGE_PMD_SIZE != 0
                || flags.fixed.is_some_and(|a| a % HPAGE_PMD_SIZE != 0)
                // "Don't allow remap expansion, because the underlying
                // hugetlb reservation is not yet capable to handle split
                // reservation."
                || new_len > old_len
            {
                return Err(Errno::EINVAL);
            }
        }
        if let Some(new_addr) = flags.fixed {
            return self.mremap_to(mm, maps, addr, old_len, new_addr, new_len);
        }
        // "Always allow a shrinking remap: that just unmaps the
        // unnecessary pages."
        if old_len >= new_len {
            if old_len > new_len {
                self.do_munmap(mm, maps, addr.wrapping_add(new_len), old_len - new_len)?;
            }
            return Ok(addr);
        }
        let vma = self.vma_to_resize(maps, addr, old_len, new_len)?;
        // "old_len exactly to the end of the area.. can we just expand the
        // current mapping?"
        if old_len == vma.end - addr {
            let end = vma.end + (new_len - old_len);
            if end <= TASK_SIZE && maps.is_free(vma.end, end) {
                maps.extend(vma.start, end);
                return Ok(addr);
            }
        }
        if !flags.maymove {
            return Err(Errno::ENOMEM);
        }
        // get_unmapped_area(), PMD-aligned where mmap would align it.
        let align = if vma.flags & (VM_HUGEPAGE | VM_HUGETLB) != 0 && new_len >= HPAGE_PMD_SIZE {
            HPAGE_PMD_SIZE
        } else {
            PAGE_SIZE
        };
        let new_addr = self.get_unmapped_area(maps, new_len, align)?;
        self.move_vma(mm, maps, &vma, addr, old_len, new_len, new_addr)
    }

    /// `mremap_to()`: MREMAP_FIXED to `new_addr`.
    fn mremap_to(
        &self,
        mm: &Mm,
        maps: &mut MmMaps,
        addr: u64,
        mut old_len: u64,
        new_addr: u64,
        new_len: u64,
    ) -> KResult<u64> {
        if new_addr % PAGE_SIZE != 0 || new_len > TASK_SIZE || new_addr > TASK_SIZE - new_len {
            return Err(Errno::EINVAL);
        }
        // "Ensure the old/new locations do not overlap".
        if addr.saturating_add(old_len) > new_addr && new_addr + new_len > addr {
            return Err(Errno::EINVAL);
        }
        // "VMA is moved to dst address, and munmap dst first."
        self.do_munmap(mm, maps, new_addr, new_len)?;
        if old_len > new_len {
            self.do_munmap(mm, maps, addr + new_len, old_len - new_len)?;
            old_len = new_len;
        }
        let vma = self.vma_to_resize(maps, addr, old_len, new_len)?;
        self.move_vma(mm, maps, &vma, addr, old_len, new_len, new_addr)
    }

    /// `vma_to_resize()`: the VMA of `[addr, addr + old_len)`, which must
    /// lie inside it.
    fn vma_to_resize(&self, maps: &MmMaps, addr: u64, old_len: u64, new_len: u64) -> KResult<Vma> {
        let vma = maps.find(addr).ok_or(Errno::EFAULT)?.clone();
        if old_len == 0 {
            // A private mapping cannot be duplicated; a shared one could,
            // which the model does not do.
            return Err(Errno::EINVAL);
        }
        // "We can't remap across vm area boundaries"
        if old_len > vma.end - addr {
            return Err(Errno::EFAULT);
        }
        if new_len != old_len
            && vma
                .linear_page_index(addr)
                .checked_add(new_len / PAGE_SIZE)
                .is_none()
        {
            return Err(Errno::EINVAL);
        }
        Ok(vma)
    }

    /// `move_vma()`: `[old_addr, old_addr + old_len)` of `vma` moves to
    /// `new_addr` and becomes `new_len` long.
    #[allow(clippy::too_many_arguments)]
    fn move_vma(
        &self,
        mm: &Mm,
        maps: &mut MmMaps,
        vma: &Vma,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        new_addr: u64,
    ) -> KResult<u64> {
        let moved = Vma {
            start: new_addr,
            end: new_addr + new_len,
            pgoff: vma.linear_page_index(old_addr),
            ..vma.clone()
        };
        let old = Vma {
            start: old_addr,
            end: old_addr + old_len,
            pgoff: moved.pgoff,
            ..vma.clone()
        };
        let hugetlb = vma.flags & VM_HUGETLB != 0;
        // "Advise KSM to break any KSM pages in the area to be moved: it
        // would be confusing if they were to turn up at the new location"
        // (and their rmap items keep pointing where they are).
        if vma.flags & super::VM_MERGEABLE != 0 {
            self.unmerge_ksm_pages(mm, maps, old_addr, old_addr + old_len)?;
        }
        // take_rmap_locks().
        let _rmap = self.vm().rmap_lock.down_write();
        let range = UserRange {
            start: old.start,
            end: old.end,
        };
        let new_range = UserRange {
            start: moved.start,
            end: moved.end,
        };
        // copy_vma() first, so the range is mapped by one VMA or the other
        // throughout (a file stays mapped: the last unmap truncates a shared
        // anonymous mapping's file); then the old VMA is split around the
        // range (a huge PMD across either edge is split with it) and the
        // range removed — the entries move, so nothing is zapped.
        maps.insert_merged(moved);
        if let Err(e) = self.vma_remove_range(mm, maps, range) {
            let _ = self.vma_remove_range(mm, maps, new_range);
            return Err(e);
        }
        if let Err((done, e)) = self.move_page_tables(mm, old_addr, new_addr, old_len, hugetlb) {
            // "On error, move entries back from new area to old", and the
            // range is mapped where it was.
            let back = self.move_page_tables(mm, new_addr, old_addr, done, hugetlb);
            if back.is_err() {
                self.report_bug("BUG: mremap could not move entries back".into());
            }
            maps.insert_merged(old);
            let _ = self.vma_remove_range(mm, maps, new_range);
            return Err(e);
        }
        Ok(new_addr)
    }

    /// `move_page_tables()`: moves every entry of `[old, old + len)` to the
    /// same offset from `new` (same mm, `mmap_lock` held for write, the
    /// rmap lock for write). On failure returns how many bytes were moved.
    fn move_page_tables(
        &self,
        mm: &Mm,
        old: u64,
        new: u64,
        len: u64,
        hugetlb: bool,
    ) -> Result<(), (u64, Errno)> {
        let mut off = 0;
        while off < len {
            let (o, n) = (old + off, new + off);
            let whole_pmd =
                o % HPAGE_PMD_SIZE == 0 && n % HPAGE_PMD_SIZE == 0 && len - off >= HPAGE_PMD_SIZE;
            if whole_pmd {
                if let Mapping::Pmd(pt, pi, _) = self.lookup(mm, o) {
                    // move_huge_pmd() / move_hugetlb_page_tables().
                    let (npt, npi) = match self.walk_pmd(mm, n, true) {
                        Ok(Some(at)) => at,
                        Ok(None) => return Err((off, Errno::ENOMEM)),
                        Err(e) => return Err((off, e)),
                    };
                    self.move_entry(mm, (pt, pi), (npt, npi), !hugetlb);
                    off += HPAGE_PMD_SIZE;
                    continue;
                }
            }
            // An empty PMD: nothing to move up to its end.
            let pmd_empty = match self.walk_pmd(mm, o, false) {
                Ok(Some((pt, pi))) => self.read_entry(pt, pi).is_none(),
                _ => true,
            };
            if pmd_empty || hugetlb {
                off = (pmd_addr_end(o) - old).min(len);
                continue;
            }
            // The PTE level; a THP's PMD is split on the way (walk()).
            let (t, i) = match self.walk(mm, o, false) {
                Ok(Some(at)) => at,
                Ok(None) => {
                    off += PAGE_SIZE;
                    continue;
                }
                Err(e) => return Err((off, e)),
            };
            if !self.read_entry(t, i).is_none() {
                let (nt, ni) = match self.walk(mm, n, true) {
                    Ok(Some(at)) => at,
                    Ok(None) => return Err((off, Errno::ENOMEM)),
                    Err(e) => return Err((off, e)),
                };
                self.move_entry(mm, (t, i), (nt, ni), true);
            }
            off += PAGE_SIZE;
        }
        Ok(())
    }

    /// `move_ptes()` of one entry: cleared where it was first (GUP-fast,
    /// which re-checks the entry it read, backs off), then set at its new
    /// place, soft-dirty if `soft_dirty` (`move_soft_dirty_pte()`), under
    /// both page-table locks.
    fn move_entry(&self, mm: &Mm, from: (Pfn, u64), to: (Pfn, u64), soft_dirty: bool) {
        let _old_ptl = mm.ptl(from.0);
        let _new_ptl = (!mm.same_ptl(from.0, to.0)).then(|| mm.ptl(to.0));
        let e = self.read_entry(from.0, from.1);
        if e.is_none() {
            return;
        }
        if let Some(super::pte::SwapEntry::Migration { pfn, .. }) = e.swap_entry() {
            self.report_bug(format!(
                "BUG: mremap met a migration entry for pfn {pfn} under the rmap lock"
            ));
        }
        self.write_entry(from.0, from.1, Pte::NONE);
        let moved = match (soft_dirty, e.present()) {
            (false, _) => e,
            (true, true) => e.with(PTE_SOFT_DIRTY),
            (true, false) => e.with(PTE_SWP_SOFT_DIRTY),
        };
        self.write_entry(to.0, to.1, moved);
    }

    /// Whether `mm` maps `addr` with a VMA of `flags` (for callers that
    /// need to know a mapping is hugetlb or shared before they resize it).
    pub fn vma_flags_at(&self, mm: &Mm, addr: u64) -> Option<u32> {
        mm.mmap_lock.down_read().find(addr).map(|v| v.flags)
    }
}
