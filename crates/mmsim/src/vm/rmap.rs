//! The anonymous reverse map, folio counts and PG_anon_exclusive (mm/rmap.c,
//! include/linux/rmap.h, include/linux/mm.h; reference kernel-gup-cow.md
//! §1.1, §2).
//!
//! # Folios
//!
//! A user page belongs to a folio: a small folio is one page; a large one
//! (a THP, order 9) is a compound page whose head carries the refcount and
//! whose first tail pages carry the folio-wide counts, as in the kernel:
//!
//! | count | where | meaning |
//! |---|---|---|
//! | `_refcount` | head | references: one per mapping (PTE or PMD), plus GUP, pipes, the swap cache, the migration core |
//! | `_mapcount` | each page | PTEs mapping that page |
//! | `_entire_mapcount` | the first tail | PMDs mapping the whole folio |
//! | `_large_mapcount` | the second tail | all mappings of the folio: PTEs plus PMDs |
//! | `_pincount` | the third tail | FOLL_PIN pins (a pin on a large folio adds 1 ref and 1 pincount; on a small one 1024 refs) |
//!
//! Mappings are added and removed with the page-table lock held, and each
//! owns one reference: the refcount goes up before the mapcount when mapping
//! and down after it when unmapping, so `refcount - mapcount` is the number
//! of references held by anybody else (GUP, the migration core, a pipe).
//!
//! # Anonymous pages
//!
//! The head's `private` holds `PAGE_MAPPING_ANON`, the anon_vma and the
//! virtual page index of the head; a subpage's index is the head's plus its
//! offset. PG_anon_exclusive is per page for PTE-mapped pages and on the
//! head only for a PMD-mapped THP or a hugetlb folio.

use super::Mm;
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Folio, Page, PageType, Pfn, PG_ANON_EXCLUSIVE, PG_HEAD, PG_LRU, PG_SWAPBACKED};

const ANON_BIT: u64 = 1 << 63;
/// With ANON_BIT: a KSM page (`PAGE_MAPPING_KSM`), shared by content with no
/// single anon_vma or address.
const KSM_BIT: u64 = 1 << 62;
const ANON_VMA_SHIFT: u32 = 36;
const INDEX_MASK: u64 = (1 << ANON_VMA_SHIFT) - 1;

/// `GUP_PIN_COUNTING_BIAS`: one FOLL_PIN on a small folio adds this much to
/// its refcount.
pub const GUP_PIN_COUNTING_BIAS: i32 = 1 << 10;

/// Tail page (offset from the head) holding `_entire_mapcount`.
const ENTIRE_MAPCOUNT: u64 = 1;
/// Tail page holding `_large_mapcount` (changed through `mm_id`).
pub(crate) const LARGE_MAPCOUNT: u64 = 2;
/// Tail page holding `_pincount`.
const PINCOUNT: u64 = 3;

/// `folio_test_anon()` on a folio's head (hugetlb folios are typed but may
/// be anonymous).
pub(crate) fn head_anon(head: &Page) -> bool {
    (!head.has_type() || head.is_type(PageType::Hugetlb)) && head.private() & ANON_BIT != 0
}

/// `folio_test_ksm()` on a folio's head.
pub(crate) fn head_ksm(head: &Page) -> bool {
    head_anon(head) && head.private() & KSM_BIT != 0
}

/// Turns an anonymous page into a KSM page (`folio_set_stable_node`).
pub fn set_page_ksm(page: &Page) {
    page.set_private(ANON_BIT | KSM_BIT);
}

impl Machine {
    // ----- folio geometry and references ------------------------------------
    // (page_folio() and folio_put() are the machine's: machine/folio.rs)

    /// `folio_order()` of the folio `pfn` belongs to.
    pub fn folio_order(&self, pfn: Pfn) -> u32 {
        let head = self.folio_head(pfn);
        if self.page(head).test(PG_HEAD) {
            self.page(head + 1).private() as u32
        } else {
            0
        }
    }

    /// `folio_test_large()`.
    pub fn folio_test_large(&self, pfn: Pfn) -> bool {
        self.page(self.folio_head(pfn)).test(PG_HEAD)
    }

    /// `folio_test_hugetlb()`.
    pub fn folio_test_hugetlb(&self, pfn: Pfn) -> bool {
        self.page(self.folio_head(pfn)).is_type(PageType::Hugetlb)
    }

    /// `folio_ref_count()`.
    pub fn folio_ref_count(&self, pfn: Pfn) -> i32 {
        self.page(self.folio_head(pfn)).ref_count()
    }

