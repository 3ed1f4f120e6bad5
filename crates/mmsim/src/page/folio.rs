//! Folio views of compound pages.
//!
//! A compound page of order n is 2^n contiguous frames: the head carries
//! PG_head, every tail points at the head through `compound_head`, and the
//! order lives in the first tail's `private` (the kernel keeps it in
//! `folio->_flags_1`). A [`Folio`] is a borrowed view of such a group, or of a
//! single small page.

use super::{Page, Pfn, PG_HEAD};

/// A borrowed view of a folio: its head page, the head's PFN and its order.
#[derive(Clone, Copy)]
pub struct Folio<'a> {
    head: &'a Page,
    pfn: Pfn,
    order: u32,
}

impl<'a> Folio<'a> {
    /// A view of the folio whose head is `head` at `pfn`; `first_tail` is the
    /// next slot, read only for large folios.
    pub fn new(head: &'a Page, pfn: Pfn, first_tail: Option<&'a Page>) -> Folio<'a> {
        let order = match first_tail {
            Some(t) if head.test(PG_HEAD) => t.private() as u32,
            _ => 0,
        };
        Folio { head, pfn, order }
    }

    /// `&folio->page`.
    pub fn head(&self) -> &'a Page {
        self.head
    }

    /// `folio_pfn()`.
    pub fn pfn(&self) -> Pfn {
        self.pfn
    }

    /// `folio_order()`.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// `folio_nr_pages()`.
    pub fn nr_pages(&self) -> u64 {
        1 << self.order
    }

    /// `folio_test_large()`.
    pub fn is_large(&self) -> bool {
        self.order > 0
    }

    /// `folio_ref_count()`.
    pub fn ref_count(&self) -> i32 {
        self.head.ref_count()
    }

    /// `folio_try_get()`.
    pub fn try_get(&self) -> bool {
        self.head.try_get()
    }
}
