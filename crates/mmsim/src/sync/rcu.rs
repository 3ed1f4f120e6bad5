//! Read-copy-update: one domain per machine, with real grace periods.
//!
//! # What it gives
//!
//! Readers enter a read-side critical section ([`Rcu::read_lock`]) without
//! writing anything another reader writes, and never wait. An updater
//! unpublishes an object (stores a new pointer, clears a bit in a map), then
//! waits for a grace period ([`Rcu::synchronize`]) or queues the reclamation
//! for after one ([`Rcu::call_rcu`]). When a grace period ends, every reader
//! that might have seen the old object has left its section, so the object
//! may be freed (or, in this model, poisoned for the checker to catch).
//!
//! # How: two reader counters per CPU and a parity bit
//!
//! Picture, per CPU shard, a pair of counters `readers[cpu][0..2]` and one
//! global `parity` bit. A reader reads `parity`, increments
//! `readers[cpu][parity]`, issues a full fence, and checks that `parity` is
//! unchanged (if a grace period flipped it meanwhile, the reader backs its
//! increment out and tries again on the new parity). On exit it decrements
//! the same counter. A grace period, serialised by `gp_lock`, flips `parity`
//! and waits until every shard's counter for the *old* parity reads zero.
//! Readers that enter after the flip count on the new parity and are not
//! waited for, so a steady stream of readers cannot stall a grace period.
//!
//! This is the counter-flip scheme of userspace RCU's "memb" flavour, with
//! shared per-CPU counters instead of per-thread registration (no thread
//! needs to register with a domain). urcu flips twice per grace period to
//! cope with a reader delayed between reading the parity and publishing its
//! count; here the reader's re-check of `parity` after its fence closes that
//! window, and one flip suffices:
//!
//! - *A reader counted on the old parity* is found by the scan, unless the
//!   scan's fence came first in the fences' total order, in which case the
//!   reader sees every store made before the grace period (in particular the
//!   unpublish) and cannot reach the old object.
//! - *A reader counted on the new parity* read it either from this grace
//!   period's flip, so it comes after the grace period's first fence and
//!   sees the unpublish; or from an older store, so its check ran before the
//!   previous grace period's flip, that grace period's scan of this parity
//!   saw its count, and it had left before this grace period began.
//!
//! The fences are `fence(SeqCst)`: the reader's after its increment, and the
//! grace period's before and after the flip. `synchronize` and `call_rcu`
//! also issue one before reading `gp_started`, so that a grace period which
//! *starts* after that read covers the caller's unpublish even when the
//! caller did not run it (a concurrent `synchronize` piggybacks on a grace
//! period that started after it was called).
//!
//! # Nesting and per-thread state
//!
//! Each guard counts separately (a nested `read_lock` is just another count,
//! possibly on the other parity), so nesting never makes a grace period
//! wait for itself. A thread-local list of (domain, depth) pairs records
//! which domains the thread is inside, for [`Rcu::in_read_side`] and for the
//! "synchronize inside a read-side section" deadlock check. It is keyed by
//! the domain's address, so domains never share state.
//!
//! # Callbacks
//!
//! [`Rcu::call_rcu`] queues a callback tagged with the number of the first
//! grace period that starts after the call. Whoever completes a grace period
//! (`synchronize`, `barrier`, the background `rcu_gp` thread, or the final
//! drain when the domain is dropped) then runs the ready callbacks, one
//! thread at a time and in queue order, holding none of the domain's locks,
//! so a callback may itself call `call_rcu` or `synchronize` (not
//! `barrier`, which would wait for itself, as in the kernel). Like the
//! kernel's callbacks, which run in softirq context, they must not take a
//! lock that a caller of `synchronize` or `barrier` may hold.
//!
//! On the std backend the `rcu_gp` thread starts with the first `call_rcu`
//! and sleeps while no callback is queued, so callbacks run even if nobody
//! calls `synchronize`; it exits when the [`Rcu`] is dropped. Under shuttle
//! the thread runs too, so callbacks race with everything else as in the
//! kernel (an explored body must drop its domain before it returns, since
//! shuttle waits for every task).
//!
//! # Where the model differs from the kernel
//!
//! The kernel's `rcu_read_lock` costs no atomic operation: grace periods are
//! detected from context switches. This model pays one atomic increment and
//! a full fence per reader, so its readers are slower but the protocol is
//! real: a reader that escapes its section can really see freed memory.

use core::cell::{Cell, RefCell};
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;
use std::collections::VecDeque;

use super::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use super::backend::{self, thread, Arc, RCU_GP_THREAD};
use super::backoff::Backoff;
use super::condvar::Condvar;
use super::mutex::{Mutex, MutexGuard};
use super::percpu::{per_cpu, this_cpu_shard, CachePadded};

/// A queued `call_rcu` callback.
struct RcuCallback {
    /// The grace period (by number, see [`RcuState::gp_started`]) that must
    /// complete before the callback may run.
    gp: u64,
    func: Box<dyn FnOnce() + Send + 'static>,
}

