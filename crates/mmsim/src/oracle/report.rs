//! What the oracle reports: a broken rule, or a question it cannot answer.

use std::fmt::Write as _;

/// A read (or DMA write) that user space must never observe.
///
/// Displays as `oracle violation: RULE: WHO at ADDR: expected X, got Y`,
/// where ADDR is the first byte that broke the rule (`buf+0x1000`) and X and
/// Y are the bytes from there to the end of the access, as lowercase hex
/// runs: `ff x4096`, or `00 x16, 41, 42 x3` (at most eight runs, then `...`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("oracle violation: {rule}: {who} at {addr}: expected {expected}, got {got}")]
pub struct OracleViolation {
    /// The rule, one of the `OracleViolation::*` rule names.
    pub rule: &'static str,
    /// The process (`A`) or the pin and its owner (`pin p of A`).
    pub who: String,
    /// The mapping and offset of the first offending byte (`buf+0x1000`).
    pub addr: String,
    /// What the oracle allows there (for a no-foreign-writes rule: the bytes
    /// when the reference was taken; the owner's later writes were allowed too).
    pub expected: String,
    /// What was read.
    pub got: String,
}

impl OracleViolation {
    /// A process read bytes other than its mapping's.
    pub const PROCESS_READ: &'static str = "process-read";
    /// A FOLL_PIN read bytes other than its memory's current bytes.
    pub const PIN_COHERENT: &'static str = "pin-coherent";
    /// A read-only short-term FOLL_PIN of memory its owner had never written
    /// showed a byte neither there at pin time nor written to that memory since.
    pub const PIN_NO_FOREIGN_WRITES: &'static str = "pin-no-foreign-writes";
    /// A FOLL_GET reference showed a byte neither there when it was taken nor
    /// written to that memory since (e.g. another process's write after fork).
    pub const GET_NO_FOREIGN_WRITES: &'static str = "get-no-foreign-writes";
    /// A DMA write through a FOLL_GET reference or a read-only FOLL_PIN.
    pub const PIN_WRITE_RO: &'static str = "pin-write-ro";

    /// The violation of `rule` by the bytes `got` of an access at `addr`
    /// whose first offending byte is `got[bad]`; `expected` is what the
    /// oracle holds for the same bytes.
    pub(super) fn mismatch(
        rule: &'static str,
        who: String,
        addr: String,
        expected: &[u8],
        got: &[u8],
        bad: usize,
    ) -> Self {
        OracleViolation {
            rule,
            who,
            addr,
            expected: hex_runs(expected.get(bad..).unwrap_or_default()),
            got: hex_runs(got.get(bad..).unwrap_or_default()),
        }
    }
}

/// Why the oracle refused: [`OracleError::Violation`] when user space just
/// observed something it must not; otherwise a question it cannot answer —
/// an unknown name, a duplicate, or an access outside what the process has
/// mapped. The model fails those accesses first (EFAULT, SIGSEGV, SIGBUS),
/// so the oracle is never asked about them by a correct caller; it refuses
/// without changing anything instead of panicking.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OracleError {
    /// See [`OracleViolation`].
    #[error(transparent)]
    Violation(#[from] OracleViolation),
    /// An operation named a process the oracle was never told about (or
    /// one that has exited).
    #[error("oracle: no process {0}")]
    NoSuchProcess(String),
    /// A process was created (spawn, fork) under a name already in use.
    #[error("oracle: process {0} already exists")]
    ProcessExists(String),
    /// An operation named a memory-backed file the oracle does not know.
    #[error("oracle: no file {0}")]
    NoSuchFile(String),
    /// A file was created under a name already in use.
    #[error("oracle: file {0} already exists")]
    FileExists(String),
    /// A process has no mapping of that name (never mapped, or unmapped
    /// whole).
    #[error("oracle: {proc} has no mapping {map}")]
    NoSuchMapping {
        /// The process.
        proc: String,
        /// The mapping name it used.
        map: String,
    },
    /// A process mapped a second mapping under a name it already uses.
    #[error("oracle: {proc} already has a mapping {map}")]
    MappingExists {
        /// The process.
        proc: String,
        /// The name already in use.
        map: String,
    },
    /// An operation named a pin (GUP reference) that was never taken or has
    /// been released.
    #[error("oracle: no pin {0}")]
    NoSuchPin(String),
    /// A pin was taken under a name already in use.
    #[error("oracle: pin {0} already exists")]
    PinExists(String),
    /// A mapping, munmap or madvise of no bytes.
    #[error("oracle: empty range at {at}")]
    EmptyRange {
        /// Where the range starts (`map+offset`).
        at: String,
    },
    /// A munmap, madvise or fork range that does not start on a page.
    #[error("oracle: {at} is not page-aligned")]
    Unaligned {
        /// The unaligned start (`map+offset`).
        at: String,
    },
    /// An access that ends beyond its mapping or pin.
    #[error("oracle: {len} bytes at {at} end beyond the {size} bytes there")]
    OutOfRange {
        /// Where the access starts (`map+offset`).
        at: String,
        /// Its length in bytes.
        len: u64,
        /// The size of the mapping or pin it falls out of.
        size: u64,
    },
    /// An access to an unmapped part of a mapping (SIGSEGV on Linux).
    #[error("oracle: {proc} accesses unmapped {at}")]
    Unmapped {
        /// The process.
        proc: String,
        /// The first unmapped byte accessed (`map+offset`).
        at: String,
    },
    /// An mremap whose result the oracle cannot name: a resize that does
    /// not cover its whole mapping, or a move onto the mapping itself.
    #[error("oracle: mremap of {at}: {why}")]
    BadRemap {
        /// The range's start (`map+offset`).
        at: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An access to a file mapping beyond the end of the file (SIGBUS on Linux).
    #[error("oracle: {at} lies beyond the end of file {file} ({size} bytes)")]
    BeyondEof {
        /// The first byte accessed past the end (`map+offset`).
        at: String,
        /// The file.
        file: String,
        /// The file's size in bytes.
        size: u64,
    },
}

/// `map+0x1000`.
pub(super) fn place(map: &str, off: u64) -> String {
    format!("{map}+{off:#x}")
}

/// Bytes as runs of lowercase hex: `ff x4096`, `00 x16, 41, 42 x3`.
pub(super) fn hex_runs(bytes: &[u8]) -> String {
    const MAX_RUNS: usize = 8;
    if bytes.is_empty() {
        return "nothing".into();
    }
    let mut out = String::new();
    let mut rest = bytes;
    for n in 0.. {
        let Some(&b) = rest.first() else { break };
        if n == MAX_RUNS {
            out.push_str(", ...");
            break;
        }
        let run = rest.iter().take_while(|&&x| x == b).count();
        if n > 0 {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
        if run > 1 {
            let _ = write!(out, " x{run}");
        }
        rest = &rest[run..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_runs_compress_and_truncate() {
        assert_eq!(hex_runs(&[0xff; 4096]), "ff x4096");
        assert_eq!(
            hex_runs(&[0, 0, 0x41, 0x42, 0x42, 0x42]),
            "00 x2, 41, 42 x3"
        );
        assert_eq!(
            hex_runs(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            "01, 02, 03, 04, 05, 06, 07, 08, ..."
        );
        assert_eq!(hex_runs(&[]), "nothing");
    }
}
