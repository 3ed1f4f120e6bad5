//! The anonymous reverse map and PG_anon_exclusive (mm/rmap.c,
//! include/linux/rmap.h; reference kernel-gup-cow.md §2).
//!
//! An anonymous page's `private` holds `PAGE_MAPPING_ANON`, its anon_vma and
//! its virtual page index; its mapcount counts the PTEs mapping it. Mappings
//! are added with the page-table lock held, and each one owns one reference:
//! the refcount is raised before the mapcount when mapping and dropped after it
//! when unmapping, so `refcount - mapcount` is the number of references held
//! by anybody else (GUP, the migration core, a pipe).

use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Page, Pfn, PG_ANON_EXCLUSIVE, PG_LRU, PG_SWAPBACKED};

const ANON_BIT: u64 = 1 << 63;
/// With ANON_BIT: a KSM page (`PAGE_MAPPING_KSM`), shared by content with no
/// single anon_vma or address.
const KSM_BIT: u64 = 1 << 62;
const ANON_VMA_SHIFT: u32 = 36;
const INDEX_MASK: u64 = (1 << ANON_VMA_SHIFT) - 1;

/// `GUP_PIN_COUNTING_BIAS`: one FOLL_PIN on a small folio adds this much to
/// its refcount.
pub const GUP_PIN_COUNTING_BIAS: i32 = 1 << 10;

/// `folio_test_anon()`.
pub fn page_anon(page: &Page) -> bool {
    !page.has_type() && page.private() & ANON_BIT != 0
}

/// `folio_test_ksm()`.
pub fn page_ksm(page: &Page) -> bool {
    page_anon(page) && page.private() & KSM_BIT != 0
}

/// Turns an anonymous page into a KSM page (`folio_set_stable_node`).
pub fn set_page_ksm(page: &Page) {
    page.set_private(ANON_BIT | KSM_BIT);
}

/// The anon_vma and virtual address of an anonymous page (None for a KSM
/// page, which has neither).
pub fn anon_location(page: &Page) -> Option<(u32, u64)> {
    let p = page.private();
    (page_anon(page) && !page_ksm(page)).then_some((
        ((p & !ANON_BIT) >> ANON_VMA_SHIFT) as u32,
        (p & INDEX_MASK) << 12,
    ))
}

/// `PageAnonExclusive()`.
pub fn page_anon_exclusive(page: &Page) -> bool {
    page_anon(page) && page.test(PG_ANON_EXCLUSIVE)
}

/// `folio_maybe_dma_pinned()` for a small folio: refcount at least the pin
/// bias (false positives are allowed, as in the kernel).
pub fn folio_maybe_dma_pinned(page: &Page) -> bool {
    page.ref_count() >= GUP_PIN_COUNTING_BIAS
}

impl Machine {
    /// `folio_add_new_anon_rmap()` for a freshly allocated small folio mapped
    /// at `addr`: the anon mapping, mapcount 1, PG_lru and PG_swapbacked, and
    /// PG_anon_exclusive when `exclusive` (RMAP_EXCLUSIVE).
    pub fn folio_add_new_anon_rmap(&self, pfn: Pfn, anon_vma: u32, addr: u64, exclusive: bool) {
        let p = self.page(pfn);
        p.set_private(
            ANON_BIT | (u64::from(anon_vma) << ANON_VMA_SHIFT) | ((addr >> 12) & INDEX_MASK),
        );
        p.set_mapcount(1);
        p.set(PG_LRU);
        p.set(PG_SWAPBACKED);
        if exclusive {
            p.set(PG_ANON_EXCLUSIVE);
        } else {
            p.clear(PG_ANON_EXCLUSIVE);
        }
    }

    /// `folio_try_dup_anon_rmap_pte()` (fork, both PTLs and the parent's
    /// `write_protect_seq` held): -EBUSY if the page may be pinned and is
    /// exclusive, so fork must copy it; else clears PG_anon_exclusive and
    /// adds a mapping. The caller took the reference.
    pub fn folio_try_dup_anon_rmap_pte(&self, pfn: Pfn, src_mm_has_pinned: bool) -> KResult<()> {
        let p = self.page(pfn);
        // folio_needs_cow_for_dma(): only an mm that ever pinned can have a
        // pinned page.
        let maybe_pinned = src_mm_has_pinned && folio_maybe_dma_pinned(p);
        if maybe_pinned && p.test(PG_ANON_EXCLUSIVE) {
            return Err(Errno::EBUSY);
        }
        p.clear(PG_ANON_EXCLUSIVE);
        p.mapcount_add(1);
        Ok(())
    }

    /// `folio_remove_rmap_pte()`: one mapping fewer. PG_anon_exclusive is
    /// left alone (it survives until the page is freed or reused).
    pub fn folio_remove_rmap_pte(&self, pfn: Pfn) {
        let left = self.page(pfn).mapcount_add(-1);
        if left < 0 {
            self.report_bug(format!("BUG: mapcount underflow on pfn {pfn}"));
        }
    }
}
