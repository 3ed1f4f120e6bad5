//! Folio views of compound pages.
//!
//! A compound page of order n is 2^n contiguous frames: the head carries
//! PG_head, every tail points at the head through `compound_head`, and the
//! order lives in the first tail's `private` (the kernel keeps it in
//! `folio->_flags_1`). A [`Folio`] is a borrowed view of such a group, or of a
//! single small page: the head's slot, its PFN and the order read when the
//! view was made.
//!
//! The view does not find its own slots — that takes the memmap, which the
//! sparse layer owns (`SparseMem::page_folio()` is `page_folio()`). A view is
//! a snapshot: the folio may be split or freed right after it was made unless
//! the caller holds a reference, exactly as with the kernel's `page_folio()`.
//! Reference counts live on the head, so every reference operation here goes
//! to the head whichever page the view was made from.

use super::{Page, PageType, Pfn, PG_HEAD};

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
        self.head.test(PG_HEAD)
    }

    /// `folio_test_hugetlb()`: the folio belongs to the hugetlb pool, and its
    /// last reference returns it there rather than to the buddy allocator.
    pub fn is_hugetlb(&self) -> bool {
        self.head.is_type(PageType::Hugetlb)
    }

    /// `folio_ref_count()`.
    pub fn ref_count(&self) -> i32 {
        self.head.ref_count()
    }

    /// `folio_try_get()`: a speculative reference, refused on a free or
    /// frozen folio. The caller rechecks that the page still belongs to this
    /// folio (a split may have raced with it).
    pub fn try_get(&self) -> bool {
        self.head.try_get()
    }

    /// `folio_ref_sub_and_test()`: drops `n` references; true if they were
    /// the last and the caller must free the folio.
    pub fn ref_sub_and_test(&self, n: i32) -> bool {
        self.head.ref_sub_and_test(n)
    }
}
