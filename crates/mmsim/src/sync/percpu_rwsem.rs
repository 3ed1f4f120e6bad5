//! `struct percpu_rw_semaphore`: a reader-writer lock whose readers touch
//! only their own CPU's counter, for locks taken by readers all the time and
//! by writers rarely (`mem_hotplug_lock`, `cpu_hotplug_lock`).
//!
//! Picture one reader counter per CPU, and one flag, `block`, that a writer
//! raises. A reader increments its CPU's counter and then checks `block`; a
//! writer raises `block` and then sums the counters. These are the two halves
//! of a Dekker handshake (all four accesses are `SeqCst`):
//!
//! ```text
//!   reader (fast path)                 writer
//!   read_count[cpu] += 1               block = true
//!   if !block: enter                   wait until every read_count[cpu] == 0
//! ```
//!
//! Either the writer's scan sees the reader's increment (and waits for it to
//! leave), or the reader sees `block` (and backs out: it decrements, wakes
//! the writer and sleeps until the writer is done, then tries again). They
//! cannot both miss each other. So a reader that saw no writer is counted
//! before the writer finishes draining, and the writer enters only when no
//! reader is inside.
//!
//! The kernel gets the same guarantee more cheaply: readers' fast path is
//! plain per-CPU increments with no barrier, and the writer first waits for
//! an RCU grace period (`rcu_sync_enter`) after which every reader takes the
//! slow path. This model keeps the shape (per-CPU counters, `block`, readers
//! falling back to sleeping) and replaces the grace period with the
//! handshake above.
//!
//! Sleeping is on one internal [`Mutex`] + [`Condvar`]: readers wait there
//! for the writer to finish; the writer waits there for readers to drain and
//! is woken by the last reader that leaves while `block` is up. Writers are
//! serialised by `writer_active` under the same mutex.
//!
//! As in the kernel, the read side must not be taken recursively: with a
//! writer waiting, the inner `down_read` sleeps behind a writer that waits
//! for the outer one.

use core::fmt;
use core::marker::PhantomData;

use super::atomic::{AtomicBool, AtomicUsize, Ordering};
use super::condvar::Condvar;
use super::mutex::Mutex;
use super::percpu::{per_cpu, this_cpu_shard, CachePadded};

/// A kernel `struct percpu_rw_semaphore` (no protected data: like the
/// kernel's, it guards a code section, such as hotplug vs. its readers).
///
/// ```
/// use mmsim::sync::PercpuRwSem;
///
/// let mem_hotplug_lock = PercpuRwSem::new();
/// {
///     let _readers = (mem_hotplug_lock.down_read(), mem_hotplug_lock.down_read());
///     assert!(!mem_hotplug_lock.is_write_locked());
/// }
/// let _hotplug = mem_hotplug_lock.down_write();
/// assert!(mem_hotplug_lock.is_write_locked());
/// ```
pub struct PercpuRwSem {
    /// Readers inside, counted on the shard of the thread that entered (and
    /// decremented on the same shard when it leaves, so each shard is never
    /// negative). A reader that sees `block` backs its increment out.
    read_count: Box<[CachePadded<AtomicUsize>]>,
    /// Raised by a writer from the start of `down_write` until `up_write`:
    /// readers must not enter on the fast path.
    block: AtomicBool,
    /// Whether a writer holds or is acquiring the lock (serialises writers;
    /// readers that backed out sleep until it is false).
    writer_active: Mutex<bool>,
    /// Sleepers on `writer_active`: backed-out readers, waiting writers, and
    /// the writer waiting for readers to drain.
    waiters: Condvar,
}

impl PercpuRwSem {
    /// An unlocked semaphore (`percpu_init_rwsem`).
    pub fn new() -> Self {
        Self {
            read_count: per_cpu(|| AtomicUsize::new(0)),
            block: AtomicBool::new(false),
            writer_active: Mutex::new(false),
            waiters: Condvar::new(),
        }
    }

