//! VMAs, the user ranges that system calls apply to them, and the one way a
//! VMA is split (mm/vma.c, and the range checks at the top of mm/mmap.c's
//! munmap, mm/mprotect.c's `do_mprotect_pkey()` and mm/madvise.c's
//! `do_madvise()`).
//!
//! # A range from user space
//!
//! munmap, mprotect and every madvise advice take `(start, len)` from user
//! space. [`UserRange::new`] validates it the way each system call does,
//! before anything is looked at or changed: `start` must be page-aligned,
//! `len` is rounded up to whole pages (`PAGE_ALIGN`), and the calls differ
//! only in what an empty or overflowing range means:
//!
//! | | unaligned start | len 0 | overflow | beyond TASK_SIZE |
//! |---|---|---|---|---|
//! | munmap | EINVAL | EINVAL | EINVAL | EINVAL |
//! | mprotect | EINVAL | success, nothing done | ENOMEM | ENOMEM (no VMA) |
//! | madvise | EINVAL | success, nothing done | EINVAL | ENOMEM (no VMA) |
//!
//! Every VMA boundary is therefore a page boundary.
//!
//! # Holes
//!
//! Parts of a range that no VMA covers are treated per system call
//! ([`Holes`]): munmap ignores them; madvise applies the advice to every
//! mapped part and then fails with ENOMEM (`madvise_walk_vmas()`); mprotect
//! needs its start mapped and stops with ENOMEM at the first hole, keeping
//! what it changed before it.
//!
//! # Splitting
//!
//! `Machine::split_vma` is the only way to split a VMA (`__split_vma()`):
//! it refuses to split a hugetlb VMA off a huge-page boundary (the
//! `may_split` hook, -EINVAL) and splits a huge PMD that straddles the new
//! boundary first (`vma_adjust_trans_huge()`), so one PMD is never mapped by
//! two VMAs. [`MmMaps`]'s own split is private to this file, so no entry
//! point can forget either step. A change of VMA flags over a range
//! (`Machine::vma_modify_flags`, the kernel's `mprotect_fixup()` and
//! `madvise_update_vma()`) splits only VMAs whose flags really change, and
//! merges neighbours again afterwards (`vma_modify_flags()` +
//! `vma_merge()`).

use super::huge::HPAGE_PMD_SIZE;
use super::pte::Pte;
use super::{Mm, TASK_SIZE, VM_HUGETLB, VM_MAYWRITE, VM_READ, VM_SHARED, VM_WRITE};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, PAGE_SIZE};
use crate::sync::{Arc, Mutex};
use std::collections::BTreeMap;

/// One `vm_area_struct`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// VM_* flags.
    pub flags: u32,
    /// The anon_vma its anonymous pages point at (private mappings).
    pub anon_vma: Option<u32>,
    /// The file it maps (memfd/tmpfs), if any.
    pub file: Option<u32>,
    /// `vm_pgoff`: the file page mapped at `start`.
    pub pgoff: u64,
    /// A private hugetlb VMA's `vm_private_data` in the process that
    /// mmap()ed it (HPAGE_RESV_OWNER): the id of its reservation map
    /// ([`super::hugetlb_resv`]). None everywhere else, and in a fork
    /// child (`reset_vma_resv_huge_pages()`).
    pub resv: Option<u32>,
}

impl Vma {
    /// `is_cow_mapping()`: private and may be written.
    pub fn is_cow(&self) -> bool {
        self.flags & (VM_SHARED | VM_MAYWRITE) == VM_MAYWRITE
    }

    /// Whether `addr` lies in it.
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// `vma_is_accessible()`: not PROT_NONE.
    pub fn is_accessible(&self) -> bool {
        self.flags & (VM_READ | VM_WRITE) != 0
    }

    /// `linear_page_index()`: the page index of `addr` in the VMA's
    /// `vm_pgoff` space (the file page for a file mapping; for anonymous
    /// memory the index its pages record, which mremap keeps when it moves
    /// them).
    pub fn linear_page_index(&self, addr: u64) -> u64 {
        self.pgoff + (addr - self.start) / PAGE_SIZE
    }