    /// `folio_get()`: the caller holds a reference already, or a mapping
    /// under its page-table lock. A free or frozen folio is a bug
    /// (`VM_BUG_ON_FOLIO(folio_ref_zero_or_close_to_overflow())`): whoever
    /// took it raced with a split, a migration or the last put.
    pub fn folio_get(&self, pfn: Pfn) {
        self.folio_ref_inc(self.folio_head(pfn));
    }

    /// One more reference on the folio at `head`, checked as
    /// [`Machine::folio_get`] describes.
    fn folio_ref_inc(&self, head: Pfn) {
        if self.page(head).ref_inc() <= 0 {
            self.report_bug(format!("BUG: folio_get of pfn {head} without a reference"));
        }
    }

    /// `folio_ref_add()`: `nr` more references in one step, checked as
    /// [`Machine::folio_get`] describes.
    pub(crate) fn folio_ref_add(&self, folio: Folio<'_>, nr: i32) {
        if folio.head().ref_add(nr) <= 0 {
            let head = folio.pfn();
            self.report_bug(format!("BUG: folio_get of pfn {head} without a reference"));
        }
    }

    fn large_word(&self, head: Pfn, which: u64) -> &Page {
        self.page(head + which)
    }

    /// `folio_entire_mapcount()`: PMDs mapping the folio.
    pub fn folio_entire_mapcount(&self, pfn: Pfn) -> i32 {
        let head = self.folio_head(pfn);
        if !self.page(head).test(PG_HEAD) {
            return 0;
        }
        self.large_word(head, ENTIRE_MAPCOUNT).tail_word()
    }

    /// `folio_mapcount()`: all mappings of the folio.
    pub fn folio_mapcount(&self, pfn: Pfn) -> i32 {
        let head = self.folio_head(pfn);
        if self.page(head).test(PG_HEAD) {
            self.large_word(head, LARGE_MAPCOUNT).tail_word()
        } else {
            self.page(head).mapcount()
        }
    }

    /// `folio_pincount` of a large folio (0 for a small one).
    pub fn folio_pincount(&self, pfn: Pfn) -> i32 {
        let head = self.folio_head(pfn);
        if !self.page(head).test(PG_HEAD) {
            return 0;
        }
        self.large_word(head, PINCOUNT).tail_word()
    }

    /// `page_mapcount()` as /proc/kpagecount reports it: the page's PTE
    /// mappings plus the PMDs mapping its whole folio.
    pub fn page_mapcount(&self, pfn: Pfn) -> i32 {
        let own = if self.folio_test_hugetlb(pfn) {
            0
        } else {
            self.page(pfn).mapcount()
        };
        own + self.folio_entire_mapcount(pfn)
    }

    /// `folio_maybe_dma_pinned()`: exact `_pincount` for a large folio; for a
    /// small one, refcount at least the pin bias (false positives allowed).
    pub fn folio_maybe_dma_pinned(&self, pfn: Pfn) -> bool {
        if self.folio_test_large(pfn) {
            self.folio_pincount(pfn) > 0
        } else {
            self.page(pfn).ref_count() >= GUP_PIN_COUNTING_BIAS
        }
    }

    /// A FOLL_PIN of one page reference (`try_grab_folio(FOLL_PIN)`).
    pub(crate) fn folio_pin(&self, pfn: Pfn) {
        let head = self.folio_head(pfn);
        if self.page(head).test(PG_HEAD) {
            self.folio_ref_inc(head);
            self.large_word(head, PINCOUNT).tail_word_add(1);
        } else {
            self.page(head).ref_add(GUP_PIN_COUNTING_BIAS);
        }
    }

    /// `unpin_user_page()`: undoes [`Machine::folio_pin`].
    pub(crate) fn folio_unpin(&self, pfn: Pfn) {
        let head = self.folio_head(pfn);
        if self.page(head).test(PG_HEAD) {
            self.large_word(head, PINCOUNT).tail_word_add(-1);
            self.folio_put(head);
        } else {
            self.folio_put_refs(head, GUP_PIN_COUNTING_BIAS);
        }
    }

    // ----- anonymous identity ---------------------------------------------

    /// `folio_test_anon()`.
    pub fn folio_test_anon(&self, pfn: Pfn) -> bool {
        head_anon(self.page(self.folio_head(pfn)))
    }

