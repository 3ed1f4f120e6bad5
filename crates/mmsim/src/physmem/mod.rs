//! The byte store behind physical addresses.
//!
//! One anonymous private mapping of `max_phys` bytes with MAP_NORESERVE
//! ([`HostMap`]): the host gives memory only when the model first writes to
//! the corresponding physical page (a 2 MiB huge page of it where the host
//! allows: [`HostMap::zeroed_huge`]), so a terabyte of modelled RAM that is
//! never written costs nothing.
//!
//! When the store is dropped its mapping is reused by the next machine of
//! the thread (`crate::hostmem`), zeroed where it was written: the store
//! notes every page of it that a write reached (the `written` map, one bit
//! each, itself a zero-filled mapping of which only the words written are
//! resident), so that giving it back costs what was written, not
//! `max_phys`. The VMM's own view of the store ([`PhysMem::host_mapping`])
//! writes behind that map's back, and [`PhysMem::prealloc`] makes pages
//! resident behind it; a store that did either is given back to the host
//! whole (MADV_DONTNEED) instead.
//!
//! A real machine's RAM is there before the kernel touches it; the store's
//! is not, and the host's first-touch fault (zeroing a fresh host page) then
//! lands in whatever model operation writes a page first: a migration's
//! copy, a COW's copy. [`PhysMem::prealloc`] backs a range up front, as
//! QEMU's `prealloc=on` memory backends do, so that measurements see the
//! model's work only (the machine configuration's `prealloc`).
//!
//! Several modelled CPUs may touch the same physical bytes at once (a kcore
//! reader while a migration copies, DMA through a pin while a process writes),
//! which in the kernel is a tolerated data race. In Rust it would be undefined
//! behaviour on plain memory, so every access goes through 64-bit relaxed
//! atomics on aligned words; a partial-word write is a compare-and-swap on its
//! word. All accesses have the same size, so they never mix.
//!
//! A hypervisor may fence parts of it ([`fence`]): an access there is a
//! fatal access, recorded with who made it, and reads zeros / loses the
//! write.

pub mod fence;

pub use fence::{set_accessor, AccessorGuard, FatalAccess, Fence};

use crate::errno::{Errno, KResult};
use crate::hostmem::HostMap;
use crate::page::{Pfn, PhysAddr, PAGE_SIZE};
use crate::sync::atomic::Ordering;
// The one user of `sync::data` (clippy.toml): page bytes are not
// scheduling points; page-table words add one (read_u64/write_u64).
#[allow(clippy::disallowed_types)]
use crate::sync::data::AtomicU64 as DataWord;
use crate::sync::Arc;
use fence::Fences;
use std::mem::ManuallyDrop;
use std::ops::Range;

/// The physical memory contents.
pub struct PhysMem {
    /// The bytes; taken back in Drop, to be recycled.
    store: ManuallyDrop<HostMap>,
    len: u64,
    /// One bit per page of the store that a write may have made non-zero;
    /// never cleared while the store lives (bulk data: not a scheduling
    /// point, and nothing in the model reads it). Taken back in Drop.
    written: ManuallyDrop<HostMap>,
    /// Non-zero once the written map no longer tells what is resident:
    /// [`PhysMem::host_mapping`] lent the mapping out, or
    /// [`PhysMem::prealloc`] backed part of it.
    #[allow(clippy::disallowed_types)] // see the `use` above
    untracked: DataWord,
    fences: Fences,
}

// SAFETY: the mapping is only accessed through atomics.
unsafe impl Send for PhysMem {}
// SAFETY: as above.
unsafe impl Sync for PhysMem {}

const WORD: u64 = 8;

impl PhysMem {
    /// Reserves `len` bytes (a multiple of the page size).
    #[allow(clippy::disallowed_types)] // `untracked` (see the `use` above)
    pub fn new(len: u64) -> std::io::Result<PhysMem> {
        let pages = len.div_ceil(PAGE_SIZE);
        let store = HostMap::zeroed_huge(len as usize)?;
        let written = HostMap::zeroed((pages.div_ceil(64) * WORD) as usize)?;
        Ok(PhysMem {
            store: ManuallyDrop::new(store),
            len,
            written: ManuallyDrop::new(written),
            untracked: DataWord::new(0),
            fences: Fences::default(),
        })
    }

