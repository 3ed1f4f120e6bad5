//! The memory notifier chain (`memory_notify()`), the node notifications, and
//! the error-injection notifier of the kernel selftest.
//!
//! Notifiers run in descending priority; a return value with NOTIFY_STOP_MASK
//! (NOTIFY_BAD, NOTIFY_STOP, `notifier_from_errno(e)`) stops the chain. Only the
//! results of MEM_GOING_ONLINE and MEM_GOING_OFFLINE are evaluated, through
//! `notifier_to_errno()`: plain NOTIFY_BAD becomes -EPERM, an encoded errno
//! comes back as itself. MEM_CANCEL_* goes to every notifier, including those
//! that never saw the GOING_* event (they were behind a veto).
//!
//! The chain is a `blocking_notifier_head`: callbacks run with its rwsem held
//! for read, so registering from inside a callback would deadlock, as it does
//! in the kernel.

use super::Hotplug;
use crate::errno::Errno;
use crate::machine::Machine;
use crate::page::Pfn;
use crate::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use crate::sync::{Arc, Mutex, RwSem};
use std::fmt;

/// NOTIFY_DONE.
pub const NOTIFY_DONE: i32 = 0x0000;
/// NOTIFY_OK.
pub const NOTIFY_OK: i32 = 0x0001;
/// NOTIFY_STOP_MASK.
pub const NOTIFY_STOP_MASK: i32 = 0x8000;
/// NOTIFY_BAD.
pub const NOTIFY_BAD: i32 = NOTIFY_STOP_MASK | 0x0002;
/// NOTIFY_STOP.
pub const NOTIFY_STOP: i32 = NOTIFY_OK | NOTIFY_STOP_MASK;

/// `notifier_from_errno()`: an errno (positive number here) encoded so that
/// it stops the chain; 0 is NOTIFY_OK.
pub fn notifier_from_errno(e: Option<Errno>) -> i32 {
    match e {
        Some(e) => NOTIFY_STOP_MASK | (NOTIFY_OK + e.number()),
        None => NOTIFY_OK,
    }
}

/// `notifier_to_errno()`: NOTIFY_DONE/OK/STOP → None, NOTIFY_BAD → EPERM,
/// an encoded errno → that errno.
pub fn notifier_to_errno(ret: i32) -> Option<Errno> {
    let r = ret & !NOTIFY_STOP_MASK;
    if r > NOTIFY_OK {
        Some(Errno::from_number(r - NOTIFY_OK).unwrap_or(Errno::EPERM))
    } else {
        None
    }
}

/// Memory notifier actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemAction {
    /// MEM_GOING_ONLINE.
    GoingOnline,
    /// MEM_ONLINE.
    Online,
    /// MEM_CANCEL_ONLINE.
    CancelOnline,
    /// MEM_GOING_OFFLINE.
    GoingOffline,
    /// MEM_OFFLINE.
    Offline,
    /// MEM_CANCEL_OFFLINE.
    CancelOffline,
}

impl MemAction {
    /// The kernel's name (`MEM_GOING_ONLINE` ...).
    pub const fn name(self) -> &'static str {
        match self {
            MemAction::GoingOnline => "MEM_GOING_ONLINE",
            MemAction::Online => "MEM_ONLINE",
            MemAction::CancelOnline => "MEM_CANCEL_ONLINE",
            MemAction::GoingOffline => "MEM_GOING_OFFLINE",
            MemAction::Offline => "MEM_OFFLINE",
            MemAction::CancelOffline => "MEM_CANCEL_OFFLINE",
        }
    }
}

impl fmt::Display for MemAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Node notifier actions (7.2's separate node chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeAction {
    /// NODE_ADDING_FIRST_MEMORY.
    AddingFirstMemory,
    /// NODE_ADDED_FIRST_MEMORY.
    AddedFirstMemory,
    /// NODE_CANCEL_ADDING_FIRST_MEMORY.
    CancelAddingFirstMemory,
    /// NODE_REMOVING_LAST_MEMORY.
    RemovingLastMemory,
    /// NODE_REMOVED_LAST_MEMORY.
    RemovedLastMemory,
    /// NODE_CANCEL_REMOVING_LAST_MEMORY.
    CancelRemovingLastMemory,
}

