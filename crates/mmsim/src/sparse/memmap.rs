//! Memmap chunks: the host memory that holds one section's `struct page` slots.
//!
//! Each chunk is an anonymous private mapping with MAP_NORESERVE
//! ([`HostMap`]), so a chunk costs address space only until its slots are
//! written (and a chunk the last machine left is reused, zeroed). A chunk freed by
//! hot-remove is poisoned and goes back to the pool: the memory stays mapped
//! for the machine's lifetime, so a walker that skipped the protocol and
//! still holds a pointer into a freed memmap reads poison instead of
//! faulting. That is the model's "use after free": real, observable and
//! checkable, never undefined behaviour.
//!
//! # Quarantine and the free generation
//!
//! A freed chunk is not handed to the next hot-add at once: it waits in a
//! FIFO quarantine of the last [`MEMMAP_QUARANTINE`] freed chunks, so that a
//! stale reader keeps reading poison rather than another section's live
//! pages. The quarantine only makes what a stale reader sees stable; it is
//! not what detects it. Detection is the chunk's *free generation*, a
//! counter bumped by every free: a lockless reader notes the generation
//! when it looks a slot up ([`MemmapSlot`](super::MemmapSlot)) and compares
//! at the end of its use. The bump comes before the poison, and the reader's
//! check reads the counter after its last slot access, seqlock-style (a
//! Release fence after the bump, an Acquire fence before the check): a
//! reader that read any poison, or that finished after the free, sees the
//! new generation. So a free between lookup and last use is caught every
//! time, whatever the slots held. When hot-add finds no free chunk and may
//! map no more (the [`MAX_HOTPLUG_MEMMAP_BYTES`] budget), it takes the
//! oldest quarantined chunk rather than fail.

use crate::hostmem::HostMap;
use crate::page::{Page, SlotImage};
use crate::sync::atomic::{fence, AtomicU64, Ordering};
use crate::sync::Mutex;
use std::collections::VecDeque;

/// Freed chunks kept out of reuse, oldest first: the last 4 freed (4 MiB of
/// host memory at most). Small, because detection does not depend on it.
pub const MEMMAP_QUARANTINE: usize = 4;

/// One section's memmap: `PAGES_PER_SECTION` slots in one host mapping,
/// with its index in the pool and its free generation.
pub struct MemmapChunk {
    map: HostMap,
    nr: usize,
    /// Index in the pool's `all`.
    idx: usize,
    /// How many times the chunk was freed. Bumped by [`MemmapPool::free`]
    /// before it poisons; see the module doc for the fences around it.
    freed_gen: AtomicU64,
    /// Who freed the chunk last (`remove_memory`, `memunmap_pages`, ...),
    /// for the use-after-free report. A leaf lock.
    freed_by: Mutex<&'static str>,
}

// SAFETY: the chunk is plain memory of atomics; every access goes through the
// atomics in `Page`, which are Sync.
unsafe impl Send for MemmapChunk {}
// SAFETY: as above.
unsafe impl Sync for MemmapChunk {}

impl MemmapChunk {
    /// Maps `nr` zero-filled slots. A failed mapping is the model's -ENOMEM.
    /// (Zero bytes are a valid `Page` on every backend: the atomics are
    /// `repr(transparent)` over the hardware's.)
    pub fn new(nr: usize) -> Option<MemmapChunk> {
        let map = HostMap::zeroed(nr * std::mem::size_of::<Page>()).ok()?;
        Some(MemmapChunk {
            map,
            nr,
            idx: usize::MAX,
            freed_gen: AtomicU64::new(0),
            freed_by: Mutex::new(""),
        })
    }

    /// The chunk's index in its pool.
    pub fn idx(&self) -> usize {
        self.idx
    }

    /// The free generation, read when a reader looks a slot up. Acquire
    /// pairs with the Release of the bump in [`MemmapPool::free`]: a
    /// reader that sees the generation of a free also sees that free's
    /// unpublication of the section's memmap (which came before it).
    pub fn freed_gen(&self) -> u64 {
        self.freed_gen.load(Ordering::Acquire)
    }

    /// Whether the chunk was freed since generation `gen` was read: the
    /// check at the end of a lockless reader's use of a slot. The Acquire
    /// fence pairs with the Release fence after the bump in
    /// [`MemmapPool::free`]: if any of the reader's earlier slot reads saw
    /// the poison written after that fence, this load sees the bump.
    pub fn freed_since(&self, gen: u64) -> bool {
        fence(Ordering::Acquire);
        self.freed_gen.load(Ordering::Relaxed) != gen
    }

