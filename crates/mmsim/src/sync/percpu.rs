//! Per-CPU data in a model without CPUs.
//!
//! The kernel keeps a per-CPU counter so that readers on different CPUs
//! never write the same cache line. Model threads are not pinned to CPUs, so
//! a counter here is an array of cache-padded shards, one per host CPU, and
//! each thread uses the shard its identity hashes to (under shuttle, its task
//! number). A thread may share a
//! shard with another thread; correctness never depends on the mapping, only
//! on a thread decrementing the shard it incremented (guards remember it).

use super::backend;

/// A value alone on its cache line(s). 128 bytes covers the adjacent-line
/// prefetcher of x86-64 and the 128-byte lines of some arm64 parts.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

/// The shard of an `nr_shards`-way per-CPU array that the calling thread
/// uses. Stable for the life of the thread; under shuttle derived from the
/// task number, so that replays are identical.
pub(crate) fn this_cpu_shard(nr_shards: usize) -> usize {
    backend::this_cpu_shard(nr_shards)
}

/// An array of per-CPU shards for the calling backend's CPU count.
pub(crate) fn per_cpu<T>(mut init: impl FnMut() -> T) -> Box<[CachePadded<T>]> {
    (0..backend::nr_cpu_shards())
        .map(|_| CachePadded(init()))
        .collect()
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;

    #[test]
    fn shard_is_stable_per_thread_and_in_range() {
        let first = this_cpu_shard(8);
        assert!(first < 8);
        assert_eq!(this_cpu_shard(8), first);
        assert!(per_cpu(|| 0u8).len().is_power_of_two());
        assert_eq!(std::mem::align_of::<CachePadded<u8>>(), 128);
    }
}
