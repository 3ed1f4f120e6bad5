//! A condition variable over [`Mutex`](super::Mutex): the model's wait queue.
//!
//! The kernel sleeps with `wait_event(wq, cond)` and wakes with `wake_up(wq)`;
//! the condition is re-checked after every wake-up. [`Condvar::wait_while`]
//! is that loop. Always change the condition under the mutex before
//! notifying, or a waiter can check, miss the change and sleep forever.

use core::fmt;
use core::time::Duration;
use std::sync::PoisonError;

use super::backend;
use super::mutex::MutexGuard;

/// A wait queue for threads sleeping on a condition guarded by a [`Mutex`](super::Mutex).
///
/// ```
/// use mmsim::sync::{thread, Arc, Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let waker = Arc::clone(&pair);
/// let t = thread::spawn(move || {
///     *waker.0.lock() = true;
///     waker.1.notify_all();
/// });
/// let done = pair.1.wait_while(pair.0.lock(), |done| !*done);
/// assert!(*done);
/// drop(done);
/// t.join().unwrap();
/// ```
#[derive(Default)]
pub struct Condvar {
    inner: backend::Condvar,
}

impl Condvar {
    /// An empty wait queue (`init_waitqueue_head`).
    pub const fn new() -> Self {
        Self {
            inner: backend::Condvar::new(),
        }
    }

    /// Releases the mutex, sleeps until notified (or spuriously woken), and
    /// takes the mutex again.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        MutexGuard {
            inner: self
                .inner
                .wait(guard.inner)
                .unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// `wait_event`: sleeps while `condition` holds, re-checking it under the
    /// mutex after every wake-up.
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Like [`wait`](Self::wait) but gives up after `timeout`; the flag is
    /// true if it timed out. Under shuttle there is no clock and the timeout
    /// may fire at any scheduling point.
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let (inner, result) = self
            .inner
            .wait_timeout(guard.inner, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        (MutexGuard { inner }, result.timed_out())
    }

    /// `wake_up_one`-ish: wakes one sleeper, if any.
    pub fn notify_one(&self) {
        self.inner.notify_one();
    }

    /// `wake_up_all`: wakes every sleeper.
    pub fn notify_all(&self) {
        self.inner.notify_all();
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
