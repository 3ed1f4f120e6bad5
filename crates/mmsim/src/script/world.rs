//! Everything a running scenario has made: the machine, and the user space that
//! drives it — processes with their named mappings, memory-backed files, GUP
//! references, test notifiers and callbacks — with the oracle every user-level
//! action is mirrored into.
//!
//! The processes and their mappings live here, since the process, pin and
//! reader families all look them up; the pins and the notifiers are kept by
//! their own families (`cmd/pin.rs`, `cmd/hotplug.rs`). This is the one value
//! the interpreter hands each runner.

use std::collections::HashMap;

use super::args::Place;
use super::cmd::hotplug::HotplugState;
use super::cmd::pin::Pins;
use crate::errno::Errno;
use crate::machine::Machine;
use crate::oracle::{Oracle, OracleError, OracleViolation, RangeSet};
use crate::sync::Arc;
use crate::vm::Mm;

/// A running scenario's state.
pub(crate) struct World {
    /// The machine (shared with its drivers' threads).
    pub(crate) machine: Arc<Machine>,
    /// Processes and files.
    pub(crate) procs: Processes,
    /// GUP references.
    pub(crate) pins: Pins,
    /// Memory notifiers and online_page callbacks.
    pub(crate) hotplug: HotplugState,
    /// What user space must see, and what it found wrong.
    pub(crate) oracle: OracleMirror,
    /// virtio-mem devices and their drivers.
    pub(crate) virtio: super::cmd::virtio::VirtioDevs,
}

/// The oracle, and the violations it found during the command running now.
#[derive(Default)]
pub(crate) struct OracleMirror {
    oracle: Oracle,
    violations: Vec<OracleViolation>,
}

impl World {
    /// A world with nothing in it yet but the machine.
    pub(crate) fn new(machine: Machine) -> World {
        World {
            machine: Arc::new(machine),
            procs: Processes::default(),
            pins: Pins::default(),
            hotplug: HotplugState::default(),
            oracle: OracleMirror::default(),
            virtio: Default::default(),
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // The drivers' threads hold the machine: stop them so it goes.
        self.machine.virtio_mem_shutdown();
    }
}

impl OracleMirror {
    /// Tells the oracle what user space did, or asks it to check what user
    /// space saw. A violation is recorded; any other oracle error means the
    /// model accepted something the oracle's simple world refuses, which is
    /// reported the same way.
    pub(crate) fn mirror(&mut self, f: impl FnOnce(&mut Oracle) -> Result<(), OracleError>) {
        match f(&mut self.oracle) {
            Ok(()) => {}
            Err(OracleError::Violation(v)) => self.violations.push(v),
            Err(e) => self.violations.push(OracleViolation {
                rule: "oracle-bookkeeping",
                who: "oracle".into(),
                addr: String::new(),
                expected: "a request the oracle accepts".into(),
                got: e.to_string(),
            }),
        }
    }

    /// The oracle violations found since the last call.
    pub(crate) fn take_violations(&mut self) -> Vec<OracleViolation> {
        std::mem::take(&mut self.violations)
    }
}

/// Where a mapping lies: what commands need of it to reach its bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    /// Its start address.
    pub(crate) addr: u64,
    /// Its size, a multiple of the page size.
    pub(crate) size: u64,
}

/// A named mapping of a process.
#[derive(Clone, Debug)]
pub(crate) struct Mapping {
    /// Where it lies.
    pub(crate) span: Span,
    /// Byte ranges already unmapped by a partial munmap.
    pub(crate) unmapped: RangeSet,
}

/// One process.
pub(crate) struct Process {
    /// Its mm.
    pub(crate) mm: Arc<Mm>,
    /// Its named mappings.
    pub(crate) maps: HashMap<String, Mapping>,
    /// MADV_DONTFORK ranges per mapping (offset, length).
    pub(crate) dontfork: HashMap<String, Vec<(u64, u64)>>,
}

/// A place that is mapped: the mm, the mapping and the offset in it.
pub(crate) type MappedPlace = (Arc<Mm>, Span, u64);

/// Every process and file of a scenario.
#[derive(Default)]
pub(crate) struct Processes {
    /// By name.
    pub(crate) procs: HashMap<String, Process>,
    /// Memory-backed files: the model's file id by name.
    pub(crate) files: HashMap<String, u32>,
}

impl Processes {
    pub(crate) fn proc(&self, name: &str) -> Result<&Process, Errno> {
        self.procs.get(name).ok_or(Errno::ESRCH)
    }

    pub(crate) fn proc_mut(&mut self, name: &str) -> Result<&mut Process, Errno> {
        self.procs.get_mut(name).ok_or(Errno::ESRCH)
    }

    /// A process's mm and where one of its mappings lies (EFAULT if it has
    /// no such mapping, ESRCH if there is no such process).
    pub(crate) fn mapping(&self, proc: &str, map: &str) -> Result<(Arc<Mm>, Span), Errno> {
        let p = self.proc(proc)?;
        let m = p.maps.get(map).ok_or(Errno::EFAULT)?;
        Ok((p.mm.clone(), m.span))
    }

    /// `len` bytes at `place`: the mm, the mapping and the offset (EFAULT if
    /// they are not all inside the mapping, or any of them was unmapped:
    /// the addresses of a hole may belong to another mapping since, which
    /// an access through this name must not reach).
    pub(crate) fn place(&self, proc: &str, place: &Place, len: u64) -> Result<MappedPlace, Errno> {
        match self.mapped_prefix(proc, place, len)? {
            (at, n) if n == len => Ok(at),
            _ => Err(Errno::EFAULT),
        }
    }

    /// Like [`Processes::place`], but for an access that stops at the
    /// first unmapped byte (a store lands up to there): also how many of the
    /// `len` bytes come before it. EFAULT if the range is not inside the
    /// mapping.
    pub(crate) fn mapped_prefix(
        &self,
        proc: &str,
        place: &Place,
        len: u64,
    ) -> Result<(MappedPlace, u64), Errno> {
        let p = self.proc(proc)?;
        let m = p.maps.get(&place.mapping).ok_or(Errno::EFAULT)?;
        let off = place.off;
        let end = match off.checked_add(len) {
            Some(end) if end <= m.span.size => end,
            _ => return Err(Errno::EFAULT),
        };
        let mapped = match m.unmapped.gaps(off, end).first() {
            Some(&(s, e)) if s == off => e - off,
            _ => 0,
        };
        Ok(((p.mm.clone(), m.span, off), mapped))
    }
}
