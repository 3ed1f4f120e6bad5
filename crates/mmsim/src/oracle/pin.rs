//! GUP references as user space sees them: what each page of a pin must show.
//!
//! A pin holds memory, not a mapping. Each of its pages names the [`Frame`]
//! it holds and the rule its reads are checked by:
//! * [`PageCheck::Coherent`] — the frame's current bytes, exactly. FOLL_PIN
//!   promises this ("pin-coherent"): the pin and the owner's mapping are the
//!   same memory until the owner lets go of it (munmap, MADV_DONTNEED, exit),
//!   after which the pin keeps the bytes it had.
//! * [`PageCheck::NoForeignWrites`] — each byte as it was when the reference
//!   was taken, or a value written to that frame since. FOLL_GET promises only
//!   this: the owner's later writes may or may not show (a COW may have moved
//!   the owner to a new page), but bytes only another process wrote never do
//!   (CVE-2020-29374). A read-only short-term FOLL_PIN of memory the owner
//!   never wrote is held to the same rule: Linux pins the shared zero page
//!   there, and "R/O short-term pinning does not have the semantics to
//!   observe successive changes" (`gup_must_unshare()`).

use super::frame::Frame;
use super::report::OracleViolation;
use super::store::{Page, PAGE_SIZE};

/// FOLL_PIN or FOLL_GET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinKind {
    /// FOLL_PIN (`pin_user_pages`): DMA-coherent with the owner's mapping.
    Pin,
    /// FOLL_GET (`get_user_pages`, what vmsplice's pipe holds).
    Get,
}

/// How a reference is taken: the FOLL_* flags that change what user space
/// may observe through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinFlags {
    /// FOLL_PIN or FOLL_GET.
    pub kind: PinKind,
    /// FOLL_WRITE: COW is broken first, and a FOLL_PIN may DMA-write.
    pub write: bool,
    /// FOLL_LONGTERM: a read-only FOLL_PIN also breaks COW first.
    pub longterm: bool,
}

impl PinFlags {
    /// Whether GUP makes the pinned pages the owner's own memory before
    /// taking them: a FOLL_WRITE GUP write-faults, and a read-only
    /// FOLL_LONGTERM pin of page cache or the zero page in a private mapping
    /// unshares (`gup_must_unshare()`).
    pub(super) fn breaks_cow(self) -> bool {
        self.write || (self.kind == PinKind::Pin && self.longterm)
    }

    /// Whether a DMA write through the reference is allowed.
    pub(super) fn may_dma_write(self) -> bool {
        self.kind == PinKind::Pin && self.write
    }

    /// The rule by which a page checked for foreign writes is judged.
    pub(super) fn no_foreign_writes_rule(self) -> &'static str {
        match self.kind {
            PinKind::Pin => OracleViolation::PIN_NO_FOREIGN_WRITES,
            PinKind::Get => OracleViolation::GET_NO_FOREIGN_WRITES,
        }
    }

    /// "a read-only FOLL_PIN", for reports.
    pub(super) fn describe(self) -> &'static str {
        match (self.kind, self.write) {
            (PinKind::Pin, true) => "a write FOLL_PIN",
            (PinKind::Pin, false) => "a read-only FOLL_PIN",
            (PinKind::Get, _) => "a FOLL_GET reference",
        }
    }
}

/// Bytes written to a frame after a reference to it was taken.
#[derive(Clone, Debug)]
pub(super) struct LaterWrite {
    /// First byte, from the page's start.
    pub at: usize,
    pub bytes: Box<[u8]>,
}

/// The rule one page of a pin is read by.
#[derive(Clone, Debug)]
pub(super) enum PageCheck {
    /// The frame's current bytes.
    Coherent,
    /// The bytes at `taken`, or any written to the frame since.
    NoForeignWrites {
        taken: Box<Page>,
        later: Vec<LaterWrite>,
    },
}

impl PageCheck {
    /// Records a write of `bytes` at `at` in the page's frame.
    pub fn note_write(&mut self, at: usize, bytes: &[u8]) {
        if let PageCheck::NoForeignWrites { later, .. } = self {
            if !later.iter().any(|w| w.at == at && *w.bytes == *bytes) {
                later.push(LaterWrite {
                    at,
                    bytes: bytes.into(),
                });
            }
        }
    }
}

/// One page of a pin.
#[derive(Clone, Debug)]
pub(super) struct PinPage {
    pub frame: Frame,
    pub check: PageCheck,
}

/// A live GUP reference.
#[derive(Clone, Debug)]
pub(super) struct Pin {
    /// The process that took it.
    pub owner: String,
    /// The mapping it was taken on, for reports.
    pub map: String,
    /// The pinned bytes `[off, off + len)` of the mapping.
    pub off: u64,
    pub len: u64,
    pub flags: PinFlags,
    /// One per page holding pinned bytes: `pages[i]` was the mapping's page
    /// `off / PAGE_SIZE + i`.
    pub pages: Vec<PinPage>,
    /// Whether a frame of it may have another page index than its place in
    /// `pages` says: memory mremap moved to another mapping, or a file
    /// mapped from an offset. [`Pin::page_holding`] then searches.
    pub scattered: bool,
}

impl Pin {
    /// The first page's index in the mapping.
    pub fn first_page(&self) -> u64 {
        self.off / PAGE_SIZE
    }

    /// `pin p of A`, for reports.
    pub fn who(&self, name: &str) -> String {
        format!("pin {name} of {}", self.owner)
    }

    /// The page of this pin that holds `frame`, if any. Unless the pin is
    /// scattered, a frame that still has a page index can only sit at that
    /// index: frames change only by becoming orphans.
    pub fn page_holding(&mut self, frame: Frame) -> Option<&mut PinPage> {
        let idx = match frame.page() {
            Some(page) if !self.scattered => {
                usize::try_from(page.checked_sub(self.first_page())?).ok()?
            }
            _ => self.pages.iter().position(|p| p.frame == frame)?,
        };
        self.pages.get_mut(idx).filter(|p| p.frame == frame)
    }
}

impl PinPage {
    /// Whether `byte` may be read at `at` (from the page's start), given the
    /// frame's current `now` byte.
    pub fn allows(&self, at: usize, byte: u8, now: u8) -> bool {
        match &self.check {
            PageCheck::Coherent => byte == now,
            PageCheck::NoForeignWrites { taken, later } => {
                taken.get(at) == Some(&byte)
                    || later
                        .iter()
                        .any(|w| at.checked_sub(w.at).and_then(|i| w.bytes.get(i)) == Some(&byte))
            }
        }
    }

    /// The byte the oracle reports as expected at `at`.
    pub fn expected(&self, at: usize, now: u8) -> u8 {
        match &self.check {
            PageCheck::Coherent => now,
            PageCheck::NoForeignWrites { taken, .. } => taken.get(at).copied().unwrap_or(0),
        }
    }

    /// The rule a bad read of this page breaks.
    pub fn rule(&self, flags: PinFlags) -> &'static str {
        match self.check {
            PageCheck::Coherent => OracleViolation::PIN_COHERENT,
            PageCheck::NoForeignWrites { .. } => flags.no_foreign_writes_rule(),
        }
    }
}