    #[allow(clippy::disallowed_types)] // see the `use` above
    fn written_word(&self, idx: u64) -> &DataWord {
        // SAFETY: idx < the map's words (callers pass a unit of the store);
        // the mapping is zero-filled, aligned and lives as long as self, and
        // is only accessed through these atomics.
        unsafe { &*self.written.as_ptr().cast::<DataWord>().add(idx as usize) }
    }

    /// Notes that `[addr, addr + len)` (checked, non-empty) may now hold
    /// non-zero bytes.
    fn mark_written(&self, addr: u64, len: u64) {
        for page in addr / PAGE_SIZE..=(addr + len - 1) / PAGE_SIZE {
            self.mark_page_written(page);
        }
    }

    /// Notes that page `page` of the store may now hold non-zero bytes.
    #[inline]
    fn mark_page_written(&self, page: u64) {
        let (word, bit) = (self.written_word(page / 64), 1u64 << (page % 64));
        if word.load(Ordering::Relaxed) & bit == 0 {
            word.fetch_or(bit, Ordering::Relaxed);
        }
    }

    /// The byte ranges of the store that may hold non-zero bytes (the
    /// pages marked in the written map, runs merged), and the ranges of the
    /// written map that hold its bits (its resident pages: the only ones
    /// that can).
    fn written_ranges(&self) -> (Vec<Range<usize>>, Vec<Range<usize>>) {
        let mut out: Vec<Range<usize>> = Vec::new();
        let map_pages = self.written.resident(0..self.written.len());
        for pages in &map_pages {
            for idx in pages.start as u64 / WORD..pages.end as u64 / WORD {
                let mut bits = self.written_word(idx).load(Ordering::Relaxed);
                while bits != 0 {
                    let page = idx * 64 + u64::from(bits.trailing_zeros());
                    bits &= bits - 1;
                    let start = (page * PAGE_SIZE) as usize;
                    match out.last_mut() {
                        Some(last) if last.end == start => last.end += PAGE_SIZE as usize,
                        _ => out.push(start..start + PAGE_SIZE as usize),
                    }
                }
            }
        }
        (out, map_pages)
    }