    /// Who freed the chunk last (empty if never freed).
    pub fn freed_by(&self) -> &'static str {
        *self.freed_by.lock()
    }

    /// The slots. Zero-filled memory is a valid `Page` (all fields atomics).
    pub fn pages(&self) -> &[Page] {
        // SAFETY: the mapping holds `nr` initialised (zero or written) slots
        // and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.nr) }
    }

    /// Raw pointer to the first slot, for publication in a `MemSection`.
    pub fn as_ptr(&self) -> *mut Page {
        self.map.as_ptr().cast()
    }

    /// `page_init_poison()` over the whole chunk: one step for a checker's
    /// scheduler, not one per slot (whoever may still look at the chunk
    /// learns that it was freed from the protocol, not from the poison).
    pub fn poison(&self) {
        // Nothing inside can yield (stores to slots only: no lock, no wait),
        // so no other task runs until it returns, and hiding every task's
        // accesses from the scheduler (`quiescent`) is the same as hiding
        // this task's (`unscheduled`) — at one counter per access instead of
        // a lookup of the current task.
        crate::sync::quiescent(|| Page::fill(self.pages(), &SlotImage::POISON));
    }
}

/// The most host memory the memmaps of hot-added sections may take: 2 GiB,
/// the memmap of 256 GiB of hot-added memory. A hot-added memmap is written
/// whole (`page_init_poison()`), unlike a boot memmap, whose untouched slots
/// cost nothing; beyond this a hot-add fails with -ENOMEM, as `add_memory()`
/// does when the vmemmap cannot be allocated, instead of taking the host's
/// memory.
pub const MAX_HOTPLUG_MEMMAP_BYTES: usize = 2 << 30;

/// Every chunk ever mapped, the quarantined ones and the reusable ones.
pub struct MemmapPool {
    /// The chunks; a leaf lock (see the machine module's lock order), taken
    /// under mem_hotplug_lock or from an RCU callback.
    chunks: Mutex<PoolInner>,
    pages_per_chunk: usize,
}

struct PoolInner {
    all: Vec<crate::sync::Arc<MemmapChunk>>,
    /// Reusable chunks.
    free: Vec<usize>,
    /// Freed chunks not yet reusable, oldest first, at most
    /// [`MEMMAP_QUARANTINE`].
    quarantine: VecDeque<usize>,
    /// Chunks mapped for hot-added sections (see [`MAX_HOTPLUG_MEMMAP_BYTES`]).
    hotplug_mapped: usize,
}

impl MemmapPool {
    /// A pool of chunks of `pages_per_chunk` slots.
    pub fn new(pages_per_chunk: usize) -> MemmapPool {
        MemmapPool {
            chunks: Mutex::new(PoolInner {
                all: Vec::new(),
                free: Vec::new(),
                quarantine: VecDeque::new(),
                hotplug_mapped: 0,
            }),
            pages_per_chunk,
        }
    }

    /// Takes a reusable chunk or maps a new one (for a hot-added section
    /// with `hotplug`, within [`MAX_HOTPLUG_MEMMAP_BYTES`]; beyond it, the
    /// oldest quarantined chunk). A reused chunk still holds whatever its
    /// last user left (poison). The chunk lives as long as the pool.
    pub fn alloc(&self, hotplug: bool) -> Option<crate::sync::Arc<MemmapChunk>> {
        let mut inner = self.chunks.lock();
        if let Some(idx) = inner.free.pop() {
            return Some(inner.all[idx].clone());
        }
        let bytes = self.pages_per_chunk * std::mem::size_of::<Page>();
        if hotplug && (inner.hotplug_mapped + 1) * bytes > MAX_HOTPLUG_MEMMAP_BYTES {
            let idx = inner.quarantine.pop_front()?;
            return Some(inner.all[idx].clone());
        }
        let mut chunk = MemmapChunk::new(self.pages_per_chunk)?;
        chunk.idx = inner.all.len();
        let chunk = crate::sync::Arc::new(chunk);
        inner.all.push(chunk.clone());
        inner.hotplug_mapped += usize::from(hotplug);
        Some(chunk)
    }

    /// Frees chunk `idx` on behalf of `by`: bumps its free generation,
    /// poisons it and quarantines it; the oldest quarantined chunk beyond
    /// [`MEMMAP_QUARANTINE`] becomes reusable.
    pub fn free(&self, idx: usize, by: &'static str) {
        let chunk = self.chunks.lock().all[idx].clone();
        *chunk.freed_by.lock() = by;
        // Release: pairs with the Acquire in MemmapChunk::freed_gen.
        chunk.freed_gen.fetch_add(1, Ordering::Release);
        // Release fence: the bump before the poison below (pairs with the
        // Acquire fence in MemmapChunk::freed_since).
        fence(Ordering::Release);
        chunk.poison();
        let mut inner = self.chunks.lock();
        inner.quarantine.push_back(idx);
        if inner.quarantine.len() > MEMMAP_QUARANTINE {
            if let Some(old) = inner.quarantine.pop_front() {
                inner.free.push(old);
            }
        }
    }

    /// Chunks mapped so far and chunks freed (quarantined or reusable).
    pub fn stats(&self) -> (usize, usize) {
        let inner = self.chunks.lock();
        (inner.all.len(), inner.free.len() + inner.quarantine.len())
    }
}
