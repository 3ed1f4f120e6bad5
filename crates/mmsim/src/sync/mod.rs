//! Synchronisation: the kernel's locking and RCU primitives, and the one
//! door to threads and atomics.
//!
//! # One door
//!
//! This module is the only place in the crate that names `std::sync`,
//! `std::thread` or a concurrency checker (`clippy.toml` forbids the std
//! types elsewhere). Everything else uses [`Arc`], [`atomic`], [`thread`],
//! [`cpu_relax`] and the primitives below, so that one build flag swaps the
//! whole machine onto a checker's scheduler:
//!
//! | build | backend | what runs |
//! |---|---|---|
//! | default | `std_backend` | OS threads, hardware atomics |
//! | `RUSTFLAGS="--cfg mmsim_shuttle"` | `shuttle_backend` | shuttle tasks; each atomic access, fence, page-table word and lock operation is a scheduling point (run inside a shuttle execution) |
//! | `--cfg mmsim_loom` | not written yet | (refused at compile time) |
//!
//! The primitives are written once, on top of the backend's atomics,
//! mutexes and condition variables, so the checker sees their real
//! protocols, not a library's opaque lock. Every waiting loop either sleeps
//! on a condition variable or polls with backoff through the backend; under
//! shuttle a spin-wait parks until some atomic is written and a sleep is a
//! yield, so shuttle can schedule the awaited thread, and a deadlock is
//! reported as one instead of as a run that never ends.
//!
//! Under shuttle the explored code must be a function of its schedule
//! alone: per-CPU shards come from the task number, nothing reads a clock
//! (`clippy.toml` forbids `Instant` and `std::thread::sleep` in the crate),
//! and bulk initialisation of memory no other task can see yet runs
//! [`unscheduled`].
//!
//! # The primitives
//!
//! | type | kernel | waits by |
//! |---|---|---|
//! | [`SpinLock`] | `spinlock_t` | spinning (then yielding: model threads can be preempted) |
//! | [`Mutex`] + [`Condvar`] | `struct mutex`, wait queues | sleeping |
//! | [`RwSem`] | `struct rw_semaphore` as since 5.11: one FIFO of waiters, reader and writer lock stealing, handoff, all queued readers woken together | sleeping |
//! | [`PercpuRwSem`] | `struct percpu_rw_semaphore` (`mem_hotplug_lock`) | readers: per-CPU counters; sleeping on contention |
//! | [`SeqCount`] | `seqcount_t` | readers retry |
//! | [`Completion`] | `struct completion` | sleeping |
//! | [`Rcu`] | one RCU domain (`rcu_read_lock`, `synchronize_rcu`, `call_rcu`, `rcu_barrier`) | readers never wait |
//!
//! Each primitive is a value owned by its user: there are no global locks
//! and no global RCU. A machine owns its RCU domain and its hotplug locks;
//! two machines in one process never share one. (The only thread-local
//! state is RCU's per-thread read-side depth, keyed by domain, and the
//! thread's per-CPU shard.) Lock order is documented by the owner of the
//! locks, not here.
//!
//! # Memory orderings
//!
//! Every atomic access that is not `Relaxed` carries a comment naming the
//! access it pairs with ("Release: pairs with the Acquire in ..."), so a
//! reviewer checks orderings by following names. The same rule holds for
//! code outside this module. Note that shuttle treats every access as
//! `SeqCst`: it checks interleavings, not orderings.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

#[cfg(all(mmsim_shuttle, mmsim_loom))]
compile_error!(
    "--cfg mmsim_shuttle and --cfg mmsim_loom are exclusive: choose one checker backend"
);

#[cfg(all(mmsim_loom, not(mmsim_shuttle)))]
compile_error!("the loom backend (--cfg mmsim_loom) is not written yet; use --cfg mmsim_shuttle");

#[cfg(not(mmsim_shuttle))]
#[path = "std_backend.rs"]
mod backend;

#[cfg(mmsim_shuttle)]
#[path = "shuttle_backend.rs"]
mod backend;

mod backoff;
mod completion;
mod condvar;
mod mutex;
mod percpu;
mod percpu_rwsem;
mod rcu;
mod rwsem;
mod seqcount;
mod spinlock;

pub use backend::{quiescent, unscheduled, Arc, Weak};

/// `thread_local!` of the selected backend: per OS thread, or per shuttle
/// task (shuttle runs every task on one OS thread, so a std thread-local
/// would leak one task's state into another's).
pub(crate) use backend::thread_local as task_local;

#[cfg(mmsim_shuttle)]
pub use backend::reset_execution_state;

pub use completion::Completion;
pub use condvar::Condvar;
pub use mutex::{Mutex, MutexGuard};
pub(crate) use percpu::{per_cpu, this_cpu_shard, CachePadded};
pub use percpu_rwsem::{PercpuReadGuard, PercpuRwSem, PercpuWriteGuard};
pub use rcu::{Rcu, RcuReadGuard};
pub use rwsem::{RwSem, RwSemReadGuard, RwSemWriteGuard};
pub use seqcount::SeqCount;
pub use spinlock::{SpinLock, SpinLockGuard};

/// Atomic types of the selected backend. Use these, never
/// `std::sync::atomic`, so that checkers see every access.
pub mod atomic {
    pub use super::backend::atomic::{
        fence, AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU16, AtomicU32, AtomicU64,
        AtomicU8, AtomicUsize, Ordering,
    };
}

/// Threads of the selected backend (OS threads, or shuttle tasks).
pub mod thread {
    pub use super::backend::thread::{
        current_name, sleep, spawn, spawn_named, yield_now, JoinHandle,
    };
}

/// `cpu_relax()`: the hint to put in a spin loop. A pause instruction on
/// the std backend; a yield to the scheduler under shuttle.
#[inline]
pub fn cpu_relax() {
    backend::cpu_relax();
}

/// Wall-clock time, for measuring the model from outside (schedules per
/// second, operations per second). Explored code must never read it: under
/// shuttle a schedule must be all that decides what the model does.
pub mod clock {
    /// A point in time.
    #[derive(Clone, Copy, Debug)]
    pub struct Stamp(std::time::Instant);

    /// Now.
    pub fn now() -> Stamp {
        Stamp(std::time::Instant::now())
    }

    /// Seconds elapsed since `since`.
    pub fn seconds_since(since: Stamp) -> f64 {
        since.0.elapsed().as_secs_f64()
    }
}

/// A scheduling point for a shared-memory access that does not go through
/// [`atomic`]: a page-table entry kept in the bytes of physical memory
/// ([`data`]). A no-op on real threads.
#[inline(always)]
#[track_caller]
pub fn preempt_point() {
    backend::sched_point();
}

/// Atomics for bulk data that no protocol synchronises on: the bytes of
/// physical memory. They are always the hardware's, also under a checker,
/// because modelling every byte access as a scheduling point would explode
/// the schedule space without checking any protocol; the protocols that
/// decide who may touch the bytes (refcounts, PageOffline, locks) use
/// [`atomic`]. Page-table entries live in these bytes too, and they *are*
/// read by protocols (GUP-fast, walkers): their accessors call
/// [`preempt_point`] first. Only `physmem` may name this module
/// (`clippy.toml`).
pub mod data {
    /// A word of page contents.
    pub type AtomicU64 = std::sync::atomic::AtomicU64;
}