    /// Size of the store.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, addr: PhysAddr, len: u64) -> KResult<()> {
        match addr.0.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Errno::EFAULT),
        }
    }

    #[allow(clippy::disallowed_types)] // see the `use` above
    fn word(&self, idx: u64) -> &DataWord {
        // SAFETY: callers checked idx * 8 < len; the mapping lives as long as self
        // and zero-filled memory is a valid AtomicU64.
        unsafe { &*self.store.as_ptr().cast::<DataWord>().add(idx as usize) }
    }

    /// Reads `buf.len()` bytes at `addr`.
    pub fn read(&self, addr: PhysAddr, buf: &mut [u8]) -> KResult<()> {
        self.check(addr, buf.len() as u64)?;
        if !self.fences.allow(addr.0, buf.len() as u64, false) {
            buf.fill(0);
            return Ok(());
        }
        for (i, b) in buf.iter_mut().enumerate() {
            let a = addr.0 + i as u64;
            let w = self.word(a / WORD).load(Ordering::Relaxed);
            *b = w.to_le_bytes()[(a % WORD) as usize];
        }
        Ok(())
    }

    /// Writes `data` at `addr`.
    pub fn write(&self, addr: PhysAddr, data: &[u8]) -> KResult<()> {
        self.check(addr, data.len() as u64)?;
        if !self.fences.allow(addr.0, data.len() as u64, true) {
            return Ok(());
        }
        if !data.is_empty() {
            self.mark_written(addr.0, data.len() as u64);
        }
        let mut i = 0usize;
        while i < data.len() {
            let a = addr.0 + i as u64;
            let off = (a % WORD) as usize;
            let n = (WORD as usize - off).min(data.len() - i);
            let word = self.word(a / WORD);
            if n == WORD as usize {
                let v = u64::from_le_bytes(data[i..i + 8].try_into().expect("8 bytes"));
                word.store(v, Ordering::Relaxed);
            } else {
                let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                    let mut bytes = old.to_le_bytes();
                    bytes[off..off + n].copy_from_slice(&data[i..i + n]);
                    Some(u64::from_le_bytes(bytes))
                });
            }
            i += n;
        }
        Ok(())
    }

    /// Fills `len` bytes at `addr` with `byte`.
    pub fn fill(&self, addr: PhysAddr, len: u64, byte: u8) -> KResult<()> {
        self.check(addr, len)?;
        let chunk = [byte; 4096];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(chunk.len() as u64);
            self.write(addr + done, &chunk[..n as usize])?;
            done += n;
        }
        Ok(())
    }

    /// Reads the aligned 64-bit word at `addr` in one access (a page-table
    /// entry: `READ_ONCE(*ptep)`).
    pub fn read_u64(&self, addr: PhysAddr) -> KResult<u64> {
        self.check(addr, WORD)?;
        if addr.0 % WORD != 0 {
            return Err(Errno::EINVAL);
        }
        // A page-table entry is read by protocols: a scheduling point under
        // a checker (page contents are not).
        crate::sync::preempt_point();
        if !self.fences.allow(addr.0, WORD, false) {
            return Ok(0);
        }
        // Acquire pairs with the Release in write_u64: a lockless walker
        // that sees an entry sees the page it maps set up.
        Ok(self.word(addr.0 / WORD).load(Ordering::Acquire))
    }

    /// Page `pfn` as [`PageWords`], for a loop over its words (a page
    /// table copied entry by entry): the bounds and the fences are checked
    /// and the written map noted once, here, instead of at every access.
    /// None while any fence is up, when the caller takes the per-word path
    /// ([`PhysMem::read_u64`], [`PhysMem::write_u64`]), which checks each
    /// access against the fences; always None in the explorer's build.
    pub fn page_words(&self, pfn: Pfn) -> Option<PageWords<'_>> {
        // The explorer keeps the per-word path: its schedules do not
        // change with this shortcut.
        if cfg!(mmsim_shuttle) || self.check(pfn.phys(), PAGE_SIZE).is_err() || !self.fences.none()
        {
            return None;
        }
        self.mark_page_written(pfn.0);
        Some(PageWords {
            mem: self,
            first: pfn.phys().0 / WORD,
        })
    }

    /// Writes the aligned 64-bit word at `addr` in one access
    /// (`WRITE_ONCE(*ptep, v)`; callers hold the page-table lock).
    pub fn write_u64(&self, addr: PhysAddr, v: u64) -> KResult<()> {
        self.check(addr, WORD)?;
        if addr.0 % WORD != 0 {
            return Err(Errno::EINVAL);
        }
        crate::sync::preempt_point(); // as in read_u64
        if !self.fences.allow(addr.0, WORD, true) {
            return Ok(());
        }
        // An aligned word lies within one page.
        self.mark_page_written(addr.0 / PAGE_SIZE);
        // Release pairs with the Acquire in read_u64 (set_pte_at after
        // __folio_mark_uptodate's barrier).
        self.word(addr.0 / WORD).store(v, Ordering::Release);
        Ok(())
    }

    /// `copy_highpage()`: copies one page frame.
    pub fn copy_page(&self, dst: Pfn, src: Pfn) -> KResult<()> {
        self.check(dst.phys(), PAGE_SIZE)?;
        self.check(src.phys(), PAGE_SIZE)?;
        let readable = self.fences.allow(src.phys().0, PAGE_SIZE, false);
        if !self.fences.allow(dst.phys().0, PAGE_SIZE, true) {
            return Ok(());
        }
        if !readable {
            return self.clear_page(dst);
        }
        self.mark_written(dst.phys().0, PAGE_SIZE);
        // SAFETY: both pages were checked to lie inside the store.
        unsafe { bulk::copy(self.at(dst.phys()), self.at(src.phys()), PAGE_SIZE as usize) };
        Ok(())
    }

    /// `clear_highpage()`.
    pub fn clear_page(&self, pfn: Pfn) -> KResult<()> {
        self.check(pfn.phys(), PAGE_SIZE)?;
        if !self.fences.allow(pfn.phys().0, PAGE_SIZE, true) {
            return Ok(());
        }
        // SAFETY: the page was checked to lie inside the store.
        unsafe { bulk::zero(self.at(pfn.phys()), PAGE_SIZE as usize) };
        Ok(())
    }

    /// The host address of `addr` (checked by the caller to lie inside
    /// the store).
    fn at(&self, addr: PhysAddr) -> *mut u8 {
        // SAFETY: callers checked that addr < len; the mapping is len bytes.
        unsafe { self.store.as_ptr().add(addr.0 as usize) }
    }

    /// Backs `[addr, addr + len)` with host memory now (MADV_POPULATE_WRITE,
    /// or a write to each page on a host older than 5.14), so that no model
    /// operation pays the host's first-touch fault there later. The bytes
    /// stay as they are (zero where nothing was written).
    pub fn prealloc(&self, addr: PhysAddr, len: u64) -> KResult<()> {
        self.check(addr, len)?;
        if len == 0 {
            return Ok(());
        }
        self.untracked.store(1, Ordering::Relaxed);
        // SAFETY: the range lies inside our mapping; populating private
        // anonymous memory changes no byte, so concurrent atomic accesses
        // see nothing happen.
        let populated = unsafe {
            rustix::mm::madvise(
                self.at(addr).cast(),
                len as usize,
                rustix::mm::Advice::LinuxPopulateWrite,
            )
        };
        match populated {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::INVAL) => {
                // A host without MADV_POPULATE_WRITE: a write that changes
                // nothing faults each page in.
                let first = addr.0.next_multiple_of(PAGE_SIZE);
                for page in (first..addr.0 + len).step_by(PAGE_SIZE as usize) {
                    self.word(page / WORD).fetch_or(0, Ordering::Relaxed);
                }
                Ok(())
            }
            // The host is out of memory (or the range is fenced off by the
            // host itself): the store still works, first touch and all.
            Err(_) => Err(Errno::ENOMEM),
        }
    }

    /// The runs of `[addr, addr + len)` that the host holds resident
    /// (mincore), as physical ranges: what the store costs the host there.
    pub fn resident(&self, addr: PhysAddr, len: u64) -> KResult<Vec<Range<u64>>> {
        self.check(addr, len)?;
        let range = addr.0 as usize..(addr.0 + len) as usize;
        Ok(self
            .store
            .resident(range)
            .into_iter()
            .map(|r| r.start as u64..r.end as u64)
            .collect())
    }

    /// Gives the host memory of `[addr, addr + len)` back (MADV_DONTNEED): the
    /// range reads as zeros afterwards, as a hypervisor's discarded memory does.
    pub fn discard(&self, addr: PhysAddr, len: u64) -> KResult<()> {
        self.check(addr, len)?;
        // SAFETY: the range lies inside our mapping; MADV_DONTNEED on private
        // anonymous memory replaces it with zero pages, which concurrent atomic
        // accesses observe as zeros — no reference is invalidated.
        unsafe {
            rustix::mm::madvise(
                self.store.as_ptr().add(addr.0 as usize).cast(),
                len as usize,
                rustix::mm::Advice::LinuxDontNeed,
            )
        }
        .map_err(|_| Errno::EINVAL)
    }
}