impl NodeAction {
    /// The kernel's name.
    pub const fn name(self) -> &'static str {
        match self {
            NodeAction::AddingFirstMemory => "NODE_ADDING_FIRST_MEMORY",
            NodeAction::AddedFirstMemory => "NODE_ADDED_FIRST_MEMORY",
            NodeAction::CancelAddingFirstMemory => "NODE_CANCEL_ADDING_FIRST_MEMORY",
            NodeAction::RemovingLastMemory => "NODE_REMOVING_LAST_MEMORY",
            NodeAction::RemovedLastMemory => "NODE_REMOVED_LAST_MEMORY",
            NodeAction::CancelRemovingLastMemory => "NODE_CANCEL_REMOVING_LAST_MEMORY",
        }
    }
}

/// `struct memory_notify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryNotify {
    /// First PFN of the range.
    pub start_pfn: Pfn,
    /// Pages in the range.
    pub nr_pages: u64,
}

impl MemoryNotify {
    /// Whether `[start, start + nr)` overlaps the notified range.
    pub fn overlaps(&self, start: Pfn, nr: u64) -> bool {
        start < self.start_pfn + self.nr_pages && self.start_pfn < start + nr
    }
}

/// A memory notifier callback.
pub trait MemoryNotifier: Send + Sync {
    /// Handles one event; returns NOTIFY_* or `notifier_from_errno()`.
    fn notify(&self, m: &Machine, action: MemAction, arg: &MemoryNotify) -> i32;
}

/// A registration handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NotifierId(u64);

struct Entry {
    id: NotifierId,
    priority: i32,
    nb: Arc<dyn MemoryNotifier>,
}

/// `memory_chain`.
pub(crate) struct NotifierChain {
    /// The registered notifiers by priority; held for read while they run
    /// (under mem_hotplug_lock when hotplug notifies; [lock order](crate::machine#lock-order)).
    entries: RwSem<Vec<Entry>>,
    next_id: AtomicU64,
    /// The notifier-error-inject module's values, as errno numbers (≤ 0):
    /// [MEM_GOING_ONLINE, MEM_GOING_OFFLINE]. It is registered at boot with
    /// priority 0 and is a no-op while both are 0.
    inject: [AtomicI32; 2],
}

impl NotifierChain {
    pub(crate) fn new() -> NotifierChain {
        NotifierChain {
            entries: RwSem::new(Vec::new()),
            next_id: AtomicU64::new(1),
            inject: [AtomicI32::new(0), AtomicI32::new(0)],
        }
    }
}

/// Which injection file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectAction {
    /// actions/MEM_GOING_ONLINE/error.
    GoingOnline,
    /// actions/MEM_GOING_OFFLINE/error.
    GoingOffline,
}

impl Hotplug {
    /// `register_memory_notifier()` with a priority (higher runs first;
    /// equal priorities run in registration order).
    pub fn register_memory_notifier(
        &self,
        nb: Arc<dyn MemoryNotifier>,
        priority: i32,
    ) -> NotifierId {
        let id = NotifierId(self.notifiers.next_id.fetch_add(1, Ordering::Relaxed));
        let mut entries = self.notifiers.entries.down_write();
        let pos = entries
            .iter()
            .position(|e| e.priority < priority)
            .unwrap_or(entries.len());
        entries.insert(pos, Entry { id, priority, nb });
        id
    }

    /// `unregister_memory_notifier()`. False if `id` was not registered.
    pub fn unregister_memory_notifier(&self, id: NotifierId) -> bool {
        let mut entries = self.notifiers.entries.down_write();
        let before = entries.len();
        entries.retain(|e| e.id != id);
        entries.len() != before
    }

    /// The error-injection value (an errno number ≤ 0, 0 = no injection).
    pub fn inject_error(&self, which: InjectAction) -> i32 {
        self.notifiers.inject[which as usize].load(Ordering::Relaxed)
    }

    /// Writes an error-injection file: `-4095 <= err <= 0` (the debugfs
    /// attribute's range), else -EINVAL.
    pub fn set_inject_error(&self, which: InjectAction, err: i32) -> Result<(), Errno> {
        if !(-4095..=0).contains(&err) {
            return Err(Errno::EINVAL);
        }
        self.notifiers.inject[which as usize].store(err, Ordering::Relaxed);
        Ok(())
    }
}

impl Machine {
    /// `memory_notify()`: runs the chain; returns the stopping value or the
    /// last one.
    pub fn memory_notify(&self, action: MemAction, arg: MemoryNotify) -> i32 {
        let hp = self.hotplug();
        let entries = hp.notifiers.entries.down_read();
        let mut ret = NOTIFY_DONE;
        // The injection notifier sits at priority 0 among the registered ones.
        let mut injected = false;
        for e in entries.iter() {
            if !injected && e.priority < 0 {
                injected = true;
                ret = self.inject_notifier(action);
                if ret & NOTIFY_STOP_MASK != 0 {
                    return ret;
                }
            }
            ret = e.nb.notify(self, action, &arg);
            if ret & NOTIFY_STOP_MASK != 0 {
                return ret;
            }
        }
        if !injected {
            ret = self.inject_notifier(action);
        }
        ret
    }

