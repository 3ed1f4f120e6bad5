//! Frames: the oracle's name for "the 4 KiB of memory a pin holds".
//!
//! A frame has no PFN and no refcount. It names where the bytes a pin sees
//! live in the oracle: a page of one mapping's private memory, a page of a
//! file, or an orphan — a page that no mapping shows any more (the owner
//! unmapped it, discarded it with MADV_DONTNEED or exited) and that only pins
//! keep. Two pins hold the same memory exactly when their frames are equal,
//! and a write to a frame is what a pin's no-foreign-writes rule may accept.

/// A mapping, for its whole life; names can be reused, ids are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct MapId(pub u64);

/// A file (files are never deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileId(pub usize);

/// A page that only pins hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct OrphanId(pub u64);

/// The memory behind one page of a pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Frame {
    /// Page `page` of a mapping's private memory: private anonymous memory,
    /// or a page a private file mapping has made its own.
    Private { map: MapId, page: u64 },
    /// Page `page` of a file.
    File { file: FileId, page: u64 },
    /// A page no mapping shows any more.
    Orphan(OrphanId),
}

impl Frame {
    /// The mapping or file page index, for frames that still have one.
    pub fn page(self) -> Option<u64> {
        match self {
            Frame::Private { page, .. } | Frame::File { page, .. } => Some(page),
            Frame::Orphan(_) => None,
        }
    }
}
