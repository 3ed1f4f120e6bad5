//! `struct mutex`: a sleeping lock.
//!
//! A waiter blocks in the backend (an OS futex on std, the scheduler under
//! shuttle) instead of spinning, so it is the lock for long sections, such as
//! those that wait for I/O, a grace period or another lock.
//!
//! Poisoning is not surfaced: the kernel has no such notion, and a panic in a
//! model thread already fails the run. A lock whose holder panicked is simply
//! handed to the next taker.

use core::fmt;
use core::ops::{Deref, DerefMut};
use std::sync::{PoisonError, TryLockError};

use super::backend;

/// A kernel `struct mutex` protecting a `T`.
///
/// ```
/// use mmsim::sync::Mutex;
///
/// let online_blocks = Mutex::new(Vec::new());
/// online_blocks.lock().push(9u32);
/// assert_eq!(online_blocks.into_inner(), [9]);
/// ```
pub struct Mutex<T: ?Sized> {
    inner: backend::Mutex<T>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex (`mutex_init`).
    pub const fn new(value: T) -> Self {
        Self {
            inner: backend::Mutex::new(value),
        }
    }

    /// Consumes the mutex and returns the data.
    pub fn into_inner(self) -> T {
        self.inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// `mutex_lock`: sleeps until the mutex is free, then takes it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            inner: self.inner.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// `mutex_trylock`: takes the mutex if it is free, without sleeping.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.inner.try_lock() {
            Ok(inner) => Some(MutexGuard { inner }),
            Err(TryLockError::Poisoned(poisoned)) => Some(MutexGuard {
                inner: poisoned.into_inner(),
            }),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// `mutex_is_locked`: whether some thread holds the mutex right now.
    /// Only meaningful for assertions.
    pub fn is_locked(&self) -> bool {
        self.try_lock().is_none()
    }

    /// The data, through an exclusive borrow of the mutex.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Proof that the calling thread holds a [`Mutex`]; unlocks on drop
/// (`mutex_unlock`). `!Send`, like the kernel's owner-must-unlock rule.
#[must_use = "the mutex is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(super) inner: backend::MutexGuard<'a, T>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;
    use crate::sync::{thread, Arc};

    #[test]
    fn mutex_excludes_four_contending_threads() {
        const THREADS: u64 = 4;
        const ROUNDS: u64 = 10_000;
        let counter = Arc::new(Mutex::new((0u64, 0u64)));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let counter = Arc::clone(&counter);
                thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        let mut pair = counter.lock();
                        let seen = pair.0;
                        pair.1 = seen;
                        pair.0 = seen + 1;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let (count, last) = *counter.lock();
        assert_eq!(count, THREADS * ROUNDS);
        assert_eq!(last, count - 1);
    }

    #[test]
    fn mutex_trylock_fails_while_held() {
        let mut lock = Mutex::new(1);
        {
            let _held = lock.lock();
            assert!(lock.is_locked());
            assert!(lock.try_lock().is_none());
        }
        *lock.get_mut() += 1;
        assert_eq!(*lock.try_lock().unwrap(), 2);
    }

    #[test]
    fn mutex_survives_a_panicking_holder() {
        let lock = Arc::new(Mutex::new(7));
        let holder = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                let _guard = lock.lock();
                panic!("holder dies with the lock held");
            })
        };
        assert!(holder.join().is_err());
        assert_eq!(*lock.lock(), 7);
    }
}

#[cfg(all(test, mmsim_shuttle))]
mod shuttle_tests {
    use super::*;
    use crate::sync::{thread, Arc};

    #[test]
    fn mutex_excludes_under_every_schedule() {
        shuttle::check_random(
            || {
                let lock = Arc::new(Mutex::new(0u32));
                let workers: Vec<_> = (0..3)
                    .map(|_| {
                        let lock = Arc::clone(&lock);
                        thread::spawn(move || {
                            let mut guard = lock.lock();
                            let seen = *guard;
                            thread::yield_now();
                            *guard = seen + 1;
                        })
                    })
                    .collect();
                for worker in workers {
                    worker.join().unwrap();
                }
                assert_eq!(*lock.lock(), 3);
            },
            1000,
        );
    }
}
