//! What a command prints, and how the bytes of a read are taken in.
//!
//! A read may be as long as the bulk limit (gigabytes), so its bytes are never
//! gathered whole unless the statement needs them whole. The interpreter hands
//! the command a `ByteSink` shaped by the statement: it keeps as many leading
//! bytes as a `let` binding or a hex comparison needs, compares with an expected
//! `"text"` as the bytes stream by, and always notes the length and whether all
//! bytes are one value (what `== 0xNN` asks and what a summary shows).

use std::fmt::Write as _;

use crate::errno::Errno;
use crate::walkers::Fields;

/// The most bytes one command may read, write, touch or pin (the bulk limit).
/// Written bytes cost host memory twice (the model's page and the oracle's
/// copy), and a command moves about 200 MiB a second, so one command stays
/// within 2 GiB of host memory and a few seconds.
pub const MAX_BULK: u64 = 1 << 30;

/// The most bytes of a read a `let` may bind (the value cap): the value becomes
/// text that later lines substitute.
pub const MAX_VALUE: u64 = 1 << 20;

/// A command's result: its printed value, or why it failed.
pub(crate) type CmdResult = Result<Output, CmdError>;

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CmdError {
    /// The kernel (or the scenario's user space) returned this errno.
    Errno(Errno),
    /// The model refuses the command: it would exceed one of the scenario's
    /// limits, or asks for what this build does not model. The message says
    /// which.
    Refused(String),
}

impl From<Errno> for CmdError {
    fn from(e: Errno) -> CmdError {
        CmdError::Errno(e)
    }
}

impl CmdError {
    /// As a failure message shows it: the errno name, or the refusal's message.
    pub(crate) fn describe(&self) -> String {
        match self {
            CmdError::Errno(e) => e.name().to_owned(),
            CmdError::Refused(message) => message.clone(),
        }
    }
}

/// The errno a failed write of a host file reports: EPERM for a target the
/// model refuses (`crate::hostfs`) or may not write, ENOENT, else EIO.
pub(crate) fn host_io_errno(e: &std::io::Error) -> CmdError {
    CmdError::Errno(match e.kind() {
        std::io::ErrorKind::PermissionDenied => Errno::EPERM,
        std::io::ErrorKind::NotFound => Errno::ENOENT,
        _ => Errno::EIO,
    })
}

/// Fails with [`CmdError::Refused`] if `len` bytes exceed the bulk limit.
pub(crate) fn check_bulk(what: &str, len: u64) -> Result<(), CmdError> {
    if len > MAX_BULK {
        return Err(CmdError::Refused(format!(
            "{what} of {} bytes is more than the bulk limit ({} bytes)",
            len, MAX_BULK
        )));
    }
    Ok(())
}

/// What a command printed.
#[derive(Debug)]
pub(crate) enum Output {
    /// Text (compared blank-folded).
    Text(String),
    /// The bytes of a read (printed as lowercase hex).
    Bytes(ByteOutput),
}

/// An action's empty output.
pub(crate) fn ok() -> CmdResult {
    Ok(Output::Text(String::new()))
}

/// A one-value output.
pub(crate) fn text(value: impl ToString) -> CmdResult {
    Ok(Output::Text(value.to_string()))
}

/// `KEY=VALUE ...`, or the value of one field (EINVAL if there is no such field).
pub(crate) fn pick(fields: &Fields, field: &Option<String>) -> CmdResult {
    match field {
        None => text(fields),
        Some(key) => text(fields.get(key).map_err(CmdError::Errno)?),
    }
}

/// Leading bytes a summary shows.
const SUMMARY_BYTES: usize = 32;

/// Takes in the bytes of a read as they stream (see the module doc).
#[derive(Debug)]
pub(crate) struct ByteSink {
    /// How many leading bytes to keep.
    keep: usize,
    /// Bytes the read must equal (`== "text"`), and whether it still does.
    expected: Option<(Vec<u8>, bool)>,
    out: ByteOutput,
}

/// The bytes a read produced, as far as the statement needs them.
#[derive(Clone, Debug, Default)]
pub(crate) struct ByteOutput {
    /// How many bytes were read.
    pub(crate) len: u64,
    /// The value of every byte, if they are all one value (and there is one).
    pub(crate) uniform: Option<u8>,
    /// The leading bytes kept.
    pub(crate) head: Vec<u8>,
    /// Whether the bytes equal the expected text, if one was given.
    pub(crate) equals_expected: Option<bool>,
}

impl ByteSink {
    /// A sink that keeps only what a summary shows.
    pub(crate) fn summary() -> ByteSink {
        ByteSink::keeping(SUMMARY_BYTES)
    }