    /// `folio_test_ksm()`.
    pub fn folio_test_ksm(&self, pfn: Pfn) -> bool {
        head_ksm(self.page(self.folio_head(pfn)))
    }

    /// The anon_vma and page index (`folio->index` plus the subpage) of an
    /// anonymous page (None for a KSM page, which has neither). The index is
    /// in the `vm_pgoff` space of the VMAs that may map it
    /// ([`super::Vma::address_of`]): the page's address when it was
    /// created, wherever mremap has moved it since.
    pub fn anon_location(&self, pfn: Pfn) -> Option<(u32, u64)> {
        let head = self.folio_head(pfn);
        let p = self.page(head).private();
        (self.folio_test_anon(pfn) && !self.folio_test_ksm(pfn)).then_some((
            ((p & !ANON_BIT) >> ANON_VMA_SHIFT) as u32,
            (p & INDEX_MASK) + (pfn.0 - head.0),
        ))
    }

    /// `PageAnonExclusive()`: per page, except that hugetlb keeps it on the
    /// head.
    pub fn page_anon_exclusive(&self, pfn: Pfn) -> bool {
        let at = if self.folio_test_hugetlb(pfn) {
            self.folio_head(pfn)
        } else {
            pfn
        };
        self.folio_test_anon(pfn) && self.page(at).test(PG_ANON_EXCLUSIVE)
    }

    // ----- adding and removing mappings -------------------------------------

    /// Makes a freshly allocated folio anonymous at page index `index` (of
    /// its first page, [`super::Vma::linear_page_index`]): the anon mapping,
    /// PG_lru and PG_swapbacked.
    pub(crate) fn folio_set_anon(&self, head: Pfn, anon_vma: u32, index: u64) {
        let p = self.page(head);
        p.set_private(ANON_BIT | (u64::from(anon_vma) << ANON_VMA_SHIFT) | (index & INDEX_MASK));
        if !p.is_type(PageType::Hugetlb) {
            p.set(PG_LRU);
            p.set(PG_SWAPBACKED);
        }
    }

    /// `folio_add_new_anon_rmap()` for a freshly allocated small folio mapped
    /// by one PTE at page index `index`: mapcount 1, PG_anon_exclusive when
    /// `exclusive` (RMAP_EXCLUSIVE).
    pub fn folio_add_new_anon_rmap(&self, pfn: Pfn, anon_vma: u32, index: u64, exclusive: bool) {
        self.folio_set_anon(pfn, anon_vma, index);
        let p = self.page(pfn);
        p.set_mapcount(1);
        if exclusive {
            p.set(PG_ANON_EXCLUSIVE);
        } else {
            p.clear(PG_ANON_EXCLUSIVE);
        }
    }

    /// `folio_add_new_anon_rmap()` for a new PMD-mappable folio (a THP or a
    /// hugetlb folio) mapped whole at page index `index` in `mm`: entire and
    /// large mapcount 1, PG_anon_exclusive on the head.
    pub fn folio_add_new_anon_rmap_pmd(&self, head: Pfn, mm: &Mm, anon_vma: u32, index: u64) {
        self.folio_set_anon(head, anon_vma, index);
        self.large_word(head, ENTIRE_MAPCOUNT).set_tail_word(1);
        self.folio_set_large_mapcount(head, 1, mm);
        self.page(head).set(PG_ANON_EXCLUSIVE);
    }

    /// `folio_add_anon_rmap_pte()`: one more PTE in `mm` maps `pfn` of an
    /// existing anonymous folio; RMAP_EXCLUSIVE sets PG_anon_exclusive on
    /// it.
    pub fn folio_add_anon_rmap_pte(&self, pfn: Pfn, mm: &Mm, exclusive: bool) {
        self.page(pfn).mapcount_add(1);
        let head = self.folio_head(pfn);
        if self.page(head).test(PG_HEAD) {
            self.folio_add_large_mapcount(head, 1, mm);
        }
        if exclusive {
            self.page(pfn).set(PG_ANON_EXCLUSIVE);
        }
    }

    /// `folio_add_anon_rmap_pmd()` / `hugetlb_add_anon_rmap()`: one more PMD
    /// in `mm` maps the whole folio.
    pub fn folio_add_anon_rmap_pmd(&self, head: Pfn, mm: &Mm, exclusive: bool) {
        self.large_word(head, ENTIRE_MAPCOUNT).tail_word_add(1);
        self.folio_add_large_mapcount(head, 1, mm);
        if exclusive {
            self.page(head).set(PG_ANON_EXCLUSIVE);
        }
    }

