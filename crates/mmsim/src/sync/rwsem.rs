//! `struct rw_semaphore`: a sleeping reader-writer lock with the queueing
//! rules of the kernel's `kernel/locking/rwsem.c` since 5.11 (phase-fair
//! reader wake-ups, reader lock stealing, handoff).
//!
//! Picture the kernel's two halves: the `count` word (readers inside, the
//! writer-locked bit, the waiters bit, the handoff bit) and one FIFO
//! `wait_list` shared by readers and writers. Here both live in one record
//! under an internal [`Mutex`]; a waiter is a ticket in the state's `wait_list`,
//! and everyone sleeps on one [`Condvar`]. The rules, with the kernel
//! function each comes from:
//!
//! - **Reader fast path** (`rwsem_read_trylock`): a reader enters at once
//!   unless a writer holds the lock, anyone is queued (`RWSEM_FLAG_WAITERS`)
//!   or a handoff is pending: `RWSEM_READ_FAILED_MASK`. `down_read_trylock`
//!   (`__down_read_trylock`) succeeds in exactly these cases.
//! - **Reader lock stealing** (`rwsem_down_read_slowpath`): a reader that
//!   failed the fast path still takes the lock, ahead of every queued
//!   waiter, if no writer holds it, no handoff is pending, and it is not
//!   held by other readers (the kernel queues behind a reader-owned lock "to
//!   prevent a constant stream of readers from starving a sleeping waiter").
//!   The lock is free with waiters queued only in the window between a
//!   release and the woken waiter running, so that is where readers steal.
//!   A stealing reader then wakes the readers at the front of the queue
//!   with it (`rwsem_mark_wake(RWSEM_WAKE_READ_OWNED)`).
//! - **Writer fast path** (`rwsem_write_trylock`): the count must be exactly
//!   zero, so `down_write` and `down_write_trylock` fail over to waiting
//!   whenever anyone holds the lock *or is queued*. A queued writer takes
//!   the lock whenever it finds it free (`rwsem_try_write_lock`: at once on
//!   queueing, then each time it is woken), unless the handoff bit was set
//!   by another waiter: so a writer arriving in a release window steals the
//!   lock from a woken front writer too.
//! - **Wake order** (`rwsem_mark_wake`, called on release by `rwsem_wake`
//!   and `rwsem_downgrade_wake`): if the front waiter is a writer, it alone
//!   is woken (and must still win `rwsem_try_write_lock`); if it is a
//!   reader, the lock is granted at once to *every* queued reader, up to
//!   `MAX_READERS_WAKEUP`, including readers queued behind writers (the
//!   phase-fair adaptation of 5.11). The granted readers are counted in
//!   before they wake, so nobody can slip in between.
//! - **Release** (`__up_read`, `__up_write`, `__downgrade_write`): the
//!   count is dropped first and the queue is woken in a second step under
//!   the wait lock, as in the kernel; the window between the two is where
//!   stealing happens, so it is kept.
//! - **Handoff** (`RWSEM_FLAG_HANDOFF`): the kernel lets the first waiter set
//!   it after `RWSEM_WAIT_TIMEOUT` (4 ms) in the queue; then nobody steals
//!   and the lock goes to that waiter. The model has no time. It counts
//!   *lost wake-ups* instead: a front writer that is woken, runs and finds
//!   the lock taken for the `HANDOFF_AFTER_LOST_WAKEUPS`-th time sets the
//!   handoff bit (in `rwsem_try_write_lock`, where the kernel sets it), and
//!   from then on nobody overtakes it; the bit is cleared when it gets the
//!   lock. As in the kernel, only the waiter itself sets the bit when it
//!   runs, so several thefts while it has not run yet count as one lost
//!   wake-up. Kernel interleavings in which a waiter runs and loses more
//!   often than that before its timeout are unreachable here; all others
//!   (including never reaching the handoff) are reachable.
//!   Front *readers* never set the handoff bit here: the kernel's readers
//!   lose their grant only to a writer's optimistic spinning, which is not
//!   modelled (a writer arriving in a release window queues, and queueing
//!   grants the front readers first, as `rwsem_cond_wake_waiter` does).
//!
//! Consequences a caller can observe, all as in the kernel:
//!
//! - a writer queued before some readers gets the lock before them, but a
//!   reader queued *behind* a writer enters together with the readers queued
//!   before that writer;
//! - a reader arriving while readers hold the lock and a writer waits
//!   queues behind the writer, so a thread that takes the read side twice
//!   deadlocks if a writer queued in between;
//! - a reader or writer arriving just after a release may overtake the
//!   waiter that release woke (bounded by the handoff rule above).
//!
//! Not modelled: optimistic spinning (`rwsem_optimistic_spin`, a performance
//! feature; its only observable effect, a writer overtaking queued waiters,
//! is reachable through the queueing path above), the owner field, signals
//! (`down_read_killable`), and the transient reader biases the kernel adds
//! and backs out of `count`: each step under the wait lock, and each update
//! of `count`, is one atomic step here.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use std::collections::VecDeque;

