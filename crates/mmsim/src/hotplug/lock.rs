//! `mem_hotplug_lock` as types: `mem_hotplug_begin()` / `mem_hotplug_done()`
//! and `get_online_mems()` / `put_online_mems()` (mm/memory_hotplug.c).
//!
//! The lock is a percpu rwsem ([`crate::sync::PercpuRwSem`]), private to
//! [`Hotplug`]: the only way to hold it is through the two
//! guards here.
//!
//! * [`MemHotplugWrite`] — the write side, held by whoever changes what
//!   memory exists or where it belongs: sections and their memmaps
//!   (`add_pages`, `remove_pages`), zone and node spans and present counts
//!   (`move_pfn_range_to_zone`, `remove_pfn_range_from_zone`,
//!   `adjust_present_page_count`), SECTION_IS_ONLINE (`online_pages`,
//!   `offline_pages`, `__offline_isolated_pages`). Every such function takes
//!   `&MemHotplugWrite` as its first argument, so calling it without the lock
//!   does not compile — what the kernel's "Must be called with
//!   mem_hotplug_lock in write mode" comments ask for.
//! * [`OnlineMemsRead`] — the read side: while it is held no memory goes
//!   online or offline and no section appears or disappears. Readers that
//!   need a stable view take it (`set_online_page_callback()`, the test owner
//!   around `alloc_contig_range()`).
//!
//! Calling such a function without the lock is a compile error:
//!
//! ```compile_fail,E0061
//! use mmsim::page::Pfn;
//! use mmsim::{Machine, MachineConfig};
//!
//! let m = Machine::boot(MachineConfig::default(), Default::default()).unwrap();
//! m.add_pages(Pfn(1 << 20), 512); // no &MemHotplugWrite to give
//! ```
//!
//! Where it sits in the machine's lock order is drawn in
//! [`crate::machine`]'s module doc: after `device_hotplug_lock` and a
//! block's `device_lock`, before `zone->lock`; memory notifiers run under
//! the write side and may take `page_offline_rwsem` and the drivers' own
//! mutexes. The read side must not be taken recursively (a waiting writer
//! would deadlock it), and no path takes it while holding the write side.

use super::Hotplug;
use crate::machine::Machine;
use crate::sync::{PercpuReadGuard, PercpuRwSem, PercpuWriteGuard};

/// `mem_hotplug_lock` (mm/memory_hotplug.c), reachable only through
/// [`Machine::mem_hotplug_begin`] and [`Machine::get_online_mems`]; [lock order](crate::machine#lock-order).
#[derive(Debug, Default)]
pub(super) struct MemHotplugLock(PercpuRwSem);

/// `mem_hotplug_begin()` held: the write side of `mem_hotplug_lock`.
/// `mem_hotplug_done()` on drop. Functions that change which memory exists
/// or where it belongs take `&MemHotplugWrite` to prove the caller holds it.
#[must_use = "dropping the guard is mem_hotplug_done()"]
#[derive(Debug)]
pub struct MemHotplugWrite<'m> {
    _write: PercpuWriteGuard<'m>,
}

/// `get_online_mems()` held: the read side of `mem_hotplug_lock`; no memory
/// goes online or offline, is added or removed, until it drops
/// (`put_online_mems()`).
#[must_use = "dropping the guard is put_online_mems()"]
#[derive(Debug)]
pub struct OnlineMemsRead<'m> {
    _read: PercpuReadGuard<'m>,
}

impl Hotplug {
    fn mem_hotplug_lock(&self) -> &PercpuRwSem {
        &self.mem_hotplug_lock.0
    }
}

impl Machine {
    /// `mem_hotplug_begin()`: takes `mem_hotplug_lock` for writing. Sleeps
    /// until every `get_online_mems()` reader has left.
    ///
    /// ```
    /// use mmsim::{Machine, MachineConfig};
    ///
    /// let m = Machine::boot(MachineConfig::default(), Default::default()).unwrap();
    /// let hp = m.mem_hotplug_begin();
    /// // ... add_pages(&hp, ...), online_pages(&hp, ...) ...
    /// m.mem_hotplug_done(hp);
    /// let mems = m.get_online_mems();
    /// m.put_online_mems(mems);
    /// ```
    pub fn mem_hotplug_begin(&self) -> MemHotplugWrite<'_> {
        MemHotplugWrite {
            _write: self.hotplug().mem_hotplug_lock().down_write(),
        }
    }

    /// `mem_hotplug_done()`: releases the write side.
    pub fn mem_hotplug_done(&self, hp: MemHotplugWrite<'_>) {
        drop(hp);
    }

    /// `get_online_mems()`: takes `mem_hotplug_lock` for reading. Sleeps
    /// while a hotplug operation runs or waits to run.
    pub fn get_online_mems(&self) -> OnlineMemsRead<'_> {
        OnlineMemsRead {
            _read: self.hotplug().mem_hotplug_lock().down_read(),
        }
    }

    /// `put_online_mems()`: releases the read side.
    pub fn put_online_mems(&self, mems: OnlineMemsRead<'_>) {
        drop(mems);
    }
}