    /// `folio_try_dup_anon_rmap_pte()` (fork into `dst`, both PTLs and the
    /// parent's `write_protect_seq` held): -EBUSY if the folio may be
    /// pinned and the page is exclusive, so fork must copy it; else clears
    /// PG_anon_exclusive and adds a mapping. The caller took the reference.
    pub fn folio_try_dup_anon_rmap_pte(
        &self,
        pfn: Pfn,
        dst: &Mm,
        src_mm_has_pinned: bool,
    ) -> KResult<()> {
        self.folio_try_dup_anon_rmap_ptes(self.folio(pfn), pfn, 1, dst, src_mm_has_pinned)
    }

    /// `folio_try_dup_anon_rmap_ptes()`: the same for the `nr` consecutive
    /// pages of `folio` from `pfn`, mapped by consecutive PTEs: -EBUSY if
    /// the folio may be pinned and any of them is exclusive; else each
    /// loses PG_anon_exclusive (tested first: most are shared already) and
    /// gains a mapping, and a large folio's mapcount grows by `nr` at once.
    // Inlined into fork's PTE loop (see `copy_present_ptes()` in fork.rs).
    #[inline(always)]
    pub fn folio_try_dup_anon_rmap_ptes(
        &self,
        folio: Folio<'_>,
        pfn: Pfn,
        nr: u64,
        dst: &Mm,
        src_mm_has_pinned: bool,
    ) -> KResult<()> {
        // folio_needs_cow_for_dma(): only an mm that ever pinned can have a
        // pinned page.
        let maybe_pinned = src_mm_has_pinned && self.folio_maybe_dma_pinned(folio.pfn());
        // The head's slot is in the view already (a small folio's only page).
        let pages = (0..nr).map(|i| match pfn + i {
            p if p == folio.pfn() => folio.head(),
            p => self.page(p),
        });
        if maybe_pinned && pages.clone().any(|p| p.test(PG_ANON_EXCLUSIVE)) {
            return Err(Errno::EBUSY);
        }
        for p in pages {
            if p.test(PG_ANON_EXCLUSIVE) {
                p.clear(PG_ANON_EXCLUSIVE);
            }
            p.mapcount_add(1);
        }
        if folio.is_large() {
            self.folio_add_large_mapcount(folio.pfn(), nr as i32, dst);
        }
        Ok(())
    }

    /// `folio_try_dup_anon_rmap_pmd()` / `hugetlb_try_dup_anon_rmap()`: the
    /// same for a whole-folio mapping, with PG_anon_exclusive on the head.
    pub fn folio_try_dup_anon_rmap_pmd(
        &self,
        head: Pfn,
        dst: &Mm,
        src_mm_has_pinned: bool,
    ) -> KResult<()> {
        let maybe_pinned = src_mm_has_pinned && self.folio_maybe_dma_pinned(head);
        let p = self.page(head);
        if maybe_pinned && p.test(PG_ANON_EXCLUSIVE) {
            return Err(Errno::EBUSY);
        }
        p.clear(PG_ANON_EXCLUSIVE);
        self.folio_add_anon_rmap_pmd(head, dst, false);
        Ok(())
    }

    /// `folio_remove_rmap_pte()`: one PTE mapping in `mm` fewer.
    /// PG_anon_exclusive is left alone (it survives until the page is freed
    /// or reused).
    pub fn folio_remove_rmap_pte(&self, pfn: Pfn, mm: &Mm) {
        let left = self.page(pfn).mapcount_add(-1);
        if left < 0 {
            self.report_bug(format!("BUG: mapcount underflow on pfn {pfn}"));
        }
        let head = self.folio_head(pfn);
        if self.page(head).test(PG_HEAD) && self.folio_sub_large_mapcount(head, 1, mm) < 0 {
            self.report_bug(format!("BUG: large mapcount underflow on folio {head}"));
        }
    }

    /// `folio_remove_rmap_pmd()` / `hugetlb_remove_rmap()`: one whole-folio
    /// mapping in `mm` fewer.
    pub fn folio_remove_rmap_pmd(&self, head: Pfn, mm: &Mm) {
        let e = self.large_word(head, ENTIRE_MAPCOUNT).tail_word_add(-1);
        let l = self.folio_sub_large_mapcount(head, 1, mm);
        if e < 0 || l < 0 {
            self.report_bug(format!("BUG: entire mapcount underflow on folio {head}"));
        }
    }
}