    /// `percpu_down_read`: enters as a reader, sleeping while a writer holds
    /// or is acquiring the lock.
    pub fn down_read(&self) -> PercpuReadGuard<'_> {
        let cpu = this_cpu_shard(self.read_count.len());
        loop {
            if self.down_read_fast(cpu) {
                return PercpuReadGuard {
                    sem: self,
                    cpu,
                    _not_send: PhantomData,
                };
            }
            // A writer is active: it is draining readers (we just backed out)
            // or inside. Sleep until it leaves, then try again.
            drop(
                self.waiters
                    .wait_while(self.writer_active.lock(), |active| *active),
            );
        }
    }

    /// The reader's half of the handshake: counted and no writer, or backed
    /// out.
    fn down_read_fast(&self, cpu: usize) -> bool {
        // SeqCst: the increment and the load of `block` below pair with the
        // store of `block` and the loads of `read_count` in down_write.
        self.read_count[cpu].0.fetch_add(1, Ordering::SeqCst);
        // SeqCst: see above.
        if !self.block.load(Ordering::SeqCst) {
            return true;
        }
        self.up_read(cpu);
        false
    }

    /// `percpu_up_read`: leaves, and wakes the writer if one is waiting for
    /// readers to drain.
    fn up_read(&self, cpu: usize) {
        // SeqCst: the decrement (Release for the critical section) and the
        // load of `block` below pair with the store of `block` and the loads
        // of `read_count` in down_write: either the writer's scan sees this
        // decrement, or we see `block` and wake the writer.
        self.read_count[cpu].0.fetch_sub(1, Ordering::SeqCst);
        // SeqCst: see above.
        if self.block.load(Ordering::SeqCst) {
            // Taking the mutex orders the wake-up after the writer's check
            // (done under the mutex): it cannot be lost.
            let _active = self.writer_active.lock();
            self.waiters.notify_all();
        }
    }

    /// `percpu_down_write`: waits for other writers, blocks new readers,
    /// then waits until every reader has left.
    pub fn down_write(&self) -> PercpuWriteGuard<'_> {
        let mut active = self
            .waiters
            .wait_while(self.writer_active.lock(), |active| *active);
        *active = true;
        // SeqCst: pairs with the SeqCst increment and load of `block` in
        // down_read_fast (and the decrement and load in up_read).
        self.block.store(true, Ordering::SeqCst);
        drop(self.waiters.wait_while(active, |_| !self.readers_drained()));
        PercpuWriteGuard {
            sem: self,
            _not_send: PhantomData,
        }
    }

    /// `readers_active_check`: whether no reader is inside.
    fn readers_drained(&self) -> bool {
        self.read_count
            .iter()
            // SeqCst: pairs with the SeqCst increment in down_read_fast and
            // decrement in up_read (the writer's half of the handshake);
            // also acquires the readers' critical sections.
            .all(|count| count.0.load(Ordering::SeqCst) == 0)
    }

    /// `percpu_up_write`.
    fn up_write(&self) {
        let mut active = self.writer_active.lock();
        *active = false;
        // Release: pairs with the SeqCst (acquiring) load of `block` in
        // down_read_fast, so fast-path readers see the writer's section.
        // Readers that slept synchronise through `writer_active` instead.
        self.block.store(false, Ordering::Release);
        self.waiters.notify_all();
    }

    /// `percpu_is_write_locked`: whether a writer holds or is acquiring the
    /// lock. For assertions (`lockdep_assert_held` on `mem_hotplug_lock`).
    pub fn is_write_locked(&self) -> bool {
        self.block.load(Ordering::Relaxed)
    }
}

impl Default for PercpuRwSem {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for PercpuRwSem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PercpuRwSem")
            .field("write_locked", &self.is_write_locked())
            .finish_non_exhaustive()
    }
}

/// Proof that the calling thread holds a [`PercpuRwSem`] for reading;
/// `percpu_up_read` on drop.
#[must_use = "the semaphore is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct PercpuReadGuard<'a> {
    sem: &'a PercpuRwSem,
    /// The shard our increment is on; the decrement must go there too.
    cpu: usize,
    _not_send: PhantomData<*const ()>,
}