/// One page of the store as `PAGE_SIZE / 8` words, checked once by
/// [`PhysMem::page_words`]. Each access is what [`PhysMem::read_u64`] and
/// [`PhysMem::write_u64`] make of it past their checks: a scheduling point
/// under a checker, an Acquire load or a Release store.
pub struct PageWords<'a> {
    mem: &'a PhysMem,
    /// Index of the page's first word in the store.
    first: u64,
}

impl PageWords<'_> {
    /// Word `idx` (below `PAGE_SIZE / 8`).
    pub fn read(&self, idx: u64) -> u64 {
        assert!(idx < PAGE_SIZE / WORD, "word {idx} of a page");
        crate::sync::preempt_point();
        // Acquire: as in read_u64.
        self.mem.word(self.first + idx).load(Ordering::Acquire)
    }

    /// Writes word `idx` (below `PAGE_SIZE / 8`).
    pub fn write(&self, idx: u64, v: u64) {
        assert!(idx < PAGE_SIZE / WORD, "word {idx} of a page");
        crate::sync::preempt_point();
        // Release: as in write_u64.
        self.mem.word(self.first + idx).store(v, Ordering::Release);
    }
}

impl PhysMem {
    /// Puts a fence up (a device made part of the memory inaccessible).
    pub fn add_fence(&self, fence: Arc<Fence>) {
        self.fences.add(fence);
    }

    /// Takes a fence down.
    pub fn remove_fence(&self, fence: &Arc<Fence>) {
        self.fences.remove(fence);
    }

    /// The fatal accesses caught since the last call, and how many more
    /// there were than the list holds.
    pub fn take_fatal_accesses(&self) -> (Vec<FatalAccess>, u64) {
        self.fences.take()
    }

