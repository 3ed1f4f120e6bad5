//! Fatal accesses: memory the hypervisor made inaccessible.
//!
//! A virtio-mem device that negotiated VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE
//! may make its unplugged blocks inaccessible to the guest (spec D-OP-5: the
//! driver MUST NOT read or query them at all). On a real machine the next
//! guest access to such a block is fatal (the VMM kills the guest, or the
//! access machine-checks). In the model the device registers a [`Fence`]
//! over its region, one bit per device block, set while the block is
//! plugged. Every access through [`PhysMem`](super::PhysMem) checks the
//! fences; one that lands on an unplugged block is recorded as a
//! [`FatalAccess`] — the address, who made it and the chain of model
//! functions that led to it — and behaves as discarded memory (reads zeros,
//! writes are lost), so the run goes on and reports every such access. The
//! scenario layer fails the run when one was recorded (unless `expect ...
//! violates fatal-access` asked for it).
//!
//! Ordering: the device clears a block's bit before it discards the block's
//! bytes and sets it after it populated them (Release); an access loads the
//! bit with Acquire. The driver is told about a plug only through the
//! virtqueue's used ring, written after the bit, so a correct driver never
//! races with the bit it is allowed to rely on; an incorrect one is what
//! the fence is there to catch.
//!
//! Who made an access is a per-thread label ([`set_accessor`]): the scenario
//! layer names the command it runs, drivers name their worker. It is
//! diagnostic only, never read by a protocol.

use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::sync::{Arc, SpinLock};
use std::cell::RefCell;
use std::fmt;

/// The fatal accesses a report lists one by one; the rest are counted.
const RECORD_MAX: usize = 8;

/// How many model frames a report shows.
const STACK_MAX: usize = 16;

/// A region whose blocks are accessible only while plugged.
pub struct Fence {
    name: String,
    start: u64,
    end: u64,
    block_shift: u32,
    /// Bit set = the block is plugged (accessible).
    plugged: Box<[AtomicU64]>,
}

impl Fence {
    /// A fence over `[start, start + size)` in blocks of `block_size` (a
    /// power of two), every block unplugged.
    pub fn new(name: &str, start: u64, size: u64, block_size: u64) -> Fence {
        assert!(
            block_size.is_power_of_two(),
            "device block size is a power of two"
        );
        let blocks = size / block_size;
        Fence {
            name: name.to_string(),
            start,
            end: start + size,
            block_shift: block_size.trailing_zeros(),
            plugged: (0..blocks.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    /// Marks the blocks of `[addr, addr + len)` plugged or unplugged. Clear
    /// them before discarding the bytes; set them after populating them.
    pub fn set_plugged(&self, addr: u64, len: u64, plugged: bool) {
        let first = (addr.max(self.start) - self.start) >> self.block_shift;
        let last = (addr.saturating_add(len).min(self.end) - self.start) >> self.block_shift;
        for b in first..last {
            let (w, bit) = ((b / 64) as usize, 1u64 << (b % 64));
            if plugged {
                // Release pairs with the Acquire in blocked().
                self.plugged[w].fetch_or(bit, Ordering::Release);
            } else {
                // Release pairs with the Acquire in blocked().
                self.plugged[w].fetch_and(!bit, Ordering::Release);
            }
        }
    }

    /// The first inaccessible address of `[addr, addr + len)`, if any.
    fn blocked(&self, addr: u64, len: u64) -> Option<u64> {
        let end = addr.saturating_add(len).min(self.end);
        let mut a = addr.max(self.start);
        while a < end {
            let b = (a - self.start) >> self.block_shift;
            // Acquire pairs with the Release in set_plugged().
            let word = self.plugged[(b / 64) as usize].load(Ordering::Acquire);
            if word & (1 << (b % 64)) == 0 {
                return Some(a);
            }
            a = self.start + ((b + 1) << self.block_shift);
        }
        None
    }
}

/// One access to inaccessible memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FatalAccess {
    /// The first inaccessible byte touched.
    pub addr: u64,
    /// Whether it was a write.
    pub write: bool,
    /// The fence's owner (the device).
    pub fence: String,
    /// Who made it ([`set_accessor`]), or the thread's name.
    pub accessor: String,
    /// The model functions that led to it, innermost first.
    pub stack: Vec<String>,
}

impl fmt::Display for FatalAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fatal access: {} of unplugged {} memory at {:#x} by {}",
            if self.write { "write" } else { "read" },
            self.fence,
            self.addr,
            self.accessor
        )?;
        if !self.stack.is_empty() {
            write!(f, " via {}", self.stack.join(" <- "))?;
        }
        Ok(())
    }
}

/// The fences of a physical memory and the fatal accesses they caught.
#[derive(Default)]
pub(super) struct Fences {
    /// How many fences exist: the fast path of every access when 0.
    nr: AtomicUsize,
    fences: SpinLock<Vec<Arc<Fence>>>,
    recorded: SpinLock<Vec<FatalAccess>>,
    /// Fatal accesses not in `recorded` (beyond RECORD_MAX).
    dropped: AtomicU64,
}

impl Fences {
    pub(super) fn add(&self, fence: Arc<Fence>) {
        let mut fences = self.fences.lock();
        fences.push(fence);
        self.nr.store(fences.len(), Ordering::Relaxed);
    }