/// The callback queue and the background thread that drains it.
struct CallbackQueue {
    /// In `call_rcu` order, hence in non-decreasing `gp` order.
    pending: VecDeque<RcuCallback>,
    /// Callbacks ever queued (the ticket of the next one).
    queued: u64,
    /// The `rcu_gp` thread, once started (std backend only).
    gp_thread: Option<thread::JoinHandle<()>>,
    /// Set when the domain is dropped: the `rcu_gp` thread drains and exits.
    shutdown: bool,
}

impl CallbackQueue {
    /// Whether the first callback waits for a grace period numbered at most
    /// `completed`. (Later ones wait for the same or a later one.)
    fn front_ready(&self, completed: u64) -> bool {
        self.pending.front().is_some_and(|cb| cb.gp <= completed)
    }
}

/// The shared state of a domain ([`Rcu`] owns it; the `rcu_gp` thread
/// holds a second reference).
struct RcuState {
    /// Which of the two reader counters new readers use. Flipped (0↔1) by
    /// each grace period, under `gp_lock`.
    parity: AtomicUsize,
    /// Per CPU shard, readers inside on each parity. A reader decrements the
    /// counter it incremented, so each counter is never negative.
    readers: Box<[CachePadded<[AtomicUsize; 2]>]>,
    /// Serialises grace periods.
    gp_lock: Mutex<()>,
    /// Grace periods started; the number of the one running (or last run).
    /// Written under `gp_lock`.
    gp_started: AtomicU64,
    /// Grace periods completed. Written under `gp_lock`; equals `gp_started`
    /// when no grace period is running.
    gp_completed: AtomicU64,
    callbacks: Mutex<CallbackQueue>,
    /// The `rcu_gp` thread sleeps here while no callback is queued.
    callbacks_queued: Condvar,
    /// Whether some thread is running callbacks (only one at a time, so
    /// they run in queue order and `invoked` counts a prefix of the queue).
    invoking: AtomicBool,
    /// Callbacks that have run (or panicked).
    invoked: AtomicU64,
    /// A mutant for tests: readers skip the parity re-check after their
    /// fence (see [`Rcu::mutant_without_parity_recheck`]).
    mutant_no_recheck: bool,
}

backend::thread_local! {
    /// Per thread: `(domain id, depth)` for each domain whose read-side
    /// section the thread is inside.
    static READ_NESTING: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
    /// The domain whose callbacks this thread is running (0: none).
    static INVOKING_FOR: Cell<usize> = const { Cell::new(0) };
}

/// One RCU domain (the kernel has one per system; the model has one per
/// machine, owned by it).
///
/// ```
/// use mmsim::sync::atomic::{AtomicU64, Ordering};
/// use mmsim::sync::Rcu;
///
/// let rcu = Rcu::new();
/// let slot = AtomicU64::new(1);
///
/// let guard = rcu.read_lock();
/// assert_eq!(slot.load(Ordering::Acquire), 1);
/// assert!(rcu.in_read_side());
/// drop(guard);
///
/// slot.store(2, Ordering::Release); // unpublish the old value...
/// rcu.synchronize(); // ...and wait out every reader that could see it
/// ```
pub struct Rcu {
    state: Arc<RcuState>,
}

impl Rcu {
    /// A new domain with no readers and no callbacks.
    pub fn new() -> Self {
        Self::build(false)
    }

    /// A broken domain, for tests that show the checker finds the bug: its
    /// readers do not re-check the parity after their fence, so a reader
    /// delayed between reading the parity and counting itself is missed by
    /// a grace period that flips and scans in between, and may see an
    /// object that grace period let its updater free.
    #[doc(hidden)]
    pub fn mutant_without_parity_recheck() -> Self {
        Self::build(true)
    }

    fn build(mutant_no_recheck: bool) -> Self {
        Self {
            state: Arc::new(RcuState {
                parity: AtomicUsize::new(0),
                readers: per_cpu(|| [AtomicUsize::new(0), AtomicUsize::new(0)]),
                gp_lock: Mutex::new(()),
                gp_started: AtomicU64::new(0),
                gp_completed: AtomicU64::new(0),
                callbacks: Mutex::new(CallbackQueue {
                    pending: VecDeque::new(),
                    queued: 0,
                    gp_thread: None,
                    shutdown: false,
                }),
                callbacks_queued: Condvar::new(),
                invoking: AtomicBool::new(false),
                invoked: AtomicU64::new(0),
                mutant_no_recheck,
            }),
        }
    }

