//! What the device asks of the host memory behind its region.
//!
//! The device decides *whether* a block changes state; the [`Backend`] does
//! what the host must do for it. A VMM implements:
//!
//! - [`Backend::populate`] before blocks become plugged: preallocate the
//!   backing (QEMU's `prealloc=on`), add KVM memory slots, map the range for
//!   DMA (VFIO). If it fails it must undo what it did; the device then
//!   answers BUSY and changes nothing.
//! - [`Backend::discard`] before blocks become unplugged (and over the whole
//!   region on UNPLUG_ALL): `madvise(MADV_DONTNEED)`, `fallocate(PUNCH_HOLE)`,
//!   DMA unmap, memory-slot removal. A failure again means BUSY, nothing
//!   changed.
//! - [`Backend::is_busy`] while no state change may happen at all, e.g.
//!   during outgoing migration ("we don't want unplugged blocks in our
//!   migration stream", QEMU).
//!
//! Addresses are guest physical addresses; lengths are multiples of the
//! block size. The device never asks the backend to touch a plugged block
//! except to make it unplugged (V-OP-3).
//!
//! [`MockBackend`] records calls, injects failures, and keeps a per-page
//! "tag" so tests can prove plugged memory is never modified.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

/// A host-side failure to change the backing of a range.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BackendError {
    /// Discarding `[addr, addr + len)` failed.
    #[error("discard of {len:#x} bytes at guest address {addr:#x} failed: {reason}")]
    Discard {
        /// Guest physical start address.
        addr: u64,
        /// Length in bytes.
        len: u64,
        /// What the host reported.
        reason: String,
    },
    /// Populating `[addr, addr + len)` failed.
    #[error("populate of {len:#x} bytes at guest address {addr:#x} failed: {reason}")]
    Populate {
        /// Guest physical start address.
        addr: u64,
        /// Length in bytes.
        len: u64,
        /// What the host reported.
        reason: String,
    },
}

/// The host side of plugging and unplugging (see the module doc).
pub trait Backend {
    /// Release the host memory behind `[addr, addr + len)`; its contents may
    /// be lost. Called before blocks become unplugged.
    fn discard(&mut self, addr: u64, len: u64) -> Result<(), BackendError>;
    /// Make `[addr, addr + len)` usable by the guest. Called before blocks
    /// become plugged.
    fn populate(&mut self, addr: u64, len: u64) -> Result<(), BackendError>;
    /// True while no block may change state; PLUG, UNPLUG and UNPLUG_ALL are
    /// then answered BUSY without calling `discard` or `populate`.
    fn is_busy(&self) -> bool {
        false
    }
}

/// Which [`Backend`] method was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendOp {
    /// [`Backend::discard`].
    Discard,
    /// [`Backend::populate`].
    Populate,
}

/// One recorded call of a [`MockBackend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendCall {
    /// The method.
    pub op: BackendOp,
    /// Guest physical start address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// Whether the call succeeded.
    pub ok: bool,
}

/// Granule of [`MockBackend`]'s page tags.
pub const MOCK_PAGE_SIZE: u64 = 4096;

/// A [`Backend`] for tests: records every call, fails the calls it is told
/// to, reports busy on demand, and models memory contents as one `u64` tag per
/// 4 KiB page (a discarded page reads as 0, like an anonymous page after
/// `MADV_DONTNEED`).
#[derive(Clone, Debug, Default)]
pub struct MockBackend {
    calls: Vec<BackendCall>,
    fail_at: BTreeSet<usize>,
    failing: bool,
    busy: bool,
    tags: BTreeMap<u64, u64>,
    populated: RangeSet,
}

impl MockBackend {
    /// A backend that succeeds at everything.
    pub fn new() -> MockBackend {
        MockBackend::default()
    }

    /// Make the `n`-th call from now fail (`n = 1`: the next call).
    pub fn fail_nth_call(&mut self, n: usize) {
        assert!(n >= 1, "fail_nth_call counts from 1");
        self.fail_at.insert(self.calls.len() + n - 1);
    }

    /// Make every call fail while `failing` is set.
    pub fn set_failing(&mut self, failing: bool) {
        self.failing = failing;
    }

    /// Set what [`Backend::is_busy`] reports.
    pub fn set_busy(&mut self, busy: bool) {
        self.busy = busy;
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> &[BackendCall] {
        &self.calls
    }

    /// Forget the recorded calls (pending failures stay pending).
    pub fn clear_calls(&mut self) {
        let done = self.calls.len();
        self.fail_at = self.fail_at.iter().map(|&i| i - done.min(i)).collect();
        self.calls.clear();
    }

    /// The guest writes `tag` into the page containing `addr`.
    pub fn write_tag(&mut self, addr: u64, tag: u64) {
        let page = addr - addr % MOCK_PAGE_SIZE;
        if tag == 0 {
            self.tags.remove(&page);
        } else {
            self.tags.insert(page, tag);
        }
    }

    /// What the guest reads from the page containing `addr` (0 if it was
    /// never written or has been discarded since).
    pub fn read_tag(&self, addr: u64) -> u64 {
        let page = addr - addr % MOCK_PAGE_SIZE;
        self.tags.get(&page).copied().unwrap_or(0)
    }

    /// Whether every page of `[addr, addr + len)` has been populated and not
    /// discarded since.
    pub fn is_populated(&self, addr: u64, len: u64) -> bool {
        self.populated.contains(addr, addr.saturating_add(len))
    }

    fn record(&mut self, op: BackendOp, addr: u64, len: u64) -> bool {
        let ok = !self.failing && !self.fail_at.remove(&self.calls.len());
        self.calls.push(BackendCall { op, addr, len, ok });
        ok
    }
}

/// Disjoint, non-adjacent half-open ranges `start -> end`.
#[derive(Clone, Debug, Default)]
struct RangeSet(BTreeMap<u64, u64>);

impl RangeSet {
    fn insert(&mut self, mut start: u64, mut end: u64) {
        if start >= end {
            return;
        }
        // Absorb every range that overlaps or touches [start, end).
        let touching: Vec<(u64, u64)> = self
            .0
            .range(..=end)
            .rev()
            .take_while(|&(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            self.0.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.0.insert(start, end);
    }

    fn remove(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let overlapping: Vec<(u64, u64)> = self
            .0
            .range(..end)
            .rev()
            .take_while(|&(_, &e)| e > start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in overlapping {
            self.0.remove(&s);
            if s < start {
                self.0.insert(s, start);
            }
            if e > end {
                self.0.insert(end, e);
            }
        }
    }

    fn contains(&self, start: u64, end: u64) -> bool {
        start >= end
            || self
                .0
                .range(..=start)
                .next_back()
                .is_some_and(|(_, &e)| e >= end)
    }
}

impl Backend for MockBackend {
    fn discard(&mut self, addr: u64, len: u64) -> Result<(), BackendError> {
        if !self.record(BackendOp::Discard, addr, len) {
            return Err(BackendError::Discard {
                addr,
                len,
                reason: "injected failure".into(),
            });
        }
        let end = addr.saturating_add(len);
        self.tags.retain(|&p, _| p < addr || p >= end);
        self.populated.remove(addr, end);
        Ok(())
    }

    fn populate(&mut self, addr: u64, len: u64) -> Result<(), BackendError> {
        if !self.record(BackendOp::Populate, addr, len) {
            return Err(BackendError::Populate {
                addr,
                len,
                reason: "injected failure".into(),
            });
        }
        self.populated.insert(addr, addr.saturating_add(len));
        Ok(())
    }

    fn is_busy(&self) -> bool {
        self.busy
    }
}
