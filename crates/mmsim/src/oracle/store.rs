//! Byte contents, stored a 4 KiB page at a time and only where written.
//!
//! The oracle's only notion of a page is this storage unit (and the
//! granularity at which a private file mapping stops following its file):
//! picture a byte array of any size in which every page nobody wrote is a
//! hole (what a hole reads as is up to the owner: zeros, or a file's page), so
//! a 1 GiB mapping costs nothing until touched.

use std::collections::BTreeMap;
use std::ops::Range;

/// Bytes in a storage page.
pub(super) const PAGE: usize = 4096;
/// [`PAGE`] as a byte offset.
pub(super) const PAGE_SIZE: u64 = PAGE as u64;

/// One page of contents.
pub(super) type Page = [u8; PAGE];

/// A zero-filled page on the heap.
pub(super) fn zero_page() -> Box<Page> {
    Box::new([0; PAGE])
}

/// Page index of the first page at or after byte `off`.
pub(super) fn page_up(off: u64) -> u64 {
    off.div_ceil(PAGE_SIZE)
}

/// The pages that hold any of the bytes `[off, off + len)`.
pub(super) fn pages_of(off: u64, len: u64) -> Range<u64> {
    if len == 0 {
        return off / PAGE_SIZE..off / PAGE_SIZE;
    }
    off / PAGE_SIZE..page_up(off + len)
}

/// The part of a byte range that falls in one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Chunk {
    /// The page's index.
    pub page: u64,
    /// The part's first byte, from the page's start.
    pub in_page: usize,
    /// The part's first byte, from the range's start.
    pub at: usize,
    /// The part's length.
    pub len: usize,
}

impl Chunk {
    /// The chunk's bytes within a page.
    pub fn in_page(&self) -> Range<usize> {
        self.in_page..self.in_page + self.len
    }

    /// The chunk's bytes within the buffer of the whole range.
    pub fn in_buf(&self) -> Range<usize> {
        self.at..self.at + self.len
    }
}

/// Splits the bytes `[off, off + len)` at page boundaries. The caller has
/// checked that `off + len` does not overflow.
pub(super) fn chunks(off: u64, len: usize) -> impl Iterator<Item = Chunk> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= len {
            return None;
        }
        let addr = off + at as u64;
        let in_page = (addr % PAGE_SIZE) as usize;
        let n = (PAGE - in_page).min(len - at);
        let c = Chunk {
            page: addr / PAGE_SIZE,
            in_page,
            at,
            len: n,
        };
        at += n;
        Some(c)
    })
}

/// Pages of contents by index; a missing page is a hole.
#[derive(Clone, Debug, Default)]
pub(super) struct SparsePages {
    pages: BTreeMap<u64, Box<Page>>,
}

impl SparsePages {
    /// The page, unless it is a hole.
    pub fn get(&self, page: u64) -> Option<&Page> {
        self.pages.get(&page).map(|p| &**p)
    }

    /// Whether the page has been filled in.
    pub fn contains(&self, page: u64) -> bool {
        self.pages.contains_key(&page)
    }

    /// The page, filled in with `fill()` if it was a hole.
    pub fn get_or_fill(&mut self, page: u64, fill: impl FnOnce() -> Box<Page>) -> &mut Page {
        self.pages.entry(page).or_insert_with(fill)
    }

    /// Takes the filled pages in `range` out, by index.
    pub fn take(&mut self, range: Range<u64>) -> Vec<(u64, Box<Page>)> {
        let keys: Vec<u64> = self.pages.range(range).map(|(&k, _)| k).collect();
        keys.into_iter()
            .filter_map(|k| Some((k, self.pages.remove(&k)?)))
            .collect()
    }

    /// Puts a page in, replacing what was there.
    pub fn put(&mut self, page: u64, bytes: Box<Page>) {
        self.pages.insert(page, bytes);
    }

    /// Makes the pages in `range` holes again.
    pub fn punch(&mut self, range: Range<u64>) {
        let doomed: Vec<u64> = self.pages.range(range).map(|(&k, _)| k).collect();
        for k in doomed {
            self.pages.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_at_page_boundaries() {
        let c: Vec<Chunk> = chunks(PAGE_SIZE - 2, PAGE + 4).collect();
        assert_eq!(
            c,
            [
                Chunk {
                    page: 0,
                    in_page: PAGE - 2,
                    at: 0,
                    len: 2
                },
                Chunk {
                    page: 1,
                    in_page: 0,
                    at: 2,
                    len: PAGE
                },
                Chunk {
                    page: 2,
                    in_page: 0,
                    at: PAGE + 2,
                    len: 2
                },
            ]
        );
        assert_eq!(chunks(5, 0).count(), 0);
    }

    #[test]
    fn only_filled_pages_exist() {
        let mut s = SparsePages::default();
        s.get_or_fill(3, zero_page)[10] = 7;
        s.get_or_fill(3, || panic!("page 3 exists"));
        assert_eq!(s.get(3).map(|p| p[10]), Some(7));
        assert!(s.contains(3) && !s.contains(2) && s.get(2).is_none());
        s.punch(0..4);
        assert!(!s.contains(3));
    }

    #[test]
    fn pages_of_a_range() {
        assert_eq!(pages_of(0, PAGE_SIZE), 0..1);
        assert_eq!(pages_of(PAGE_SIZE - 1, 2), 0..2);
        assert_eq!(pages_of(PAGE_SIZE, 0), 1..1);
    }
}
