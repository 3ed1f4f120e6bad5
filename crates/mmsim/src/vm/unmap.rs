//! Taking mappings down and changing them: `zap_pte_range()`, munmap,
//! exit, mprotect (with `can_change_pte_writable()`) and the madvise advice
//! that only touch VMAs and PTEs.

use super::huge::{haddr, Mapping, HPAGE_PMD_SIZE};
use super::pte::{MigrationKind, Pte, SwapEntry, PTE_RW};
use super::{Mm, MmMaps, VM_DONTCOPY, VM_HUGETLB, VM_READ, VM_SOFTDIRTY, VM_WRITE};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::PAGE_SIZE;
use crate::sync::thread;

impl Machine {
    /// `zap_pte_range()` over `[start, end)`: every mapping goes, each
    /// dropping its mapcount and then its reference.
    pub fn zap_range(&self, mm: &Mm, start: u64, end: u64) {
        let mut addr = start;
        while addr < end {
            // zap_pmd_range(): a huge PMD goes whole if the range covers it,
            // else it is split and its PTEs go one by one.
            // Only where a PMD range begins: inside one, an earlier step
            // already zapped or split it.
            let pmd_start = addr == start || addr % HPAGE_PMD_SIZE == 0;
            if let (true, Mapping::Pmd(pt, pi, _)) = (pmd_start, self.lookup(mm, addr)) {
                let h = haddr(addr);
                if h >= start && h + HPAGE_PMD_SIZE <= end {
                    // A split racing with us (an rmap walker) leaves PTEs
                    // for the loop below.
                    if self.zap_huge_pmd(mm, pt, pi) {
                        addr = h + HPAGE_PMD_SIZE;
                        continue;
                    }
                }
            }
            let Ok(Some((t, i))) = self.walk(mm, addr, false) else {
                addr += PAGE_SIZE;
                continue;
            };
            loop {
                let ptl = mm.ptl(t);
                let pte = self.read_entry(t, i);
                if !pte.present() {
                    if let Some(SwapEntry::Migration { .. }) = pte.swap_entry() {
                        // The migration restores the PTE shortly; zap that.
                        drop(ptl);
                        thread::yield_now();
                        continue;
                    }
                    self.write_entry(t, i, Pte::NONE);
                    drop(ptl);
                    self.swap_entry_free(pte);
                    break;
                }
                self.write_entry(t, i, Pte::NONE);
                if !pte.special() {
                    let pfn = pte.pfn();
                    self.folio_remove_rmap_pte(pfn);
                    self.folio_put(pfn);
                }
                break;
            }
            addr += PAGE_SIZE;
        }
    }

    /// `munmap()`: splits VMAs at the edges, removes those inside and zaps
    /// their PTEs.
    pub fn munmap(&self, mm: &Mm, start: u64, len: u64) -> KResult<()> {
        let end = Self::page_range_end(start, len)?;
        let mut maps = mm.mmap_lock.down_write();
        self.split_vmas_around(mm, &mut maps, start, end)?;
        let inside: Vec<u64> = maps.vmas.range(start..end).map(|(s, _)| *s).collect();
        for s in inside {
            maps.vmas.remove(&s);
        }
        self.zap_range(mm, start, end);
        Ok(())
    }

    /// `exit_mmap()`: every VMA goes, then the page tables.
    pub fn exit_mmap(&self, mm: &Mm) {
        let mut maps = mm.mmap_lock.down_write();
        let ranges: Vec<(u64, u64)> = maps.vmas.values().map(|v| (v.start, v.end)).collect();
        for (s, e) in ranges {
            self.zap_range(mm, s, e);
        }
        maps.vmas.clear();
        // unlink_anon_vmas() before free_pgtables(): no reverse-map walker
        // (split, migration) still holds one of these tables.
        let _rmap = self.vm().rmap_lock.down_write();
        self.anon_vma_unlink_mm(mm);
        self.free_pgtables(mm, true);
    }