    fn inject_notifier(&self, action: MemAction) -> i32 {
        let which = match action {
            MemAction::GoingOnline => InjectAction::GoingOnline,
            MemAction::GoingOffline => InjectAction::GoingOffline,
            _ => return NOTIFY_DONE,
        };
        match self.hotplug().inject_error(which) {
            0 => NOTIFY_DONE,
            e => notifier_from_errno(Errno::from_number(e).or(Some(Errno::EPERM))),
        }
    }

    /// `node_notify()`: the model records the event (its chain has no
    /// registered callbacks that could veto).
    pub(crate) fn node_notify(&self, action: NodeAction, nid: usize) {
        self.hotplug().node_events.lock().push((action, nid));
    }
}

/// A notifier for scenarios and tests: records every event it sees and
/// answers GOING_ONLINE / GOING_OFFLINE as configured — for every range, or
/// only for ranges that overlap the one it is limited to ([`Self::only`]),
/// which lets a test veto one memory block of several.
pub struct RecordingNotifier {
    going_online: i32,
    going_offline: i32,
    /// `[start, start + nr)`: the PFNs whose events get the configured
    /// answers; NOTIFY_OK elsewhere.
    only: Option<(Pfn, u64)>,
    /// A `page get` reference it drops in MEM_GOING_OFFLINE (a kernel user
    /// letting go of a page while an offline runs).
    put_on_going_offline: Option<Pfn>,
    log: Mutex<Vec<MemAction>>,
}

impl RecordingNotifier {
    /// Answers `going_online` to MEM_GOING_ONLINE and `going_offline` to
    /// MEM_GOING_OFFLINE (NOTIFY_OK, NOTIFY_BAD or `notifier_from_errno`).
    pub fn new(going_online: i32, going_offline: i32) -> RecordingNotifier {
        RecordingNotifier {
            going_online,
            going_offline,
            only: None,
            put_on_going_offline: None,
            log: Mutex::new(Vec::new()),
        }
    }

    /// Gives the configured answers only to events whose range overlaps
    /// `[start, start + nr)`, NOTIFY_OK to the others.
    pub fn only(self, start: Pfn, nr: u64) -> RecordingNotifier {
        RecordingNotifier {
            only: Some((start, nr)),
            ..self
        }
    }

    /// Also drops a `page get` reference on `pfn` in MEM_GOING_OFFLINE.
    pub fn put_on_going_offline(self, pfn: Pfn) -> RecordingNotifier {
        RecordingNotifier {
            put_on_going_offline: Some(pfn),
            ..self
        }
    }

    /// The events seen so far.
    pub fn events(&self) -> Vec<MemAction> {
        self.log.lock().clone()
    }
}

impl MemoryNotifier for RecordingNotifier {
    fn notify(&self, m: &Machine, action: MemAction, arg: &MemoryNotify) -> i32 {
        self.log.lock().push(action);
        if let (MemAction::GoingOffline, Some(pfn)) = (action, self.put_on_going_offline) {
            if m.page_put(pfn).is_err() {
                m.log(format!("notifier: no reference to drop on pfn {pfn}"));
            }
        }
        if self
            .only
            .is_some_and(|(start, nr)| !arg.overlaps(start, nr))
        {
            return NOTIFY_OK;
        }
        match action {
            MemAction::GoingOnline => self.going_online,
            MemAction::GoingOffline => self.going_offline,
            _ => NOTIFY_OK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // include/linux/notifier.h: notifier_to_errno / notifier_from_errno.
    #[test]
    fn notifier_errno_encoding_matches_kernel() {
        assert_eq!(notifier_to_errno(NOTIFY_DONE), None);
        assert_eq!(notifier_to_errno(NOTIFY_OK), None);
        assert_eq!(notifier_to_errno(NOTIFY_STOP), None);
        assert_eq!(notifier_to_errno(NOTIFY_BAD), Some(Errno::EPERM));
        assert_eq!(
            notifier_to_errno(notifier_from_errno(Some(Errno::ENOMEM))),
            Some(Errno::ENOMEM)
        );
        assert_eq!(notifier_from_errno(None), NOTIFY_OK);
        assert_ne!(
            notifier_from_errno(Some(Errno::EBUSY)) & NOTIFY_STOP_MASK,
            0
        );
    }
}