    /// A sink that keeps `keep` leading bytes (at least what a summary shows).
    pub(crate) fn keeping(keep: usize) -> ByteSink {
        ByteSink {
            keep: keep.max(SUMMARY_BYTES),
            expected: None,
            out: ByteOutput::default(),
        }
    }

    /// A sink that compares the bytes with `expected` as they come.
    pub(crate) fn expecting(expected: Vec<u8>) -> ByteSink {
        ByteSink {
            expected: Some((expected, true)),
            ..ByteSink::summary()
        }
    }

    /// Takes the next bytes of the read.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let Some(&first) = bytes.first() else {
            return;
        };
        let out = &mut self.out;
        let all_first = bytes.iter().all(|&b| b == first);
        out.uniform = match (out.len, out.uniform) {
            (0, _) if all_first => Some(first),
            (_, Some(u)) if all_first && u == first => Some(u),
            _ => None,
        };
        if let Some((expected, equal)) = &mut self.expected {
            let at = usize::try_from(out.len).unwrap_or(usize::MAX);
            *equal = *equal && expected.get(at..at.saturating_add(bytes.len())) == Some(bytes);
        }
        let room = self.keep.saturating_sub(out.head.len()).min(bytes.len());
        out.head.extend_from_slice(&bytes[..room]);
        out.len += bytes.len() as u64;
    }

    /// The read is over.
    pub(crate) fn finish(&mut self) -> Output {
        let mut out = std::mem::take(&mut self.out);
        out.equals_expected = self
            .expected
            .take()
            .map(|(expected, equal)| equal && expected.len() as u64 == out.len);
        Output::Bytes(out)
    }
}

impl ByteOutput {
    /// Whether every byte was kept.
    fn whole(&self) -> bool {
        self.head.len() as u64 == self.len
    }

    /// The bytes as lowercase hex, if all were kept.
    pub(crate) fn hex(&self) -> Option<String> {
        self.whole().then(|| hex(&self.head))
    }

    /// A short form for transcripts and messages: a run of one byte as
    /// `0xNN xLEN`, long reads by their first bytes and length.
    pub(crate) fn summary(&self) -> String {
        match self.uniform {
            Some(b) => format!("{b:#04x} x{}", self.len),
            None if self.len as usize <= SUMMARY_BYTES && self.whole() => hex(&self.head),
            None => format!(
                "{}... ({} bytes)",
                hex(&self.head[..SUMMARY_BYTES.min(self.head.len())]),
                self.len
            ),
        }
    }
}

impl Output {
    /// The value as printed in full (a read as hex), if it was kept whole.
    pub(crate) fn printed(&self) -> Option<String> {
        match self {
            Output::Text(s) => Some(s.clone()),
            Output::Bytes(b) => b.hex(),
        }
    }

    /// The value as a transcript or a message shows it.
    pub(crate) fn summary(&self) -> String {
        match self {
            Output::Text(s) => s.clone(),
            Output::Bytes(b) => b.summary(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(sink: &mut ByteSink) -> ByteOutput {
        match sink.finish() {
            Output::Bytes(b) => b,
            Output::Text(t) => panic!("{t}"),
        }
    }

    #[test]
    fn a_long_read_is_summarised_not_kept() {
        let mut sink = ByteSink::summary();
        for _ in 0..1024 {
            sink.push(&[0x11; 4096]);
        }
        let out = bytes(&mut sink);
        assert_eq!(
            (out.len, out.uniform, out.head.len()),
            (4 << 20, Some(0x11), 32)
        );
        assert_eq!(out.summary(), "0x11 x4194304");
        assert_eq!(out.hex(), None);
    }

    #[test]
    fn uniformity_and_expected_text_follow_every_chunk() {
        let mut sink = ByteSink::expecting(b"aab".to_vec());
        sink.push(b"aa");
        sink.push(b"b");
        let out = bytes(&mut sink);
        assert_eq!(out.uniform, None);
        assert_eq!(out.equals_expected, Some(true));
        assert_eq!(out.hex().as_deref(), Some("616162"));
        let mut sink = ByteSink::expecting(b"aa".to_vec());
        sink.push(b"aab");
        assert_eq!(bytes(&mut sink).equals_expected, Some(false));
        let mut sink = ByteSink::expecting(b"aab".to_vec());
        sink.push(b"aa");
        assert_eq!(bytes(&mut sink).equals_expected, Some(false));
        let mut sink = ByteSink::summary();
        sink.push(&[]);
        let out = bytes(&mut sink);
        assert_eq!((out.len, out.uniform), (0, None));
    }
}
