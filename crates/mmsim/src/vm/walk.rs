//! The page-table walk: four levels of 512 entries (PGD, PUD, PMD, PTE
//! table) indexed by address bits 47..39, 38..30, 29..21 and 20..12
//! (`pgd_index()` .. `pte_index()`), table pages from the buddy allocator.
//!
//! * [`Machine::lookup`] only looks: what maps an address (a PTE, a huge PMD
//!   or nothing) — for readers (pagemap, smaps, the checker, user accesses,
//!   GUP-fast).
//! * [`Machine::walk_pmd`] goes to the PMD entry, allocating upper levels
//!   if asked; paths that handle a huge PMD whole (faults, fork, zap,
//!   mprotect, GUP) start here.
//! * [`Machine::walk`] goes to the PTE (`pte_alloc_map`), splitting a THP's
//!   PMD on the way (never a hugetlb one).
//!
//! Entries are 64-bit words in the table pages' bytes, read and written
//! one at a time; a PTE table changes under its page-table lock
//! ([`Mm::ptl`]), and a missing table is installed under one so two
//! faulting threads never both install one.

use super::pte::{Pte, SwapEntry, PTE_PSE, PTE_RW};
use super::{Mm, PTRS_PER_TABLE};
use crate::errno::KResult;
use crate::machine::Machine;
use crate::page::{PageType, Pfn, PhysAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::sync::Arc;
use crate::zone::alloc::Gfp;

/// `PMD_SHIFT`: a PMD entry covers 2 MiB.
pub const PMD_SHIFT: u32 = 21;
/// `PUD_SHIFT`: a PUD entry covers 1 GiB.
pub const PUD_SHIFT: u32 = 30;
/// `PGDIR_SHIFT`: a PGD entry covers 512 GiB.
pub const PGDIR_SHIFT: u32 = 39;
/// `PMD_SIZE`.
pub const PMD_SIZE: u64 = 1 << PMD_SHIFT;
/// `PMD_MASK`.
pub const PMD_MASK: u64 = !(PMD_SIZE - 1);

/// `pgd_index()`.
pub fn pgd_index(addr: u64) -> u64 {
    (addr >> PGDIR_SHIFT) & (PTRS_PER_TABLE - 1)
}

/// `pud_index()`.
pub fn pud_index(addr: u64) -> u64 {
    (addr >> PUD_SHIFT) & (PTRS_PER_TABLE - 1)
}

/// `pmd_index()`.
pub fn pmd_index(addr: u64) -> u64 {
    (addr >> PMD_SHIFT) & (PTRS_PER_TABLE - 1)
}

/// `pte_index()`.
pub fn pte_index(addr: u64) -> u64 {
    (addr >> PAGE_SHIFT) & (PTRS_PER_TABLE - 1)
}

/// The start of the next PMD range after `addr` (`pmd_addr_end()` without
/// the clamp).
pub fn pmd_addr_end(addr: u64) -> u64 {
    (addr & PMD_MASK) + PMD_SIZE
}

/// What maps an address, as a reader sees it (no splitting).
#[derive(Clone, Copy, Debug)]
pub enum Mapping {
    /// Nothing: no table, or an empty entry.
    None,
    /// A PTE: its table, index and value.
    Pte(Pfn, u64, Pte),
    /// A huge PMD: the PMD table, index and value.
    Pmd(Pfn, u64, Pte),
}

/// The /proc/PID/smaps counters of a range, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Smaps {
    /// `Rss`: present pages with a struct page (not the zero pages, not
    /// hugetlb).
    pub rss: u64,
    /// `AnonHugePages`: anonymous THPs mapped by PMDs.
    pub anon_huge: u64,
    /// `Swap`: swap entries.
    pub swap: u64,
    /// `Private_Hugetlb`.
    pub hugetlb: u64,
}

/// `rss_kb= anon_huge_kb= swap_kb= hugetlb_kb=`: the counters in kB, as
/// smaps prints them.
impl std::fmt::Display for Smaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rss_kb={} anon_huge_kb={} swap_kb={} hugetlb_kb={}",
            self.rss >> 10,
            self.anon_huge >> 10,
            self.swap >> 10,
            self.hugetlb >> 10
        )
    }
}

/// The PTE a huge PMD implies for the subpage at `addr`.
pub fn pmd_subpage_pte(pmd: Pte, addr: u64) -> Pte {
    let sub = pte_index(addr);
    // The PMD's flag bits (all of them below the PFN), without PSE.
    let flags = pmd.0 & (PAGE_SIZE - 1) & !PTE_PSE;
    Pte::new(pmd.pfn() + sub, flags).with_access_of(pmd)
}