    /// `rcu_read_lock`: enters a read-side critical section, which lasts
    /// until the guard is dropped. Never waits; may nest.
    pub fn read_lock(&self) -> RcuReadGuard<'_> {
        let state = &*self.state;
        let cpu = this_cpu_shard(state.readers.len());
        let counters = &state.readers[cpu].0;
        let parity = loop {
            let parity = state.parity.load(Ordering::Relaxed);
            counters[parity].fetch_add(1, Ordering::Relaxed);
            // SeqCst fence: pairs with the second SeqCst fence in
            // run_grace_period. Either that grace period's scan sees this
            // increment, or this section sees every store made before the
            // grace period began.
            fence(Ordering::SeqCst);
            // Acquire: pairs with the parity store in run_grace_period, which
            // the fence before it orders after the grace period's start. A
            // reader that sees the flipped parity retries on it, and then
            // sees every store made before that grace period began.
            if state.mutant_no_recheck || state.parity.load(Ordering::Acquire) == parity {
                break parity;
            }
            // A grace period flipped the parity under us: count on the new one.
            counters[parity].fetch_sub(1, Ordering::Relaxed);
        };
        read_nesting_update(state.id(), |depth| depth + 1);
        RcuReadGuard {
            rcu: self,
            cpu,
            parity,
            _not_send: PhantomData,
        }
    }

    /// `synchronize_rcu`: returns after every read-side section that began
    /// before the call has ended; then runs the callbacks that became ready.
    ///
    /// # Panics
    ///
    /// If called inside a read-side section of this domain: the grace period
    /// would wait for its own caller forever.
    pub fn synchronize(&self) {
        assert!(
            !self.in_read_side(),
            "synchronize_rcu() inside an RCU read-side critical section of the same domain"
        );
        self.state.synchronize();
        self.state.invoke_callbacks();
    }

    /// `call_rcu`: runs `f` after a grace period that starts after this
    /// call, on whichever thread completes it. Never waits.
    pub fn call_rcu(&self, f: Box<dyn FnOnce() + Send + 'static>) {
        // SeqCst fence: pairs with the first SeqCst fence in run_grace_period.
        // The grace period numbered after the `gp_started` read below starts
        // after this fence, so it covers whatever the caller unpublished.
        fence(Ordering::SeqCst);
        let mut queue = self.state.callbacks.lock();
        let gp = self.state.gp_started.load(Ordering::Relaxed) + 1;
        queue.pending.push_back(RcuCallback { gp, func: f });
        queue.queued += 1;
        if RCU_GP_THREAD {
            if queue.gp_thread.is_none() && !queue.shutdown {
                let state = Arc::clone(&self.state);
                queue.gp_thread = Some(thread::spawn_named("rcu_gp", move || {
                    rcu_gp_kthread(&state)
                }));
            }
            self.state.callbacks_queued.notify_one();
        }
    }

    /// `rcu_barrier`: returns after every callback queued before the call
    /// has run.
    ///
    /// # Panics
    ///
    /// If called inside a read-side section of this domain, or from one of
    /// its callbacks (either would wait for itself).
    pub fn barrier(&self) {
        assert!(
            !self.in_read_side(),
            "rcu_barrier() inside an RCU read-side critical section of the same domain"
        );
        assert!(
            INVOKING_FOR.with(Cell::get) != self.state.id(),
            "rcu_barrier() from an RCU callback of the same domain"
        );
        let target = self.state.callbacks.lock().queued;
        if self.state.all_invoked(target) {
            return;
        }
        // One grace period started after this point makes every earlier
        // callback ready; then run them, or wait for the thread running them.
        self.state.synchronize();
        let mut backoff = Backoff::new();
        loop {
            self.state.invoke_callbacks();
            if self.state.all_invoked(target) {
                return;
            }
            backoff.snooze();
        }
    }

    /// Whether the calling thread is inside a read-side section of this
    /// domain (`rcu_read_lock_held`, for debug assertions).
    pub fn in_read_side(&self) -> bool {
        let id = self.state.id();
        READ_NESTING
            .try_with(|nesting| nesting.borrow().iter().any(|&(domain, _)| domain == id))
            .unwrap_or(false)
    }
}

