//! Host memory: the zero-filled anonymous mappings behind the model's big
//! arrays (memmap chunks, the section table, the physical byte store), and
//! their reuse from one machine to the next.
//!
//! Each array is an anonymous private mapping with MAP_NORESERVE: it costs
//! address space until it is written, and reads as zero bytes, which every
//! user relies on (an all-zero `struct page` is a free slot with no flags,
//! an all-zero section is absent, physical memory starts zeroed). Mapping
//! and unmapping them for every machine is cheap once, but the race
//! explorer boots a machine per schedule, thousands a second, and then the
//! `mmap`/`munmap` calls and the host's first-touch page faults on the same
//! few pages are most of what a boot costs.
//!
//! So a mapping given back ([`HostMap`]'s drop, or [`HostMap::recycle`])
//! goes to a per-thread cache instead of `munmap`: every page of it that
//! may hold a non-zero byte is zeroed first, so the next [`HostMap::zeroed`]
//! of that length gets exactly what a fresh mapping gives — zero bytes —
//! with the pages it will touch again already resident. The pages to zero
//! are those the host made resident (`mincore(2)`) for a small mapping
//! dropped, and the ranges its owner says it wrote for one recycled. A model
//! run therefore never depends on whether its mappings were fresh or
//! reused: nothing reads a host address as data, and the bytes are equal.
//!
//! The physical byte store asks for huge pages ([`HostMap::zeroed_huge`]:
//! MADV_HUGEPAGE, which a host whose THP mode is `madvise` or `always`
//! honours): a first touch then faults in 2 MiB at once, and copies of
//! pages run without a TLB miss each. The zeroing stays exact — a huge page
//! faults in zero-filled, so only what was written needs zeroing — while
//! the cache counts such a mapping's resident bytes in whole huge pages.
//!
//! The cache is per thread (the explorer runs a whole campaign on one), so
//! it needs no lock, and bounded: at most [`CACHE_RESIDENT_MAX`] resident
//! bytes, [`CACHE_ADDRESS_SPACE_MAX`] of address space and
//! [`CACHE_MAPS_MAX`] mappings; beyond that a mapping is unmapped as
//! before.

use std::cell::RefCell;
use std::ops::Range;
use std::ptr::NonNull;

/// Resident bytes the cache of one thread may hold (zeroed, ready to use).
pub const CACHE_RESIDENT_MAX: usize = 256 << 20;

/// Mappings the cache of one thread may hold.
pub const CACHE_MAPS_MAX: usize = 4096;

/// Address space the cache of one thread may hold (a physical byte store
/// is `max_phys` of it).
pub const CACHE_ADDRESS_SPACE_MAX: usize = 4 << 40;

/// Mappings up to this size are zeroed whole when dropped (`mincore` over
/// all of them): a memmap chunk, a section table. A larger one is unmapped
/// when dropped, unless its owner recycles it with the ranges it wrote.
pub const SCAN_WHOLE_MAX: usize = 64 << 20;

/// The host's page size (x86-64 and the model: 4 KiB).
const HOST_PAGE: usize = 4096;

/// The host's huge page size (x86-64's PMD: 2 MiB).
const HOST_HUGE_PAGE: usize = 2 << 20;

/// One anonymous private MAP_NORESERVE mapping, zero-filled when handed
/// out. Dropping it gives it back ([`SCAN_WHOLE_MAX`]).
pub struct HostMap {
    ptr: NonNull<u8>,
    len: usize,
    /// Asked for huge pages (MADV_HUGEPAGE).
    huge: bool,
}

// SAFETY: the mapping is plain memory owned by this value; who may access
// it concurrently, and how, is the business of the owner's types (atomics).
unsafe impl Send for HostMap {}
// SAFETY: as above.
unsafe impl Sync for HostMap {}

impl HostMap {
    /// A mapping of `len` bytes rounded up to whole host pages (at least
    /// one), every byte zero: a cached one or a new one.
    pub fn zeroed(len: usize) -> std::io::Result<HostMap> {
        Self::zeroed_as(len, false)
    }

    /// As [`HostMap::zeroed`], backed by huge pages where the host allows
    /// (MADV_HUGEPAGE; ignored by a host without transparent huge pages).
    pub fn zeroed_huge(len: usize) -> std::io::Result<HostMap> {
        Self::zeroed_as(len, true)
    }

