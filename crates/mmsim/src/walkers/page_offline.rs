//! `page_offline_freeze()` / `page_offline_thaw()` and
//! `page_offline_begin()` / `page_offline_end()` (mm/util.c): one rwsem
//! between PFN walkers that read page content and drivers that set
//! PageOffline.
//!
//! A reader that is frozen (holds the read side) can rely on this: no page
//! becomes PageOffline until it thaws, because drivers set PageOffline only
//! while holding the write side. Only *setting* is covered — a page leaving
//! PageOffline is harmless to a reader. The rwsem prefers writers, so a
//! reader that froze twice can deadlock against a waiting driver, exactly as
//! in the kernel: freeze once per read.
//!
//! The guards carry the protocol: [`PageOfflineFrozen`] is the proof a
//! reader is frozen, [`PageOfflineBegun`] that a driver may set PageOffline.
//! Dropping a guard thaws or ends; `page_offline_thaw` and
//! `page_offline_end` say so by name.

use crate::machine::Machine;
use crate::sync::{RwSemReadGuard, RwSemWriteGuard};

/// A frozen PFN walker: while it lives no page becomes PageOffline.
#[must_use = "dropping the guard thaws at once"]
pub struct PageOfflineFrozen<'m> {
    _read: RwSemReadGuard<'m, ()>,
}

/// A driver inside `page_offline_begin()`: it may set PageOffline; no
/// walker is frozen.
#[must_use = "dropping the guard ends the section at once"]
pub struct PageOfflineBegun<'m> {
    _write: RwSemWriteGuard<'m, ()>,
}

impl Machine {
    /// `page_offline_freeze()`: `down_read(&page_offline_rwsem)`. Sleeps while
    /// a driver is inside `page_offline_begin()` or waits to enter it.
    ///
    /// ```
    /// use mmsim::{Machine, MachineConfig};
    ///
    /// let m = Machine::boot(MachineConfig::default(), Default::default()).unwrap();
    /// let frozen = m.page_offline_freeze();
    /// assert!(m.page_offline_rwsem().down_write_trylock().is_none());
    /// m.page_offline_thaw(frozen);
    /// let begun = m.page_offline_begin();
    /// m.page_offline_end(begun);
    /// ```
    pub fn page_offline_freeze(&self) -> PageOfflineFrozen<'_> {
        PageOfflineFrozen {
            _read: self.page_offline_rwsem().down_read(),
        }
    }

    /// `page_offline_thaw()`: `up_read(&page_offline_rwsem)`.
    pub fn page_offline_thaw(&self, frozen: PageOfflineFrozen<'_>) {
        drop(frozen);
    }

    /// `page_offline_begin()`: `down_write(&page_offline_rwsem)`. Sleeps until
    /// every frozen walker has thawed; walkers that try to freeze meanwhile
    /// queue behind the driver.
    pub fn page_offline_begin(&self) -> PageOfflineBegun<'_> {
        PageOfflineBegun {
            _write: self.page_offline_rwsem().down_write(),
        }
    }

    /// `page_offline_end()`: `up_write(&page_offline_rwsem)`.
    pub fn page_offline_end(&self, begun: PageOfflineBegun<'_>) {
        drop(begun);
    }
}
