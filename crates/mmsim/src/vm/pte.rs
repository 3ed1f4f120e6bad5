//! Page-table entries, x86-64 style.
//!
//! A present entry carries the PFN in bits 12..52 and the hardware bits
//! (present, RW, user, accessed, dirty, PSE) plus the software bits Linux uses
//! (_PAGE_SPECIAL for the zero page, _PAGE_SOFT_DIRTY). A PROT_NONE entry
//! (`pte_protnone()`) keeps its page but has _PAGE_PRESENT and _PAGE_USER
//! clear and _PAGE_PROTNONE (the global bit) set: present for the kernel
//! (`pte_present()`: the page stays mapped, counted and in the rmap), never
//! accessible to the CPU (`pte_access_permitted()`), so every access faults. A non-present, non-zero
//! entry is a swap entry: a type and an offset, with _PAGE_SWP_EXCLUSIVE (the
//! PWT bit, as on x86) saying that the page was exclusive when it was
//! unmapped. Migration entries are swap entries of three reserved types
//! (readable, readable-exclusive, writable), as in `include/linux/swapops.h`.

use crate::page::{Pfn, PAGE_SHIFT};

/// _PAGE_PRESENT.
pub const PTE_PRESENT: u64 = 1 << 0;
/// _PAGE_RW.
pub const PTE_RW: u64 = 1 << 1;
/// _PAGE_USER.
pub const PTE_USER: u64 = 1 << 2;
/// _PAGE_PWT, reused as _PAGE_SWP_EXCLUSIVE in swap entries.
pub const PTE_SWP_EXCLUSIVE: u64 = 1 << 3;
/// _PAGE_SWP_SOFT_DIRTY: soft-dirty of a swap entry (x86 reuses _PAGE_RW,
/// which a non-present entry has no use for).
pub const PTE_SWP_SOFT_DIRTY: u64 = PTE_RW;
/// _PAGE_ACCESSED.
pub const PTE_YOUNG: u64 = 1 << 5;
/// _PAGE_DIRTY, the hardware bit.
const PTE_HW_DIRTY: u64 = 1 << 6;
/// What `pte_mkdirty()` sets: the hardware dirty bit and the soft-dirty bit
/// (x86's `_PAGE_DIRTY_BITS`), so a written page is soft-dirty until
/// `clear_refs` clears it.
pub const PTE_DIRTY: u64 = PTE_HW_DIRTY | PTE_SOFT_DIRTY;
/// _PAGE_PSE: in a PMD, the entry maps a 2 MiB page instead of a table.
pub const PTE_PSE: u64 = 1 << 7;
/// _PAGE_PROTNONE (x86 reuses _PAGE_GLOBAL): a PROT_NONE mapping.
pub const PTE_PROTNONE: u64 = 1 << 8;
/// _PAGE_SPECIAL (software): no struct page to refcount (the zero page).
pub const PTE_SPECIAL: u64 = 1 << 9;
/// _PAGE_SOFT_DIRTY (software).
pub const PTE_SOFT_DIRTY: u64 = 1 << 11;
const PFN_MASK: u64 = ((1 << 52) - 1) & !((1 << PAGE_SHIFT) - 1);

/// Swap types reserved for migration entries (SWP_MIGRATION_*).
const SWP_MIGRATION_READ: u64 = 29;
const SWP_MIGRATION_READ_EXCLUSIVE: u64 = 30;
const SWP_MIGRATION_WRITE: u64 = 31;
/// Swap types of device-private entries, as 6.12 numbers them
/// (`SWP_DEVICE_WRITE`/`SWP_DEVICE_READ` = MAX_SWAPFILES (23) + 1 hwpoison
/// + 3 migration types, and one more).
pub const SWP_DEVICE_WRITE: u64 = 27;
/// `SWP_DEVICE_READ`.
pub const SWP_DEVICE_READ: u64 = 28;
const SWP_TYPE_SHIFT: u64 = 58;
const SWP_OFFSET_SHIFT: u64 = PAGE_SHIFT as u64;
const SWP_OFFSET_MASK: u64 = (1 << (SWP_TYPE_SHIFT - SWP_OFFSET_SHIFT)) - 1;

/// One page-table entry (any level).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pte(pub u64);

/// What a non-present, non-none entry means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapEntry {
    /// A page on the swap device: type and slot.
    Swap {
        /// The swap device.
        ty: u8,
        /// The slot.
        offset: u64,
    },
    /// A page under migration (`make_*_migration_entry`), by PFN.
    Migration {
        /// The page being migrated.
        pfn: Pfn,
        /// The kind of entry.
        kind: MigrationKind,
    },
    /// A device-private page (`make_readable/writable_device_private_entry`),
    /// by PFN: the CPU cannot reach it, any access faults it back to RAM.
    DevicePrivate {
        /// The device page.
        pfn: Pfn,
        /// `is_writable_device_private_entry()`.
        write: bool,
    },
}