impl Machine {
    /// Walks to the PMD table entry covering `addr`, allocating the upper
    /// levels if `alloc`.
    pub fn walk_pmd(&self, mm: &Mm, addr: u64, alloc: bool) -> KResult<Option<(Pfn, u64)>> {
        let mut table = mm.pgd();
        for idx in [pgd_index(addr), pud_index(addr)] {
            table = match self.table_at(mm, table, idx, alloc)? {
                Some(t) => t,
                None => return Ok(None),
            };
        }
        Ok(Some((table, pmd_index(addr))))
    }

    /// What maps `addr`, without changing anything (pagemap, the checker,
    /// user accesses).
    pub fn lookup(&self, mm: &Mm, addr: u64) -> Mapping {
        let Ok(Some((pt, pi))) = self.walk_pmd(mm, addr, false) else {
            return Mapping::None;
        };
        let pmd = self.read_entry(pt, pi);
        if pmd.huge() {
            return Mapping::Pmd(pt, pi, pmd);
        }
        if !pmd.present() {
            return Mapping::None;
        }
        let (t, i) = (pmd.pfn(), pte_index(addr));
        let pte = self.read_entry(t, i);
        if pte.is_none() {
            Mapping::None
        } else {
            Mapping::Pte(t, i, pte)
        }
    }

    /// `show_smap()` counters for `[start, end)` of `mm`
    /// (`smaps_pte_entry`, `smaps_pmd_entry`, `smaps_hugetlb_range`).
    pub fn smaps(&self, mm: &Mm, start: u64, end: u64) -> Smaps {
        let _maps = mm.mmap_lock.down_read();
        let mut s = Smaps::default();
        let mut addr = start;
        while addr < end {
            match self.lookup(mm, addr) {
                Mapping::Pmd(_, _, pmd) => {
                    let next = pmd_addr_end(addr).min(end);
                    let len = next - addr;
                    if self.folio_test_hugetlb(pmd.pfn()) {
                        s.hugetlb += len;
                    } else if !pmd.special() {
                        s.rss += len;
                        s.anon_huge += len;
                    }
                    addr = next;
                    continue;
                }
                Mapping::Pte(_, _, pte) if pte.present() => {
                    if !pte.special() {
                        s.rss += PAGE_SIZE;
                    }
                }
                Mapping::Pte(_, _, pte) => {
                    if let Some(SwapEntry::Swap { .. }) = pte.swap_entry() {
                        s.swap += PAGE_SIZE;
                    }
                }
                Mapping::None => {}
            }
            addr += PAGE_SIZE;
        }
        s
    }

    /// Calls `f(mm, address, pte)` for every present, non-special PTE of
    /// every live address space (checker and KSM scans; each mm's
    /// `mmap_lock` is held for read while its PTEs are visited).
    pub fn for_each_mapped_pte(&self, mut f: impl FnMut(&Arc<Mm>, u64, Pte)) {
        for mm in self.live_mms() {
            let maps = mm.mmap_lock.down_read();
            for v in maps.iter() {
                let mut addr = v.start;
                while addr < v.end {
                    let pte = self.pte_at(&mm, addr);
                    if pte.present() && !pte.special() {
                        f(&mm, addr, pte);
                    }
                    addr += PAGE_SIZE;
                }
            }
        }
    }

    /// Calls `f(mm, address, mapping)` for every present mapping of every
    /// live address space: each PTE, and each huge PMD once at its first
    /// address (the checker's walk; `mmap_lock` held for read per mm).
    pub fn for_each_mapping(&self, mut f: impl FnMut(&Arc<Mm>, u64, Mapping)) {
        for mm in self.live_mms() {
            let maps = mm.mmap_lock.down_read();
            for v in maps.iter() {
                let mut addr = v.start;
                while addr < v.end {
                    let m = self.lookup(&mm, addr);
                    match m {
                        Mapping::Pmd(..) => {
                            f(&mm, addr, m);
                            addr = pmd_addr_end(addr);
                            continue;
                        }
                        Mapping::Pte(_, _, pte) if pte.present() => f(&mm, addr, m),
                        _ => {}
                    }
                    addr += PAGE_SIZE;
                }
            }
        }
    }

    /// A zeroed page-table page (`__pte_alloc` and friends).
    pub(crate) fn alloc_table(&self) -> KResult<Pfn> {
        let pfn = self.alloc_pages(Gfp::KERNEL, 0, 0)?;
        self.physmem().clear_page(pfn)?;
        self.page(pfn).set_type(PageType::Table);
        Ok(pfn)
    }

