//! The shuttle backend (`--cfg mmsim_shuttle`): shuttle's threads, mutexes
//! and condition variables, and atomics of our own that are scheduling
//! points, so that shuttle's schedulers choose every interleaving. Code using
//! this backend must run inside a shuttle execution (`shuttle::check_*`,
//! `shuttle::Runner`, or the race explorer).
//!
//! # Why our own atomics
//!
//! Shuttle's atomic types are scheduling points too, but they are not
//! zero-initialisable (a memmap chunk of them cannot be an anonymous
//! mapping), they give no way to say "this access is not a scheduling
//! point" for memory that no other thread can see yet, and they offer no
//! hook for waking spinners. Ours are the standard library's atomics
//! (`repr(transparent)`, so all-zero bytes are a valid value, as on the std
//! backend) with a call into shuttle's scheduler before every access:
//!
//! - every load, store, read-modify-write and fence is a scheduling point,
//!   unless the calling task is inside [`unscheduled`] (bulk initialisation
//!   of memory that no other task can reach yet, a race's set-up and
//!   teardown);
//! - every write wakes the tasks parked in [`snooze`]. A spin-wait on the
//!   std backend spins, yields and sleeps; here it parks until some atomic
//!   is written, so if the awaited write never comes, every task ends up
//!   blocked and shuttle reports a *deadlock* instead of running into its
//!   step limit.
//!
//! Shuttle runs an execution's tasks one at a time on one OS thread, so the
//! bookkeeping below (the parked spinners, the unscheduled scopes) is plain
//! thread-local state, and nothing in it is a scheduling
//! point.
//!
//! Shuttle does not model weak memory: every access behaves as `SeqCst`.
//! It finds interleaving bugs (lost wake-ups, missing re-checks, deadlocks,
//! use after free), not ordering bugs.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::cell::{Cell, RefCell};

use shuttle_engine::current::TaskId;
use shuttle_engine::runtime::execution::ExecutionState;

pub(crate) use shuttle::sync::{Condvar, Mutex, MutexGuard};
pub(crate) use shuttle::thread_local;

// Shuttle's `Arc` and `Weak` are std's (it does not model reference counts).
// Aliases, not re-exports, so that clippy's `disallowed-types` accepts
// `crate::sync::Arc` outside this module (see the std backend).

/// `std::sync::Arc`, via shuttle.
pub type Arc<T> = shuttle::sync::Arc<T>;
/// `std::sync::Weak`, via shuttle.
pub type Weak<T> = shuttle::sync::Weak<T>;

/// Whether an [`Rcu`](super::Rcu) domain starts a background grace-period
/// thread: yes, also under shuttle, so that `call_rcu` callbacks (the RCU
/// memmap free) run concurrently with everything else, as in the kernel,
/// not only when some actor happens to call `synchronize`. The thread exits
/// when its domain is dropped, so an explored body drops its machine (or
/// `Rcu`) before it returns.
pub(crate) const RCU_GP_THREAD: bool = true;

std::thread_local! {
    /// Tasks parked in `snooze`, to unpark at the next atomic write.
    static SPINNERS: RefCell<Vec<TaskId>> = const { RefCell::new(Vec::new()) };
    /// Open `quiescent` scopes.
    static QUIESCENT: Cell<u32> = const { Cell::new(0) };
    /// Tasks inside `unscheduled`, with their nesting depth.
    static UNSCHEDULED: RefCell<Vec<(TaskId, u32)>> = const { RefCell::new(Vec::new()) };
}

fn current_task() -> Option<TaskId> {
    shuttle_engine::current::get_current_task()
}

/// A scheduling point for an access to shared memory, unless the calling
/// task is inside [`unscheduled`].
#[inline]
#[track_caller]
pub(crate) fn sched_point() {
    if QUIESCENT.get() > 0 {
        return;
    }
    if UNSCHEDULED.with(|u| u.borrow().is_empty()) || !caller_unscheduled() {
        shuttle_engine::runtime::thread::continuation::switch();
    }
}