/// The three migration entry types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationKind {
    /// Possibly shared, map read-only afterwards.
    Read,
    /// Exclusive but read-only.
    ReadExclusive,
    /// Exclusive and writable.
    Write,
}

impl MigrationKind {
    /// The entry `try_to_migrate_one()` makes for `pte` mapping a page that
    /// is (`exclusive`) or is not PG_anon_exclusive.
    pub fn for_pte(pte: Pte, exclusive: bool) -> MigrationKind {
        if pte.write() {
            MigrationKind::Write
        } else if exclusive {
            MigrationKind::ReadExclusive
        } else {
            MigrationKind::Read
        }
    }
}

impl Pte {
    /// `pte_none()`.
    pub const NONE: Pte = Pte(0);

    /// `pfn_pte()` with the given protection bits (present and user added).
    pub fn new(pfn: Pfn, bits: u64) -> Pte {
        Pte(((pfn.0 << PAGE_SHIFT) & PFN_MASK) | bits | PTE_PRESENT | PTE_USER)
    }

    /// `pte_none()`.
    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    /// `pte_present()`: mapped, accessible or PROT_NONE.
    pub fn present(self) -> bool {
        self.0 & (PTE_PRESENT | PTE_PROTNONE) != 0
    }

    /// `pte_protnone()`: mapped, but no access (PROT_NONE).
    pub fn protnone(self) -> bool {
        self.0 & (PTE_PRESENT | PTE_PROTNONE) == PTE_PROTNONE
    }

    /// `pte_access_permitted()`: the CPU may read through it (and write if
    /// `write`) without a fault.
    pub fn access_permitted(self, write: bool) -> bool {
        self.0 & (PTE_PRESENT | PTE_USER) == PTE_PRESENT | PTE_USER
            && (!write || self.0 & PTE_RW != 0)
    }

    /// `pte_modify(pte, PAGE_NONE)`: the same page, PROT_NONE.
    pub fn mkprotnone(self) -> Pte {
        Pte((self.0 & !(PTE_PRESENT | PTE_USER | PTE_RW)) | PTE_PROTNONE)
    }

    /// `pte_modify()` from PAGE_NONE back to an accessible, read-only
    /// protection (write permission is granted on its own).
    pub fn mkaccessible(self) -> Pte {
        Pte((self.0 & !PTE_PROTNONE) | PTE_PRESENT | PTE_USER)
    }

    /// The same protection as `of` as far as access goes: PROT_NONE if
    /// `of` is (what `mk_pte(page, vma->vm_page_prot)` gives where the
    /// model has the old entry rather than the VMA at hand).
    pub fn with_access_of(self, of: Pte) -> Pte {
        if of.protnone() {
            self.mkprotnone()
        } else {
            self
        }
    }

    /// `pte_pfn()`.
    pub fn pfn(self) -> Pfn {
        Pfn((self.0 & PFN_MASK) >> PAGE_SHIFT)
    }

    /// `pte_write()`.
    pub fn write(self) -> bool {
        self.present() && self.0 & PTE_RW != 0
    }

    /// `pte_dirty()`.
    pub fn dirty(self) -> bool {
        self.0 & PTE_HW_DIRTY != 0
    }

    /// `pte_young()`.
    pub fn young(self) -> bool {
        self.0 & PTE_YOUNG != 0
    }

    /// `pmd_trans_huge()` / `pmd_leaf()`: a present PMD mapping 2 MiB.
    pub fn huge(self) -> bool {
        self.present() && self.0 & PTE_PSE != 0
    }

    /// `pte_special()`.
    pub fn special(self) -> bool {
        self.present() && self.0 & PTE_SPECIAL != 0
    }

    /// `pte_soft_dirty()`.
    pub fn soft_dirty(self) -> bool {
        self.0 & PTE_SOFT_DIRTY != 0
    }

    /// Sets bits.
    pub fn with(self, bits: u64) -> Pte {
        Pte(self.0 | bits)
    }

    /// Clears bits.
    pub fn without(self, bits: u64) -> Pte {
        Pte(self.0 & !bits)
    }

    /// `pte_wrprotect()`.
    pub fn wrprotect(self) -> Pte {
        self.without(PTE_RW)
    }

    /// `pte_mkwrite(pte_mkdirty())`.
    pub fn mkwrite_dirty(self) -> Pte {
        self.with(PTE_RW | PTE_DIRTY)
    }