impl Default for Rcu {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Rcu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rcu")
            .field(
                "gp_completed",
                &self.state.gp_completed.load(Ordering::Relaxed),
            )
            .field(
                "callbacks_invoked",
                &self.state.invoked.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

impl Drop for Rcu {
    /// Stops the `rcu_gp` thread, then runs every remaining callback after a
    /// final grace period (callbacks queued by callbacks included).
    fn drop(&mut self) {
        let gp_thread = {
            let mut queue = self.state.callbacks.lock();
            queue.shutdown = true;
            self.state.callbacks_queued.notify_all();
            queue.gp_thread.take()
        };
        if let Some(gp_thread) = gp_thread {
            if gp_thread.thread().id() == thread::current_id() {
                // One of our own callbacks, on the rcu_gp thread, dropped the
                // domain. That thread drains the queue once the callback
                // returns, and exits.
                return;
            }
            // An error here means a callback panicked on the rcu_gp thread
            // (already reported there); it was counted as invoked, and the
            // drain below runs the rest.
            let _ = gp_thread.join();
        }
        self.state.drain();
    }
}

impl RcuState {
    /// The domain's identity for thread-local bookkeeping: its address,
    /// unique among live domains.
    fn id(&self) -> usize {
        core::ptr::from_ref(self).addr()
    }

    /// Waits for a grace period that starts after this call, running one
    /// unless another thread's completes first.
    fn synchronize(&self) {
        // SeqCst fence: pairs with the first SeqCst fence in run_grace_period,
        // as in call_rcu: a grace period numbered above `snap` covers the
        // caller's earlier stores.
        fence(Ordering::SeqCst);
        let snap = self.gp_started.load(Ordering::Relaxed);
        let gp_lock = self.gp_lock.lock();
        // gp_completed only changes under gp_lock, which we hold.
        if self.gp_completed.load(Ordering::Relaxed) > snap {
            // Someone else's grace period, started after our snapshot, ended
            // while we waited for gp_lock. SeqCst fence: pairs with the
            // fences in run_grace_period and, through its Acquire scan, with
            // the readers' Release exits; whatever we do after returning
            // (free, poison) is ordered after every reader it waited for,
            // not only through the lock hand-over.
            fence(Ordering::SeqCst);
            return;
        }
        self.run_grace_period(&gp_lock);
    }

    /// One grace period: flip the parity and wait for the old parity's
    /// readers to leave.
    fn run_grace_period(&self, _gp_lock: &MutexGuard<'_, ()>) {
        let gp = self.gp_started.fetch_add(1, Ordering::Relaxed) + 1;
        // SeqCst fence: pairs with the SeqCst fences in synchronize and
        // call_rcu (their `gp_started` read precedes our increment), and
        // orders the flip after them for readers that see it.
        fence(Ordering::SeqCst);
        let old = self.parity.load(Ordering::Relaxed);
        self.parity.store(old ^ 1, Ordering::Relaxed);
        // SeqCst fence: pairs with the SeqCst fence in read_lock.
        fence(Ordering::SeqCst);
        self.wait_for_readers(old);
        // SeqCst: Release pairs with the Acquire in gp_completed_for_callbacks, so
        // callbacks run after this grace period's readers left; SeqCst for
        // the handshake with `invoking` in invoke_callbacks.
        self.gp_completed.store(gp, Ordering::SeqCst);
    }

    /// Waits until no reader is counted on `parity` on any shard.
    fn wait_for_readers(&self, parity: usize) {
        for shard in &self.readers {
            let mut backoff = Backoff::new();
            // Acquire: pairs with the Release decrement in RcuReadGuard::drop,
            // so the readers' accesses happen before whatever follows the
            // grace period (freeing, poisoning).
            while shard.0[parity].load(Ordering::Acquire) != 0 {
                backoff.snooze();
            }
        }
    }

    /// Runs ready callbacks in queue order, unless another thread is already
    /// running them (it then runs ours too).
    fn invoke_callbacks(&self) {
        loop {
            // SeqCst: with the SeqCst store of gp_completed in
            // run_grace_period, the SeqCst store in InvokingFlag::drop and the
            // SeqCst load in gp_completed_for_callbacks, a Dekker handshake:
            // either the thread that completed a grace period becomes the
            // invoker here, or the invoker leaving sees that grace period in
            // has_ready_callback below. No ready callback is left stranded.
            if self.invoking.swap(true, Ordering::SeqCst) {
                return;
            }
            {
                let _invoking = InvokingFlag::new(self);
                while let Some(callback) = self.pop_ready_callback() {
                    let _count = CountInvoked(&self.invoked);
                    (callback.func)();
                }
            }
            if !self.has_ready_callback() {
                return;
            }
        }
    }

    /// The number of grace periods completed, as callback readiness sees it.
    fn gp_completed_for_callbacks(&self) -> u64 {
        // SeqCst: Acquire pairs with the SeqCst store in run_grace_period, so
        // callbacks run after that grace period's readers left; SeqCst for
        // the handshake described in invoke_callbacks.
        self.gp_completed.load(Ordering::SeqCst)
    }

    /// Takes the first queued callback off the queue if its grace period has
    /// completed.
    fn pop_ready_callback(&self) -> Option<RcuCallback> {
        let completed = self.gp_completed_for_callbacks();
        let mut queue = self.callbacks.lock();
        if queue.front_ready(completed) {
            queue.pending.pop_front()
        } else {
            None
        }
    }

    /// Whether the first queued callback's grace period has completed.
    fn has_ready_callback(&self) -> bool {
        let completed = self.gp_completed_for_callbacks();
        self.callbacks.lock().front_ready(completed)
    }

    /// Whether the first `target` callbacks ever queued have all run.
    fn all_invoked(&self, target: u64) -> bool {
        // Acquire: pairs with the Release increment in CountInvoked::drop,
        // so the callbacks' effects are visible to our caller.
        self.invoked.load(Ordering::Acquire) >= target
    }

    /// Runs grace periods and callbacks until none is queued.
    fn drain(&self) {
        loop {
            let target = self.callbacks.lock().queued;
            if self.all_invoked(target) {
                return;
            }
            self.synchronize();
            self.invoke_callbacks();
        }
    }
}

/// Body of the `rcu_gp` thread (the kernel's `rcu_gp_kthread` plus
/// `rcuc`): sleeps until a callback is queued, runs a grace period and the
/// ready callbacks; on shutdown drains the queue and exits.
fn rcu_gp_kthread(state: &RcuState) {
    loop {
        let shutdown = state
            .callbacks_queued
            .wait_while(state.callbacks.lock(), |q| {
                q.pending.is_empty() && !q.shutdown
            })
            .shutdown;
        if shutdown {
            break;
        }
        state.synchronize();
        state.invoke_callbacks();
        if state.has_ready_callback() {
            // Another thread is running them: let it, rather than running
            // empty grace periods back to back.
            thread::sleep(Duration::from_micros(100));
        }
    }
    state.drain();
}

/// Clears `invoking` (and the thread's invoking-for marker) when the
/// invoker stops, even if a callback panics.
struct InvokingFlag<'a> {
    state: &'a RcuState,
    outer: usize,
}

impl<'a> InvokingFlag<'a> {
    fn new(state: &'a RcuState) -> Self {
        let outer = INVOKING_FOR.with(|f| f.replace(state.id()));
        Self { state, outer }
    }
}

impl Drop for InvokingFlag<'_> {
    fn drop(&mut self) {
        let _ = INVOKING_FOR.try_with(|f| f.set(self.outer));
        // SeqCst: see the swap in invoke_callbacks.
        self.state.invoking.store(false, Ordering::SeqCst);
    }
}

