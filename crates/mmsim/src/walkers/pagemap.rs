//! /proc/PID/pagemap (fs/proc/task_mmu.c, `pagemap_pmd_range()` and
//! `pte_to_pagemap_entry()`), and a view of one PTE for scenarios.
//!
//! A pagemap entry is one `u64` per virtual page, with the bits of
//! Documentation/admin-guide/mm/pagemap.rst: the PFN (or, for a swap entry, the
//! swap type and offset) in bits 0–54, then soft-dirty (55), exclusively mapped
//! (56), file-page-or-shared-anon (61), swapped (62) and present (63). The
//! reader holds `mmap_lock` for read, as `pagemap_read()` does, and takes the
//! page-table entry as it finds it; a PMD-mapped THP gives each subpage's entry.

use std::fmt;

use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::vm::huge::Mapping;
use crate::vm::pte::SwapEntry;
use crate::vm::Mm;

/// Bits 0–54: the page frame number, or the swap type and offset.
pub const PM_PFRAME_MASK: u64 = (1 << 55) - 1;
/// Bit 55: the PTE is soft-dirty.
pub const PM_SOFT_DIRTY: u64 = 1 << 55;
/// Bit 56: the page is mapped exactly once.
pub const PM_MMAP_EXCLUSIVE: u64 = 1 << 56;
/// Bit 61: a file page or shared anonymous memory.
pub const PM_FILE: u64 = 1 << 61;
/// Bit 62: swapped out (the frame bits hold the swap entry).
pub const PM_SWAP: u64 = 1 << 62;
/// Bit 63: present.
pub const PM_PRESENT: u64 = 1 << 63;
/// `MAX_SWAPFILES_SHIFT`: a swap entry's frame bits are `type | offset << 5`.
const SWAP_TYPE_BITS: u32 = 5;

/// One /proc/PID/pagemap entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagemapEntry(pub u64);

impl PagemapEntry {
    /// PM_PRESENT.
    pub fn present(self) -> bool {
        self.0 & PM_PRESENT != 0
    }

    /// PM_SWAP.
    pub fn swapped(self) -> bool {
        self.0 & PM_SWAP != 0
    }

    /// PM_MMAP_EXCLUSIVE.
    pub fn exclusive(self) -> bool {
        self.0 & PM_MMAP_EXCLUSIVE != 0
    }

    /// The frame bits: a PFN when present, the swap entry when swapped.
    pub fn frame(self) -> u64 {
        self.0 & PM_PFRAME_MASK
    }
}

/// `present=0|1 swapped=0|1 exclusive=0|1 pfn=0x...` (SCENARIOS.md).
impl fmt::Display for PagemapEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "present={} swapped={} exclusive={} pfn={:#x}",
            u8::from(self.present()),
            u8::from(self.swapped()),
            u8::from(self.exclusive()),
            self.frame()
        )
    }
}

/// What `P pte` shows of the entry mapping an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteInfo {
    /// The entry is present.
    pub present: bool,
    /// It is writable.
    pub writable: bool,
    /// The page it maps is PG_anon_exclusive (for a PMD mapping, the folio's
    /// head carries the bit).
    pub anon_exclusive: bool,
    /// The frame it maps (0 when not present).
    pub pfn: u64,
}

/// `present=.. writable=.. anon_exclusive=.. pfn=0x...` (SCENARIOS.md).
impl fmt::Display for PteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "present={} writable={} anon_exclusive={} pfn={:#x}",
            u8::from(self.present),
            u8::from(self.writable),
            u8::from(self.anon_exclusive),
            self.pfn
        )
    }
}

impl Machine {
    /// The pagemap entry of the page at `addr` in `mm` (`pte_to_pagemap_entry()`;
    /// an address no VMA covers reads as 0, as a hole does).
    pub fn pagemap_entry(&self, mm: &Mm, addr: u64) -> PagemapEntry {
        let _maps = mm.mmap_lock.down_read();
        let pte = self.pte_at(mm, addr);
        let mut entry = 0;
        if pte.present() {
            entry |= PM_PRESENT | (pte.pfn().0 & PM_PFRAME_MASK);
            if pte.soft_dirty() {
                entry |= PM_SOFT_DIRTY;
            }
            // vm_normal_page(): the zero page and other special mappings have
            // no struct page to report on.
            if !pte.special() {
                if !self.folio_test_anon(pte.pfn()) {
                    entry |= PM_FILE;
                }
                if self.page_mapcount(pte.pfn()) == 1 {
                    entry |= PM_MMAP_EXCLUSIVE;
                }
            }
        } else if let Some(SwapEntry::Swap { ty, offset }) = pte.swap_entry() {
            let frame = u64::from(ty) | (offset << SWAP_TYPE_BITS);
            entry |= PM_SWAP | (frame & PM_PFRAME_MASK);
        } else if let Some(SwapEntry::DevicePrivate { pfn, write }) = pte.swap_entry() {
            // pte_to_pagemap_entry(): a PFN swap entry — swapped, the frame
            // is the swap type and the device PFN; the page is anonymous,
            // and not present, so never "exclusive".
            let ty = if write {
                crate::vm::pte::SWP_DEVICE_WRITE
            } else {
                crate::vm::pte::SWP_DEVICE_READ
            };
            let frame = ty | (pfn.0 << SWAP_TYPE_BITS);
            entry |= PM_SWAP | (frame & PM_PFRAME_MASK);
            if !self.folio_test_anon(pfn) {
                entry |= PM_FILE;
            }
        }
        PagemapEntry(entry)
    }

    /// The entry mapping `addr` in `mm`: EFAULT if no VMA covers `addr`.
    pub fn pte_info(&self, mm: &Mm, addr: u64) -> KResult<PteInfo> {
        let maps = mm.mmap_lock.down_read();
        if maps.find(addr).is_none() {
            return Err(Errno::EFAULT);
        }
        let pte = self.pte_at(mm, addr);
        // A PMD mapping keeps PG_anon_exclusive on its head.
        let flags_at = match self.lookup(mm, addr) {
            Mapping::Pmd(_, _, pmd) => pmd.pfn(),
            _ => pte.pfn(),
        };
        let present = pte.present();
        Ok(PteInfo {
            present,
            writable: pte.write(),
            anon_exclusive: present && !pte.special() && self.page_anon_exclusive(flags_at),
            pfn: if present { pte.pfn().0 } else { 0 },
        })
    }
}
