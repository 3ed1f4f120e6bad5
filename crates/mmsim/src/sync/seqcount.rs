//! `seqcount_t`: lockless readers of data that writers change rarely.
//!
//! The sequence is even while no write is in progress and odd during one.
//! A writer (serialised against other writers by a lock the caller holds)
//! makes it odd, changes the data, and makes it even again. A reader notes
//! the sequence (waiting while it is odd), reads the data, and retries if
//! the sequence changed meanwhile: then it may have seen a mix of old and
//! new values ("torn" data) and must throw its result away.
//!
//! Memory ordering follows the kernel's `smp_wmb`/`smp_rmb` placement:
//!
//! ```text
//!   writer                               reader
//!   seq = s + 1         (odd)            s = seq (Acquire)   ---.
//!   fence(Release)   ----------.         read data (Relaxed)    |
//!   write data (Relaxed)       '------>  fence(Acquire)         |
//!   seq = s + 2 (Release) ------------------------------------- '
//!                                        retry if seq != s
//! ```
//!
//! If the reader saw any value from a write in progress, the fences
//! synchronise and its re-read of the sequence sees the odd value or later,
//! so it retries. Because readers race with writers, **the protected data
//! must itself be atomics** (read and written Relaxed); plain fields would be
//! a data race.

use core::fmt;

use super::atomic::{fence, AtomicU32, Ordering};
use super::backoff::Backoff;

/// A kernel `seqcount_t`.
///
/// ```
/// use mmsim::sync::atomic::{AtomicU64, Ordering};
/// use mmsim::sync::{SeqCount, SpinLock};
///
/// let writer_lock = SpinLock::new(());
/// let seq = SeqCount::new();
/// let (start, end) = (AtomicU64::new(0), AtomicU64::new(0));
///
/// let _serialise = writer_lock.lock();
/// seq.write_begin();
/// start.store(4096, Ordering::Relaxed);
/// end.store(8192, Ordering::Relaxed);
/// seq.write_end();
///
/// let span = loop {
///     let s = seq.read_begin();
///     let span = end.load(Ordering::Relaxed) - start.load(Ordering::Relaxed);
///     if !seq.read_retry(s) {
///         break span;
///     }
/// };
/// assert_eq!(span, 4096);
/// ```
pub struct SeqCount {
    /// Even: no write in progress. Odd: a writer is between `write_begin`
    /// and `write_end`. Only the (serialised) writer changes it, +1 each time.
    sequence: AtomicU32,
}

impl SeqCount {
    /// A sequence with no write in progress (`seqcount_init`).
    pub const fn new() -> Self {
        Self {
            sequence: AtomicU32::new(0),
        }
    }

    /// `read_seqcount_begin`: waits until no write is in progress and
    /// returns the sequence to pass to [`read_retry`](Self::read_retry).
    pub fn read_begin(&self) -> u32 {
        let mut backoff = Backoff::new();
        loop {
            // Acquire: pairs with the Release store in write_end, so the data
            // read next is at least as new as that write.
            let start = self.sequence.load(Ordering::Acquire);
            if start & 1 == 0 {
                return start;
            }
            backoff.snooze();
        }
    }

    /// `raw_read_seqcount`: the sequence now, without waiting; odd means a
    /// write is in progress. For readers that must not wait, like GUP-fast
    /// checking `mm->write_protect_seq`, which backs off on odd instead.
    pub fn raw_read(&self) -> u32 {
        // Acquire: pairs with the Release store in write_end, as in read_begin.
        self.sequence.load(Ordering::Acquire)
    }

    /// `read_seqcount_retry`: whether a write began since `start` was read,
    /// so the data read since may be torn and the read must be redone.
    pub fn read_retry(&self, start: u32) -> bool {
        // Acquire fence: orders this reader's data loads before the sequence
        // re-read; pairs with the Release fence in write_begin.
        fence(Ordering::Acquire);
        self.sequence.load(Ordering::Relaxed) != start
    }