#[cold]
fn caller_unscheduled() -> bool {
    let Some(me) = current_task() else {
        return false;
    };
    UNSCHEDULED.with(|u| u.borrow().iter().any(|&(t, _)| t == me))
}

/// After a write: unpark every spinner, which re-checks what it waits for,
/// if the write changed the value. A spinner waits for memory to change, so
/// a write of the value already there (an `invoking.swap(true)` that finds
/// `true`) cannot end its wait; waking it would only spend steps.
#[inline]
fn wrote_if(changed: bool) {
    if changed {
        wrote();
    }
}

/// Unparks every spinner but the writer: a task's own write cannot end its
/// own wait, and an unpark token handed to itself would make its next
/// `snooze` return at once, every time (see [`snooze`]).
#[inline]
fn wrote() {
    let woken = SPINNERS.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut *s))
        }
    });
    if let Some(tasks) = woken {
        let me = current_task();
        ExecutionState::with(|state| {
            for t in tasks.into_iter().filter(|&t| Some(t) != me) {
                // A task of an execution that ended (by a panic) is gone or
                // is another task now: a spurious wake-up, which parking
                // allows.
                if let Some(task) = state.try_get_mut(t) {
                    task.unpark();
                }
            }
        });
    }
}

/// Runs `f` with the calling task's atomic accesses not being scheduling
/// points: for initialising or poisoning memory that no other task can see
/// yet, and for a race's set-up and teardown, where a scheduling point per
/// word only lengthens schedules. Lock operations inside stay scheduling
/// points, and other tasks' accesses stay scheduling points meanwhile (the
/// check costs a lookup of the current task only while some task is
/// inside).
pub fn unscheduled<R>(f: impl FnOnce() -> R) -> R {
    let Some(me) = current_task() else {
        return f();
    };
    UNSCHEDULED.with(|u| {
        let mut u = u.borrow_mut();
        match u.iter_mut().find(|(t, _)| *t == me) {
            Some((_, depth)) => *depth += 1,
            None => u.push((me, 1)),
        }
    });
    struct Leave(TaskId);
    impl Drop for Leave {
        fn drop(&mut self) {
            UNSCHEDULED.with(|u| {
                let mut u = u.borrow_mut();
                if let Some(i) = u.iter().position(|&(t, _)| t == self.0) {
                    u[i].1 -= 1;
                    if u[i].1 == 0 {
                        u.swap_remove(i);
                    }
                }
            });
        }
    }
    let _leave = Leave(me);
    f()
}

/// Runs `f` with no atomic access of any task a scheduling point: for a
/// race's set-up before it spawns its actors and its teardown after it
/// joined them, when nothing else runs (a background task such as
/// `rcu_gp` that wakes meanwhile runs without scheduling points too: fewer
/// interleavings of the teardown, never a wrong one). Cheaper than
/// [`unscheduled`], which must look up the current task on every access.
/// Never wait inside for another task (an RCU barrier, a join): that task
/// would run without scheduling points and the two can spin forever.
pub fn quiescent<R>(f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            QUIESCENT.set(QUIESCENT.get() - 1);
        }
    }
    QUIESCENT.set(QUIESCENT.get() + 1);
    let _leave = Leave;
    f()
}

/// Forgets the bookkeeping of an execution that ended by a panic (its
/// tasks' stacks may be dropped without unwinding, leaving `unscheduled`
/// scopes open and spinners registered). Call before each execution.
pub fn reset_execution_state() {
    UNSCHEDULED.with(|u| u.borrow_mut().clear());
    QUIESCENT.set(0);
    SPINNERS.with(|s| s.borrow_mut().clear());
}

/// The atomic types: std's, each access a scheduling point.
pub mod atomic {
    use super::{sched_point, wrote_if};
    use std::fmt;
    pub use std::sync::atomic::Ordering;

    /// `fence`: a scheduling point (shuttle runs every access `SeqCst`, so
    /// the fence itself orders nothing more).
    #[track_caller]
    pub fn fence(order: Ordering) {
        sched_point();
        std::sync::atomic::fence(order);
    }