use super::condvar::Condvar;
use super::mutex::Mutex;

/// `MAX_READERS_WAKEUP`: at most this many queued readers are granted the
/// lock by one wake-up.
const MAX_READERS_WAKEUP: usize = 0x100;

/// A front writer that is woken, runs and finds the lock taken this many
/// times sets the handoff bit (the model's stand-in for `RWSEM_WAIT_TIMEOUT`).
const HANDOFF_AFTER_LOST_WAKEUPS: u32 = 2;

/// `enum rwsem_waiter_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WaiterType {
    Read,
    Write,
}

/// `struct rwsem_waiter`: one ticket in the wait list.
#[derive(Debug)]
struct Waiter {
    ticket: u64,
    kind: WaiterType,
    /// A writer marked for wake-up (`wake_q_add`) that has not yet retried.
    woken: bool,
    /// Times this writer was woken and found the lock taken.
    lost_wakeups: u32,
}

/// `enum rwsem_wake_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WakeType {
    /// Wake whatever is at the front.
    Any,
    /// Wake only readers at the front (the lock is reader-owned).
    Readers,
    /// The caller holds the lock for reading: grant queued readers without
    /// checking for a writer.
    ReadOwned,
}

/// What `down_read` did on arrival.
#[derive(Debug, PartialEq, Eq)]
enum ReadArrival {
    /// Entered by the fast path or by stealing.
    Entered,
    /// Queued with this ticket; wait until it leaves the wait list.
    Queued(u64),
}

/// The `count` word and the wait list of an [`RwSem`].
#[derive(Debug)]
struct RwSemState {
    /// Readers inside, including granted readers not yet awake.
    readers: usize,
    /// `RWSEM_WRITER_LOCKED`. Never true while `readers > 0`.
    writer: bool,
    /// `RWSEM_FLAG_HANDOFF`: set only by the front waiter; while set, nobody
    /// else may take the lock. `RWSEM_FLAG_WAITERS` is `!wait_list.is_empty()`.
    handoff: bool,
    /// `sem->wait_list`, FIFO.
    wait_list: VecDeque<Waiter>,
    /// The next waiter's ticket.
    next_ticket: u64,
}

impl RwSemState {
    const fn new() -> Self {
        Self {
            readers: 0,
            writer: false,
            handoff: false,
            wait_list: VecDeque::new(),
            next_ticket: 0,
        }
    }

    fn is_queued(&self, ticket: u64) -> bool {
        self.wait_list.iter().any(|w| w.ticket == ticket)
    }

    fn waiter_mut(&mut self, ticket: u64) -> &mut Waiter {
        self.wait_list
            .iter_mut()
            .find(|w| w.ticket == ticket)
            .expect("rwsem: a sleeping writer's ticket left the wait list")
    }

