//! The driver: one scenario process on the host kernel (`mmsim
//! __host-driver`, started by the orchestrator with its socket as standard
//! input). It is single-threaded from its first instruction (a freshly
//! exec'd binary that starts no thread), so its `fork()` is an ordinary
//! process fork, and the child drives itself on over a new socket.
//!
//! Loads and stores go through the kernel's user-copy routines (`pwrite()`
//! from the range into a scratch memfd is a load of every byte, `pread()`
//! into it a store): they fault exactly as the process's own loads and
//! stores would, and a protection fault is EFAULT instead of SIGSEGV.

use std::fs::File;
use std::io::BufReader;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

use super::proto::{recv, send, Reply, Request};
use super::sys::{check, errno, memfd, pipe_for, PAGE, PMD};
use super::uring;

/// Keeps this driver, and every process it forks, on one CPU: the first
/// this process may use, the same for every driver. A new page waits in its
/// CPU's LRU batch (`folio_add_lru()`), and MADV_PAGEOUT drains only the
/// local CPU's (`lru_add_drain()` in `madvise_pageout()`): a driver that the
/// scheduler moved between its write and its pageout would leave the page
/// off the LRU, and reclaim would skip it, depending on the host's load
/// (seen once in CI). Best effort: if the mask cannot be read or set, the
/// driver runs where it is.
fn run_on_one_cpu() {
    // SAFETY: cpu_set_t is plain data; the calls read and write only the
    // sets passed, with their true size.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, size, &mut allowed) != 0 {
            return;
        }
        let Some(cpu) = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &allowed))
        else {
            return;
        };
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        libc::sched_setaffinity(0, size, &one);
    }
}

/// Runs requests from standard input until `Exit` or end of input.
pub fn main() -> ExitCode {
    // SAFETY: fd 0 is the socket the orchestrator gave; this is its only
    // owner.
    let mut chan = unsafe { UnixStream::from_raw_fd(0) };
    // Forked children are reaped by the kernel (nobody waits for them here;
    // the orchestrator follows each over its own socket).
    // SAFETY: setting a signal disposition in a single-threaded process.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    run_on_one_cpu();
    let scratch = match memfd("mmsim-host-scratch", 0, false) {
        Ok(f) => File::from(f),
        Err(_) => return ExitCode::from(2),
    };
    loop {
        let mut input = BufReader::new(&chan);
        let req: Request = match recv(&mut input) {
            Ok(Some(r)) => r,
            _ => return ExitCode::SUCCESS,
        };
        let reply = match req {
            Request::Exit => {
                // SAFETY: ends this single-threaded process.
                unsafe { libc::_exit(0) }
            }
            Request::Fork => match fork() {
                Ok(Some(reply)) => reply,
                // The child: carry on over its own socket.
                Ok(None) => continue,
                Err(e) => Reply::Errno(e),
            },
            req => run(req, &scratch).unwrap_or_else(Reply::Errno),
        };
        if send(&mut chan, &reply).is_err() {
            return ExitCode::SUCCESS;
        }
    }
}

/// `fork()`; the parent answers [`Reply::Forked`], the child (`None`) swaps
/// its channel for the new socket.
fn fork() -> Result<Option<Reply>, i32> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    // SAFETY: this process is single-threaded (see the module doc).
    let pid = check(unsafe { libc::fork() }.into())? as i32;
    if pid == 0 {
        drop(ours);
        // The child's channel replaces the parent's: drop our copy of the
        // parent's socket so its end of file is the parent's alone.
        let new = theirs.into_raw_fd();
        // SAFETY: fd 0 is `chan`'s descriptor; dup2 atomically replaces it
        // with the new socket, which `chan` then refers to.
        unsafe { libc::dup2(new, 0) };
        // SAFETY: `new` was dup'ed onto 0 and is ours to close.
        unsafe { libc::close(new) };
        return Ok(None);
    }
    drop(theirs);
    // The orchestrator copies `ours` with pidfd_getfd and then asks us to
    // forget it.
    Ok(Some(Reply::Forked {
        pid,
        fd: ours.into_raw_fd(),
    }))
}

