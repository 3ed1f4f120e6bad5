//! The messages between `mmsim run --host` and its drivers: one JSON object
//! a line, each request answered by exactly one reply (none for `Exit`: the
//! driver's end of the socket closing is its answer).

use std::io::{BufRead, BufReader, Read, Write};

use serde::{Deserialize, Serialize};

/// What the orchestrator asks a driver to do in its own address space.
/// Addresses are the driver's; lengths are bytes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Request {
    /// `mmap()` between PROT_NONE guards (so the mapping never merges with
    /// a neighbour and its smaps are its own), 2 MiB aligned; `thp` adds
    /// MADV_HUGEPAGE. `file` is a path the driver opens (the orchestrator's
    /// memfd under /proc/PID/fd).
    Mmap {
        /// Bytes.
        len: u64,
        /// PROT_ bits.
        prot: i32,
        /// MAP_SHARED (else MAP_PRIVATE).
        shared: bool,
        /// A file to map, else anonymous memory.
        file: Option<String>,
        /// MADV_HUGEPAGE.
        thp: bool,
        /// MAP_HUGETLB.
        hugetlb: bool,
        /// MAP_POPULATE.
        populate: bool,
    },
    /// `munmap()`.
    Munmap { addr: u64, len: u64 },
    /// `mprotect()`.
    Mprotect { addr: u64, len: u64, prot: i32 },
    /// `madvise()`.
    Madvise { addr: u64, len: u64, advice: i32 },
    /// `mremap(MREMAP_MAYMOVE [| MREMAP_FIXED to `fixed`])`.
    Mremap {
        addr: u64,
        old_len: u64,
        new_len: u64,
        fixed: Option<u64>,
    },
    /// Read every byte (user-space loads, through `pwrite()` from the range).
    Touch { addr: u64, len: u64 },
    /// Store bytes (through `pread()` into the range): `len` copies of
    /// `byte`, or `text`.
    Write {
        addr: u64,
        len: u64,
        byte: u8,
        text: Option<Vec<u8>>,
    },
    /// Load bytes; answered with [`Reply::Bytes`].
    Read { addr: u64, len: u64 },
    /// `fork()`: the child drives itself over a new socket, answered with
    /// [`Reply::Forked`].
    Fork,
    /// `_exit(0)`; no reply.
    Exit,
    /// `echo 4 > /proc/self/clear_refs`.
    ClearRefs,
    /// `vmsplice()` the range into a new pipe (FOLL_GET); answered with
    /// [`Reply::Fds`] `[read end, write end]`.
    Vmsplice { addr: u64, len: u64 },
    /// Register the range as an io_uring fixed buffer (FOLL_PIN |
    /// FOLL_WRITE | FOLL_LONGTERM); answered with [`Reply::Fds`] `[ring]`.
    UringPin { addr: u64, len: u64 },
    /// Close these descriptors (the orchestrator took its own copies).
    Forget { fds: Vec<i32> },
}

/// A driver's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Reply {
    /// Done.
    Ok,
    /// Done; the mapping's address.
    Addr(u64),
    /// The bytes read.
    Bytes(Vec<u8>),
    /// The child's pid and the driver's descriptor of the orchestrator's
    /// end of the child's socket.
    Forked { pid: i32, fd: i32 },
    /// Descriptors of the driver's that the orchestrator takes copies of.
    Fds(Vec<i32>),
    /// The system call failed with this errno.
    Errno(i32),
}

/// Writes one message as a line.
pub fn send<T: Serialize>(out: &mut impl Write, msg: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msg)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// Reads one message; `Ok(None)` at end of file (the peer is gone).
pub fn recv<T: for<'de> Deserialize<'de>, R: Read>(
    input: &mut BufReader<R>,
) -> std::io::Result<Option<T>> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