/// Counts one callback as invoked when it returns or panics.
struct CountInvoked<'a>(&'a AtomicU64);

impl Drop for CountInvoked<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire load in all_invoked.
        self.0.fetch_add(1, Ordering::Release);
    }
}

/// Changes the calling thread's read-side depth for domain `id`, dropping
/// the entry at depth 0.
fn read_nesting_update(id: usize, update: impl FnOnce(usize) -> usize) {
    // The thread-local may already be gone while a thread exits; the depth
    // only serves assertions, so losing it then is harmless.
    let _ = READ_NESTING.try_with(|nesting| {
        let mut nesting = nesting.borrow_mut();
        match nesting.iter().position(|&(domain, _)| domain == id) {
            Some(i) => {
                let depth = update(nesting[i].1);
                if depth == 0 {
                    nesting.swap_remove(i);
                } else {
                    nesting[i].1 = depth;
                }
            }
            None => nesting.push((id, update(0))),
        }
    });
}

/// Proof that the calling thread is inside a read-side critical section of
/// a domain; `rcu_read_unlock` on drop. `!Send`: the section belongs to the
/// thread. Functions that must run under RCU take `&RcuReadGuard`.
#[must_use = "the read-side section ends as soon as the guard is dropped"]
pub struct RcuReadGuard<'a> {
    rcu: &'a Rcu,
    /// The shard and parity of our count, to decrement the same counter.
    cpu: usize,
    parity: usize,
    _not_send: PhantomData<*const ()>,
}

impl RcuReadGuard<'_> {
    /// The domain this section belongs to.
    pub fn domain(&self) -> &Rcu {
        self.rcu
    }
}

impl Drop for RcuReadGuard<'_> {
    fn drop(&mut self) {
        let state = &*self.rcu.state;
        read_nesting_update(state.id(), |depth| depth - 1);
        // Release: pairs with the Acquire load in wait_for_readers.
        state.readers[self.cpu].0[self.parity].fetch_sub(1, Ordering::Release);
    }
}

impl fmt::Debug for RcuReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RcuReadGuard")
            .field("cpu", &self.cpu)
            .field("parity", &self.parity)
            .finish()
    }
}

#[cfg(test)]
mod test_support {
    use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use crate::sync::Rcu;

    /// What a reclaimer writes into a retired slot: a reader that reads it
    /// used an object after its grace period.
    pub(super) const POISON: u64 = 0xdead_dead_dead_dead;

    /// An RCU-protected "pointer": `current` indexes the published slot.
    /// Updaters publish a new slot, then retire the old one after a grace
    /// period by poisoning it.
    pub(super) struct Published {
        pub(super) rcu: Rcu,
        pub(super) current: AtomicUsize,
        pub(super) slots: Vec<AtomicU64>,
    }

    impl Published {
        pub(super) fn new(nr_slots: usize) -> Self {
            Self::with_domain(nr_slots, Rcu::new())
        }

        pub(super) fn with_domain(nr_slots: usize, rcu: Rcu) -> Self {
            let slots: Vec<_> = (0..nr_slots).map(|_| AtomicU64::new(POISON)).collect();
            slots[0].store(0, Ordering::Relaxed);
            Self {
                rcu,
                current: AtomicUsize::new(0),
                slots,
            }
        }

        /// A reader: dereference the published slot and use it for a while.
        pub(super) fn read(&self, between: impl Fn()) -> u64 {
            let _rcu = self.rcu.read_lock();
            // Acquire: pairs with the Release store in publish.
            let slot = &self.slots[self.current.load(Ordering::Acquire)];
            let first = slot.load(Ordering::Relaxed);
            between();
            let again = slot.load(Ordering::Relaxed);
            assert!(
                first != POISON && again != POISON,
                "reader used a retired slot"
            );
            assert_eq!(first, again);
            again
        }

        /// Publishes `value` in `slot` (which must be retired) and returns
        /// the slot it replaced, still to be retired.
        pub(super) fn publish(&self, slot: usize, value: u64) -> usize {
            self.slots[slot].store(value, Ordering::Relaxed);
            // Release: pairs with the Acquire load in read.
            self.current.swap(slot, Ordering::Release)
        }

