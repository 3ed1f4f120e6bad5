//! `spinlock_t`: a busy-waiting lock for short critical sections.
//!
//! The lock word is one [`AtomicBool`]: `false` is unlocked, `true` is held.
//! `lock` is test-and-test-and-set: it tries one compare-exchange, and while
//! that fails it only *reads* the word (so waiters share the line instead of
//! bouncing it) and backs off, then tries again. Unlock is a Release store.
//!
//! Where the model differs from the kernel: a kernel spinlock disables
//! preemption, so the holder is always running and waiters may spin on
//! `cpu_relax()` alone. A model thread holding a [`SpinLock`] can be
//! descheduled by the host, so waiters escalate from spinning to yielding to
//! short sleeps (see [`Backoff`]). Sleeping while holding a spinlock is a bug
//! in the kernel; here it is only slow, and it is not detected.
//!
//! The guard is `!Send`: a spinlock is released by the thread that took it.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use super::atomic::{AtomicBool, Ordering};
use super::backoff::Backoff;

/// A kernel `spinlock_t` protecting a `T`.
///
/// ```
/// use mmsim::sync::SpinLock;
///
/// let nr_free = SpinLock::new(0u64);
/// *nr_free.lock() += 1;
/// assert_eq!(*nr_free.lock(), 1);
/// ```
pub struct SpinLock<T: ?Sized> {
    /// `false`: unlocked. `true`: held by the owner of the one live
    /// [`SpinLockGuard`]. Moves false→true in `try_acquire` (compare-exchange)
    /// and true→false in the guard's drop.
    locked: AtomicBool,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one thread at a time, so sharing the
// lock only requires that `T` may be sent to (used from) another thread.
unsafe impl<T: ?Sized + Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the `T`.
unsafe impl<T: ?Sized + Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// An unlocked spinlock (`spin_lock_init`).
    pub const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> SpinLock<T> {
    /// `spin_lock`: busy-waits until the lock is free, then takes it.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        let mut backoff = Backoff::new();
        loop {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            // Wait with plain loads until the holder lets go.
            while self.locked.load(Ordering::Relaxed) {
                backoff.snooze();
            }
        }
    }

    /// `spin_trylock`: takes the lock if it is free, without waiting.
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        self.locked
            // Acquire: pairs with the Release store in SpinLockGuard::drop,
            // so the previous holder's writes to the data are visible.
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SpinLockGuard {
                lock: self,
                _not_send: PhantomData,
            })
    }

    /// `spin_is_locked`: whether some thread holds the lock right now. Only
    /// meaningful for assertions (`lockdep_assert_held` style).
    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }

    /// The data, through an exclusive borrow of the lock (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for SpinLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SpinLock");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Proof that the calling thread holds a [`SpinLock`]; unlocks on drop
/// (`spin_unlock`).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockGuard<'a, T: ?Sized> {
    lock: &'a SpinLock<T>,
    /// The holder must be the thread that unlocks.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, which is fine to share if `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for SpinLockGuard<'_, T> {}

impl<T: ?Sized> Deref for SpinLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard's existence means this thread holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire compare-exchange in
        // SpinLock::try_lock, publishing this critical section's writes.
        self.lock.locked.store(false, Ordering::Release);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for SpinLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;
    use crate::sync::{thread, Arc};

    #[test]
    fn spin_lock_excludes_four_contending_threads() {
        const THREADS: u64 = 4;
        const ROUNDS: u64 = 20_000;
        // A non-atomic read-modify-write split in two: a second holder
        // inside the section would lose an increment.
        let counter = Arc::new(SpinLock::new((0u64, 0u64)));
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
    fn spin_trylock_fails_while_held_and_succeeds_after() {
        let lock = SpinLock::new(5);
        let guard = lock.lock();
        assert!(lock.is_locked());
        assert!(lock.try_lock().is_none());
        drop(guard);
        assert!(!lock.is_locked());
        assert_eq!(*lock.try_lock().unwrap(), 5);
    }

    #[test]
    fn spin_lock_into_inner_and_get_mut() {
        let mut lock = SpinLock::new(vec![1]);
        lock.get_mut().push(2);
        assert_eq!(format!("{lock:?}"), "SpinLock { data: [1, 2] }");
        assert_eq!(lock.into_inner(), vec![1, 2]);
    }
}

#[cfg(all(test, mmsim_shuttle))]
mod shuttle_tests {
    use super::*;
    use crate::sync::{thread, Arc};

    #[test]
    fn spin_lock_excludes_under_every_schedule() {
        shuttle::check_random(
            || {
                let lock = Arc::new(SpinLock::new(0u32));
                let workers: Vec<_> = (0..3)
                    .map(|_| {
                        let lock = Arc::clone(&lock);
                        thread::spawn(move || {
                            for _ in 0..2 {
                                let mut guard = lock.lock();
                                let seen = *guard;
                                thread::yield_now();
                                *guard = seen + 1;
                            }
                        })
                    })
                    .collect();
                for worker in workers {
                    worker.join().unwrap();
                }
                assert_eq!(*lock.lock(), 6);
            },
            1000,
        );
    }
}