    /// `rwsem_add_waiter`: queues at the tail and returns the ticket.
    fn add_waiter(&mut self, kind: WaiterType) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.wait_list.push_back(Waiter {
            ticket,
            kind,
            woken: false,
            lost_wakeups: 0,
        });
        ticket
    }

    /// `rwsem_read_trylock` / `__down_read_trylock`: enters unless a bit of
    /// `RWSEM_READ_FAILED_MASK` (writer, waiters, handoff) is set.
    fn read_trylock(&mut self) -> bool {
        debug_assert!(!self.handoff || !self.wait_list.is_empty());
        if self.writer || !self.wait_list.is_empty() {
            return false;
        }
        self.readers += 1;
        true
    }

    /// `__down_read_common`: the fast path, else `rwsem_down_read_slowpath`.
    /// Returns whether to wake sleepers, and what happened.
    fn down_read(&mut self) -> (bool, ReadArrival) {
        if self.read_trylock() {
            return (false, ReadArrival::Entered);
        }
        // Held by other readers: queue, so that a stream of readers cannot
        // starve the waiter at the front.
        if self.readers == 0 && !self.writer && !self.handoff {
            // Reader optimistic lock stealing; the first reader in wakes the
            // readers at the front of the queue.
            self.readers += 1;
            let woke = self.mark_wake(WakeType::ReadOwned);
            return (woke, ReadArrival::Entered);
        }
        let ticket = self.add_waiter(WaiterType::Read);
        let woke = self.cond_wake_waiter();
        (woke, ReadArrival::Queued(ticket))
    }

    /// `rwsem_write_trylock`: the count must be exactly zero (nobody inside,
    /// nobody queued).
    fn write_trylock(&mut self) -> bool {
        if self.writer || self.readers > 0 || !self.wait_list.is_empty() {
            return false;
        }
        self.writer = true;
        true
    }

    /// The queueing half of `rwsem_down_write_slowpath`: returns the ticket
    /// and whether to wake sleepers.
    fn queue_writer(&mut self) -> (u64, bool) {
        let ticket = self.add_waiter(WaiterType::Write);
        let woke = self.wait_list.len() > 1 && self.cond_wake_waiter();
        (ticket, woke)
    }

    /// `rwsem_try_write_lock` for the queued writer `ticket`; `after_wake`
    /// says it was woken for this attempt (a failure then is a lost
    /// wake-up, counted towards the handoff).
    fn try_write_lock(&mut self, ticket: u64, after_wake: bool) -> bool {
        let first = self.wait_list.front().map(|w| w.ticket) == Some(ticket);
        // The handoff bit belongs to the front waiter: nobody else may take
        // the lock while it is set.
        if self.handoff && !first {
            return false;
        }
        if self.writer || self.readers > 0 {
            if first && after_wake && !self.handoff {
                let me = self.waiter_mut(ticket);
                me.lost_wakeups += 1;
                if me.lost_wakeups >= HANDOFF_AFTER_LOST_WAKEUPS {
                    self.handoff = true;
                }
            }
            return false;
        }
        self.writer = true;
        self.handoff = false;
        self.wait_list.retain(|w| w.ticket != ticket);
        true
    }

    /// `rwsem_cond_wake_waiter`, after queueing: unless a writer holds the
    /// lock, wake the front (only readers if readers hold it).
    fn cond_wake_waiter(&mut self) -> bool {
        if self.writer {
            return false;
        }
        let wake_type = if self.readers > 0 {
            WakeType::Readers
        } else {
            WakeType::Any
        };
        self.mark_wake(wake_type)
    }

    /// `rwsem_wake` / `rwsem_downgrade_wake`: the second step of a release.
    fn wake(&mut self, wake_type: WakeType) -> bool {
        !self.wait_list.is_empty() && self.mark_wake(wake_type)
    }

    /// `rwsem_mark_wake`: a front writer is marked woken (for
    /// [`WakeType::Any`] only); a front reader gets the lock together with
    /// every other queued reader, up to `MAX_READERS_WAKEUP`, writers in
    /// between staying queued. Returns whether anyone is to be woken.
    fn mark_wake(&mut self, wake_type: WakeType) -> bool {
        let Some(front) = self.wait_list.front_mut() else {
            return false;
        };
        if front.kind == WaiterType::Write {
            if wake_type == WakeType::Any {
                front.woken = true;
                return true;
            }
            return false;
        }
        // A writer took the lock before the grant: the kernel backs its
        // reader bias out and leaves the readers queued.
        if wake_type != WakeType::ReadOwned && self.writer {
            return false;
        }
        let mut granted = 0;
        self.wait_list.retain(|w| {
            if w.kind == WaiterType::Write || granted == MAX_READERS_WAKEUP {
                return true;
            }
            granted += 1;
            false
        });
        self.readers += granted;
        // Readers got the lock: no writer needs forcing any more.
        self.handoff = false;
        true
    }

    /// `__up_read`'s count update: whether the queue needs a wake-up
    /// (`(count & (RWSEM_LOCK_MASK|RWSEM_FLAG_WAITERS)) == RWSEM_FLAG_WAITERS`).
    fn up_read(&mut self) -> bool {
        self.readers -= 1;
        self.readers == 0 && !self.writer && !self.wait_list.is_empty()
    }

    /// `__up_write`'s count update: whether the queue needs a wake-up.
    fn up_write(&mut self) -> bool {
        self.writer = false;
        !self.wait_list.is_empty()
    }

    /// `__downgrade_write`'s count update: the writer becomes a reader.
    fn downgrade(&mut self) -> bool {
        self.writer = false;
        self.readers += 1;
        !self.wait_list.is_empty()
    }
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
    /// Every sleeper: queued readers wait to leave the wait list (granted),
    /// queued writers to be marked woken.
    waiters: Condvar,
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
            state: Mutex::new(RwSemState::new()),
            waiters: Condvar::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the semaphore and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwSem<T> {
    /// `down_read`: enters at once if nobody writes or waits, or by stealing
    /// a free lock; otherwise queues and sleeps until granted (see the
    /// module doc).
    pub fn down_read(&self) -> RwSemReadGuard<'_, T> {
        let mut state = self.state.lock();
        let (woke, arrival) = state.down_read();
        self.wake_sleepers(woke);
        if let ReadArrival::Queued(ticket) = arrival {
            // rwsem_mark_wake() counts us in `readers` when it removes our
            // ticket; we only wait for that.
            drop(self.waiters.wait_while(state, |s| s.is_queued(ticket)));
        }
        RwSemReadGuard::new(self)
    }

    /// `down_read_trylock`: enters as a reader if no writer holds the lock
    /// and nobody is queued for it.
    pub fn down_read_trylock(&self) -> Option<RwSemReadGuard<'_, T>> {
        self.state
            .lock()
            .read_trylock()
            .then(|| RwSemReadGuard::new(self))
    }

    /// `down_write`: enters at once if nobody holds or waits for the lock;
    /// otherwise queues and takes the lock when it finds it free (see the
    /// module doc).
    pub fn down_write(&self) -> RwSemWriteGuard<'_, T> {
        let mut state = self.state.lock();
        if state.write_trylock() {
            return RwSemWriteGuard::new(self);
        }
        let (ticket, woke) = state.queue_writer();
        self.wake_sleepers(woke);
        let mut after_wake = false;
        while !state.try_write_lock(ticket, after_wake) {
            state = self
                .waiters
                .wait_while(state, |s| !s.waiter_mut(ticket).woken);
            state.waiter_mut(ticket).woken = false;
            after_wake = true;
        }
        RwSemWriteGuard::new(self)
    }

    /// `down_write_trylock`: enters as the writer if nobody holds the lock
    /// and nobody is queued for it.
    pub fn down_write_trylock(&self) -> Option<RwSemWriteGuard<'_, T>> {
        self.state
            .lock()
            .write_trylock()
            .then(|| RwSemWriteGuard::new(self))
    }

    /// `rwsem_is_locked`: whether anyone holds the lock right now. Only
    /// meaningful for assertions.
    pub fn is_locked(&self) -> bool {
        let state = self.state.lock();
        state.writer || state.readers > 0
    }

    /// `rwsem_is_contended`: whether anyone is queued for the lock right now.
    /// Only meaningful for assertions and tests.
    pub fn is_contended(&self) -> bool {
        !self.state.lock().wait_list.is_empty()
    }

    /// The data, through an exclusive borrow of the semaphore.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Wakes every sleeper if the state machine woke or granted a waiter;
    /// each re-checks its own ticket.
    fn wake_sleepers(&self, woke: bool) {
        if woke {
            self.waiters.notify_all();
        }
    }

    /// `rwsem_wake`/`rwsem_downgrade_wake`: the second step of a release,
    /// under the wait lock again.
    fn release_wake(&self, wake_type: WakeType) {
        let woke = self.state.lock().wake(wake_type);
        self.wake_sleepers(woke);
    }

    /// `up_read`.
    fn up_read(&self) {
        if self.state.lock().up_read() {
            self.release_wake(WakeType::Any);
        }
    }

    /// `up_write`.
    fn up_write(&self) {
        if self.state.lock().up_write() {
            self.release_wake(WakeType::Any);
        }
    }

    /// `downgrade_write`: the writer becomes a reader, and the readers at
    /// the front of the queue come in with it.
    fn downgrade(&self) {
        if self.state.lock().downgrade() {
            self.release_wake(WakeType::ReadOwned);
        }
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
    use crate::sync::{thread, Arc};

    use WaiterType::{Read, Write};

    /// A state held by a writer, with `queue` waiting in that order; returns
    /// the tickets too.
    fn write_held_with(queue: &[WaiterType]) -> (RwSemState, Vec<u64>) {
        let mut s = RwSemState::new();
        assert!(s.write_trylock());
        let tickets = queue.iter().map(|&kind| s.add_waiter(kind)).collect();
        (s, tickets)
    }

    fn queued_kinds(s: &RwSemState) -> Vec<WaiterType> {
        s.wait_list.iter().map(|w| w.kind).collect()
    }

    // ----- the state machine, step by step --------------------------------

    #[test]
    fn rwsem_read_trylock_fails_on_read_failed_mask() {
        // RWSEM_READ_FAILED_MASK: writer locked, waiters, handoff.
        let (mut s, _) = write_held_with(&[]);
        assert!(!s.read_trylock(), "writer locked");
        s.up_write();
        let _ = s.add_waiter(Write);
        assert!(!s.read_trylock(), "waiters present, lock free");
        s.handoff = true;
        assert!(!s.read_trylock(), "handoff");
        assert_eq!(s.readers, 0);
    }

    #[test]
    fn rwsem_write_trylock_needs_a_zero_count() {
        // rwsem_write_trylock() cmpxchg's from RWSEM_UNLOCKED_VALUE only: a
        // queued waiter fails it even with the lock free.
        let (mut s, _) = write_held_with(&[Write]);
        assert!(s.up_write(), "waiters: rwsem_wake() follows");
        assert!(!s.write_trylock());
        assert!(!s.writer && s.readers == 0);
    }

    #[test]
    fn rwsem_front_writer_is_woken_alone() {
        // rwsem_mark_wake(RWSEM_WAKE_ANY) with a writer at the front wakes
        // only it; the readers behind it stay queued.
        let (mut s, t) = write_held_with(&[Write, Read]);
        assert!(s.up_write());
        assert!(s.wake(WakeType::Any));
        assert_eq!(s.readers, 0);
        assert!(s.wait_list[0].woken);
        assert!(s.try_write_lock(t[0], true));
        assert_eq!(queued_kinds(&s), [Read]);
    }

    #[test]
    fn rwsem_front_reader_grants_every_queued_reader_past_writers() {
        // rwsem_mark_wake(): "all readers are eligible to acquire the lock at
        // the same time irrespective of their order in the queue".
        let (mut s, t) = write_held_with(&[Read, Write, Read, Write, Read]);
        assert!(s.up_write());
        assert!(s.wake(WakeType::Any));
        assert_eq!(s.readers, 3);
        assert_eq!(queued_kinds(&s), [Write, Write]);
        assert!(!s.is_queued(t[2]) && s.is_queued(t[1]));
    }

    #[test]
    fn rwsem_reader_wakeup_is_capped_at_max_readers_wakeup() {
        let queue = vec![Read; MAX_READERS_WAKEUP + 44];
        let (mut s, _) = write_held_with(&queue);
        s.up_write();
        s.wake(WakeType::Any);
        assert_eq!(s.readers, MAX_READERS_WAKEUP);
        assert_eq!(s.wait_list.len(), 44);
        // The next reader to queue behind a reader-owned lock grants the
        // rest (rwsem_cond_wake_waiter() -> RWSEM_WAKE_READERS).
        let (woke, arrival) = s.down_read();
        assert!(woke && matches!(arrival, ReadArrival::Queued(_)));
        assert_eq!(s.readers, MAX_READERS_WAKEUP + 45);
        assert!(s.wait_list.is_empty());
    }

    #[test]
    fn rwsem_reader_steals_a_free_lock_ahead_of_a_woken_writer() {
        // rwsem_down_read_slowpath(): reader optimistic lock stealing when
        // neither RWSEM_WRITER_LOCKED nor RWSEM_FLAG_HANDOFF is set.
        let (mut s, t) = write_held_with(&[Write]);
        assert!(s.up_write());
        // The release window: the writer is not woken yet.
        assert_eq!(s.down_read(), (false, ReadArrival::Entered));
        assert!(s.wake(WakeType::Any));
        assert!(!s.try_write_lock(t[0], true), "the lock was stolen");
        assert_eq!(s.wait_list[0].lost_wakeups, 1);
        assert!(!s.handoff);
        assert!(s.up_read(), "last reader out wakes the writer");
        assert!(s.wake(WakeType::Any));
        assert!(s.try_write_lock(t[0], true));
    }

    #[test]
    fn rwsem_stealing_reader_brings_the_front_readers_in() {
        // The first stealing reader calls rwsem_mark_wake(RWSEM_WAKE_READ_OWNED).
        let (mut s, t) = write_held_with(&[Read, Write, Read]);
        assert!(s.up_write());
        assert_eq!(s.down_read(), (true, ReadArrival::Entered));
        assert_eq!(s.readers, 3);
        assert!(!s.is_queued(t[0]) && !s.is_queued(t[2]));
        // rwsem_wake() of the release then finds only the writer.
        assert!(s.wake(WakeType::Any));
        assert!(!s.try_write_lock(t[1], true));
    }

    #[test]
    fn rwsem_reader_queues_behind_a_writer_while_readers_hold_it() {
        // No stealing from a reader-owned lock: the second down_read() of a
        // thread that holds the read side queues behind the writer (the
        // kernel's recursive-read deadlock).
        let mut s = RwSemState::new();
        assert!(s.read_trylock());
        let w = s.add_waiter(Write);
        assert!(!s.try_write_lock(w, false));
        let (woke, arrival) = s.down_read();
        assert!(!woke && matches!(arrival, ReadArrival::Queued(_)));
        assert_eq!(s.readers, 1);
        assert_eq!(queued_kinds(&s), [Write, Read]);
    }

    #[test]
    fn rwsem_writer_arriving_in_the_release_window_steals_from_a_woken_writer() {
        // rwsem_down_write_slowpath(): a queued writer's first
        // rwsem_try_write_lock() takes a free lock unless the front waiter
        // set the handoff bit.
        let (mut s, t) = write_held_with(&[Write]);
        assert!(s.up_write());
        assert!(!s.write_trylock());
        let (w2, woke) = s.queue_writer();
        assert!(woke && s.wait_list[0].woken, "rwsem_cond_wake_waiter()");
        assert!(s.try_write_lock(w2, false));
        assert!(!s.try_write_lock(t[0], true));
        assert_eq!(queued_kinds(&s), [Write]);
    }

    #[test]
    fn rwsem_handoff_after_lost_wakeups_stops_stealing() {
        // RWSEM_FLAG_HANDOFF, set by the front writer in rwsem_try_write_lock();
        // here after HANDOFF_AFTER_LOST_WAKEUPS thefts instead of a timeout.
        let (mut s, t) = write_held_with(&[Write]);
        s.up_write();
        for theft in 1..=HANDOFF_AFTER_LOST_WAKEUPS {
            assert!(!s.handoff);
            assert_eq!(s.down_read().1, ReadArrival::Entered, "theft {theft}");
            s.wake(WakeType::Any);
            assert!(!s.try_write_lock(t[0], true));
            assert!(s.up_read());
        }
        assert!(s.handoff);
        // Now neither a reader nor a writer gets the free lock first.
        let (_, arrival) = s.down_read();
        let ReadArrival::Queued(r) = arrival else {
            panic!("a reader stole the lock despite the handoff bit");
        };
        let (w2, _) = s.queue_writer();
        assert!(!s.try_write_lock(w2, false));
        assert!(s.try_write_lock(t[0], true));
        assert!(!s.handoff, "cleared when the front waiter gets the lock");
        assert!(s.is_queued(r));
    }

    #[test]
    fn rwsem_downgrade_grants_queued_readers_unless_a_writer_is_first() {
        // __downgrade_write() -> rwsem_downgrade_wake(RWSEM_WAKE_READ_OWNED).
        let (mut s, _) = write_held_with(&[Read, Write, Read]);
        assert!(s.downgrade());
        assert!(s.wake(WakeType::ReadOwned));
        assert_eq!(s.readers, 3);
        assert_eq!(queued_kinds(&s), [Write]);

        let (mut s, _) = write_held_with(&[Write, Read]);
        assert!(s.downgrade());
        assert!(!s.wake(WakeType::ReadOwned));
        assert_eq!(s.readers, 1);
        assert_eq!(queued_kinds(&s), [Write, Read]);
    }

    // ----- the same rules with real threads --------------------------------

    /// Polls `rwsem`'s internal state until `cond` holds: lets a test wait
    /// for "the writer is queued" without sleeping for a guessed time.
    fn wait_for_state<T>(rwsem: &RwSem<T>, cond: impl Fn(&RwSemState) -> bool) {
        while !cond(&rwsem.state.lock()) {
            thread::yield_now();
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
        assert!(!sem.is_locked() && !sem.is_contended());
    }

    #[test]
    fn rwsem_new_reader_blocks_while_a_writer_waits() {
        let sem = Arc::new(RwSem::new(Vec::new()));
        let first_reader = sem.down_read();

        let writer = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || sem.down_write().push("writer"))
        };
        wait_for_state(&sem, |s| s.wait_list.len() == 1);
        assert!(sem.is_contended());

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
        wait_for_state(&sem, |s| s.wait_list.len() == 2);
        assert!(!late_reader_in.load(Ordering::Relaxed));

        drop(first_reader);
        writer.join().unwrap();
        assert_eq!(late_reader.join().unwrap(), ["writer"], "writer went first");
    }

    #[test]
    fn rwsem_front_writer_enters_before_readers_queued_behind_it() {
        // rwsem_mark_wake(): a writer at the front is woken, not the readers.
        let sem = Arc::new(RwSem::new(Vec::new()));
        let holder = sem.down_write();
        let writer = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || sem.down_write().push("writer"))
        };
        wait_for_state(&sem, |s| s.wait_list.len() == 1);
        let reader = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || sem.down_read().clone())
        };
        wait_for_state(&sem, |s| s.wait_list.len() == 2);
        drop(holder);
        assert_eq!(reader.join().unwrap(), ["writer"]);
        writer.join().unwrap();
    }

    #[test]
    fn rwsem_readers_behind_a_writer_enter_with_the_front_reader() {
        // rwsem_mark_wake(): the readers queued on both sides of a writer
        // are granted together when a reader is at the front.
        let sem = Arc::new(RwSem::new(Vec::new()));
        let mut holder = sem.down_write();
        let spawn_reader = |sem: &Arc<RwSem<Vec<&'static str>>>| {
            let sem = Arc::clone(sem);
            thread::spawn(move || sem.down_read().clone())
        };
        let first = spawn_reader(&sem);
        wait_for_state(&sem, |s| s.wait_list.len() == 1);
        let writer = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || sem.down_write().push("writer"))
        };
        wait_for_state(&sem, |s| s.wait_list.len() == 2);
        let second = spawn_reader(&sem);
        wait_for_state(&sem, |s| s.wait_list.len() == 3);
        holder.push("holder");
        drop(holder);
        assert_eq!(first.join().unwrap(), ["holder"]);
        assert_eq!(second.join().unwrap(), ["holder"]);
        writer.join().unwrap();
        assert_eq!(*sem.down_read(), ["holder", "writer"]);
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
        wait_for_state(&sem, |s| s.wait_list.len() == 3);
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

    /// Runs `scenario` under shuttle's random scheduler and under PCT (depth 3),
    /// `schedules` times each.
    fn random_and_pct(scenario: fn(), schedules: usize) {
        shuttle::check_random(scenario, schedules);
        shuttle::check_pct(scenario, schedules, 3);
    }

    /// The names of the threads that wrote, in order.
    type Log = RwSem<Vec<&'static str>>;

    /// Yields until `rwsem` has `n` waiters queued, or `also` holds (so that
    /// a broken rwsem that lets the thread in at once fails the test's
    /// assertion instead of hanging here).
    fn wait_for_waiters<T>(rwsem: &RwSem<T>, n: usize, also: impl Fn() -> bool) {
        while rwsem.state.lock().wait_list.len() < n && !also() {
            thread::yield_now();
        }
    }

    fn spawn_writer(log: &Arc<Log>, name: &'static str) -> thread::JoinHandle<()> {
        let log = Arc::clone(log);
        thread::spawn(move || log.down_write().push(name))
    }

    fn spawn_reader(log: &Arc<Log>) -> thread::JoinHandle<Vec<&'static str>> {
        let log = Arc::clone(log);
        thread::spawn(move || log.down_read().clone())
    }

    /// rwsem_mark_wake(): with a writer at the front, a release wakes only
    /// that writer; the reader queued behind it enters after it.
    fn front_writer_before_the_reader_behind_it() {
        let log = Arc::new(Log::new(Vec::new()));
        let holder = log.down_write();
        let writer = spawn_writer(&log, "writer");
        wait_for_waiters(&log, 1, || false);
        let reader = spawn_reader(&log);
        wait_for_waiters(&log, 2, || false);
        drop(holder);
        assert_eq!(
            reader.join().unwrap(),
            ["writer"],
            "a reader queued behind a writer went first"
        );
        writer.join().unwrap();
    }

    #[test]
    fn rwsem_front_writer_before_the_reader_behind_it() {
        random_and_pct(front_writer_before_the_reader_behind_it, 300);
    }

    /// rwsem_mark_wake() since 5.11: with a reader at the front, the readers
    /// queued on both sides of a writer enter together, before the writer.
    fn readers_around_a_writer_enter_together() {
        let log = Arc::new(Log::new(Vec::new()));
        let holder = log.down_write();
        let first = spawn_reader(&log);
        wait_for_waiters(&log, 1, || false);
        let writer = spawn_writer(&log, "writer");
        wait_for_waiters(&log, 2, || false);
        let second = spawn_reader(&log);
        wait_for_waiters(&log, 3, || false);
        drop(holder);
        assert!(first.join().unwrap().is_empty());
        assert!(
            second.join().unwrap().is_empty(),
            "the reader behind the writer was not woken with the front reader"
        );
        writer.join().unwrap();
    }

    #[test]
    fn rwsem_readers_around_a_writer_enter_together() {
        random_and_pct(readers_around_a_writer_enter_together, 300);
    }

    /// rwsem_read_trylock()/rwsem_down_read_slowpath(): a reader arriving
    /// while readers hold the lock and a writer waits queues behind the
    /// writer (writer preference; no stealing from a reader-owned lock).
    fn new_reader_waits_for_the_queued_writer() {
        let log = Arc::new(Log::new(Vec::new()));
        let holder = log.down_read();
        let writer = spawn_writer(&log, "writer");
        wait_for_waiters(&log, 1, || false);
        let reader_done = Arc::new(crate::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (log, done) = (Arc::clone(&log), Arc::clone(&reader_done));
            thread::spawn(move || {
                let seen = log.down_read().clone();
                done.store(true, crate::sync::atomic::Ordering::Relaxed);
                seen
            })
        };
        wait_for_waiters(&log, 2, || {
            reader_done.load(crate::sync::atomic::Ordering::Relaxed)
        });
        drop(holder);
        assert_eq!(
            reader.join().unwrap(),
            ["writer"],
            "a new reader overtook the queued writer"
        );
        writer.join().unwrap();
    }

    #[test]
    fn rwsem_new_reader_waits_for_the_queued_writer() {
        random_and_pct(new_reader_waits_for_the_queued_writer, 300);
    }

    /// Reachability: some schedule lets a reader that arrives after a writer
    /// queued take the lock first (rwsem_down_read_slowpath()'s optimistic
    /// lock stealing in the window between up_write() and the writer
    /// running). Before 5.11, and in a model without stealing, no schedule
    /// does, and this test fails.
    #[test]
    #[should_panic(expected = "reader stole the lock ahead of the queued writer")]
    fn rwsem_reader_can_steal_ahead_of_the_woken_writer() {
        shuttle::check_random(
            || {
                let log = Arc::new(Log::new(Vec::new()));
                let holder = log.down_write();
                let writer = spawn_writer(&log, "writer");
                wait_for_waiters(&log, 1, || false);
                let reader = spawn_reader(&log);
                drop(holder);
                let seen = reader.join().unwrap();
                writer.join().unwrap();
                assert_eq!(
                    seen,
                    ["writer"],
                    "reader stole the lock ahead of the queued writer"
                );
            },
            1000,
        );
    }

    /// Reachability: some schedule lets a writer that arrives after another
    /// writer queued take the lock first (its first rwsem_try_write_lock()
    /// finds the lock free in the release window).
    #[test]
    #[should_panic(expected = "writer stole the lock ahead of the queued writer")]
    fn rwsem_writer_can_steal_ahead_of_the_woken_writer() {
        shuttle::check_random(
            || {
                let log = Arc::new(Log::new(Vec::new()));
                let holder = log.down_write();
                let first = spawn_writer(&log, "first");
                wait_for_waiters(&log, 1, || false);
                let second = spawn_writer(&log, "second");
                drop(holder);
                first.join().unwrap();
                second.join().unwrap();
                assert_eq!(
                    *log.down_read(),
                    ["first", "second"],
                    "writer stole the lock ahead of the queued writer"
                );
            },
            1000,
        );
    }

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
