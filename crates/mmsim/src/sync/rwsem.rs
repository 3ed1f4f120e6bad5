//! `struct rw_semaphore`: a sleeping reader-writer lock with the kernel's
//! writer preference.
//!
//! The state is a small record under an internal [`Mutex`]: how many readers
//! hold the lock, whether a writer holds it, and how many readers and writers
//! sleep waiting for it. The rules are the kernel's as far as a caller can
//! observe them:
//!
//! - a reader enters at once only if no writer holds the lock **and no
//!   writer waits**; otherwise it queues (so a stream of readers cannot
//!   starve a writer, and a thread that takes the read side twice can
//!   deadlock against a waiting writer, exactly as in the kernel);
//! - `down_read_trylock` fails in the same cases (the kernel's
//!   `RWSEM_READ_FAILED_MASK` includes the waiters flag);
//! - a writer enters when nobody holds the lock;
//! - when a writer leaves, the readers queued at that moment are all let in
//!   together ("hand-off"), before any writer queued behind them, so writers
//!   cannot starve readers either; with no reader queued, one writer is woken.
//!
//! The kernel's optimistic spinning and lock stealing are performance
//! features and are not modelled; the writer-waiting-blocks-readers rule
//! above is what races depend on.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

use super::condvar::Condvar;
use super::mutex::Mutex;

/// Who holds and who waits for an [`RwSem`].
#[derive(Debug, Default)]
struct RwSemState {
    /// Readers inside (including those handed the lock but not yet awake).
    readers: usize,
    /// Whether a writer is inside. Never true while `readers > 0`.
    writer: bool,
    /// Writers asleep in `down_write`; while non-zero, new readers queue.
    waiting_writers: usize,
    /// Readers asleep in `down_read`, waiting for the next hand-off.
    waiting_readers: usize,
    /// Incremented at each hand-off to the queued readers: a sleeping reader
    /// whose generation is older has been let in (already counted in
    /// `readers`).
    read_handoff: u64,
}

/// A kernel `struct rw_semaphore` protecting a `T`.
///
/// ```
/// use mmsim::sync::RwSem;
///
/// let mmap_lock = RwSem::new(vec![0x1000u64]);
/// assert_eq!(mmap_lock.down_read()[0], 0x1000);
/// mmap_lock.down_write().push(0x2000);
/// assert_eq!(mmap_lock.down_read().len(), 2);
/// ```
pub struct RwSem<T: ?Sized> {
    state: Mutex<RwSemState>,
    readers_wait: Condvar,
    writers_wait: Condvar,
    data: UnsafeCell<T>,
}

// SAFETY: readers on several threads share `&T` (needs `Sync`), a writer gets
// `&mut T` on any thread (needs `Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwSem<T> {}
// SAFETY: moving the semaphore moves the `T`.
unsafe impl<T: ?Sized + Send> Send for RwSem<T> {}

impl<T> RwSem<T> {
    /// An unlocked semaphore (`init_rwsem`).
    pub const fn new(value: T) -> Self {
        Self {
            state: Mutex::new(RwSemState {
                readers: 0,
                writer: false,
                waiting_writers: 0,
                waiting_readers: 0,
                read_handoff: 0,
            }),
            readers_wait: Condvar::new(),
            writers_wait: Condvar::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the semaphore and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwSem<T> {
    /// `down_read`: sleeps until no writer holds or waits for the lock, then
    /// enters as a reader.
    pub fn down_read(&self) -> RwSemReadGuard<'_, T> {
        let mut state = self.state.lock();
        if state.writer || state.waiting_writers > 0 {
            let generation = state.read_handoff;
            state.waiting_readers += 1;
            // The writer that hands off counts us in `readers` and bumps the
            // generation; we only wait for that.
            drop(
                self.readers_wait
                    .wait_while(state, |s| s.read_handoff == generation),
            );
        } else {
            state.readers += 1;
        }
        RwSemReadGuard::new(self)
    }

    /// `down_read_trylock`: enters as a reader if that needs no waiting
    /// (no writer holds or waits for the lock).
    pub fn down_read_trylock(&self) -> Option<RwSemReadGuard<'_, T>> {
        let mut state = self.state.lock();
        if state.writer || state.waiting_writers > 0 {
            return None;
        }
        state.readers += 1;
        Some(RwSemReadGuard::new(self))
    }

    /// `down_write`: sleeps until nobody holds the lock, then enters as the
    /// writer. New readers queue behind us while we wait.
    pub fn down_write(&self) -> RwSemWriteGuard<'_, T> {
        let mut state = self.state.lock();
        state.waiting_writers += 1;
        state = self
            .writers_wait
            .wait_while(state, |s| s.writer || s.readers > 0);
        state.waiting_writers -= 1;
        state.writer = true;
        RwSemWriteGuard::new(self)
    }