    /// `vma_address()`: where page index `index` of the VMA's `vm_pgoff`
    /// space is mapped, if the VMA covers it.
    pub fn address_of(&self, index: u64) -> Option<u64> {
        let pages = (self.end - self.start) / PAGE_SIZE;
        let off = index.checked_sub(self.pgoff).filter(|&o| o < pages)?;
        Some(self.start + off * PAGE_SIZE)
    }

    /// `mk_pte(page, vma->vm_page_prot)` with `bits`: a PROT_NONE entry in
    /// a VMA without access (`pte_modify(.., PAGE_NONE)`), an ordinary one
    /// otherwise.
    pub fn mk_pte(&self, pfn: Pfn, bits: u64) -> Pte {
        let pte = Pte::new(pfn, bits);
        if self.is_accessible() {
            pte
        } else {
            pte.mkprotnone()
        }
    }
}

/// The VMA tree (under `mmap_lock`).
///
/// Every change is published at once to the copy the reverse map reads
/// ([`MmMaps::rmap_index`]): the kernel's anon_vma chains and i_mmap trees,
/// which rmap walkers read under their own locks, never under `mmap_lock`.
#[derive(Default, Debug)]
pub struct MmMaps {
    /// VMAs by start address; never overlapping.
    vmas: BTreeMap<u64, Vma>,
    /// The published copy: a leaf lock, taken under `mmap_lock` (write) to
    /// publish and under the rmap lock to read
    /// ([lock order](crate::machine#lock-order)).
    rmap: Arc<Mutex<Vec<Vma>>>,
}