        pub(super) fn retire(&self, slot: usize) {
            self.slots[slot].store(POISON, Ordering::Relaxed);
        }
    }

    #[cfg(not(mmsim_shuttle))]
    /// Polls `cond` until it holds, failing after ten seconds (a correct
    /// implementation needs microseconds; the limit only turns a bug into a
    /// failure instead of a hang).
    pub(super) fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !cond() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting until {what}"
            );
            crate::sync::thread::yield_now();
        }
    }
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::test_support::{wait_until, Published};
    use super::*;
    use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use crate::sync::{cpu_relax, Arc};

    #[test]
    fn synchronize_waits_for_a_pre_existing_reader() {
        let rcu = Arc::new(Rcu::new());
        let inside = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let sync_returned = Arc::new(AtomicBool::new(false));
        let reader = {
            let (rcu, inside, done, sync_returned) = (
                Arc::clone(&rcu),
                Arc::clone(&inside),
                Arc::clone(&done),
                Arc::clone(&sync_returned),
            );
            thread::spawn(move || {
                let guard = rcu.read_lock();
                inside.store(true, Ordering::Release);
                // Give a broken synchronize time to return early.
                thread::sleep(Duration::from_millis(20));
                assert!(
                    !sync_returned.load(Ordering::Relaxed),
                    "grace period ended under a reader"
                );
                done.store(true, Ordering::Relaxed);
                drop(guard);
            })
        };
        wait_until("the reader is inside", || inside.load(Ordering::Acquire));
        rcu.synchronize();
        sync_returned.store(true, Ordering::Relaxed);
        assert!(
            done.load(Ordering::Relaxed),
            "synchronize returned before the reader finished"
        );
        reader.join().unwrap();
    }

    #[test]
    fn synchronize_does_not_wait_for_readers_that_start_after_it() {
        let rcu = Arc::new(Rcu::new());
        let old_reader = rcu.read_lock();
        let sync_done = Arc::new(AtomicBool::new(false));
        let synchronizer = {
            let (rcu, sync_done) = (Arc::clone(&rcu), Arc::clone(&sync_done));
            thread::spawn(move || {
                rcu.synchronize();
                sync_done.store(true, Ordering::Relaxed);
            })
        };
        // The grace period has begun once it flipped the parity.
        wait_until("the grace period started", || {
            rcu.state.parity.load(Ordering::Relaxed) == 1
        });

        let new_reader_in = Arc::new(AtomicBool::new(false));
        let new_reader = {
            let (rcu, sync_done, new_reader_in) = (
                Arc::clone(&rcu),
                Arc::clone(&sync_done),
                Arc::clone(&new_reader_in),
            );
            thread::spawn(move || {
                let _guard = rcu.read_lock();
                new_reader_in.store(true, Ordering::Relaxed);
                // Holds its section until synchronize returns: a grace period
                // that waited for it would never end.
                wait_until("synchronize returned", || sync_done.load(Ordering::Relaxed));
            })
        };
        wait_until("the new reader is inside", || {
            new_reader_in.load(Ordering::Relaxed)
        });
        assert!(
            !sync_done.load(Ordering::Relaxed),
            "grace period ended under the old reader"
        );
        drop(old_reader);
        synchronizer.join().unwrap();
        new_reader.join().unwrap();
    }

    #[test]
    fn nested_read_locks_are_tracked_per_domain_and_do_not_stall_a_grace_period() {
        let rcu = Arc::new(Rcu::new());
        let other = Rcu::new();
        assert!(!rcu.in_read_side());
        let outer = rcu.read_lock();
        let inner = rcu.read_lock();
        assert!(rcu.in_read_side());
        assert!(
            !other.in_read_side(),
            "read-side state leaked across domains"
        );
        drop(outer);
        assert!(rcu.in_read_side(), "still inside the nested section");

        let synchronizer = {
            let rcu = Arc::clone(&rcu);
            thread::spawn(move || rcu.synchronize())
        };
        wait_until("the grace period started", || {
            rcu.state.parity.load(Ordering::Relaxed) == 1
        });
        // A nested lock taken while the grace period waits for `inner` must
        // not wait itself, nor make the grace period wait for it forever.
        let nested_again = rcu.read_lock();
        drop(inner);
        drop(nested_again);
        assert!(!rcu.in_read_side());
        synchronizer.join().unwrap();
        other.synchronize();
    }

    #[test]
    #[should_panic(expected = "synchronize_rcu() inside an RCU read-side critical section")]
    fn synchronize_inside_a_read_side_section_panics() {
        let rcu = Rcu::new();
        let _guard = rcu.read_lock();
        rcu.synchronize();
    }

    #[test]
    fn call_rcu_runs_after_a_grace_period_without_anyone_synchronizing() {
        let rcu = Rcu::new();
        let ran = Arc::new(AtomicBool::new(false));
        let reader = rcu.read_lock();
        {
            let ran = Arc::clone(&ran);
            rcu.call_rcu(Box::new(move || ran.store(true, Ordering::Release)));
        }
        // The rcu_gp thread is now running a grace period that waits for us.
        thread::sleep(Duration::from_millis(10));
        assert!(
            !ran.load(Ordering::Acquire),
            "callback ran under a pre-existing reader"
        );
        drop(reader);
        wait_until("the rcu_gp thread ran the callback", || {
            ran.load(Ordering::Acquire)
        });
    }

    #[test]
    fn barrier_runs_every_callback_queued_before_it() {
        let rcu = Arc::new(Rcu::new());
        let count = Arc::new(AtomicU64::new(0));
        let queuers: Vec<_> = (0..4)
            .map(|_| {
                let (rcu, count) = (Arc::clone(&rcu), Arc::clone(&count));
                thread::spawn(move || {
                    for _ in 0..50 {
                        let count = Arc::clone(&count);
                        rcu.call_rcu(Box::new(move || {
                            count.fetch_add(1, Ordering::Relaxed);
                        }));
                    }
                })
            })
            .collect();
        for queuer in queuers {
            queuer.join().unwrap();
        }
        rcu.barrier();
        assert_eq!(count.load(Ordering::Relaxed), 200);
    }

    #[test]
    fn drop_runs_every_remaining_callback() {
        let rcu = Rcu::new();
        let count = Arc::new(AtomicU64::new(0));
        for _ in 0..100 {
            let count = Arc::clone(&count);
            rcu.call_rcu(Box::new(move || {
                count.fetch_add(1, Ordering::Relaxed);
            }));
        }
        drop(rcu);
        assert_eq!(count.load(Ordering::Relaxed), 100);
    }

    #[test]
    fn a_callback_may_queue_another_and_drop_the_last_owner_of_its_domain() {
        let rcu = Arc::new(Rcu::new());
        let second_ran = Arc::new(AtomicBool::new(false));
        {
            let owner = Arc::clone(&rcu);
            let second_ran = Arc::clone(&second_ran);
            rcu.call_rcu(Box::new(move || {
                owner.call_rcu(Box::new(move || second_ran.store(true, Ordering::Release)));
                // The last reference: the domain is dropped on the rcu_gp
                // thread, inside this callback.
                drop(owner);
            }));
        }
        drop(rcu);
        wait_until("the callback queued by the dropping callback ran", || {
            second_ran.load(Ordering::Acquire)
        });
    }

    #[test]
    fn readers_never_see_a_slot_retired_after_a_grace_period() {
        const UPDATES: u64 = 200;
        let p = Arc::new(Published::new(3));
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (p, stop, reads) = (Arc::clone(&p), Arc::clone(&stop), Arc::clone(&reads));
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        p.read(|| {
                            for _ in 0..20 {
                                cpu_relax();
                            }
                        });
                        reads.fetch_add(1, Ordering::Relaxed);
                        // Outside the section: let the updater have the CPU
                        // on a small or busy host.
                        thread::yield_now();
                    }
                })
            })
            .collect();
        wait_until("the readers are running", || {
            reads.load(Ordering::Relaxed) >= 3
        });
        let mut free = vec![1usize, 2];
        for value in 1..=UPDATES {
            let slot = free.pop().unwrap();
            let old = p.publish(slot, value);
            if value % 2 == 0 {
                p.rcu.synchronize();
                p.retire(old);
            } else {
                // Retire through a callback; barrier before reusing the slot.
                let p2 = Arc::clone(&p);
                p.rcu.call_rcu(Box::new(move || p2.retire(old)));
                p.rcu.barrier();
            }
            free.push(old);
        }
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.join().unwrap();
        }
        assert_eq!(p.read(|| {}), UPDATES);
    }
}