    /// `down_write_trylock`: enters as the writer if nobody holds the lock.
    pub fn down_write_trylock(&self) -> Option<RwSemWriteGuard<'_, T>> {
        let mut state = self.state.lock();
        if state.writer || state.readers > 0 {
            return None;
        }
        state.writer = true;
        Some(RwSemWriteGuard::new(self))
    }

    /// `rwsem_is_locked`: whether anyone holds the lock right now. Only
    /// meaningful for assertions.
    pub fn is_locked(&self) -> bool {
        let state = self.state.lock();
        state.writer || state.readers > 0
    }

    /// The data, through an exclusive borrow of the semaphore.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// `up_read`.
    fn up_read(&self) {
        let mut state = self.state.lock();
        state.readers -= 1;
        if state.readers == 0 && state.waiting_writers > 0 {
            self.writers_wait.notify_one();
        }
    }

    /// `up_write`: hands the lock to every queued reader if there is one,
    /// else wakes one queued writer.
    fn up_write(&self) {
        let mut state = self.state.lock();
        state.writer = false;
        if !self.hand_off_to_readers(&mut state) && state.waiting_writers > 0 {
            self.writers_wait.notify_one();
        }
    }

    /// `downgrade_write`: the writer becomes a reader, and the queued readers
    /// come in with it.
    fn downgrade(&self) {
        let mut state = self.state.lock();
        state.writer = false;
        state.readers += 1;
        self.hand_off_to_readers(&mut state);
    }

    /// Counts every queued reader in and wakes them; false if none queued.
    fn hand_off_to_readers(&self, state: &mut RwSemState) -> bool {
        if state.waiting_readers == 0 {
            return false;
        }
        state.readers += state.waiting_readers;
        state.waiting_readers = 0;
        state.read_handoff += 1;
        self.readers_wait.notify_all();
        true
    }
}

impl<T: Default> Default for RwSem<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwSem<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwSem");
        match self.down_read_trylock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Proof that the calling thread holds an [`RwSem`] for reading; `up_read`
/// on drop.
#[must_use = "the semaphore is released as soon as the guard is dropped"]
pub struct RwSemReadGuard<'a, T: ?Sized> {
    sem: &'a RwSem<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared read guard only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwSemReadGuard<'_, T> {}

impl<'a, T: ?Sized> RwSemReadGuard<'a, T> {
    /// The guard of a reader already counted in `sem`'s state.
    fn new(sem: &'a RwSem<T>) -> Self {
        Self {
            sem,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwSemReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: we are counted as a reader, so no writer is inside and no
        // `&mut T` exists until we leave.
        unsafe { &*self.sem.data.get() }
    }
}

impl<T: ?Sized> Drop for RwSemReadGuard<'_, T> {
    fn drop(&mut self) {
        self.sem.up_read();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwSemReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Proof that the calling thread holds an [`RwSem`] for writing; `up_write`
/// on drop.
#[must_use = "the semaphore is released as soon as the guard is dropped"]
pub struct RwSemWriteGuard<'a, T: ?Sized> {
    sem: &'a RwSem<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared write guard only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwSemWriteGuard<'_, T> {}

impl<'a, T: ?Sized> RwSemWriteGuard<'a, T> {
    /// The guard of the writer recorded in `sem`'s state.
    fn new(sem: &'a RwSem<T>) -> Self {
        Self {
            sem,
            _not_send: PhantomData,
        }
    }

    /// `downgrade_write`: turns the write hold into a read hold without
    /// letting a writer in between; queued readers enter too.
    pub fn downgrade(self) -> RwSemReadGuard<'a, T> {
        let this = ManuallyDrop::new(self);
        this.sem.downgrade();
        RwSemReadGuard::new(this.sem)
    }
}

impl<T: ?Sized> Deref for RwSemWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: we are the writer; nobody else is inside.
        unsafe { &*self.sem.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwSemWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we are the writer, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.sem.data.get() }
    }
}