impl MmMaps {
    /// `find_vma()` for an address inside a VMA.
    pub fn find(&self, addr: u64) -> Option<&Vma> {
        self.vmas
            .range(..=addr)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.contains(addr))
    }

    /// Every VMA, in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.vmas.values()
    }

    /// Whether there is no VMA.
    pub fn is_empty(&self) -> bool {
        self.vmas.is_empty()
    }

    /// The copy of the tree the reverse map reads, shared with the mm
    /// ([`super::Mm`]'s `rmap_vmas`).
    pub(crate) fn rmap_index(&self) -> Arc<Mutex<Vec<Vma>>> {
        self.rmap.clone()
    }

    /// Publishes the tree to the reverse map's copy.
    fn publish(&self) {
        *self.rmap.lock() = self.vmas.values().cloned().collect();
    }

    /// Inserts a new VMA (mmap, fork's copy) where nothing is mapped.
    pub(crate) fn insert(&mut self, vma: Vma) {
        debug_assert!(
            self.vmas
                .range(..vma.end)
                .next_back()
                .is_none_or(|(_, v)| v.end <= vma.start),
            "VMA {vma:?} overlaps another"
        );
        self.vmas.insert(vma.start, vma);
        self.publish();
    }

    /// Inserts a VMA where nothing is mapped and merges it with its
    /// neighbours where they are one mapping again (`copy_vma()`'s
    /// `vma_merge_new_range()`).
    pub(crate) fn insert_merged(&mut self, vma: Vma) {
        let (start, end) = (vma.start, vma.end);
        self.insert(vma);
        self.merge(start, end);
    }

    /// Whether no VMA overlaps `[start, end)`.
    pub(crate) fn is_free(&self, start: u64, end: u64) -> bool {
        start < end
            && self
                .vmas
                .range(..end)
                .next_back()
                .is_none_or(|(_, v)| v.end <= start)
    }

    /// Moves the end of the VMA starting at `start` to `end`, over free
    /// addresses, and merges it with its next neighbour if they are one
    /// mapping again (`vma_merge_extend()`).
    pub(crate) fn extend(&mut self, start: u64, end: u64) {
        if let Some(v) = self.vmas.get_mut(&start) {
            v.end = end;
        }
        self.merge(start, end);
    }

    /// Clears `flags` on every VMA in place, without splitting or merging
    /// (`clear_refs_write()` clearing VM_SOFTDIRTY).
    pub(crate) fn clear_flags(&mut self, flags: u32) {
        for v in self.vmas.values_mut() {
            v.flags &= !flags;
        }
        self.publish();
    }

    /// Removes every VMA (exit).
    pub(crate) fn clear(&mut self) {
        self.vmas.clear();
        self.publish();
    }

    /// The parts of `r` that VMAs cover, each inside one VMA, in address
    /// order, and whether `r` has an unmapped hole as `holes` counts one.
    /// With [`Holes::Stop`] the parts end at the first hole.
    fn covered(&self, r: UserRange, holes: Holes) -> (Vec<(u64, u64)>, bool) {
        let first = self
            .vmas
            .range(..r.start)
            .next_back()
            .map_or(r.start, |(s, _)| *s);
        let mut parts = Vec::new();
        let mut at = r.start;
        let mut gap = false;
        for v in self.vmas.range(first..r.end).map(|(_, v)| v) {
            if v.end <= at {
                continue;
            }
            if v.start > at {
                gap = true;
                if holes == Holes::Stop {
                    return (parts, gap);
                }
                at = v.start;
            }
            let end = v.end.min(r.end);
            parts.push((at, end));
            at = end;
        }
        (parts, gap || at < r.end)
    }

    /// Splits the VMA containing `addr` there. Private: only
    /// [`Machine::split_vma`] may call it, after splitting huge PMDs.
    fn split_at(&mut self, addr: u64) {
        let Some(v) = self.find(addr).cloned() else {
            return;
        };
        if v.start == addr {
            return;
        }
        let mut lower = v.clone();
        lower.end = addr;
        let mut upper = v;
        upper.pgoff += (addr - upper.start) / PAGE_SIZE;
        upper.start = addr;
        self.vmas.insert(lower.start, lower);
        self.vmas.insert(upper.start, upper);
        self.publish();
    }

    /// `vma_merge()`: joins the VMAs touching `[start, end)` with their
    /// neighbours where they are one mapping again — adjacent, same flags,
    /// anon_vma and file, and contiguous file offsets (mprotect and madvise
    /// put a range back the way it was).
    fn merge(&mut self, start: u64, end: u64) {
        let first = self
            .vmas
            .range(..start)
            .next_back()
            .map_or(start, |(s, _)| *s);
        let keys: Vec<u64> = self.vmas.range(first..=end).map(|(s, _)| *s).collect();
        let mut cur: Option<u64> = None;
        for k in keys {
            let Some(c) = cur else {
                cur = Some(k);
                continue;
            };
            let (prev, next) = (&self.vmas[&c], &self.vmas[&k]);
            let mergeable = prev.end == next.start
                && prev.flags == next.flags
                && prev.anon_vma == next.anon_vma
                && prev.file == next.file
                && prev.resv == next.resv
                && prev.pgoff + (prev.end - prev.start) / PAGE_SIZE == next.pgoff;
            if mergeable {
                let next_end = next.end;
                self.vmas.remove(&k);
                self.vmas.get_mut(&c).expect("present").end = next_end;
            } else {
                cur = Some(k);
            }
        }
        self.publish();
    }
}

/// Which system call's range rules apply (the table in the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeCall {
    /// `do_vmi_munmap()`.
    Munmap,
    /// `do_mprotect_pkey()`.
    Mprotect,
    /// `do_madvise()` (every advice).
    Madvise,
}

/// How a system call treats parts of its range that no VMA covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holes {
    /// madvise: apply to every mapped part, then fail with ENOMEM.
    Skip,
    /// mprotect: the start must be mapped; stop at the first hole with
    /// ENOMEM, keeping what was changed before it.
    Stop,
}

/// A validated user range: page-aligned, non-empty, inside the address
/// space's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserRange {
    /// First address.
    pub start: u64,
    /// One past the last address (a page boundary).
    pub end: u64,
}