    /// Frees a page-table page.
    pub(crate) fn free_table(&self, pfn: Pfn) {
        self.page(pfn).clear_type(PageType::Table);
        self.put_pages(pfn, 0);
    }

    fn entry_addr(table: Pfn, idx: u64) -> PhysAddr {
        table.phys() + idx * 8
    }

    /// Reads entry `idx` of `table`.
    pub fn read_entry(&self, table: Pfn, idx: u64) -> Pte {
        Pte(self
            .physmem()
            .read_u64(Self::entry_addr(table, idx))
            .unwrap_or(0))
    }

    /// Writes entry `idx` of `table` (its PTL held for PTE tables).
    pub fn write_entry(&self, table: Pfn, idx: u64, pte: Pte) {
        let _ = self
            .physmem()
            .write_u64(Self::entry_addr(table, idx), pte.0);
    }

    /// The table that entry `idx` of `table` points to, allocating a zeroed
    /// one if it is empty and `alloc`. Tables are installed under a PTL
    /// stripe so that two faulting threads do not both install one.
    pub(crate) fn table_at(
        &self,
        mm: &Mm,
        table: Pfn,
        idx: u64,
        alloc: bool,
    ) -> KResult<Option<Pfn>> {
        let e = self.read_entry(table, idx);
        if e.present() {
            return Ok(Some(e.pfn()));
        }
        if !alloc {
            return Ok(None);
        }
        let new = self.alloc_table()?;
        let _g = mm.ptl(table);
        let again = self.read_entry(table, idx);
        if again.present() {
            drop(_g);
            self.free_table(new);
            Ok(Some(again.pfn()))
        } else {
            self.write_entry(table, idx, Pte::new(new, PTE_RW));
            Ok(Some(new))
        }
    }

    /// Walks to the PTE table covering `addr`, allocating missing levels if
    /// `alloc` (`pte_alloc_map`). Returns the table and the index in it.
    ///
    /// This is the PTE-level walk: a huge PMD on the way is split first
    /// (`split_huge_pmd`), so callers that handle PMD mappings whole look
    /// with [`Machine::lookup`] or [`Machine::walk_pmd`] before they call it.
    pub fn walk(&self, mm: &Mm, addr: u64, alloc: bool) -> KResult<Option<(Pfn, u64)>> {
        let Some((pt, pi)) = self.walk_pmd(mm, addr, alloc)? else {
            return Ok(None);
        };
        loop {
            let pmd = self.read_entry(pt, pi);
            if pmd.huge() {
                if self.folio_test_hugetlb(pmd.pfn()) {
                    // hugetlb entries are never split.
                    return Ok(None);
                }
                self.split_huge_pmd(mm, pt, pi)?;
            }
            let Some(t) = self.table_at(mm, pt, pi, alloc)? else {
                return Ok(None);
            };
            // A fault may have installed a huge PMD since we looked: never
            // take a THP's pages for a page table.
            let now = self.read_entry(pt, pi);
            if now.present() && !now.huge() && now.pfn() == t {
                return Ok(Some((t, pte_index(addr))));
            }
        }
    }

    /// The PTE mapping `addr`, if the tables exist; for a huge PMD, the PTE
    /// it implies for that subpage.
    pub fn pte_at(&self, mm: &Mm, addr: u64) -> Pte {
        match self.lookup(mm, addr) {
            Mapping::None => Pte::NONE,
            Mapping::Pte(_, _, pte) => pte,
            Mapping::Pmd(_, _, pmd) => pmd_subpage_pte(pmd, addr),
        }
    }

    /// `free_pgtables()`: frees every table below the PGD, and the PGD when
    /// `pgd_too` (the mm is going away). Entries must already be cleared.
    pub fn free_pgtables(&self, mm: &Mm, pgd_too: bool) {
        fn free_level(m: &Machine, table: Pfn, level: u32) {
            for idx in 0..PTRS_PER_TABLE {
                let e = m.read_entry(table, idx);
                if e.huge() {
                    m.report_bug(format!("BUG: free_pgtables: huge PMD {e:?} still mapped"));
                } else if e.present() {
                    if level > 1 {
                        free_level(m, e.pfn(), level - 1);
                    }
                    m.free_table(e.pfn());
                    m.write_entry(table, idx, Pte::NONE);
                }
            }
        }
        free_level(self, mm.pgd, 3);
        if pgd_too {
            self.free_table(mm.pgd);
        }
    }
}