    /// `mprotect()` to `prot` (VM_READ/VM_WRITE bits). Write-protects PTEs
    /// when write permission goes; when it comes, upgrades a PTE to writable
    /// without a fault only if `can_change_pte_writable()` — an anonymous
    /// page must be PG_anon_exclusive (so never under the historical
    /// `cow_reuse` variants, which predate the optimisation).
    pub fn mprotect(&self, mm: &Mm, start: u64, len: u64, prot: u32) -> KResult<()> {
        let end = Self::page_range_end(start, len)?;
        let mut maps = mm.mmap_lock.down_write();
        Self::check_covered(&maps, start, end)?;
        self.split_vmas_around(mm, &mut maps, start, end)?;
        for (_, v) in maps.vmas.range_mut(start..end) {
            v.flags = (v.flags & !(VM_READ | VM_WRITE)) | (prot & (VM_READ | VM_WRITE));
        }
        maps.merge(start, end);
        let writable = prot & VM_WRITE != 0;
        // The write-fault-avoiding upgrade came with PG_anon_exclusive.
        let upgrade = self.variants().cow_reuse == crate::variant::CowReuse::Exclusive;
        let mut addr = start;
        while addr < end {
            // change_pmd_range(): a huge PMD wholly inside changes whole
            // (hugetlb never gets the writable upgrade in a private
            // mapping); one straddling the range was split with the VMA.
            let pmd_start = addr == start || addr % HPAGE_PMD_SIZE == 0;
            if let (true, Mapping::Pmd(pt, pi, _)) = (pmd_start, self.lookup(mm, addr)) {
                let hugetlb = maps.find(addr).is_some_and(|v| v.flags & VM_HUGETLB != 0);
                let sd = soft_dirty_everywhere(&maps, addr);
                if self.change_huge_pmd(mm, pt, pi, writable, sd, upgrade && !hugetlb) {
                    addr = haddr(addr) + HPAGE_PMD_SIZE;
                    continue;
                }
            }
            if let Ok(Some((t, i))) = self.walk(mm, addr, false) {
                let _ptl = mm.ptl(t);
                let pte = self.read_entry(t, i);
                if pte.present() {
                    let new = if !writable {
                        pte.wrprotect()
                    } else if upgrade
                        && !pte.special()
                        && self.page_anon_exclusive(pte.pfn())
                        && (soft_dirty_everywhere(&maps, addr) || pte.soft_dirty())
                    {
                        pte.with(PTE_RW)
                    } else {
                        pte
                    };
                    self.write_entry(t, i, new);
                } else if let (false, Some(SwapEntry::Migration { pfn, kind })) =
                    (writable, pte.swap_entry())
                {
                    // change_pte_range(): a writable migration entry becomes
                    // a readable(-exclusive) one.
                    if kind == MigrationKind::Write {
                        let ro = SwapEntry::Migration {
                            pfn,
                            kind: MigrationKind::ReadExclusive,
                        };
                        self.write_entry(t, i, Pte::swap(ro, false));
                    }
                }
            }
            addr += PAGE_SIZE;
        }
        Ok(())
    }

    /// `clear_refs` with CLEAR_REFS_SOFT_DIRTY (`echo 4 >
    /// /proc/PID/clear_refs`): every VMA starts tracking soft-dirty per PTE
    /// and every PTE is write-protected and made clean, so the next write
    /// faults — and mprotect may no longer upgrade such a PTE to writable.
    pub fn clear_refs_soft_dirty(&self, mm: &Mm) {
        let mut maps = mm.mmap_lock.down_write();
        let ranges: Vec<(u64, u64)> = maps
            .vmas
            .values_mut()
            .map(|v| {
                v.flags &= !VM_SOFTDIRTY;
                (v.start, v.end)
            })
            .collect();
        for (s, e) in ranges {
            let mut addr = s;
            while addr < e {
                // clear_soft_dirty_pmd() for a huge PMD.
                let pmd_start = addr == s || addr % HPAGE_PMD_SIZE == 0;
                if let (true, Mapping::Pmd(pt, pi, _)) = (pmd_start, self.lookup(mm, addr)) {
                    let ptl = mm.ptl(pt);
                    let pmd = self.read_entry(pt, pi);
                    if pmd.huge() {
                        let clean = pmd.wrprotect().without(super::pte::PTE_SOFT_DIRTY);
                        self.write_entry(pt, pi, clean);
                        addr = haddr(addr) + HPAGE_PMD_SIZE;
                        continue;
                    }
                    drop(ptl);
                }
                if let Ok(Some((t, i))) = self.walk(mm, addr, false) {
                    let _ptl = mm.ptl(t);
                    let pte = self.read_entry(t, i);
                    if pte.present() {
                        self.write_entry(t, i, pte.wrprotect().without(super::pte::PTE_SOFT_DIRTY));
                    }
                }
                addr += PAGE_SIZE;
            }
        }
    }

