//! The shuttle backend (`--cfg mmsim_shuttle`): shuttle's threads, atomics,
//! mutexes and condition variables, so that its schedulers choose every
//! interleaving point. Code using this backend must run inside
//! `shuttle::check_*`.
//!
//! Shuttle treats every atomic access as `SeqCst`: it finds interleaving bugs
//! (lost wake-ups, missing re-checks, deadlocks), not weak-ordering bugs.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

pub(crate) use shuttle::sync::{Condvar, Mutex, MutexGuard};
pub(crate) use shuttle::thread_local;

// Shuttle's `Arc` and `Weak` are std's (it does not model reference counts).
// Aliases, not re-exports, so that clippy's `disallowed-types` accepts
// `crate::sync::Arc` outside this module (see the std backend).

/// `std::sync::Arc`, via shuttle.
pub type Arc<T> = shuttle::sync::Arc<T>;
/// `std::sync::Weak`, via shuttle.
pub type Weak<T> = shuttle::sync::Weak<T>;

/// No background grace-period thread under shuttle: it would never exit
/// while the test body still owns the domain, and shuttle waits for every
/// thread. Callbacks run from `synchronize`, `barrier` and drop instead.
pub(crate) const RCU_GP_THREAD: bool = false;

/// The atomic types, shuttle's (each access is a scheduling point).
pub mod atomic {
    pub use shuttle::sync::atomic::{
        fence, AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU16, AtomicU32, AtomicU64,
        AtomicU8, AtomicUsize, Ordering,
    };
}

/// Shuttle tasks standing in for threads.
pub mod thread {
    use std::time::Duration;

    pub use shuttle::thread::{JoinHandle, ThreadId};

    /// Starts a shuttle task running `f`.
    #[track_caller]
    pub fn spawn<F, T>(f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        shuttle::thread::spawn(f)
    }

    /// Starts a named shuttle task.
    #[track_caller]
    pub fn spawn_named<F, T>(name: &str, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        shuttle::thread::Builder::new()
            .name(name.to_owned())
            .spawn(f)
            .expect("failed to spawn a shuttle task")
    }

    /// The calling thread's name, if it was given one.
    pub fn current_name() -> Option<String> {
        shuttle::thread::current().name().map(str::to_owned)
    }

    /// The calling task's identity.
    pub(crate) fn current_id() -> ThreadId {
        shuttle::thread::current().id()
    }

    /// Lets the scheduler run another task.
    pub fn yield_now() {
        shuttle::thread::yield_now();
    }

    /// Shuttle has no clock: a sleep is a context switch.
    pub fn sleep(d: Duration) {
        shuttle::thread::sleep(d);
    }
}

/// A spin-loop hint is a yield under shuttle, so that a spinning task lets
/// the scheduler run the task it waits for.
#[inline]
pub fn cpu_relax() {
    shuttle::thread::yield_now();
}

/// One step of a waiting loop: a single yield (shuttle has no time to wait).
pub(crate) fn snooze(_step: u32) {
    shuttle::thread::yield_now();
}

/// Two shards: enough to exercise the "sum over CPUs" logic, few enough to
/// keep schedules short.
pub(crate) fn nr_cpu_shards() -> usize {
    2
}
