//! Taking mappings down and changing them: `zap_pte_range()`, munmap,
//! exit, mprotect (with `can_change_pte_writable()`) and the madvise advice
//! that only touch VMAs and PTEs.

use super::huge::{haddr, HPAGE_PMD_SIZE};
use super::pte::{MigrationKind, Pte, SwapEntry, PTE_RW};
use super::vma::{Holes, RangeCall, UserRange};
use super::walk::Mapping;
use super::{
    Mm, MmMaps, Vma, VM_DONTCOPY, VM_HUGEPAGE, VM_HUGETLB, VM_NOHUGEPAGE, VM_READ, VM_SOFTDIRTY,
    VM_WRITE,
};
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
            // A hugetlb folio under migration: its entry becomes a PMD
            // again shortly; zap that.
            if pmd_start && self.hugetlb_migration_wait_at(mm, addr) {
                continue;
            }
            if let (true, Mapping::Pmd(pt, pi, _)) = (pmd_start, self.lookup(mm, addr)) {
                let h = haddr(addr);
                if h >= start && h + HPAGE_PMD_SIZE <= end {
                    // A split racing with us (an rmap walker) leaves PTEs
                    // for the loop below; a migration that started
                    // meanwhile is waited for above.
                    if self.zap_huge_pmd(mm, pt, pi) {
                        addr = h + HPAGE_PMD_SIZE;
                        continue;
                    }
                    if self.pmd_is_migration(pt, pi) {
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
                    if let Some(SwapEntry::DevicePrivate { pfn, .. }) = pte.swap_entry() {
                        // zap_nonpresent_ptes(): the device page loses the
                        // mapping and its reference (the last one gives it
                        // back to the driver).
                        self.folio_remove_rmap_pte(pfn, mm);
                        drop(ptl);
                        self.folio_put(pfn);
                        break;
                    }
                    drop(ptl);
                    self.swap_entry_free(pte);
                    break;
                }
                self.write_entry(t, i, Pte::NONE);
                if !pte.special() {
                    let pfn = pte.pfn();
                    self.folio_remove_rmap_pte(pfn, mm);
                    self.folio_put(pfn);
                }
                break;
            }
            addr += PAGE_SIZE;
        }
    }

    /// `munmap()`: validates the range ([`UserRange`]), splits the VMAs
    /// across its edges, removes those inside and zaps their PTEs. Holes
    /// are fine.
    pub fn munmap(&self, mm: &Mm, start: u64, len: u64) -> KResult<()> {
        let mut maps = mm.mmap_lock.down_write();
        let ret = self.do_munmap(mm, &mut maps, start, len);
        drop(maps);
        self.shmem_release_unmapped();
        ret
    }

    /// `do_vmi_munmap()` with `mmap_lock` held for write: munmap's work,
    /// also done by mremap to the ranges it unmaps.
    pub(crate) fn do_munmap(
        &self,
        mm: &Mm,
        maps: &mut MmMaps,
        start: u64,
        len: u64,
    ) -> KResult<()> {
        let r =
            UserRange::new(RangeCall::Munmap, start, len)?.expect("munmap ranges are never empty");
        for vma in self.vma_remove_range(mm, maps, r)? {
            self.zap_range(mm, vma.start, vma.end);
            // remove_vma() → hugetlb_vm_op_close().
            self.hugetlb_vm_op_close(maps.iter(), &vma);
        }
        Ok(())
    }

    /// `exit_mmap()`: every VMA goes, then the page tables.
    pub fn exit_mmap(&self, mm: &Mm) {
        let mut maps = mm.mmap_lock.down_write();
        let vmas: Vec<Vma> = maps.iter().cloned().collect();
        for vma in &vmas {
            self.zap_range(mm, vma.start, vma.end);
        }
        maps.clear();
        for (i, vma) in vmas.iter().enumerate() {
            self.hugetlb_vm_op_close(&vmas[i + 1..], vma);
        }
        self.hugetlb_exit_mmap(mm);
        // unlink_anon_vmas() before free_pgtables(): no reverse-map walker
        // (split, migration) still holds one of these tables.
        let _rmap = self.vm().rmap_lock.down_write();
        self.anon_vma_unlink_mm(mm);
        self.mm_unlist(mm);
        self.free_pgtables(mm, true);
        drop(_rmap);
        drop(maps);
        self.shmem_release_unmapped();
    }

    /// `mprotect()` to `prot` (VM_READ/VM_WRITE bits): VMAs whose
    /// protection changes are split off and changed, up to the first
    /// unmapped hole (-ENOMEM), then their PTEs (`change_protection()`).
    pub fn mprotect(&self, mm: &Mm, start: u64, len: u64, prot: u32) -> KResult<()> {
        let Some(r) = UserRange::new(RangeCall::Mprotect, start, len)? else {
            return Ok(());
        };
        let mut maps = mm.mmap_lock.down_write();
        let (parts, holes) = Self::vma_parts(&maps, r, Holes::Stop);
        let access = VM_READ | VM_WRITE;
        let (changed, ret) = self.vma_modify_flags(mm, &mut maps, &parts, |v| {
            Ok((v.flags & !access) | (prot & access))
        });
        for (s, e, old_flags) in changed {
            let was_accessible = old_flags & access != 0;
            self.change_protection(mm, &maps, s, e, prot, was_accessible);
        }
        ret.and(holes)
    }

    /// `pte_modify()` of a present PTE or huge PMD to `prot`, then — where
    /// `upgrade` says `can_change_pte_writable()` would (the caller checked
    /// soft-dirty) — write permission without a fault for an exclusive
    /// anonymous page. PROT_NONE keeps the page mapped (`pte_protnone()`).
    pub(crate) fn mprotect_entry(&self, entry: Pte, prot: u32, upgrade: bool) -> Pte {
        if prot & (VM_READ | VM_WRITE) == 0 {
            return entry.mkprotnone();
        }
        let e = if entry.protnone() {
            entry.mkaccessible()
        } else {
            entry
        };
        if prot & VM_WRITE == 0 {
            e.wrprotect()
        } else if upgrade && !e.special() && self.page_anon_exclusive(e.pfn()) {
            e.with(PTE_RW)
        } else {
            e
        }
    }

    /// `change_protection()` of `[start, end)` inside VMAs that now have
    /// protection `prot` (and had access before if `was_accessible`).
    /// Write-protects PTEs when write permission goes, makes them PROT_NONE
    /// when all access goes; when write permission comes, upgrades a PTE to
    /// writable without a fault only if `can_change_pte_writable()` — an
    /// anonymous page must be PG_anon_exclusive (so never under the
    /// historical `cow_reuse` variants, which predate the optimisation).
    ///
    /// A migration entry restores the PTE it replaced: the kernel reads
    /// `vm_page_prot` when it restores, the model carries the old entry's
    /// protection over, so where access comes or goes mprotect waits until
    /// the migration has put the page back and then changes that.
    fn change_protection(
        &self,
        mm: &Mm,
        maps: &MmMaps,
        start: u64,
        end: u64,
        prot: u32,
        was_accessible: bool,
    ) {
        let writable = prot & VM_WRITE != 0;
        let access_changes = was_accessible != (prot & (VM_READ | VM_WRITE) != 0);
        // The write-fault-avoiding upgrade came with PG_anon_exclusive.
        let upgrade = self.variants().cow_reuse == crate::variant::CowReuse::Exclusive;
        let mut addr = start;
        while addr < end {
            // change_pmd_range(): a huge PMD wholly inside changes whole
            // (hugetlb never gets the writable upgrade in a private
            // mapping); one straddling the range was split with the VMA.
            let pmd_start = addr == start || addr % HPAGE_PMD_SIZE == 0;
            // A hugetlb folio under migration: change the PMD it becomes.
            if pmd_start && self.hugetlb_migration_wait_at(mm, addr) {
                continue;
            }
            if let (true, Mapping::Pmd(pt, pi, _)) = (pmd_start, self.lookup(mm, addr)) {
                let hugetlb = maps.find(addr).is_some_and(|v| v.flags & VM_HUGETLB != 0);
                let sd = soft_dirty_everywhere(maps, addr);
                if self.change_huge_pmd(mm, pt, pi, prot, sd, upgrade && !hugetlb) {
                    addr = haddr(addr) + HPAGE_PMD_SIZE;
                    continue;
                }
                if self.pmd_is_migration(pt, pi) {
                    continue;
                }
            }
            if let Ok(Some((t, i))) = self.walk(mm, addr, false) {
                let ptl = mm.ptl(t);
                let pte = self.read_entry(t, i);
                if pte.present() {
                    let up = upgrade && (soft_dirty_everywhere(maps, addr) || pte.soft_dirty());
                    self.write_entry(t, i, self.mprotect_entry(pte, prot, up));
                } else if let Some(SwapEntry::DevicePrivate { pfn, write: true }) = pte.swap_entry()
                {
                    // change_pte_range(): a writable device-private entry
                    // becomes readable when write permission goes.
                    if !writable {
                        let ro = SwapEntry::DevicePrivate { pfn, write: false };
                        self.write_entry(t, i, Pte::swap(ro, false));
                    }
                } else if let Some(SwapEntry::Migration { pfn, kind }) = pte.swap_entry() {
                    if access_changes {
                        drop(ptl);
                        thread::yield_now();
                        continue;
                    }
                    // change_pte_range(): a writable migration entry becomes
                    // a readable(-exclusive) one.
                    if !writable && kind == MigrationKind::Write {
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
    }

    /// `clear_refs` with CLEAR_REFS_SOFT_DIRTY (`echo 4 >
    /// /proc/PID/clear_refs`): every VMA starts tracking soft-dirty per PTE
    /// and every PTE is write-protected and made clean, so the next write
    /// faults — and mprotect may no longer upgrade such a PTE to writable.
    pub fn clear_refs_soft_dirty(&self, mm: &Mm) {
        let mut maps = mm.mmap_lock.down_write();
        maps.clear_flags(VM_SOFTDIRTY);
        let ranges: Vec<(u64, u64)> = maps.iter().map(|v| (v.start, v.end)).collect();
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

    /// `madvise(MADV_DONTNEED)`: zaps every mapped part of the range; the
    /// VMAs stay. In a hugetlb VMA the part must start on a huge-page
    /// boundary (-EINVAL) and its end is rounded down to one
    /// (`madvise_dontneed_free_valid_vma()`).
    pub fn madvise_dontneed(&self, mm: &Mm, start: u64, len: u64) -> KResult<()> {
        let Some(r) = UserRange::new(RangeCall::Madvise, start, len)? else {
            return Ok(());
        };
        let maps = mm.mmap_lock.down_read();
        let (parts, holes) = Self::vma_parts(&maps, r, Holes::Skip);
        for (s, mut e) in parts {
            if maps.find(s).is_some_and(|v| v.flags & VM_HUGETLB != 0) {
                if s % HPAGE_PMD_SIZE != 0 {
                    return Err(Errno::EINVAL);
                }
                e = haddr(e);
            }
            self.zap_range(mm, s, e);
        }
        holes
    }

    /// `madvise(MADV_DONTFORK / MADV_DOFORK)`.
    pub fn madvise_dontfork(&self, mm: &Mm, start: u64, len: u64, dontfork: bool) -> KResult<()> {
        self.madvise_update_vma(mm, start, len, |v| {
            Ok(if dontfork {
                v.flags | VM_DONTCOPY
            } else {
                v.flags & !VM_DONTCOPY
            })
        })
    }

    /// `madvise(MADV_HUGEPAGE / MADV_NOHUGEPAGE)` (`hugepage_madvise`).
    pub fn madvise_hugepage(&self, mm: &Mm, start: u64, len: u64, huge: bool) -> KResult<()> {
        self.madvise_update_vma(mm, start, len, |v| {
            Ok(if huge {
                (v.flags | VM_HUGEPAGE) & !VM_NOHUGEPAGE
            } else {
                (v.flags | VM_NOHUGEPAGE) & !VM_HUGEPAGE
            })
        })
    }

    /// An advice that only changes VMA flags (`madvise_update_vma()` under
    /// `madvise_walk_vmas()`): each mapped part whose flags `new_flags`
    /// changes is split off and changed; holes give -ENOMEM at the end.
    pub(crate) fn madvise_update_vma(
        &self,
        mm: &Mm,
        start: u64,
        len: u64,
        new_flags: impl FnMut(&Vma) -> KResult<u32>,
    ) -> KResult<()> {
        let Some(r) = UserRange::new(RangeCall::Madvise, start, len)? else {
            return Ok(());
        };
        let mut maps = mm.mmap_lock.down_write();
        let (parts, holes) = Self::vma_parts(&maps, r, Holes::Skip);
        let (_, ret) = self.vma_modify_flags(mm, &mut maps, &parts, new_flags);
        ret.and(holes)
    }
}

/// `vma_soft_dirty_enabled()` is false: the VMA counts everything as
/// soft-dirty (VM_SOFTDIRTY), so soft-dirty does not hold an upgrade back.
fn soft_dirty_everywhere(maps: &MmMaps, addr: u64) -> bool {
    maps.find(addr).is_some_and(|v| v.flags & VM_SOFTDIRTY != 0)
}