    /// `madvise(MADV_DONTNEED)`: zaps the range; the VMAs stay.
    pub fn madvise_dontneed(&self, mm: &Mm, start: u64, len: u64) -> KResult<()> {
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        let maps = mm.mmap_lock.down_read();
        Self::check_covered(&maps, start, end)?;
        self.zap_range(mm, start, end);
        Ok(())
    }

    /// `madvise(MADV_DONTFORK / MADV_DOFORK)`.
    pub fn madvise_dontfork(&self, mm: &Mm, start: u64, len: u64, dontfork: bool) -> KResult<()> {
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        let mut maps = mm.mmap_lock.down_write();
        Self::check_covered(&maps, start, end)?;
        self.split_vmas_around(mm, &mut maps, start, end)?;
        for (_, v) in maps.vmas.range_mut(start..end) {
            if dontfork {
                v.flags |= VM_DONTCOPY;
            } else {
                v.flags &= !VM_DONTCOPY;
            }
        }
        maps.merge(start, end);
        Ok(())
    }

    /// The end of `[start, start + len)` rounded up to whole pages, as
    /// munmap/mprotect validate it: -EINVAL for an unaligned start, an empty
    /// or overflowing range.
    fn page_range_end(start: u64, len: u64) -> KResult<u64> {
        if start % PAGE_SIZE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        len.checked_next_multiple_of(PAGE_SIZE)
            .and_then(|l| start.checked_add(l))
            .ok_or(Errno::EINVAL)
    }

    /// Makes `start` and `end` VMA boundaries (`split_vma()` at both ends of
    /// a range an operation changes), splitting huge PMDs across them;
    /// -EINVAL before anything changes if a hugetlb VMA would be split off a
    /// 2 MiB boundary (its `may_split` refuses).
    fn split_vmas_around(&self, mm: &Mm, maps: &mut MmMaps, start: u64, end: u64) -> KResult<()> {
        for edge in [start, end] {
            if maps.find(edge).is_some_and(|v| v.flags & VM_HUGETLB != 0)
                && edge % HPAGE_PMD_SIZE != 0
            {
                return Err(Errno::EINVAL);
            }
        }
        self.split_vma_at(mm, maps, start)?;
        self.split_vma_at(mm, maps, end)
    }

    /// `madvise(MADV_HUGEPAGE / MADV_NOHUGEPAGE)` (`hugepage_madvise`).
    pub fn madvise_hugepage(&self, mm: &Mm, start: u64, len: u64, huge: bool) -> KResult<()> {
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        let mut maps = mm.mmap_lock.down_write();
        Self::check_covered(&maps, start, end)?;
        self.split_vmas_around(mm, &mut maps, start, end)?;
        for (_, v) in maps.vmas.range_mut(start..end) {
            if huge {
                v.flags = (v.flags | super::VM_HUGEPAGE) & !super::VM_NOHUGEPAGE;
            } else {
                v.flags = (v.flags | super::VM_NOHUGEPAGE) & !super::VM_HUGEPAGE;
            }
        }
        maps.merge(start, end);
        Ok(())
    }

    /// -ENOMEM unless `[start, end)` is fully covered by VMAs (as mprotect
    /// and madvise report unmapped holes).
    fn check_covered(maps: &MmMaps, start: u64, end: u64) -> KResult<()> {
        let mut addr = start;
        while addr < end {
            let v = maps.find(addr).ok_or(Errno::ENOMEM)?;
            addr = v.end;
        }
        Ok(())
    }
}

/// `vma_soft_dirty_enabled()` is false: the VMA counts everything as
/// soft-dirty (VM_SOFTDIRTY), so soft-dirty does not hold an upgrade back.
fn soft_dirty_everywhere(maps: &MmMaps, addr: u64) -> bool {
    maps.find(addr).is_some_and(|v| v.flags & VM_SOFTDIRTY != 0)
}