    /// `swp_entry_to_pte()` (with the exclusive bit if asked).
    pub fn swap(entry: SwapEntry, exclusive: bool) -> Pte {
        let (ty, offset) = match entry {
            SwapEntry::Swap { ty, offset } => (u64::from(ty), offset),
            SwapEntry::Migration { pfn, kind } => (
                match kind {
                    MigrationKind::Read => SWP_MIGRATION_READ,
                    MigrationKind::ReadExclusive => SWP_MIGRATION_READ_EXCLUSIVE,
                    MigrationKind::Write => SWP_MIGRATION_WRITE,
                },
                pfn.0,
            ),
            SwapEntry::DevicePrivate { pfn, write } => (
                if write {
                    SWP_DEVICE_WRITE
                } else {
                    SWP_DEVICE_READ
                },
                pfn.0,
            ),
        };
        let ex = if exclusive { PTE_SWP_EXCLUSIVE } else { 0 };
        Pte((ty << SWP_TYPE_SHIFT) | ((offset & SWP_OFFSET_MASK) << SWP_OFFSET_SHIFT) | ex)
    }

    /// `pte_to_swp_entry()` for a non-present, non-none entry.
    pub fn swap_entry(self) -> Option<SwapEntry> {
        if self.present() || self.is_none() {
            return None;
        }
        let ty = self.0 >> SWP_TYPE_SHIFT;
        let offset = (self.0 >> SWP_OFFSET_SHIFT) & SWP_OFFSET_MASK;
        let kind = match ty {
            SWP_MIGRATION_READ => Some(MigrationKind::Read),
            SWP_MIGRATION_READ_EXCLUSIVE => Some(MigrationKind::ReadExclusive),
            SWP_MIGRATION_WRITE => Some(MigrationKind::Write),
            _ => None,
        };
        if ty == SWP_DEVICE_WRITE || ty == SWP_DEVICE_READ {
            return Some(SwapEntry::DevicePrivate {
                pfn: Pfn(offset),
                write: ty == SWP_DEVICE_WRITE,
            });
        }
        Some(match kind {
            Some(kind) => SwapEntry::Migration {
                pfn: Pfn(offset),
                kind,
            },
            None => SwapEntry::Swap {
                ty: ty as u8,
                offset,
            },
        })
    }

    /// `pte_swp_soft_dirty()`.
    pub fn swp_soft_dirty(self) -> bool {
        !self.present() && self.0 & PTE_SWP_SOFT_DIRTY != 0
    }

    /// `pte_swp_exclusive()`.
    pub fn swp_exclusive(self) -> bool {
        !self.present() && self.0 & PTE_SWP_EXCLUSIVE != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_and_swap_encodings_round_trip() {
        let p = Pte::new(Pfn(0x12345), PTE_RW | PTE_DIRTY);
        assert!(p.present() && p.write() && p.dirty() && !p.special());
        assert_eq!(p.pfn(), Pfn(0x12345));
        assert!(!p.wrprotect().write());
        let s = Pte::swap(SwapEntry::Swap { ty: 0, offset: 77 }, true);
        assert!(!s.present() && s.swp_exclusive());
        assert_eq!(s.swap_entry(), Some(SwapEntry::Swap { ty: 0, offset: 77 }));
        let m = Pte::swap(
            SwapEntry::Migration {
                pfn: Pfn(0x4000),
                kind: MigrationKind::ReadExclusive,
            },
            false,
        );
        assert_eq!(
            m.swap_entry(),
            Some(SwapEntry::Migration {
                pfn: Pfn(0x4000),
                kind: MigrationKind::ReadExclusive
            })
        );
        assert_eq!(Pte::NONE.swap_entry(), None);
        // include/linux/swapops.h: make_writable_device_private_entry().
        let d = SwapEntry::DevicePrivate {
            pfn: Pfn(0x8000_0000),
            write: true,
        };
        assert_eq!(Pte::swap(d, false).swap_entry(), Some(d));
        assert_eq!(Pte::swap(d, false).0 >> 58, SWP_DEVICE_WRITE);
    }
}

#[cfg(test)]
mod protnone_tests {
    use super::*;

    // arch/x86/include/asm/pgtable.h: pte_present() counts _PAGE_PROTNONE,
    // pte_protnone() and pte_access_permitted() tell it from a real mapping.
    #[test]
    fn protnone_is_present_but_not_accessible() {
        let p = Pte::new(Pfn(0x1234), PTE_RW | PTE_DIRTY | PTE_YOUNG);
        let n = p.mkprotnone();
        assert!(n.present() && n.protnone() && !n.write());
        assert!(!n.access_permitted(false) && n.swap_entry().is_none());
        assert_eq!(n.pfn(), Pfn(0x1234));
        assert!(n.dirty() && n.young() && n.soft_dirty());
        let back = n.mkaccessible();
        assert!(back.access_permitted(false) && !back.access_permitted(true));
        assert!(!back.protnone() && back.pfn() == Pfn(0x1234));
        assert!(p.access_permitted(true) && !p.protnone());
    }
}
