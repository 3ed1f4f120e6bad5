//! `struct completion`: "wait until that happened".
//!
//! A completion holds a count of `complete()` calls not yet consumed. Each
//! `wait_for_completion` sleeps until the count is non-zero and consumes one;
//! `complete_all` sets the count to "infinite" (`UINT_MAX`, as the kernel does)
//! so every present and future waiter passes until `reinit`.

use core::fmt;

use super::condvar::Condvar;
use super::mutex::Mutex;

/// The count value meaning "completed for everyone" (`complete_all`).
const COMPLETE_ALL: u32 = u32::MAX;

/// A kernel `struct completion`.
///
/// ```
/// use mmsim::sync::{thread, Arc, Completion};
///
/// let probed = Arc::new(Completion::new());
/// let device = Arc::clone(&probed);
/// let t = thread::spawn(move || device.complete());
/// probed.wait_for_completion();
/// t.join().unwrap();
/// ```
pub struct Completion {
    /// Completions not yet consumed by a waiter: 0 (waiters sleep), n
    /// (n waiters may pass, `complete` adds one) or [`COMPLETE_ALL`]
    /// (everyone passes; set by `complete_all`, cleared by `reinit`).
    done: Mutex<u32>,
    wait: Condvar,
}

impl Completion {
    /// A completion that has not happened (`init_completion`).
    pub const fn new() -> Self {
        Self {
            done: Mutex::new(0),
            wait: Condvar::new(),
        }
    }

    /// `complete`: lets one waiter (present or future) through.
    pub fn complete(&self) {
        let mut done = self.done.lock();
        if *done != COMPLETE_ALL {
            *done += 1;
        }
        self.wait.notify_one();
    }

    /// `complete_all`: lets every waiter through until [`reinit`](Self::reinit).
    pub fn complete_all(&self) {
        *self.done.lock() = COMPLETE_ALL;
        self.wait.notify_all();
    }

    /// `wait_for_completion`: sleeps until completed, and consumes one
    /// completion (none after `complete_all`).
    pub fn wait_for_completion(&self) {
        let mut done = self.wait.wait_while(self.done.lock(), |done| *done == 0);
        if *done != COMPLETE_ALL {
            *done -= 1;
        }
    }

    /// `try_wait_for_completion`: consumes a completion if one is available,
    /// without sleeping.
    pub fn try_wait_for_completion(&self) -> bool {
        let mut done = self.done.lock();
        match *done {
            0 => false,
            COMPLETE_ALL => true,
            _ => {
                *done -= 1;
                true
            }
        }
    }

    /// `completion_done`: whether a waiter would pass right now.
    pub fn is_done(&self) -> bool {
        *self.done.lock() != 0
    }

    /// `reinit_completion`: back to "has not happened".
    pub fn reinit(&self) {
        *self.done.lock() = 0;
    }
}

impl Default for Completion {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("done", &*self.done.lock())
            .finish()
    }
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;
    use crate::sync::atomic::{AtomicUsize, Ordering};
    use crate::sync::{thread, Arc};

    #[test]
    fn completion_wakes_a_sleeping_waiter() {
        let c = Arc::new(Completion::new());
        let passed = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (c, passed) = (Arc::clone(&c), Arc::clone(&passed));
            thread::spawn(move || {
                c.wait_for_completion();
                passed.fetch_add(1, Ordering::Relaxed);
            })
        };
        c.complete();
        waiter.join().unwrap();
        assert_eq!(passed.load(Ordering::Relaxed), 1);
        assert!(!c.is_done(), "the waiter consumed the only completion");
    }

    #[test]
    fn complete_counts_and_complete_all_releases_everyone() {
        let c = Arc::new(Completion::new());
        assert!(!c.try_wait_for_completion());
        c.complete();
        c.complete();
        assert!(c.try_wait_for_completion());
        assert!(c.try_wait_for_completion());
        assert!(!c.try_wait_for_completion());

        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&c);
                thread::spawn(move || c.wait_for_completion())
            })
            .collect();
        c.complete_all();
        for waiter in waiters {
            waiter.join().unwrap();
        }
        assert!(c.is_done(), "complete_all is not consumed");
        c.reinit();
        assert!(!c.try_wait_for_completion());
    }
}

#[cfg(all(test, mmsim_shuttle))]
mod shuttle_tests {
    use super::*;
    use crate::sync::atomic::{AtomicBool, Ordering};
    use crate::sync::{thread, Arc};

    #[test]
    fn completion_never_loses_a_wakeup() {
        shuttle::check_random(
            || {
                let c = Arc::new(Completion::new());
                let data = Arc::new(AtomicBool::new(false));
                let waiters: Vec<_> = (0..2)
                    .map(|_| {
                        let (c, data) = (Arc::clone(&c), Arc::clone(&data));
                        thread::spawn(move || {
                            c.wait_for_completion();
                            assert!(data.load(Ordering::Relaxed));
                        })
                    })
                    .collect();
                data.store(true, Ordering::Relaxed);
                c.complete();
                c.complete();
                for waiter in waiters {
                    waiter.join().unwrap();
                }
                assert!(!c.is_done());
            },
            1000,
        );
    }
}