    fn zeroed_as(len: usize, huge: bool) -> std::io::Result<HostMap> {
        let len = len.max(1).next_multiple_of(HOST_PAGE);
        if let Some(ptr) = CACHE.with(|c| c.borrow_mut().take(len, huge)) {
            return Ok(HostMap { ptr, len, huge });
        }
        // SAFETY: an anonymous mapping at an address of the kernel's choosing
        // aliases nothing; this value owns it until it is unmapped or cached.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE,
            )
        }?;
        let ptr: NonNull<u8> = NonNull::new(ptr.cast()).ok_or(std::io::ErrorKind::OutOfMemory)?;
        if huge {
            // SAFETY: the range is the mapping just made; MADV_HUGEPAGE only
            // changes how the host backs it (zero-filled either way). A host
            // without THP refuses it, and the mapping stays as it is.
            let _ = unsafe {
                rustix::mm::madvise(ptr.as_ptr().cast(), len, rustix::mm::Advice::LinuxHugepage)
            };
        }
        Ok(HostMap { ptr, len, huge })
    }

    /// The first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: `zeroed` maps a page at least).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Gives the mapping back, its owner having written (non-zero bytes)
    /// only inside `written`: those ranges are zeroed (all of each, so
    /// they should be what was written, not what might have been) and the
    /// mapping is cached, or unmapped if the cache is full.
    pub fn recycle(self, written: impl IntoIterator<Item = Range<usize>>) {
        let this = std::mem::ManuallyDrop::new(self);
        // A write made a whole huge page resident if the mapping has them.
        let unit = if this.huge { HOST_HUGE_PAGE } else { HOST_PAGE };
        let (mut resident, mut counted_to) = (0, 0);
        for r in written {
            let r = r.start.min(this.len)..r.end.min(this.len);
            // SAFETY: we own the mapping (it is consumed: its owner's
            // references into it are gone) and the range lies inside it.
            unsafe { std::ptr::write_bytes(this.ptr.as_ptr().add(r.start), 0, r.len()) };
            let from = (r.start / unit * unit).max(counted_to);
            let to = r.end.next_multiple_of(unit).min(this.len);
            resident += to.saturating_sub(from);
            counted_to = counted_to.max(to);
        }
        // SAFETY: as above; every byte is zero now.
        unsafe { cache_or_unmap(this.ptr, this.len, this.huge, resident) };
    }

    /// The runs of host pages of `range` (byte offsets, clipped to the
    /// mapping) that are resident, as byte ranges; all of `range` if the
    /// host cannot tell.
    pub fn resident(&self, range: Range<usize>) -> Vec<Range<usize>> {
        // SAFETY: the mapping is ours while `self` lives.
        unsafe { resident_runs(self.ptr, self.len, range) }
    }

    /// Gives the host the mapping's memory back (MADV_DONTNEED): it reads as
    /// zeros afterwards and nothing of it is resident.
    pub fn discard_all(&self) {
        // SAFETY: the range is our mapping; MADV_DONTNEED on private
        // anonymous memory replaces it with zero pages, which is what it
        // promises to read as.
        unsafe {
            let _ = rustix::mm::madvise(
                self.ptr.as_ptr().cast(),
                self.len,
                rustix::mm::Advice::LinuxDontNeed,
            );
        }
    }
}

impl Drop for HostMap {
    fn drop(&mut self) {
        if self.len <= SCAN_WHOLE_MAX {
            // SAFETY: `self` is being dropped; nothing refers into it.
            unsafe { give_back(self.ptr, self.len, self.huge, std::iter::once(0..self.len)) };
        } else {
            // SAFETY: we mapped exactly this range and nothing refers into it.
            unsafe { unmap(self.ptr, self.len) };
        }
    }
}

/// Zeroes the resident pages of `written` in the mapping `[ptr, ptr + len)`
/// and caches it, or unmaps it if the cache is full.
///
/// # Safety
/// The caller owns the mapping, nothing refers into it any more, and every
/// byte outside `written` is zero.
unsafe fn give_back(
    ptr: NonNull<u8>,
    len: usize,
    huge: bool,
    written: impl IntoIterator<Item = Range<usize>>,
) {
    let mut resident = 0usize;
    for r in written {
        // SAFETY: the caller owns the mapping.
        for run in unsafe { resident_runs(ptr, len, r) } {
            // SAFETY: the caller owns the mapping exclusively; the run lies
            // inside it.
            unsafe { std::ptr::write_bytes(ptr.as_ptr().add(run.start), 0, run.len()) };
            resident += run.len();
        }
    }
    // SAFETY: the caller's contract; every byte is zero now.
    unsafe { cache_or_unmap(ptr, len, huge, resident) };
}

/// Caches the mapping `[ptr, ptr + len)` (with huge pages if `huge`), of
/// which `resident` bytes are resident, or unmaps it if the cache is full.
///
/// # Safety
/// The caller owns the mapping, nothing refers into it, every byte is zero.
unsafe fn cache_or_unmap(ptr: NonNull<u8>, len: usize, huge: bool, resident: usize) {
    let cached = CACHE.try_with(|c| c.borrow_mut().put(ptr, len, huge, resident));
    if cached != Ok(true) {
        // SAFETY: the caller's contract.
        unsafe { unmap(ptr, len) };
    }
}

