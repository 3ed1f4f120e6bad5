//! Memmap chunks: the host memory that holds one section's `struct page` slots.
//!
//! Each chunk is an anonymous private mapping with MAP_NORESERVE, so a chunk
//! costs address space only until its slots are written. A chunk freed by
//! hot-remove is poisoned and goes back to a pool from which the next hot-add
//! takes it: the memory stays mapped for the machine's lifetime, so a walker that
//! skipped the protocol and still holds a pointer into a freed memmap reads
//! poison (or another section's pages) instead of faulting. That is the model's
//! "use after free": real, observable and checkable, never undefined behaviour.

use crate::page::Page;
use crate::sync::Mutex;
use std::ptr::NonNull;

/// One section's memmap: `PAGES_PER_SECTION` slots in one host mapping.
pub struct MemmapChunk {
    ptr: NonNull<Page>,
    nr: usize,
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
        let len = nr * std::mem::size_of::<Page>();
        // SAFETY: an anonymous mapping at an address of the kernel's choosing
        // aliases nothing; we own it until Drop unmaps it.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE,
            )
        }
        .ok()?;
        Some(MemmapChunk {
            ptr: NonNull::new(ptr.cast::<Page>())?,
            nr,
        })
    }

    /// The slots. Zero-filled memory is a valid `Page` (all fields atomics).
    pub fn pages(&self) -> &[Page] {
        // SAFETY: the mapping holds `nr` initialised (zero or written) slots
        // and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.nr) }
    }

    /// Raw pointer to the first slot, for publication in a `MemSection`.
    pub fn as_ptr(&self) -> *mut Page {
        self.ptr.as_ptr()
    }

    /// `page_init_poison()` over the whole chunk: one step for a checker's
    /// scheduler, not one per slot (whoever may still look at the chunk
    /// learns that it was freed from the protocol, not from the poison).
    pub fn poison(&self) {
        crate::sync::unscheduled(|| {
            for p in self.pages() {
                p.poison();
            }
        });
    }
}

impl Drop for MemmapChunk {
    fn drop(&mut self) {
        let len = self.nr * std::mem::size_of::<Page>();
        // SAFETY: we mapped exactly this range in `new` and nobody can hold a
        // reference into it any more: chunks are dropped only with the pool,
        // i.e. with the machine.
        unsafe {
            let _ = rustix::mm::munmap(self.ptr.as_ptr().cast(), len);
        }
    }
}

/// The most host memory the memmaps of hot-added sections may take: 2 GiB,
/// the memmap of 256 GiB of hot-added memory. A hot-added memmap is written
/// whole (`page_init_poison()`), unlike a boot memmap, whose untouched slots
/// cost nothing; beyond this a hot-add fails with -ENOMEM, as `add_memory()`
/// does when the vmemmap cannot be allocated, instead of taking the host's
/// memory.
pub const MAX_HOTPLUG_MEMMAP_BYTES: usize = 2 << 30;

/// Every chunk ever mapped, and the indices of the free ones.
pub struct MemmapPool {
    /// The chunks; a leaf lock (see the machine module's lock order), taken
    /// under mem_hotplug_lock or from an RCU callback.
    chunks: Mutex<PoolInner>,
    pages_per_chunk: usize,
}

struct PoolInner {
    all: Vec<crate::sync::Arc<MemmapChunk>>,
    free: Vec<usize>,
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
                hotplug_mapped: 0,
            }),
            pages_per_chunk,
        }
    }

    /// Takes a free chunk or maps a new one (for a hot-added section with
    /// `hotplug`, within [`MAX_HOTPLUG_MEMMAP_BYTES`]). Returns its index and
    /// the chunk. A reused chunk still holds whatever its last user left
    /// (poison).
    pub fn alloc(&self, hotplug: bool) -> Option<(usize, crate::sync::Arc<MemmapChunk>)> {
        let mut inner = self.chunks.lock();
        if let Some(idx) = inner.free.pop() {
            return Some((idx, inner.all[idx].clone()));
        }
        let bytes = self.pages_per_chunk * std::mem::size_of::<Page>();
        if hotplug && (inner.hotplug_mapped + 1) * bytes > MAX_HOTPLUG_MEMMAP_BYTES {
            return None;
        }
        let chunk = crate::sync::Arc::new(MemmapChunk::new(self.pages_per_chunk)?);
        inner.all.push(chunk.clone());
        inner.hotplug_mapped += usize::from(hotplug);
        Some((inner.all.len() - 1, chunk))
    }

    /// Poisons chunk `idx` and makes it available again.
    pub fn free(&self, idx: usize) {
        let chunk = self.chunks.lock().all[idx].clone();
        chunk.poison();
        self.chunks.lock().free.push(idx);
    }

    /// Chunks mapped so far and chunks currently free.
    pub fn stats(&self) -> (usize, usize) {
        let inner = self.chunks.lock();
        (inner.all.len(), inner.free.len())
    }
}