fn run(req: Request, scratch: &File) -> Result<Reply, i32> {
    Ok(match req {
        Request::Mmap {
            len,
            prot,
            shared,
            file,
            thp,
            hugetlb,
            populate,
        } => Reply::Addr(mmap(
            len,
            prot,
            shared,
            file.as_deref(),
            thp,
            hugetlb,
            populate,
        )?),
        Request::Munmap { addr, len } => {
            // SAFETY: the scenario unmaps its own mapping; nothing in this
            // process refers to it.
            check(unsafe { libc::munmap(addr as *mut _, len as usize) }.into())?;
            Reply::Ok
        }
        Request::Mprotect { addr, len, prot } => {
            // SAFETY: as above; the driver never dereferences the range.
            check(unsafe { libc::mprotect(addr as *mut _, len as usize, prot) }.into())?;
            Reply::Ok
        }
        Request::Madvise { addr, len, advice } => {
            // SAFETY: as above.
            check(unsafe { libc::madvise(addr as *mut _, len as usize, advice) }.into())?;
            Reply::Ok
        }
        Request::Mremap {
            addr,
            old_len,
            new_len,
            fixed,
        } => {
            let flags = libc::MREMAP_MAYMOVE
                | if fixed.is_some() {
                    libc::MREMAP_FIXED
                } else {
                    0
                };
            // SAFETY: as above.
            let p = unsafe {
                libc::mremap(
                    addr as *mut _,
                    old_len as usize,
                    new_len as usize,
                    flags,
                    fixed.unwrap_or(0) as *mut libc::c_void,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(errno());
            }
            Reply::Addr(p as u64)
        }
        Request::Touch { addr, len } => {
            copy(scratch, addr, len, true)?;
            Reply::Ok
        }
        Request::Read { addr, len } => {
            copy(scratch, addr, len, true)?;
            let mut buf = vec![0u8; len as usize];
            std::os::unix::fs::FileExt::read_exact_at(scratch, &mut buf, 0)
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            Reply::Bytes(buf)
        }
        Request::Write {
            addr,
            len,
            byte,
            text,
        } => {
            let bytes = text.unwrap_or_else(|| vec![byte; len as usize]);
            std::os::unix::fs::FileExt::write_all_at(scratch, &bytes, 0)
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            copy(scratch, addr, bytes.len() as u64, false)?;
            Reply::Ok
        }
        Request::ClearRefs => {
            std::fs::write("/proc/self/clear_refs", "4")
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            Reply::Ok
        }
        Request::Vmsplice { addr, len } => Reply::Fds(vmsplice(addr, len)?),
        Request::UringPin { addr, len } => {
            Reply::Fds(vec![uring::register(addr, len)?.into_raw_fd()])
        }
        Request::Forget { fds } => {
            for fd in fds {
                // SAFETY: a descriptor this driver handed out and the
                // orchestrator has copied; nothing here uses it any more.
                drop(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
            }
            Reply::Ok
        }
        Request::Fork | Request::Exit => unreachable!("handled by the loop"),
    })
}

/// `vmsplice()` of `[addr, addr+len)` into as many pipes as it takes (a
/// pipe holds at most /proc/sys/fs/pipe-max-size unless the caller has
/// CAP_SYS_RESOURCE in the initial namespace): their ends, read and write
/// alternately, in address order.
fn vmsplice(addr: u64, len: u64) -> Result<Vec<i32>, i32> {
    let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    // A pipe buffer per page, and an unaligned start may straddle one more.
    let chunk = max.saturating_sub(PAGE).max(PAGE);
    let mut fds = Vec::new();
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk);
        let (r, w) = pipe_for(n + PAGE)?;
        let mut put = 0;
        while put < n {
            let iov = libc::iovec {
                iov_base: (addr + done + put) as *mut libc::c_void,
                iov_len: (n - put) as usize,
            };
            // SAFETY: one valid iovec; vmsplice takes references on the
            // pages (GUP), it does not write through the pointer.
            let got =
                check(
                    unsafe { libc::vmsplice(w.as_raw_fd(), &iov, 1, libc::SPLICE_F_NONBLOCK) }
                        as libc::c_long,
                )?;
            if got == 0 {
                return Err(libc::EAGAIN);
            }
            put += got as u64;
        }
        fds.push(r.into_raw_fd());
        fds.push(w.into_raw_fd());
        done += n;
    }
    Ok(fds)
}