    macro_rules! common {
        ($name:ident, $t:ty) => {
            impl $name {
                /// A new atomic (not a scheduling point).
                pub const fn new(v: $t) -> Self {
                    Self(std::sync::atomic::$name::new(v))
                }
                /// The value through an exclusive reference (no other task
                /// can access it: not a scheduling point).
                pub fn get_mut(&mut self) -> &mut $t {
                    self.0.get_mut()
                }
                /// Consumes the atomic.
                pub fn into_inner(self) -> $t {
                    self.0.into_inner()
                }
                /// `load`.
                #[track_caller]
                pub fn load(&self, order: Ordering) -> $t {
                    sched_point();
                    self.0.load(order)
                }
                /// `store`.
                #[track_caller]
                pub fn store(&self, v: $t, order: Ordering) {
                    sched_point();
                    // A swap is a store of every ordering a store allows;
                    // the old value says whether spinners need waking.
                    let old = self.0.swap(v, order);
                    wrote_if(old != v);
                }
                /// `swap`.
                #[track_caller]
                pub fn swap(&self, v: $t, order: Ordering) -> $t {
                    sched_point();
                    let old = self.0.swap(v, order);
                    wrote_if(old != v);
                    old
                }
                /// `compare_exchange`.
                #[track_caller]
                pub fn compare_exchange(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    sched_point();
                    let r = self.0.compare_exchange(current, new, success, failure);
                    wrote_if(r.is_ok() && current != new);
                    r
                }
                /// `compare_exchange_weak` (never fails spuriously here:
                /// a spurious failure is only a retry).
                #[track_caller]
                pub fn compare_exchange_weak(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    self.compare_exchange(current, new, success, failure)
                }
                /// `fetch_update`: one access (the closure must be pure).
                #[track_caller]
                pub fn fetch_update<F>(
                    &self,
                    set_order: Ordering,
                    fetch_order: Ordering,
                    f: F,
                ) -> Result<$t, $t>
                where
                    F: FnMut($t) -> Option<$t>,
                {
                    sched_point();
                    let r = self.0.fetch_update(set_order, fetch_order, f);
                    wrote_if(r.is_ok_and(|old| old != self.0.load(Ordering::Relaxed)));
                    r
                }
            }

            impl Default for $name {
                fn default() -> Self {
                    Self(Default::default())
                }
            }

            impl fmt::Debug for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    // Not a scheduling point: debugging output only.
                    fmt::Debug::fmt(&self.0, f)
                }
            }

