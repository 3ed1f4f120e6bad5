//! Page frame numbers and physical addresses.
//!
//! Two newtypes so that a byte address can never be passed where a frame number
//! is expected: `Pfn::from(PhysAddr)` and `PhysAddr::from(Pfn)` are the only
//! conversions, and both are explicit.

use std::fmt;
use std::ops::{Add, Sub};

/// log2 of the page size (4 KiB pages, x86-64).
pub const PAGE_SHIFT: u32 = 12;
/// Bytes per page.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// `MAX_PAGE_ORDER`: the largest buddy order (4 MiB blocks).
pub const MAX_PAGE_ORDER: u32 = 10;
/// Pages in a maximal buddy block.
pub const MAX_ORDER_NR_PAGES: u64 = 1 << MAX_PAGE_ORDER;
/// `pageblock_order` (HPAGE_PMD_ORDER): 2 MiB pageblocks.
pub const PAGEBLOCK_ORDER: u32 = 9;
/// Pages per pageblock.
pub const PAGEBLOCK_NR_PAGES: u64 = 1 << PAGEBLOCK_ORDER;

/// A page frame number: physical address >> PAGE_SHIFT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pfn(pub u64);

/// A physical byte address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(pub u64);

impl Pfn {
    /// The raw frame number.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// `PFN_PHYS()`.
    pub const fn phys(self) -> PhysAddr {
        PhysAddr(self.0 << PAGE_SHIFT)
    }

    /// True if the frame number is a multiple of `nr` (a power of two).
    pub const fn is_aligned(self, nr: u64) -> bool {
        self.0 & (nr - 1) == 0
    }

    /// Rounds down to a multiple of `nr` (a power of two).
    pub const fn align_down(self, nr: u64) -> Pfn {
        Pfn(self.0 & !(nr - 1))
    }

    /// Rounds up to a multiple of `nr` (a power of two).
    pub const fn align_up(self, nr: u64) -> Pfn {
        Pfn((self.0 + nr - 1) & !(nr - 1))
    }
}

impl PhysAddr {
    /// The raw address.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// `PHYS_PFN()`: the frame containing this address.
    pub const fn pfn(self) -> Pfn {
        Pfn(self.0 >> PAGE_SHIFT)
    }

    /// Offset inside its page.
    pub const fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }
}

impl Add<u64> for Pfn {
    type Output = Pfn;
    fn add(self, rhs: u64) -> Pfn {
        Pfn(self.0 + rhs)
    }
}

impl Sub<u64> for Pfn {
    type Output = Pfn;
    fn sub(self, rhs: u64) -> Pfn {
        Pfn(self.0 - rhs)
    }
}

impl Sub<Pfn> for Pfn {
    type Output = u64;
    fn sub(self, rhs: Pfn) -> u64 {
        self.0 - rhs.0
    }
}

impl Add<u64> for PhysAddr {
    type Output = PhysAddr;
    fn add(self, rhs: u64) -> PhysAddr {
        PhysAddr(self.0 + rhs)
    }
}

impl fmt::Display for Pfn {
    /// PFNs print as lowercase `0x` hex without padding (SCENARIOS.md).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Iterates over `[start, end)` in steps of one frame.
pub fn pfn_range(start: Pfn, end: Pfn) -> impl Iterator<Item = Pfn> {
    (start.0..end.0).map(Pfn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pfn_phys_round_trip() {
        let a = PhysAddr(0x1_0000_0123);
        assert_eq!(a.pfn(), Pfn(0x10_0000));
        assert_eq!(a.pfn().phys(), PhysAddr(0x1_0000_0000));
        assert_eq!(a.page_offset(), 0x123);
        assert_eq!(Pfn(0x201).align_down(512), Pfn(0x200));
        assert_eq!(Pfn(0x201).align_up(512), Pfn(0x400));
        assert_eq!(format!("{}", Pfn(0x48000)), "0x48000");
    }
}
