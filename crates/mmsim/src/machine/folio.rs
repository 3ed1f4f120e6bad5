//! Folio lookup and the last reference: `page_folio()`, `folio_put()`,
//! `put_page()` as methods on [`Machine`].
//!
//! The geometry and the reference counts are the page layer's
//! ([`crate::page::Folio`], found through [`crate::sparse::SparseMem::page_folio`]).
//! What happens when the last reference goes is not: a ZONE_DEVICE folio
//! goes back to its pgmap (`memremap`), a hugetlb folio to its pool
//! (`vm::hugetlb`), anything else to the buddy allocator (`zone`). The machine is the one place that knows both, so the choice —
//! the kernel's `__folio_put()` — is made here, and every layer that drops a
//! folio reference (hotplug's migration, the VM, GUP) calls these methods
//! instead of reaching into the layer that owns the pool.

use super::Machine;
use crate::page::{Folio, Pfn, PG_HEAD};

impl Machine {
    /// `page_folio()` of a PFN known to have a memmap slot (a BUG otherwise).
    pub fn folio(&self, pfn: Pfn) -> Folio<'_> {
        self.mem()
            .page_folio(pfn)
            .unwrap_or_else(|| panic!("BUG: pfn {pfn} has no memmap"))
    }

    /// `page_folio()`: the head of the folio `pfn` belongs to.
    pub fn folio_head(&self, pfn: Pfn) -> Pfn {
        self.page(pfn).compound_head().unwrap_or(pfn)
    }

    /// `folio_put()`: the last reference frees the folio (a hugetlb folio
    /// goes back to its pool).
    pub fn folio_put(&self, pfn: Pfn) {
        self.folio_put_refs(pfn, 1);
    }

    /// `folio_put_refs()`.
    pub fn folio_put_refs(&self, pfn: Pfn, n: i32) {
        let folio = self.folio(pfn);
        if folio.ref_sub_and_test(n) {
            self.free_folio(folio.pfn());
        }
    }

    /// `__folio_put()` of a folio whose refcount reached zero: back to the
    /// hugetlb pool or to the buddy allocator.
    pub(crate) fn free_folio(&self, head: Pfn) {
        let folio = self.folio(head);
        if folio.head().zonenum() == crate::page::ZoneType::Device {
            self.free_zone_device_folio(head);
            return;
        }
        if folio.is_hugetlb() {
            self.free_huge_folio(head);
            return;
        }
        self.free_pages_prepared(head, folio.order());
    }

    /// `put_page()` of a page the caller holds: frees it when this was the
    /// last reference. `order` is the order it was allocated with.
    /// A compound page is freed whole, by its own order, whatever the
    /// caller says (a reference taken on the head of a THP by a PFN walker
    /// may turn out to be its last).
    pub fn put_pages(&self, pfn: Pfn, order: u32) {
        let page = self.page(pfn);
        if page.ref_dec_and_test() {
            if page.test(PG_HEAD) || page.zonenum() == crate::page::ZoneType::Device {
                self.free_folio(pfn);
            } else {
                self.free_pages_prepared(pfn, order);
            }
        }
    }
}