impl Drop for PercpuReadGuard<'_> {
    fn drop(&mut self) {
        self.sem.up_read(self.cpu);
    }
}

/// Proof that the calling thread holds a [`PercpuRwSem`] for writing;
/// `percpu_up_write` on drop.
#[must_use = "the semaphore is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct PercpuWriteGuard<'a> {
    sem: &'a PercpuRwSem,
    _not_send: PhantomData<*const ()>,
}

impl Drop for PercpuWriteGuard<'_> {
    fn drop(&mut self) {
        self.sem.up_write();
    }
}

#[cfg(test)]
mod test_support {
    use crate::sync::atomic::{AtomicU64, Ordering};
    use crate::sync::PercpuRwSem;

    /// A pair that writers keep equal, with plain atomic halves: a reader
    /// that sees them unequal ran inside a writer's section.
    #[derive(Default)]
    pub(super) struct Guarded {
        pub(super) sem: PercpuRwSem,
        pub(super) a: AtomicU64,
        pub(super) b: AtomicU64,
    }

    impl Guarded {
        pub(super) fn write(&self, between: impl FnOnce()) {
            let _w = self.sem.down_write();
            assert!(self.sem.is_write_locked());
            let seen = self.a.load(Ordering::Relaxed);
            self.a.store(seen + 1, Ordering::Relaxed);
            between();
            self.b.store(seen + 1, Ordering::Relaxed);
        }

        pub(super) fn read(&self, between: impl FnOnce()) {
            let _r = self.sem.down_read();
            let a = self.a.load(Ordering::Relaxed);
            between();
            assert_eq!(
                a,
                self.b.load(Ordering::Relaxed),
                "reader inside a writer's section"
            );
        }
    }
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::test_support::Guarded;
    use super::*;
    use crate::sync::{thread, Arc};

    #[test]
    fn percpu_rwsem_excludes_writers_from_readers_and_each_other() {
        const ROUNDS: u64 = 3_000;
        let g = Arc::new(Guarded::default());
        let workers: Vec<_> = (0..4u64)
            .map(|i| {
                let g = Arc::clone(&g);
                thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        if i == 0 {
                            g.write(|| {});
                        } else {
                            g.read(|| {});
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(g.a.load(Ordering::Relaxed), ROUNDS);
        assert!(!g.sem.is_write_locked());
    }

    #[test]
    fn percpu_rwsem_four_writers_count_exactly() {
        const ROUNDS: u64 = 2_000;
        let g = Arc::new(Guarded::default());
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let g = Arc::clone(&g);
                thread::spawn(move || (0..ROUNDS).for_each(|_| g.write(|| {})))
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(g.b.load(Ordering::Relaxed), 4 * ROUNDS);
    }

    #[test]
    fn percpu_writer_waits_for_a_reader_inside() {
        let g = Arc::new(Guarded::default());
        let reader = g.sem.down_read();
        let writer = {
            let g = Arc::clone(&g);
            thread::spawn(move || g.write(|| {}))
        };
        // The writer raises `block` first, then waits for us.
        while !g.sem.is_write_locked() {
            thread::yield_now();
        }
        assert_eq!(
            g.a.load(Ordering::Relaxed),
            0,
            "writer entered over a reader"
        );
        drop(reader);
        writer.join().unwrap();
        assert_eq!(g.a.load(Ordering::Relaxed), 1);
    }
}

#[cfg(all(test, mmsim_shuttle))]
mod shuttle_tests {
    use super::test_support::Guarded;
    use crate::sync::{thread, Arc};

    #[test]
    fn percpu_rwsem_handshake_under_every_schedule() {
        shuttle::check_random(
            || {
                let g = Arc::new(Guarded::default());
                let threads: Vec<_> = (0..4)
                    .map(|i| {
                        let g = Arc::clone(&g);
                        thread::spawn(move || {
                            if i < 2 {
                                g.write(thread::yield_now);
                            } else {
                                g.read(thread::yield_now);
                                g.read(thread::yield_now);
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
                assert!(!g.sem.is_write_locked());
            },
            1000,
        );
    }
}