            impl From<$t> for $name {
                fn from(v: $t) -> Self {
                    Self::new(v)
                }
            }
        };
    }

    macro_rules! rmw {
        ($($op:ident),+ ; $t:ty) => {
            $(
                /// The read-modify-write of the same name.
                #[track_caller]
                pub fn $op(&self, v: $t, order: Ordering) -> $t {
                    sched_point();
                    let old = self.0.$op(v, order);
                    // One task runs at a time: the value now is what the
                    // operation stored.
                    wrote_if(self.0.load(Ordering::Relaxed) != old);
                    old
                }
            )+
        };
    }

    macro_rules! int_atomic {
        ($($name:ident: $t:ty),+ $(,)?) => {
            $(
                #[doc = concat!("`std::sync::atomic::", stringify!($name), "`, each access a scheduling point.")]
                #[repr(transparent)]
                pub struct $name(std::sync::atomic::$name);
                common!($name, $t);
                impl $name {
                    rmw!(fetch_add, fetch_sub, fetch_and, fetch_or, fetch_xor, fetch_nand,
                         fetch_max, fetch_min; $t);
                }
            )+
        };
    }

    int_atomic!(
        AtomicU8: u8,
        AtomicU16: u16,
        AtomicU32: u32,
        AtomicI32: i32,
        AtomicU64: u64,
        AtomicI64: i64,
        AtomicUsize: usize,
    );

    /// `std::sync::atomic::AtomicBool`, each access a scheduling point.
    #[repr(transparent)]
    pub struct AtomicBool(std::sync::atomic::AtomicBool);
    common!(AtomicBool, bool);
    impl AtomicBool {
        rmw!(fetch_and, fetch_or, fetch_xor, fetch_nand; bool);
    }

    /// `std::sync::atomic::AtomicPtr`, each access a scheduling point.
    #[repr(transparent)]
    pub struct AtomicPtr<T>(std::sync::atomic::AtomicPtr<T>);

    impl<T> AtomicPtr<T> {
        /// A new atomic pointer (not a scheduling point).
        pub const fn new(p: *mut T) -> Self {
            Self(std::sync::atomic::AtomicPtr::new(p))
        }
        /// `load`.
        #[track_caller]
        pub fn load(&self, order: Ordering) -> *mut T {
            sched_point();
            self.0.load(order)
        }
        /// `store`.
        #[track_caller]
        pub fn store(&self, p: *mut T, order: Ordering) {
            sched_point();
            let old = self.0.swap(p, order);
            wrote_if(old != p);
        }
        /// `swap`.
        #[track_caller]
        pub fn swap(&self, p: *mut T, order: Ordering) -> *mut T {
            sched_point();
            let old = self.0.swap(p, order);
            wrote_if(old != p);
            old
        }
        /// `compare_exchange`.
        #[track_caller]
        pub fn compare_exchange(
            &self,
            current: *mut T,
            new: *mut T,
            success: Ordering,
            failure: Ordering,
        ) -> Result<*mut T, *mut T> {
            sched_point();
            let r = self.0.compare_exchange(current, new, success, failure);
            wrote_if(r.is_ok() && current != new);
            r
        }
    }

    impl<T> Default for AtomicPtr<T> {
        fn default() -> Self {
            Self::new(std::ptr::null_mut())
        }
    }

    impl<T> fmt::Debug for AtomicPtr<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(&self.0, f)
        }
    }
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

    /// Lets the scheduler run another task (PCT lowers the caller's
    /// priority, so a polling loop cannot starve the task it waits for).
    pub fn yield_now() {
        shuttle::thread::yield_now();
    }

    /// Shuttle has no clock: a sleep is a yield. (Shuttle's own `sleep` is
    /// a plain context switch, which PCT may keep choosing the sleeper for:
    /// a polling loop would livelock.)
    pub fn sleep(_d: Duration) {
        shuttle::thread::yield_now();
    }
}

/// A spin-loop hint is a yield under shuttle, so that a spinning task lets
/// the scheduler run the task it waits for.
#[inline]
pub fn cpu_relax() {
    shuttle::thread::yield_now();
}

/// One step of a waiting loop on atomics: park until some task writes an
/// atomic (the loop then re-checks). Between the caller's last check, which
/// was a scheduling point, and the park there is none, so no write is
/// missed; if no write ever comes, every task is blocked and shuttle
/// reports a deadlock.
pub(crate) fn snooze(_step: u32) {
    let Some(me) = current_task() else {
        return;
    };
    SPINNERS.with(|s| s.borrow_mut().push(me));
    shuttle::thread::park();
    // Shuttle may wake a parked task spuriously, with no write, leaving it
    // listed. A stale entry is woken by the next write, the task's own
    // included, and its next park then returns at once: a task that writes
    // while it spins (`invoke_callbacks` in `rcu_barrier`) then never
    // blocks, and under PCT the task it waits for never runs.
    SPINNERS.with(|s| s.borrow_mut().retain(|&t| t != me));
}

/// Two shards: enough to exercise the "sum over CPUs" logic, few enough to
/// keep schedules short.
pub(crate) fn nr_cpu_shards() -> usize {
    2
}

/// The calling task's per-CPU shard: its task number, so that a schedule
/// replays identically (an address would differ from run to run).
pub(crate) fn this_cpu_shard(nr_shards: usize) -> usize {
    current_task().map_or(0, usize::from) % nr_shards
}