impl<T: ?Sized> Drop for RwSemWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.sem.up_write();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwSemWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;
    use crate::sync::atomic::{AtomicBool, Ordering};
    use crate::sync::backoff::Backoff;
    use crate::sync::{thread, Arc};

    /// Polls `rwsem`'s internal state until `cond` holds: lets a test wait
    /// for "the writer is queued" without sleeping for a guessed time.
    fn wait_for_state<T>(rwsem: &RwSem<T>, cond: impl Fn(&RwSemState) -> bool) {
        let mut backoff = Backoff::new();
        while !cond(&rwsem.state.lock()) {
            backoff.snooze();
        }
    }

    #[test]
    fn rwsem_excludes_writers_from_readers_and_each_other() {
        const ROUNDS: u64 = 5_000;
        let sem = Arc::new(RwSem::new((0u64, 0u64)));
        let workers: Vec<_> = (0..4u64)
            .map(|i| {
                let sem = Arc::clone(&sem);
                thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        if i % 2 == 0 {
                            let mut pair = sem.down_write();
                            let seen = pair.0;
                            pair.1 = seen + 1;
                            pair.0 = seen + 1;
                        } else {
                            let pair = sem.down_read();
                            assert_eq!(pair.0, pair.1, "reader saw a writer mid-update");
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(sem.down_read().0, 2 * ROUNDS);
    }

    #[test]
    fn rwsem_new_reader_blocks_while_a_writer_waits() {
        let sem = Arc::new(RwSem::new(Vec::new()));
        let first_reader = sem.down_read();

        let writer = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || sem.down_write().push("writer"))
        };
        wait_for_state(&sem, |s| s.waiting_writers == 1);

        // A reader arriving now must queue behind the writer, even though
        // only readers hold the lock.
        assert!(sem.down_read_trylock().is_none());
        let late_reader_in = Arc::new(AtomicBool::new(false));
        let late_reader = {
            let (sem, late_reader_in) = (Arc::clone(&sem), Arc::clone(&late_reader_in));
            thread::spawn(move || {
                let seen = sem.down_read().clone();
                late_reader_in.store(true, Ordering::Relaxed);
                seen
            })
        };
        wait_for_state(&sem, |s| s.waiting_readers == 1);
        assert!(!late_reader_in.load(Ordering::Relaxed));

        drop(first_reader);
        writer.join().unwrap();
        assert_eq!(late_reader.join().unwrap(), ["writer"], "writer went first");
    }

    #[test]
    fn rwsem_writer_hands_off_to_all_queued_readers() {
        let sem = Arc::new(RwSem::new(0));
        let mut writer = sem.down_write();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let sem = Arc::clone(&sem);
                thread::spawn(move || *sem.down_read())
            })
            .collect();
        wait_for_state(&sem, |s| s.waiting_readers == 3);
        *writer = 42;
        let reader = writer.downgrade();
        assert!(sem.down_write_trylock().is_none());
        for r in readers {
            assert_eq!(r.join().unwrap(), 42);
        }
        drop(reader);
        assert!(!sem.is_locked());
        assert!(sem.down_write_trylock().is_some());
    }

    #[test]
    fn rwsem_trylocks() {
        let mut sem = RwSem::new(1);
        {
            let _r1 = sem.down_read_trylock().unwrap();
            let _r2 = sem.down_read_trylock().unwrap();
            assert!(sem.down_write_trylock().is_none());
        }
        {
            let _w = sem.down_write_trylock().unwrap();
            assert!(sem.down_read_trylock().is_none());
            assert_eq!(format!("{sem:?}"), "RwSem { data: <locked> }");
        }
        *sem.get_mut() = 2;
        assert_eq!(sem.into_inner(), 2);
    }
}

#[cfg(all(test, mmsim_shuttle))]
mod shuttle_tests {
    use super::*;
    use crate::sync::{thread, Arc};

    #[test]
    fn rwsem_protocol_under_every_schedule() {
        shuttle::check_random(
            || {
                let sem = Arc::new(RwSem::new((0u32, 0u32)));
                let writers: Vec<_> = (0..2)
                    .map(|_| {
                        let sem = Arc::clone(&sem);
                        thread::spawn(move || {
                            let mut pair = sem.down_write();
                            pair.0 += 1;
                            thread::yield_now();
                            pair.1 += 1;
                        })
                    })
                    .collect();
                let readers: Vec<_> = (0..2)
                    .map(|_| {
                        let sem = Arc::clone(&sem);
                        thread::spawn(move || {
                            let pair = sem.down_read();
                            thread::yield_now();
                            assert_eq!(pair.0, pair.1);
                        })
                    })
                    .collect();
                let downgrader = {
                    let sem = Arc::clone(&sem);
                    thread::spawn(move || {
                        let mut pair = sem.down_write();
                        pair.0 += 1;
                        pair.1 += 1;
                        let pair = pair.downgrade();
                        thread::yield_now();
                        assert_eq!(pair.0, pair.1);
                    })
                };
                for t in writers.into_iter().chain(readers).chain([downgrader]) {
                    t.join().unwrap();
                }
                assert_eq!(*sem.down_read(), (3, 3));
                assert!(!sem.is_locked());
            },
            1000,
        );
    }
}