    /// The host mapping behind the store, for a device model (the VMM's
    /// view of guest memory). Accesses through it bypass the fences, as a
    /// hypervisor's own accesses do.
    ///
    /// # Safety
    /// The caller must not use the pointer after the store is dropped, and
    /// must access the memory only with accesses that tolerate concurrent
    /// atomic word accesses by the model (volatile or atomic ones).
    pub unsafe fn host_mapping(&self) -> (*mut u8, u64) {
        // Its writes are not in the written map (see the module doc).
        self.untracked.store(1, Ordering::Relaxed);
        (self.store.as_ptr(), self.len)
    }
}

impl Drop for PhysMem {
    fn drop(&mut self) {
        let (written, map_pages) = self.written_ranges();
        // SAFETY: taken once, here; nothing uses either afterwards.
        let (store, map) = unsafe {
            (
                ManuallyDrop::take(&mut self.store),
                ManuallyDrop::take(&mut self.written),
            )
        };
        if self.untracked.load(Ordering::Relaxed) != 0 {
            store.discard_all();
            store.recycle([]);
        } else {
            store.recycle(written);
        }
        map.recycle(map_pages);
    }
}

/// Whole-page copies and clears: the kernel's `copy_page()` and
/// `clear_page()`, one `rep movsb` / `rep stosb` each on x86-64 (what the
/// kernel's `copy_page_erms` and `clear_page_erms` use), a word loop of
/// relaxed atomics elsewhere.
///
/// Why an instruction and not `ptr::copy`: other modelled CPUs may access
/// the same bytes meanwhile (the tolerated data race of the module doc),
/// which Rust code may only do through atomics. The instruction sits in an
/// `asm!` block, opaque to the compiler, and performs at the hardware level
/// byte accesses no stronger than relaxed atomic ones; a concurrent word
/// access sees each byte old or new, as it would with the word loop.
mod bulk {
    /// Copies `len` bytes (a multiple of 8, both ranges 8-byte aligned and
    /// not overlapping).
    ///
    /// # Safety
    /// Both ranges lie inside the store, which is only accessed through
    /// word atomics and these functions.
    pub(super) unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller's ranges; the direction flag is clear (ABI);
        // rcx, rdi and rsi are declared clobbered.
        unsafe {
            std::arch::asm!(
                "rep movsb",
                inout("rcx") len => _,
                inout("rdi") dst => _,
                inout("rsi") src => _,
                options(nostack, preserves_flags)
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        for i in 0..len / 8 {
            // SAFETY: the caller's ranges, aligned words.
            unsafe {
                let v = word(src.add(i * 8).cast_mut()).load(Ordering::Relaxed);
                word(dst.add(i * 8)).store(v, Ordering::Relaxed);
            }
        }
    }

    /// Zeroes `len` bytes (a multiple of 8, 8-byte aligned).
    ///
    /// # Safety
    /// As for [`copy`].
    pub(super) unsafe fn zero(dst: *mut u8, len: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `copy`.
        unsafe {
            std::arch::asm!(
                "rep stosb",
                inout("rcx") len => _,
                inout("rdi") dst => _,
                in("al") 0u8,
                options(nostack, preserves_flags)
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        for i in 0..len / 8 {
            // SAFETY: the caller's range, aligned words.
            unsafe { word(dst.add(i * 8)).store(0, Ordering::Relaxed) };
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    use crate::sync::atomic::Ordering;

    /// The word at `p`.
    ///
    /// # Safety
    /// `p` is an aligned word of the store.
    #[cfg(not(target_arch = "x86_64"))]
    #[allow(clippy::disallowed_types)] // page bytes: see the `use` of DataWord
    unsafe fn word<'a>(p: *mut u8) -> &'a crate::sync::data::AtomicU64 {
        // SAFETY: the caller's.
        unsafe { &*p.cast() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_copy() {
        let m = PhysMem::new(1 << 30).unwrap();
        let a = PhysAddr(0x1003);
        m.write(a, b"hello, world").unwrap();
        let mut buf = [0u8; 12];
        m.read(a, &mut buf).unwrap();
        assert_eq!(&buf, b"hello, world");
        m.copy_page(Pfn(7), Pfn(1)).unwrap();
        m.read(PhysAddr(7 * 4096 + 3), &mut buf).unwrap();
        assert_eq!(&buf, b"hello, world");
        m.fill(PhysAddr(0x2000), 4096, 0xaa).unwrap();
        let mut b = [0u8; 1];
        m.read(PhysAddr(0x2fff), &mut b).unwrap();
        assert_eq!(b[0], 0xaa);
        m.discard(PhysAddr(0x2000), 4096).unwrap();
        m.read(PhysAddr(0x2fff), &mut b).unwrap();
        assert_eq!(b[0], 0);
        assert_eq!(
            m.read(PhysAddr((1 << 30) - 1), &mut buf),
            Err(Errno::EFAULT)
        );
    }

    // The next store of the thread reuses the mapping: every byte a write
    // reached, through each writer, reads zero again, as in a fresh one.
    #[test]
    fn a_reused_store_reads_zero() {
        let len = 1 << 30;
        let m = PhysMem::new(len).unwrap();
        let base = m.store.as_ptr();
        m.write(PhysAddr(0x1003), b"hello").unwrap();
        m.write_u64(PhysAddr(600 << 20), 7).unwrap();
        m.fill(PhysAddr(len - 4096), 4096, 0xaa).unwrap();
        m.copy_page(Pfn(3 << 9), Pfn(1)).unwrap();
        drop(m);
        let m = PhysMem::new(len).unwrap();
        assert_eq!(m.store.as_ptr(), base, "the mapping is reused");
        for addr in [0x1003, 600 << 20, len - 1, (3 << 21) + 3] {
            let mut b = [0u8; 1];
            m.read(PhysAddr(addr), &mut b).unwrap();
            assert_eq!(b[0], 0, "byte at {addr:#x}");
        }
    }

    // PhysMem::prealloc (QEMU's prealloc=on): the range becomes resident
    // with its bytes as they were, and a store that preallocated is given
    // back whole, so the next one reads zero with nothing resident.
    #[test]
    fn prealloc_backs_a_range_and_changes_no_byte() {
        let len = 1 << 30;
        let m = PhysMem::new(len).unwrap();
        m.write(PhysAddr(0x5003), b"kept").unwrap();
        m.prealloc(PhysAddr(0), 64 << 20).unwrap();
        assert_eq!(m.store.resident(0..64 << 20), vec![0..64 << 20]);
        let mut buf = [0u8; 4];
        m.read(PhysAddr(0x5003), &mut buf).unwrap();
        assert_eq!(&buf, b"kept");
        m.read(PhysAddr(32 << 20), &mut buf).unwrap();
        assert_eq!(buf, [0; 4]);
        m.prealloc(PhysAddr(0), 0).unwrap();
        assert_eq!(m.prealloc(PhysAddr(len - 4096), 8192), Err(Errno::EFAULT));
        assert_eq!(m.prealloc(PhysAddr(u64::MAX), 2), Err(Errno::EFAULT));
        let base = m.store.as_ptr();
        drop(m);
        let m = PhysMem::new(len).unwrap();
        assert_eq!(m.store.as_ptr(), base, "the mapping is reused");
        assert_eq!(m.store.resident(0..64 << 20), vec![]);
        m.read(PhysAddr(0x5003), &mut buf).unwrap();
        assert_eq!(buf, [0; 4]);
    }

    // PhysMem::page_words: the same words read_u64/write_u64 see, the page
    // noted in the written map (a reused store reads zero), and None where
    // the per-word path must decide: outside the store, or with a fence up.
    #[test]
    fn page_words_are_the_words_read_u64_sees() {
        let len = 1 << 30;
        let m = PhysMem::new(len).unwrap();
        let table = Pfn(0x1234);
        let w = m.page_words(table).unwrap();
        w.write(7, 0xdead_beef);
        assert_eq!(m.read_u64(table.phys() + 7 * WORD).unwrap(), 0xdead_beef);
        m.write_u64(table.phys() + 511 * WORD, 42).unwrap();
        assert_eq!(w.read(511), 42);
        assert!(m.page_words(Pfn(len / PAGE_SIZE)).is_none());
        let fence = Arc::new(Fence::new("test", 0, 1 << 27, 1 << 27));
        m.add_fence(fence.clone());
        assert!(m.page_words(table).is_none());
        m.remove_fence(&fence);
        assert!(m.page_words(table).is_some());
        drop(m);
        let m = PhysMem::new(len).unwrap();
        assert_eq!(m.read_u64(table.phys() + 7 * WORD).unwrap(), 0);
    }
}