/// Copies between `[addr, addr+len)` and the start of `scratch`:
/// `load` reads the range (pwrite from it), else stores into it (pread
/// into it). A fault part-way is EFAULT.
fn copy(scratch: &File, addr: u64, len: u64, load: bool) -> Result<(), i32> {
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(1 << 20) as usize;
        let p = (addr + done) as *mut libc::c_void;
        // SAFETY: the kernel copies to or from the user range and reports
        // a fault as EFAULT; this process never touches it directly.
        let got = check(unsafe {
            if load {
                libc::pwrite(scratch.as_raw_fd(), p, n, done as libc::off_t)
            } else {
                libc::pread(scratch.as_raw_fd(), p, n, done as libc::off_t)
            }
        } as libc::c_long)?;
        if got == 0 {
            return Err(libc::EFAULT);
        }
        done += got as u64;
    }
    Ok(())
}

/// See [`Request::Mmap`].
fn mmap(
    len: u64,
    prot: i32,
    shared: bool,
    file: Option<&str>,
    thp: bool,
    hugetlb: bool,
    populate: bool,
) -> Result<u64, i32> {
    if len == 0 {
        return Err(libc::EINVAL);
    }
    let span = len.next_multiple_of(PMD);
    // PROT_NONE guards of at least a PMD on either side.
    let reserve_len = span + 3 * PMD;
    // SAFETY: a fresh PROT_NONE reservation nothing refers to.
    let reserve = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            reserve_len as usize,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if reserve == libc::MAP_FAILED {
        return Err(errno());
    }
    let start = (reserve as u64 + PMD).next_multiple_of(PMD);
    let fd = match file {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(path)
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?,
        ),
        None => None,
    };
    let mut flags = libc::MAP_FIXED
        | if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
    if fd.is_none() {
        flags |= libc::MAP_ANONYMOUS;
    }
    if hugetlb {
        flags |= libc::MAP_HUGETLB;
    }
    // SAFETY: MAP_FIXED over our own reservation only.
    let p = unsafe {
        libc::mmap(
            start as *mut _,
            len as usize,
            prot,
            flags,
            fd.as_ref().map_or(-1, |f| f.as_raw_fd()),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        let e = errno();
        // SAFETY: our own reservation, unused.
        unsafe { libc::munmap(reserve, reserve_len as usize) };
        return Err(e);
    }
    if thp {
        // SAFETY: advice on the mapping just made.
        check(unsafe { libc::madvise(p, len as usize, libc::MADV_HUGEPAGE) }.into())?;
    }
    if populate {
        // MAP_POPULATE's faults (populate_vma_page_range(): write faults in
        // a private writable mapping, read faults elsewhere), after the
        // advice so that THPs are populated where the mapping allows them.
        // Like MAP_POPULATE, a failure is not the mmap's.
        let advice = if prot & libc::PROT_WRITE != 0 && !shared {
            libc::MADV_POPULATE_WRITE
        } else {
            libc::MADV_POPULATE_READ
        };
        // SAFETY: advice on the mapping just made.
        unsafe { libc::madvise(p, len as usize, advice) };
    }
    Ok(p as u64)
}