impl UserRange {
    /// Validates `(start, len)` as `call` does, before it touches anything.
    /// `Ok(None)`: the call succeeds without doing anything (len 0 for
    /// mprotect and madvise).
    ///
    /// ```
    /// use mmsim::errno::Errno;
    /// use mmsim::vm::vma::{RangeCall, UserRange};
    ///
    /// let r = UserRange::new(RangeCall::Madvise, 0x1000, 1).unwrap().unwrap();
    /// assert_eq!((r.start, r.end), (0x1000, 0x2000)); // PAGE_ALIGN(len)
    /// assert_eq!(UserRange::new(RangeCall::Madvise, 0x1001, 1), Err(Errno::EINVAL));
    /// assert_eq!(UserRange::new(RangeCall::Madvise, 0x1000, 0), Ok(None));
    /// assert_eq!(UserRange::new(RangeCall::Munmap, 0x1000, 0), Err(Errno::EINVAL));
    /// assert_eq!(UserRange::new(RangeCall::Mprotect, 0x1000, u64::MAX), Err(Errno::ENOMEM));
    /// ```
    pub fn new(call: RangeCall, start: u64, len: u64) -> KResult<Option<UserRange>> {
        if start % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        // PAGE_ALIGN(len), wrapping to 0 for a "small negative" len as C does.
        let aligned = len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        let end = start.wrapping_add(aligned);
        let r = UserRange { start, end };
        match call {
            RangeCall::Munmap => {
                if start > TASK_SIZE || len > TASK_SIZE - start || end == start {
                    return Err(Errno::EINVAL);
                }
                Ok(Some(r))
            }
            RangeCall::Mprotect => {
                if len == 0 {
                    return Ok(None);
                }
                if end <= start {
                    return Err(Errno::ENOMEM);
                }
                Ok(Some(r))
            }
            RangeCall::Madvise => {
                // "Check to see whether len was rounded up from small -ve
                // to zero", then overflow.
                if (len != 0 && aligned == 0) || end < start {
                    return Err(Errno::EINVAL);
                }
                Ok((end != start).then_some(r))
            }
        }
    }
}

impl Machine {
    /// The parts of `r` covered by VMAs (each inside one VMA), and the
    /// error the call returns at the end for unmapped holes (ENOMEM), as
    /// `holes` says.
    pub(crate) fn vma_parts(
        maps: &MmMaps,
        r: UserRange,
        holes: Holes,
    ) -> (Vec<(u64, u64)>, KResult<()>) {
        let (parts, gap) = maps.covered(r, holes);
        (parts, if gap { Err(Errno::ENOMEM) } else { Ok(()) })
    }

    /// `__split_vma()`: makes `addr` a VMA boundary. A huge PMD across
    /// `addr` is split first (`vma_adjust_trans_huge()`); a hugetlb VMA is
    /// never split off a huge-page boundary (-EINVAL, its `may_split`).
    pub(crate) fn split_vma(&self, mm: &Mm, maps: &mut MmMaps, addr: u64) -> KResult<()> {
        let Some(v) = maps.find(addr) else {
            return Ok(());
        };
        if v.start == addr {
            return Ok(());
        }
        if v.flags & VM_HUGETLB != 0 && addr % HPAGE_PMD_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        self.split_huge_pmd_address(mm, addr)?;
        maps.split_at(addr);
        Ok(())
    }

    /// Removes the VMAs of `r` (munmap), splitting those across its edges;
    /// returns the VMAs removed (the parts that were mapped). Holes are
    /// fine.
    pub(crate) fn vma_remove_range(
        &self,
        mm: &Mm,
        maps: &mut MmMaps,
        r: UserRange,
    ) -> KResult<Vec<Vma>> {
        // Both edges are checked before either is split, so a refusal
        // leaves nothing half-done.
        for edge in [r.start, r.end] {
            if maps.find(edge).is_some_and(|v| v.flags & VM_HUGETLB != 0)
                && edge % HPAGE_PMD_SIZE != 0
            {
                return Err(Errno::EINVAL);
            }
        }
        self.split_vma(mm, maps, r.start)?;
        self.split_vma(mm, maps, r.end)?;
        let (parts, _) = maps.covered(r, Holes::Skip);
        let removed = parts
            .iter()
            .filter_map(|&(s, _)| maps.vmas.remove(&s))
            .collect();
        maps.publish();
        Ok(removed)
    }

