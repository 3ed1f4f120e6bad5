//! Thin wrappers over the system calls the host side uses, each returning
//! the errno as an `i32` on failure.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;

/// The host's page size (x86-64: 4 KiB, as the model's).
pub const PAGE: u64 = 4096;
/// A PMD's span: THP and hugetlb mappings are aligned to it.
pub const PMD: u64 = 2 << 20;

/// The calling thread's errno.
pub fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `-1` → the errno, else the value.
pub fn check(ret: libc::c_long) -> Result<libc::c_long, i32> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

/// `memfd_create(name, flags)`, sized.
pub fn memfd(name: &str, size: u64, hugetlb: bool) -> Result<OwnedFd, i32> {
    let name = std::ffi::CString::new(name).map_err(|_| libc::EINVAL)?;
    let flags = libc::MFD_CLOEXEC | if hugetlb { libc::MFD_HUGETLB } else { 0 };
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let fd = check(unsafe { libc::memfd_create(name.as_ptr(), flags) }.into())?;
    // SAFETY: memfd_create returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    // SAFETY: plain system call on a descriptor we own.
    check(unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) }.into())?;
    Ok(fd)
}

/// A copy of descriptor `fd` of process `pid` (`pidfd_getfd()`; root).
pub fn steal_fd(pid: i32, fd: i32) -> Result<OwnedFd, i32> {
    // SAFETY: plain system calls; the descriptors they return are owned
    // below.
    let pidfd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    // SAFETY: as above.
    let got = check(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })?;
    // SAFETY: pidfd_getfd returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(got as RawFd) })
}

/// The u64 at index `index` of a /proc table (pagemap, kpageflags,
/// kpagecount).
pub fn proc_u64(path: &str, index: u64) -> Result<u64, i32> {
    let f = File::open(path).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let mut buf = [0u8; 8];
    f.read_exact_at(&mut buf, index * 8)
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    Ok(u64::from_ne_bytes(buf))
}

/// A pipe (read end, write end) holding at least `len` bytes.
pub fn pipe_for(len: u64) -> Result<(OwnedFd, OwnedFd), i32> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }.into())?;
    // SAFETY: pipe2 returned two new descriptors that nothing else owns.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let size = len
        .next_multiple_of(PAGE)
        .max(16 * PAGE)
        .next_power_of_two();
    // SAFETY: plain fcntl on a descriptor we own.
    check(unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) }.into())?;
    Ok((r, w))
}