/// The resident runs of host pages of `range` in the mapping
/// `[ptr, ptr + len)` (`mincore(2)`), as byte ranges clipped to it; all of
/// `range` if the host cannot tell.
///
/// # Safety
/// `[ptr, ptr + len)` is a live mapping.
unsafe fn resident_runs(ptr: NonNull<u8>, len: usize, range: Range<usize>) -> Vec<Range<usize>> {
    let start = range.start / HOST_PAGE * HOST_PAGE;
    let end = range.end.min(len).next_multiple_of(HOST_PAGE).min(len);
    if start >= end {
        return Vec::new();
    }
    let mut vec = vec![0u8; (end - start) / HOST_PAGE];
    // SAFETY: the range lies inside the mapping and `vec` has one byte per
    // page of it.
    let rc = unsafe {
        libc::mincore(
            ptr.as_ptr().add(start).cast(),
            end - start,
            vec.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return std::iter::once(start..end).collect();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < vec.len() {
        if vec[i] & 1 == 0 {
            i += 1;
            continue;
        }
        let run = vec[i..].iter().take_while(|&&v| v & 1 != 0).count();
        let s = start + i * HOST_PAGE;
        out.push(s..s + run * HOST_PAGE);
        i += run;
    }
    out
}

/// # Safety
/// The caller owns the mapping `[ptr, ptr + len)` and nothing refers into it.
unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: see the function's contract.
    unsafe {
        let _ = rustix::mm::munmap(ptr.as_ptr().cast(), len);
    }
}

/// One thread's zeroed mappings, by length and kind.
#[derive(Default)]
struct Cache {
    /// Mappings, most recently given back last.
    maps: Vec<Cached>,
    resident: usize,
    address_space: usize,
}

/// A zeroed mapping in the cache.
struct Cached {
    len: usize,
    huge: bool,
    resident: usize,
    ptr: NonNull<u8>,
}

impl Cache {
    fn take(&mut self, len: usize, huge: bool) -> Option<NonNull<u8>> {
        let i = self
            .maps
            .iter()
            .rposition(|c| c.len == len && c.huge == huge)?;
        let c = self.maps.swap_remove(i);
        self.resident -= c.resident;
        self.address_space -= len;
        Some(c.ptr)
    }

    fn put(&mut self, ptr: NonNull<u8>, len: usize, huge: bool, resident: usize) -> bool {
        if self.maps.len() >= CACHE_MAPS_MAX
            || self.resident + resident > CACHE_RESIDENT_MAX
            || self.address_space + len > CACHE_ADDRESS_SPACE_MAX
        {
            return false;
        }
        self.resident += resident;
        self.address_space += len;
        self.maps.push(Cached {
            len,
            huge,
            resident,
            ptr,
        });
        true
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        for c in &self.maps {
            // SAFETY: a cached mapping is owned by the cache alone.
            unsafe { unmap(c.ptr, c.len) };
        }
    }
}

std::thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(m: &HostMap) -> &[u8] {
        // SAFETY: the mapping is ours, `len` bytes, and not written meanwhile.
        unsafe { std::slice::from_raw_parts(m.as_ptr(), m.len()) }
    }

    // A reused mapping reads exactly as a fresh one: all zero.
    #[test]
    fn a_recycled_mapping_is_zero_again() {
        let len = 64 * HOST_PAGE;
        let m = HostMap::zeroed(len).unwrap();
        // SAFETY: in bounds of our mapping, no other reference.
        unsafe {
            *m.as_ptr().add(5) = 1;
            *m.as_ptr().add(40 * HOST_PAGE + 7) = 2;
        }
        let first = m.as_ptr();
        drop(m);
        let m = HostMap::zeroed(len).unwrap();
        assert_eq!(m.as_ptr(), first, "the cache hands the mapping out again");
        assert!(bytes(&m).iter().all(|&b| b == 0));
    }

    // A mapping backed by huge pages comes back zeroed as well, and only to
    // a request for huge pages.
    #[test]
    fn a_recycled_huge_mapping_is_zero_again() {
        let len = 4 * HOST_HUGE_PAGE;
        let m = HostMap::zeroed_huge(len).unwrap();
        // SAFETY: in bounds of our mapping, no other reference.
        unsafe { *m.as_ptr().add(HOST_HUGE_PAGE + 5) = 1 };
        let first = m.as_ptr();
        m.recycle(std::iter::once(HOST_HUGE_PAGE..HOST_HUGE_PAGE + HOST_PAGE));
        let small = HostMap::zeroed(len).unwrap();
        assert_ne!(small.as_ptr(), first, "not handed to a 4 KiB request");
        let m = HostMap::zeroed_huge(len).unwrap();
        assert_eq!(m.as_ptr(), first, "the cache hands the mapping out again");
        assert!(bytes(&m).iter().all(|&b| b == 0));
    }

    // recycle() zeroes the written ranges it is told of.
    #[test]
    fn recycle_zeroes_the_written_ranges() {
        let len = 32 * HOST_PAGE;
        let m = HostMap::zeroed(len).unwrap();
        // SAFETY: in bounds of our mapping, no other reference.
        unsafe { *m.as_ptr().add(9 * HOST_PAGE + 1) = 3 };
        m.recycle(std::iter::once(9 * HOST_PAGE..9 * HOST_PAGE + 2));
        let m = HostMap::zeroed(len).unwrap();
        assert!(bytes(&m).iter().all(|&b| b == 0));
    }
}