    /// `mprotect_fixup()` / `madvise_update_vma()` over `parts` (each
    /// inside one VMA, from [`Machine::vma_parts`]): a VMA whose flags
    /// `new_flags` changes is split at the part's edges and takes the new
    /// flags; one whose flags stay is left alone (no split). Neighbours
    /// merge afterwards. Returns the parts whose flags changed, each with
    /// the flags it had, and the first error, which stops the walk (what was
    /// done before it stays).
    pub(crate) fn vma_modify_flags(
        &self,
        mm: &Mm,
        maps: &mut MmMaps,
        parts: &[(u64, u64)],
        mut new_flags: impl FnMut(&Vma) -> KResult<u32>,
    ) -> (Vec<(u64, u64, u32)>, KResult<()>) {
        let mut changed = Vec::new();
        let mut ret = Ok(());
        for &(s, e) in parts {
            let Some(v) = maps.find(s) else { continue };
            let flags = match new_flags(v) {
                Ok(f) => f,
                Err(err) => {
                    ret = Err(err);
                    break;
                }
            };
            let old = v.flags;
            if flags == old {
                continue;
            }
            if let Err(err) = self
                .split_vma(mm, maps, s)
                .and_then(|()| self.split_vma(mm, maps, e))
            {
                ret = Err(err);
                break;
            }
            maps.vmas.get_mut(&s).expect("split at s").flags = flags;
            maps.publish();
            changed.push((s, e, old));
        }
        if let (Some(&(s, _)), Some(&(_, e))) = (parts.first(), parts.last()) {
            maps.merge(s, e);
        }
        (changed, ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(start: u64, end: u64) -> Vma {
        Vma {
            start,
            end,
            flags: VM_READ | VM_WRITE | VM_MAYWRITE,
            anon_vma: Some(0),
            file: None,
            pgoff: 0,
            resv: None,
        }
    }

    // do_vmi_munmap(), do_mprotect_pkey(), do_madvise(): the range checks.
    #[test]
    fn user_range_checks_follow_each_syscall() {
        use RangeCall::*;
        let p = PAGE_SIZE;
        for call in [Munmap, Mprotect, Madvise] {
            assert_eq!(
                UserRange::new(call, p + 1, p),
                Err(Errno::EINVAL),
                "{call:?}"
            );
            let r = UserRange::new(call, p, 1).unwrap().unwrap();
            assert_eq!((r.start, r.end), (p, 2 * p), "{call:?}");
        }
        assert_eq!(UserRange::new(Munmap, p, 0), Err(Errno::EINVAL));
        assert_eq!(UserRange::new(Mprotect, p, 0), Ok(None));
        assert_eq!(UserRange::new(Madvise, p, 0), Ok(None));
        // PAGE_ALIGN wraps a "small negative" len to 0.
        assert_eq!(UserRange::new(Munmap, p, u64::MAX), Err(Errno::EINVAL));
        assert_eq!(UserRange::new(Mprotect, p, u64::MAX), Err(Errno::ENOMEM));
        assert_eq!(UserRange::new(Madvise, p, u64::MAX), Err(Errno::EINVAL));
        // Overflow past the end of the address space.
        let top = !(p - 1);
        assert_eq!(UserRange::new(Mprotect, top, 2 * p), Err(Errno::ENOMEM));
        assert_eq!(UserRange::new(Madvise, top, 2 * p), Err(Errno::EINVAL));
        assert_eq!(UserRange::new(Munmap, TASK_SIZE, p), Err(Errno::EINVAL));
    }

    // madvise_walk_vmas() skips holes; do_mprotect_pkey() stops at one.
    #[test]
    fn holes_are_skipped_or_stop_the_walk() {
        let p = PAGE_SIZE;
        let mut maps = MmMaps::default();
        maps.insert(anon(0, 2 * p));
        maps.insert(anon(3 * p, 4 * p));
        let r = UserRange {
            start: p,
            end: 4 * p,
        };
        assert_eq!(
            maps.covered(r, Holes::Skip),
            (vec![(p, 2 * p), (3 * p, 4 * p)], true)
        );
        assert_eq!(maps.covered(r, Holes::Stop), (vec![(p, 2 * p)], true));
        let inside = UserRange { start: 0, end: p };
        assert_eq!(maps.covered(inside, Holes::Stop), (vec![(0, p)], false));
        let hole_first = UserRange {
            start: 2 * p,
            end: 4 * p,
        };
        assert_eq!(maps.covered(hole_first, Holes::Stop), (vec![], true));
        assert_eq!(
            maps.covered(hole_first, Holes::Skip),
            (vec![(3 * p, 4 * p)], true)
        );
    }
}