    pub(super) fn remove(&self, fence: &Arc<Fence>) {
        let mut fences = self.fences.lock();
        fences.retain(|f| !Arc::ptr_eq(f, fence));
        self.nr.store(fences.len(), Ordering::Relaxed);
    }

    /// Whether `[addr, addr + len)` may be accessed; records a fatal access
    /// otherwise.
    #[inline]
    /// No fence is up.
    pub(super) fn none(&self) -> bool {
        self.nr.load(Ordering::Relaxed) == 0
    }

    pub(super) fn allow(&self, addr: u64, len: u64, write: bool) -> bool {
        if self.nr.load(Ordering::Relaxed) == 0 {
            return true;
        }
        self.allow_slow(addr, len, write)
    }

    #[cold]
    fn allow_slow(&self, addr: u64, len: u64, write: bool) -> bool {
        let hit = self
            .fences
            .lock()
            .iter()
            .find_map(|f| f.blocked(addr, len).map(|a| (a, f.name.clone())));
        let Some((addr, fence)) = hit else {
            return true;
        };
        let mut recorded = self.recorded.lock();
        if recorded.len() >= RECORD_MAX {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        recorded.push(FatalAccess {
            addr,
            write,
            fence,
            accessor: accessor(),
            stack: model_stack(),
        });
        false
    }

    /// Takes the fatal accesses recorded so far and the count of those not
    /// listed.
    pub(super) fn take(&self) -> (Vec<FatalAccess>, u64) {
        let list = std::mem::take(&mut *self.recorded.lock());
        (list, self.dropped.swap(0, Ordering::Relaxed))
    }
}

crate::sync::task_local! {
    static ACCESSOR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Names who accesses physical memory from this thread until the returned
/// guard is dropped (diagnostics of fatal accesses only).
pub fn set_accessor(name: impl Into<String>) -> AccessorGuard {
    let prev = ACCESSOR.with(|a| a.borrow_mut().replace(name.into()));
    AccessorGuard { prev }
}

/// Restores the previous accessor name when dropped.
pub struct AccessorGuard {
    prev: Option<String>,
}

impl Drop for AccessorGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        ACCESSOR.with(|a| *a.borrow_mut() = prev);
    }
}

fn accessor() -> String {
    ACCESSOR
        .with(|a| a.borrow().clone())
        .or_else(crate::sync::thread::current_name)
        .unwrap_or_else(|| "an unnamed thread".into())
}

/// The model functions on the stack, innermost first: without the
/// physical-memory layer itself, symbol hashes and `<impl ...>` noise, and
/// ending where the scenario layer called into the model.
fn model_stack() -> Vec<String> {
    let bt = std::backtrace::Backtrace::force_capture().to_string();
    let mut out: Vec<String> = Vec::new();
    for line in bt.lines() {
        let Some((_, sym)) = line.trim_start().split_once(": ") else {
            continue;
        };
        if !sym.starts_with("mmsim::") || sym.starts_with("mmsim::physmem::") {
            continue;
        }
        if sym.starts_with("mmsim::script::") {
            break;
        }
        let sym = tidy(strip_hash(sym).trim_start_matches("mmsim::"));
        if out.last() != Some(&sym) {
            out.push(sym);
        }
        if out.len() == STACK_MAX {
            break;
        }
    }
    out
}

/// `vm::fault::<impl mmsim::a::Owner>::f::{{closure}}` →
/// `vm::fault::Owner::f`.
fn tidy(sym: &str) -> String {
    let mut out = String::with_capacity(sym.len());
    let mut rest = sym;
    while let Some(i) = rest.find("<impl ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 6..];
        let Some(end) = after.find('>') else {
            rest = after;
            break;
        };
        let ty = &after[..end];
        out.push_str(ty.rsplit("::").next().unwrap_or(ty));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.replace("::{{closure}}", "")
}

/// `a::b::h0123456789abcdef` → `a::b`.
fn strip_hash(sym: &str) -> &str {
    match sym.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => sym,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_blocks_only_unplugged_blocks() {
        let f = Fence::new("vm0", 1 << 30, 8 << 20, 2 << 20);
        assert_eq!(f.blocked(1 << 30, 4096), Some(1 << 30));
        f.set_plugged(1 << 30, 4 << 20, true);
        assert_eq!(f.blocked(1 << 30, 4 << 20), None);
        // Straddling into the third (unplugged) block.
        assert_eq!(
            f.blocked((1 << 30) + (4 << 20) - 8, 16),
            Some((1 << 30) + (4 << 20))
        );
        // Outside the region nothing is fenced.
        assert_eq!(f.blocked(0, 1 << 30), None);
        f.set_plugged((1 << 30) + (2 << 20), 2 << 20, false);
        assert_eq!(f.blocked(1 << 30, 4 << 20), Some((1 << 30) + (2 << 20)));
    }

    #[test]
    fn tidy_shortens_impl_paths() {
        assert_eq!(
            tidy("vm::fault::<impl mmsim::a::Owner>::alloc_anon_page::{{closure}}"),
            "vm::fault::Owner::alloc_anon_page"
        );
    }

    #[test]
    fn strip_hash_removes_only_a_rust_hash() {
        assert_eq!(strip_hash("mmsim::a::b::h0123456789abcdef"), "mmsim::a::b");
        assert_eq!(strip_hash("mmsim::a::hello"), "mmsim::a::hello");
    }
}
