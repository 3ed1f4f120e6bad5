//! Just enough io_uring, by raw system calls, for fixed buffers: a driver
//! registers part of its memory (`IORING_REGISTER_BUFFERS`: the kernel pins
//! those pages with FOLL_PIN | FOLL_WRITE | FOLL_LONGTERM, as cow.c's io_uring
//! cases rely on), and the orchestrator, holding a copy of the ring's
//! descriptor, does DMA through the pin: `IORING_OP_WRITE_FIXED` copies the
//! pinned pages' bytes into a memfd (a pin read), `IORING_OP_READ_FIXED` the
//! memfd's into them (a pin write). The buffer is addressed by the driver's
//! user addresses, which the kernel checks against the registered range
//! only; the pages are the pinned ones, whatever the driver's page tables
//! map there now.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::sys::check;

const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_REGISTER_BUFFERS: u32 = 0;
const IORING_UNREGISTER_BUFFERS: u32 = 1;
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_FEAT_SINGLE_MMAP: u32 = 1;
const IORING_OP_READ_FIXED: u8 = 4;
const IORING_OP_WRITE_FIXED: u8 = 5;

/// `struct io_sqring_offsets` / `struct io_cqring_offsets` (same shape).
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct RingOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags_or_overflow: u32,
    dropped_or_cqes: u32,
    array_or_flags: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_uring_params`.
#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: RingOffsets,
    cq_off: RingOffsets,
}

/// `struct io_uring_sqe` (the fields a fixed read or write uses).
#[repr(C)]
#[derive(Default)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    rw_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    splice_fd_in: i32,
    addr3: u64,
    pad: u64,
}

/// `struct io_uring_cqe`.
#[repr(C)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

/// In the driver: a ring with `[addr, addr+len)` registered as fixed buffer
/// 0. Returns the ring's descriptor.
pub fn register(addr: u64, len: u64) -> Result<OwnedFd, i32> {
    let ring = setup()?;
    register_buffer(&ring, addr, len)?;
    Ok(ring)
}

/// A new ring with no buffers (`io_uring_setup()` with default parameters).
pub fn setup() -> Result<OwnedFd, i32> {
    let mut p = Params::default();
    // SAFETY: `p` is a valid io_uring_params the kernel fills in.
    let fd =
        check(unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, &mut p as *mut Params) })?;
    // SAFETY: io_uring_setup returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Registers `[addr, addr+len)` as the ring's fixed buffer 0: the kernel
/// pins its pages (`io_pin_pages()` → `pin_user_pages_fast()`) until
/// [`unregister`].
pub fn register_buffer(ring: &OwnedFd, addr: u64, len: u64) -> Result<(), i32> {
    let iov = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len as usize,
    };
    // SAFETY: `iov` is one valid iovec; the kernel pins the user pages it
    // names (or fails).
    check(unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            IORING_REGISTER_BUFFERS,
            &iov as *const libc::iovec,
            1u32,
        )
    })
    .map(drop)
}

/// In the orchestrator: DMA through buffer 0 of a ring some driver
/// registered. `write_to_file`: the buffer's bytes at `addr` go to `file` at
/// offset 0 (WRITE_FIXED), else the file's bytes go into the buffer
/// (READ_FIXED). Returns the bytes moved.
pub fn dma(
    ring: &OwnedFd,
    write_to_file: bool,
    file: &impl AsRawFd,
    addr: u64,
    len: u32,
) -> Result<u32, i32> {
    dma_raw(ring, write_to_file, file.as_raw_fd(), addr, len)
}

fn dma_raw(
    ring: &OwnedFd,
    write_to_file: bool,
    file: RawFd,
    addr: u64,
    len: u32,
) -> Result<u32, i32> {
    let mut p = Params::default();
    // The ring's geometry: a second io_uring_setup is not allowed on it, so
    // ask the kernel for the offsets through a throwaway ring of the same
    // size (the layout depends only on the entry counts).
    // SAFETY: `p` is a valid io_uring_params the kernel fills in.
    let probe =
        check(unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, &mut p as *mut Params) })?;
    // SAFETY: a new descriptor nothing else owns; dropped at once.
    drop(unsafe { OwnedFd::from_raw_fd(probe as RawFd) });
    if p.features & IORING_FEAT_SINGLE_MMAP == 0 {
        return Err(libc::EOPNOTSUPP);
    }
    let sq_size = (p.sq_off.array_or_flags as usize) + p.sq_entries as usize * 4;
    let cq_size =
        (p.cq_off.dropped_or_cqes as usize) + p.cq_entries as usize * std::mem::size_of::<Cqe>();
    let ring_size = sq_size.max(cq_size);
    let sqes_size = p.sq_entries as usize * std::mem::size_of::<Sqe>();
    let rings = Map::new(ring, ring_size, IORING_OFF_SQ_RING)?;
    let sqes = Map::new(ring, sqes_size, IORING_OFF_SQES)?;
    let base = rings.0 as *mut u8;
    // SAFETY: every offset below is one the kernel gave for this ring
    // layout, inside the `ring_size` bytes mapped; the head/tail words are
    // shared with the kernel, so they are read and written as atomics.
    unsafe {
        let at = |off: u32| base.add(off as usize);
        let sq_tail = &*(at(p.sq_off.tail) as *const std::sync::atomic::AtomicU32);
        let sq_mask = *(at(p.sq_off.ring_mask) as *const u32);
        let sq_array = at(p.sq_off.array_or_flags) as *mut u32;
        let cq_head = &*(at(p.cq_off.head) as *const std::sync::atomic::AtomicU32);
        let cq_tail = &*(at(p.cq_off.tail) as *const std::sync::atomic::AtomicU32);
        let cq_mask = *(at(p.cq_off.ring_mask) as *const u32);
        let cqes = at(p.cq_off.dropped_or_cqes) as *const Cqe;
        let tail = sq_tail.load(std::sync::atomic::Ordering::Relaxed);
        let idx = tail & sq_mask;
        let sqe = (sqes.0 as *mut Sqe).add(idx as usize);
        sqe.write(Sqe {
            opcode: if write_to_file {
                IORING_OP_WRITE_FIXED
            } else {
                IORING_OP_READ_FIXED
            },
            fd: file,
            addr,
            len,
            ..Sqe::default()
        });
        *sq_array.add(idx as usize) = idx;
        // Release pairs with the kernel's acquire of the SQ tail in
        // io_submit_sqes(): the SQE is written before it is published.
        sq_tail.store(tail.wrapping_add(1), std::sync::atomic::Ordering::Release);
        check(libc::syscall(
            libc::SYS_io_uring_enter,
            ring.as_raw_fd(),
            1u32,
            1u32,
            IORING_ENTER_GETEVENTS,
            std::ptr::null::<libc::c_void>(),
            0usize,
        ))?;
        // Acquire pairs with the kernel's release of the CQ tail when it
        // posts a completion: the CQE is read after it is published.
        let head = cq_head.load(std::sync::atomic::Ordering::Relaxed);
        if cq_tail.load(std::sync::atomic::Ordering::Acquire) == head {
            return Err(libc::EIO);
        }
        let res = (*cqes.add((head & cq_mask) as usize)).res;
        // Release pairs with the kernel's acquire of the CQ head: the CQE
        // was read before its slot is given back.
        cq_head.store(head.wrapping_add(1), std::sync::atomic::Ordering::Release);
        if res < 0 {
            return Err(-res);
        }
        Ok(res as u32)
    }
}

/// In the orchestrator: unpin the ring's buffers now (a ring's own teardown
/// is deferred to a workqueue, so closing it alone would unpin later).
pub fn unregister(ring: &OwnedFd) -> Result<(), i32> {
    // SAFETY: plain system call on a descriptor we own.
    check(unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            IORING_UNREGISTER_BUFFERS,
            std::ptr::null::<libc::c_void>(),
            0u32,
        )
    })
    .map(drop)
}

/// A shared mapping of part of a ring, unmapped on drop.
struct Map(*mut libc::c_void, usize);

impl Map {
    fn new(ring: &OwnedFd, len: usize, off: i64) -> Result<Map, i32> {
        // SAFETY: a fresh shared mapping of the ring's memory; nothing else
        // refers to the address until it is returned.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                ring.as_raw_fd(),
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(super::sys::errno());
        }
        Ok(Map(p, len))
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer referenced.
        unsafe { libc::munmap(self.0, self.1) };
    }
}