    /// `write_seqcount_begin`: marks a write in progress. The caller holds
    /// the lock that serialises writers.
    pub fn write_begin(&self) {
        let seq = self.sequence.load(Ordering::Relaxed);
        debug_assert!(
            seq & 1 == 0,
            "write_seqcount_begin: writers are not serialised"
        );
        self.sequence.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Release fence: the odd value is ordered before the data stores that
        // follow; pairs with the Acquire fence in read_retry.
        fence(Ordering::Release);
    }

    /// `write_seqcount_end`: ends the write begun by
    /// [`write_begin`](Self::write_begin).
    pub fn write_end(&self) {
        let seq = self.sequence.load(Ordering::Relaxed);
        debug_assert!(
            seq & 1 == 1,
            "write_seqcount_end without write_seqcount_begin"
        );
        // Release: pairs with the Acquire load in read_begin, publishing the
        // data written since write_begin.
        self.sequence.store(seq.wrapping_add(1), Ordering::Release);
    }
}

impl Default for SeqCount {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SeqCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeqCount")
            .field("sequence", &self.sequence.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod test_support {
    use crate::sync::atomic::{AtomicU64, Ordering};
    use crate::sync::{SeqCount, SpinLock};

    /// A pair that writers always keep equal: a reader that returns unequal
    /// halves has seen a torn write.
    #[derive(Default)]
    pub(super) struct Pair {
        pub(super) writer_lock: SpinLock<()>,
        pub(super) seq: SeqCount,
        pub(super) a: AtomicU64,
        pub(super) b: AtomicU64,
    }

    impl Pair {
        pub(super) fn write(&self, value: u64, between: impl FnOnce()) {
            let _serialise = self.writer_lock.lock();
            self.seq.write_begin();
            self.a.store(value, Ordering::Relaxed);
            between();
            self.b.store(value, Ordering::Relaxed);
            self.seq.write_end();
        }

        pub(super) fn read(&self, between: impl Fn()) -> (u64, u64) {
            loop {
                let start = self.seq.read_begin();
                let a = self.a.load(Ordering::Relaxed);
                between();
                let b = self.b.load(Ordering::Relaxed);
                if !self.seq.read_retry(start) {
                    return (a, b);
                }
            }
        }
    }
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::test_support::Pair;
    use super::*;
    use crate::sync::{thread, Arc};

    #[test]
    fn seqcount_readers_never_return_a_torn_pair() {
        const WRITES: u64 = 20_000;
        let pair = Arc::new(Pair::default());
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let pair = Arc::clone(&pair);
                thread::spawn(move || {
                    for i in 0..WRITES {
                        pair.write(i * 2 + w, || {});
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let pair = Arc::clone(&pair);
                thread::spawn(move || {
                    for _ in 0..WRITES {
                        let (a, b) = pair.read(|| {});
                        assert_eq!(a, b, "torn read");
                    }
                })
            })
            .collect();
        for t in writers.into_iter().chain(readers) {
            t.join().unwrap();
        }
        assert_eq!(pair.seq.raw_read(), 4 * WRITES as u32);
    }

    #[test]
    fn read_retry_reports_a_write_since_begin() {
        let seq = SeqCount::new();
        let start = seq.read_begin();
        assert!(!seq.read_retry(start));
        seq.write_begin();
        assert_eq!(seq.raw_read() & 1, 1, "odd during a write");
        assert!(seq.read_retry(start));
        seq.write_end();
        assert!(seq.read_retry(start));
        assert_eq!(seq.read_begin(), start + 2);
    }
}

#[cfg(all(test, mmsim_shuttle))]
mod shuttle_tests {
    use super::test_support::Pair;
    use crate::sync::{thread, Arc};

    #[test]
    fn seqcount_readers_never_return_a_torn_pair_under_any_schedule() {
        shuttle::check_random(
            || {
                let pair = Arc::new(Pair::default());
                let writers: Vec<_> = (1..=2)
                    .map(|value| {
                        let pair = Arc::clone(&pair);
                        thread::spawn(move || pair.write(value, thread::yield_now))
                    })
                    .collect();
                let (a, b) = pair.read(thread::yield_now);
                assert_eq!(a, b, "torn read");
                for writer in writers {
                    writer.join().unwrap();
                }
            },
            1000,
        );
    }
}
