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
//! | `RUSTFLAGS="--cfg mmsim_shuttle"` | `shuttle_backend` | shuttle tasks; each atomic access and lock operation is a scheduling point (run inside `shuttle::check_*`) |
//! | `--cfg mmsim_loom` | not written yet | (refused at compile time) |
//!
//! The primitives are written once, on top of the backend's atomics,
//! mutexes and condition variables, so the checker sees their real
//! protocols, not a library's opaque lock. Every waiting loop either sleeps
//! on a condition variable or polls with backoff through the backend (a
//! yield under shuttle), so shuttle can schedule the awaited thread and can
//! report a deadlock instead of hanging.
//!
//! # The primitives
//!
//! | type | kernel | waits by |
//! |---|---|---|
//! | [`SpinLock`] | `spinlock_t` | spinning (then yielding: model threads can be preempted) |
//! | [`Mutex`] + [`Condvar`] | `struct mutex`, wait queues | sleeping |
//! | [`RwSem`] | `struct rw_semaphore`, writer preference | sleeping |
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

pub use backend::{Arc, Weak};
pub use completion::Completion;
pub use condvar::Condvar;
pub use mutex::{Mutex, MutexGuard};
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

/// Atomics for bulk data that no protocol synchronises on: the bytes of
/// physical memory. They are always the hardware's, also under a checker,
/// because modelling every byte access as a scheduling point would explode
/// the schedule space without checking any protocol; the protocols that
/// decide who may touch the bytes (refcounts, PageOffline, locks) use
/// [`atomic`].
pub mod data {
    /// A word of page contents.
    pub type AtomicU64 = std::sync::atomic::AtomicU64;
}