#[cfg(all(test, mmsim_shuttle))]
mod shuttle_tests {
    use super::test_support::{Published, POISON};
    use super::*;
    use crate::sync::atomic::{AtomicU64, Ordering};
    use crate::sync::Arc;

    /// Two readers against an updater that publishes twice and retires each
    /// old slot after a grace period: with `sync_mode` false the updater
    /// skips the grace period (the mutant a checker must catch).
    fn publish_and_retire(sync_mode: bool) {
        publish_and_retire_in(sync_mode, Rcu::new());
    }

    fn publish_and_retire_in(sync_mode: bool, rcu: Rcu) {
        let p = Arc::new(Published::with_domain(3, rcu));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let p = Arc::clone(&p);
                thread::spawn(move || {
                    p.read(thread::yield_now);
                    p.read(thread::yield_now);
                })
            })
            .collect();
        for (slot, value) in [(1, 1), (2, 2)] {
            let old = p.publish(slot, value);
            if sync_mode {
                p.rcu.synchronize();
            }
            p.retire(old);
        }
        for reader in readers {
            reader.join().unwrap();
        }
    }

    #[test]
    fn readers_never_see_poison_after_synchronize() {
        shuttle::check_random(|| publish_and_retire(true), 1000);
    }

    #[test]
    fn readers_never_see_poison_after_synchronize_pct() {
        shuttle::check_pct(|| publish_and_retire(true), 1000, 3);
    }

    #[test]
    #[should_panic(expected = "reader used a retired slot")]
    fn retiring_without_a_grace_period_is_caught() {
        shuttle::check_random(|| publish_and_retire(false), 1000);
    }

    /// The reader's re-check of the parity after its fence is what makes
    /// one flip per grace period enough (module doc): without it, a reader
    /// that read the old parity, was preempted across a whole grace period
    /// and then counted itself on the old parity is not waited for. PCT
    /// finds that schedule.
    #[test]
    #[should_panic(expected = "reader used a retired slot")]
    fn reader_without_parity_recheck_is_caught_by_pct() {
        shuttle::check_pct(
            || publish_and_retire_in(true, Rcu::mutant_without_parity_recheck()),
            5000,
            3,
        );
    }

    /// A grace period whose reader never leaves is a deadlock, and shuttle
    /// reports it as one: the scan parks instead of spinning into the step
    /// limit.
    #[test]
    #[should_panic(expected = "deadlock")]
    fn a_reader_that_never_leaves_is_reported_as_a_deadlock() {
        shuttle::check_random(
            || {
                let rcu = Arc::new(Rcu::new());
                let entered = Arc::new(AtomicU64::new(0));
                let reader = {
                    let (rcu, entered) = (Arc::clone(&rcu), Arc::clone(&entered));
                    thread::spawn(move || {
                        let _guard = rcu.read_lock();
                        entered.store(1, Ordering::Release);
                        // Waits for the updater, which waits for us.
                        while entered.load(Ordering::Acquire) != 2 {
                            crate::sync::backoff::Backoff::new().snooze();
                        }
                    })
                };
                while entered.load(Ordering::Acquire) != 1 {
                    crate::sync::backoff::Backoff::new().snooze();
                }
                rcu.synchronize();
                entered.store(2, Ordering::Release);
                reader.join().unwrap();
            },
            10,
        );
    }

    /// A reader (with a nested section) against an updater that retires
    /// through `call_rcu` while another thread's grace period may be in
    /// progress (a callback must wait for a grace period that starts after
    /// `call_rcu`, not that one), then `barrier`.
    fn retire_by_callback() {
        let p = Arc::new(Published::new(3));
        let synchronizer = {
            let p = Arc::clone(&p);
            thread::spawn(move || p.rcu.synchronize())
        };
        let reader = {
            let p = Arc::clone(&p);
            thread::spawn(move || {
                p.read(thread::yield_now);
                let _outer = p.rcu.read_lock();
                p.read(thread::yield_now);
            })
        };
        let old = p.publish(1, 1);
        let retire = Arc::clone(&p);
        p.rcu.call_rcu(Box::new(move || retire.retire(old)));
        p.rcu.barrier();
        assert_eq!(p.slots[0].load(Ordering::Relaxed), POISON);
        reader.join().unwrap();
        synchronizer.join().unwrap();
    }

    #[test]
    fn call_rcu_retires_after_a_grace_period_and_barrier_waits_for_it() {
        shuttle::check_random(retire_by_callback, 1000);
        shuttle::check_pct(retire_by_callback, 1000, 3);
    }

    /// `rcu_barrier` polls `invoke_callbacks`, which writes `invoking`,
    /// while the `rcu_gp` task runs the callback it waits for. After a
    /// spurious wake-up the barrier's task used to stay listed as a spinner,
    /// woke itself with that write and never blocked again, and PCT, which
    /// ranked it above `rcu_gp`, ran it alone for ever (PCT seed 16 was the
    /// first such schedule). Seeds 0..64, each a fresh PCT schedule set.
    #[test]
    fn barrier_spinning_beside_the_invoking_rcu_gp_task_lets_it_run() {
        for seed in 0..64 {
            let mut config = shuttle::Config::new();
            config.max_steps = shuttle::MaxSteps::FailAfter(20_000);
            shuttle::Runner::new(
                shuttle::scheduler::PctScheduler::new_from_seed(seed, 3, 100),
                config,
            )
            .run(retire_by_callback);
        }
    }

    #[test]
    fn callbacks_queued_by_callbacks_run_by_drop() {
        shuttle::check_random(
            || {
                let count = Arc::new(AtomicU64::new(0));
                let rcu = Arc::new(Rcu::new());
                {
                    let (owner, count) = (Arc::clone(&rcu), Arc::clone(&count));
                    rcu.call_rcu(Box::new(move || {
                        count.fetch_add(1, Ordering::Relaxed);
                        let count = Arc::clone(&count);
                        owner.call_rcu(Box::new(move || {
                            count.fetch_add(1, Ordering::Relaxed);
                        }));
                    }));
                }
                let helper = {
                    let rcu = Arc::clone(&rcu);
                    thread::spawn(move || {
                        let reader = rcu.read_lock();
                        thread::yield_now();
                        drop(reader);
                        rcu.synchronize();
                    })
                };
                // Runs the first callback here or waits for the helper to.
                rcu.barrier();
                helper.join().unwrap();
                let rcu = Arc::try_unwrap(rcu).unwrap_or_else(|_| panic!("domain still shared"));
                drop(rcu);
                assert_eq!(count.load(Ordering::Relaxed), 2);
            },
            1000,
        );
    }
}
