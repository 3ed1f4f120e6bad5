//! The default backend: the standard library's threads, atomics, mutexes and
//! condition variables, running on real OS threads.
//!
//! Every backend file exports the same surface; `sync/mod.rs` picks one by
//! `cfg`. The primitives above it never name `std::sync` or `std::thread`.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::time::Duration;

pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

// The public names are type aliases, not re-exports: clippy's
// `disallowed-types` resolves a re-export to the std item and would reject
// `crate::sync::Arc` outside this module, while an alias is an item of its
// own. Direct uses of `std::sync::Arc` elsewhere are still rejected.

/// `std::sync::Arc`.
pub type Arc<T> = std::sync::Arc<T>;
/// `std::sync::Weak`.
pub type Weak<T> = std::sync::Weak<T>;
pub(crate) use std::thread_local;

/// Whether an [`Rcu`](super::Rcu) domain may start a background grace-period
/// thread. Yes on real threads: callbacks then run without anyone calling
/// `synchronize`.
pub(crate) const RCU_GP_THREAD: bool = true;

/// The atomic types: `std::sync::atomic`'s, under aliases (see [`Arc`]).
pub mod atomic {
    pub use std::sync::atomic::Ordering;

    /// `std::sync::atomic::fence` (a function of its own, so that clippy
    /// tells it from direct uses of std's, which it forbids).
    #[inline(always)]
    pub fn fence(order: Ordering) {
        std::sync::atomic::fence(order);
    }

    /// `std::sync::atomic::AtomicBool`.
    pub type AtomicBool = std::sync::atomic::AtomicBool;
    /// `std::sync::atomic::AtomicU8`.
    pub type AtomicU8 = std::sync::atomic::AtomicU8;
    /// `std::sync::atomic::AtomicU16`.
    pub type AtomicU16 = std::sync::atomic::AtomicU16;
    /// `std::sync::atomic::AtomicU32`.
    pub type AtomicU32 = std::sync::atomic::AtomicU32;
    /// `std::sync::atomic::AtomicI32`.
    pub type AtomicI32 = std::sync::atomic::AtomicI32;
    /// `std::sync::atomic::AtomicU64`.
    pub type AtomicU64 = std::sync::atomic::AtomicU64;
    /// `std::sync::atomic::AtomicI64`.
    pub type AtomicI64 = std::sync::atomic::AtomicI64;
    /// `std::sync::atomic::AtomicUsize`.
    pub type AtomicUsize = std::sync::atomic::AtomicUsize;
    /// `std::sync::atomic::AtomicPtr`.
    pub type AtomicPtr<T> = std::sync::atomic::AtomicPtr<T>;
}

/// OS threads.
pub mod thread {
    use std::time::Duration;

    pub use std::thread::{JoinHandle, ThreadId};

    /// Starts an OS thread running `f`.
    pub fn spawn<F, T>(f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        std::thread::spawn(f)
    }

    /// Starts an OS thread with a name (shown by debuggers and panics).
    pub fn spawn_named<F, T>(name: &str, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(f)
            .expect("failed to spawn an OS thread")
    }

    /// The calling thread's name, if it was given one.
    pub fn current_name() -> Option<String> {
        std::thread::current().name().map(str::to_owned)
    }

    /// The calling thread's identity.
    pub(crate) fn current_id() -> ThreadId {
        std::thread::current().id()
    }

    /// Gives up the rest of this time slice.
    pub fn yield_now() {
        std::thread::yield_now();
    }

    /// Sleeps for at least `d`.
    pub fn sleep(d: Duration) {
        std::thread::sleep(d);
    }
}

/// The spin-loop hint (`cpu_relax()` in the kernel; PAUSE on x86).
#[inline]
pub fn cpu_relax() {
    std::hint::spin_loop();
}

/// One step of a waiting loop that cannot sleep on a condition variable:
/// spin briefly, then yield the CPU, then sleep for growing intervals. The
/// host may have fewer cores than there are spinning threads, so a waiter
/// must eventually give its core to the thread it waits for.
pub(crate) fn snooze(step: u32) {
    const SPIN_STEPS: u32 = 6;
    const YIELD_STEPS: u32 = 16;
    if step < SPIN_STEPS {
        for _ in 0..(1u32 << step) {
            cpu_relax();
        }
    } else if step < YIELD_STEPS {
        thread::yield_now();
    } else {
        let exp = (step - YIELD_STEPS).min(5);
        thread::sleep(Duration::from_micros(10 << exp));
    }
}

/// No scheduler to call: a no-op (see the shuttle backend).
#[inline(always)]
pub(crate) fn sched_point() {}

/// Runs `f` (accesses are never scheduling points on real threads).
#[inline(always)]
pub fn unscheduled<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` (accesses are never scheduling points on real threads).
#[inline(always)]
pub fn quiescent<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The calling thread's per-CPU shard: a hash of the address of a
/// thread-local, distinct for every live thread and stable for its life.
pub(crate) fn this_cpu_shard(nr_shards: usize) -> usize {
    std::thread_local! {
        // Only its address matters: every live thread's copy has a distinct one.
        static SHARD_ANCHOR: u8 = const { 0 };
    }
    let addr = SHARD_ANCHOR.with(|anchor| std::ptr::from_ref(anchor) as usize);
    // Fibonacci hashing: thread-local blocks sit at regular strides, the
    // multiplication spreads them over the high bits.
    let hash = (addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    // per_cpu() arrays have a power-of-two length: a mask, not a division,
    // on the allocator's fast path.
    if nr_shards.is_power_of_two() {
        hash as usize & (nr_shards - 1)
    } else {
        hash as usize % nr_shards
    }
}

/// How many per-CPU shards a per-CPU counter gets: one per host CPU (rounded
/// to a power of two), so threads on different CPUs rarely share a line.
pub(crate) fn nr_cpu_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 64)
        .next_power_of_two()
}
