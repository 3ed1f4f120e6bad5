//! Anon-exclusive invariants (reference kernel-gup-cow.md §10), checked by
//! walking every live address space's page tables.
//!
//! * A writable PTE mapping an anonymous page implies PG_anon_exclusive.
//! * A pinned anonymous page (refcount ≥ the pin bias) that is mapped keeps
//!   PG_anon_exclusive (pins are only taken on exclusive pages; under the
//!   historical `cow_reuse` variants there is no such rule).
//! * A page in the swap cache that a swap PTE refers to is never
//!   PG_anon_exclusive (exclusivity lives in the swap PTE then).
//! * A KSM page is never PG_anon_exclusive.
//! * A PG_anon_exclusive page is mapped once: by one PTE, or by its folio's
//!   one PMD.
//! * Every anonymous page's mapcount equals the number of PTEs that map it,
//!   and its refcount is at least that (one reference per mapping, plus
//!   whatever GUP and others hold).
//! * A large folio's mm slots (CONFIG_MM_ID, `vm::mm_id`) count no more
//!   mappings than their mm has, and a folio not "maybe mapped shared" is
//!   mapped by one mm at most (a write fault reuses it on that word).

use super::Report;
use crate::machine::Machine;
use crate::page::{Pfn, PG_ANON_EXCLUSIVE};
use crate::variant::CowReuse;
use crate::vm::walk::Mapping;
use std::collections::BTreeMap;

impl Machine {
    /// CONFIG_MM_ID: the slots against the mappings found per mm.
    fn check_folio_mm_ids(&self, head: Pfn, mms: &BTreeMap<u32, i32>, r: &mut Report) {
        let Some(ids) = self.folio_mm_ids(head) else {
            return;
        };
        // A slot may count fewer mappings than its mm has (some were
        // added while the mm had no slot, and "we might underflow a per-MM
        // mapcount"), never more: "one slot holds every mapping" must
        // really mean it.
        for (id, n) in ids.slots.into_iter().flatten() {
            let found = mms.get(&id).copied().unwrap_or(0);
            if n > found || n < 1 {
                r.fail(
                    "folio-mm-ids",
                    format!("folio {head}: slot of mm {id} counts {n} mappings, it has {found}"),
                );
            }
        }
        if !ids.maybe_mapped_shared && mms.len() > 1 {
            r.fail(
                "folio-mm-ids",
                format!(
                    "folio {head} is mapped by mms {:?} but not maybe mapped shared",
                    mms.keys().collect::<Vec<_>>()
                ),
            );
        }
    }

    pub(super) fn check_anon(&self, r: &mut Report) {
        for v in self.swap_cache_exclusive_violations() {
            r.fail("swap-exclusive", v);
        }
        // Per page: PTEs mapping it; per folio head: PMDs mapping it.
        let mut ptes: BTreeMap<u64, i32> = BTreeMap::new();
        let mut pmds: BTreeMap<u64, i32> = BTreeMap::new();
        // Per large folio head: mappings per mm id.
        let mut per_mm: BTreeMap<u64, BTreeMap<u32, i32>> = BTreeMap::new();
        self.for_each_mapping(|mm, addr, m| {
            let (pfn, entry, whole) = match m {
                Mapping::Pte(_, _, pte) => (pte.pfn(), pte, false),
                Mapping::Pmd(_, _, pmd) => (pmd.pfn(), pmd, true),
                Mapping::None => return,
            };
            if entry.special() || !self.folio_test_anon(pfn) {
                return;
            }
            if whole {
                *pmds.entry(pfn.0).or_default() += 1;
            } else {
                *ptes.entry(pfn.0).or_default() += 1;
            }
            if self.folio_mm_ids(pfn).is_some() {
                let head = self.folio_head(pfn).0;
                *per_mm.entry(head).or_default().entry(mm.id).or_default() += 1;
            }
            let exclusive = self.page_anon_exclusive(pfn);
            if self.folio_test_ksm(pfn) && self.page(pfn).test(PG_ANON_EXCLUSIVE) {
                r.fail(
                    "ksm-not-exclusive",
                    format!("KSM page {pfn} is PG_anon_exclusive"),
                );
            }
            if entry.write() && !exclusive {
                r.fail(
                    "anon-writable-exclusive",
                    format!(
                        "mm {} maps pfn {pfn} writable at {addr:#x} without PG_anon_exclusive",
                        mm.id
                    ),
                );
            }
            // A pin is only taken on an exclusive page. A large folio's
            // pincount is folio-wide, so only whole mappings and small
            // folios can be judged page by page; a small folio counts as
            // pinned when the pin bias shows in the references beyond its
            // mappings (a KSM page mapped 1024 times is not pinned: it is
            // folio_maybe_dma_pinned()'s documented false positive).
            let pinned = if self.folio_test_large(pfn) {
                whole && self.folio_maybe_dma_pinned(pfn)
            } else {
                self.folio_ref_count(pfn) - self.folio_mapcount(pfn)
                    >= crate::vm::rmap::GUP_PIN_COUNTING_BIAS
            };
            if self.variants().cow_reuse == CowReuse::Exclusive && pinned && !exclusive {
                r.fail(
                    "anon-pinned-exclusive",
                    format!(
                        "pinned pfn {pfn} (refcount {}) mapped by mm {} lost PG_anon_exclusive",
                        self.folio_ref_count(pfn),
                        mm.id
                    ),
                );
            }
        });
        // §10.1: a PG_anon_exclusive page is mapped once, by one PTE or by
        // its folio's one PMD.
        for (&pfn, &n) in &ptes {
            let pmd_maps = pmds.get(&self.folio_head(Pfn(pfn)).0).copied();
            let total = n + pmd_maps.unwrap_or(0);
            if total > 1 && self.page_anon_exclusive(Pfn(pfn)) {
                r.fail(
                    "anon-exclusive-mapped-once",
                    format!("PG_anon_exclusive pfn {pfn:#x} is mapped {total} times"),
                );
            }
        }
        for (&head, &n) in &pmds {
            if n > 1 && self.page_anon_exclusive(Pfn(head)) {
                r.fail(
                    "anon-exclusive-mapped-once",
                    format!("PG_anon_exclusive folio {head:#x} is mapped by {n} PMDs"),
                );
            }
        }
        let mut folios: BTreeMap<u64, i32> = BTreeMap::new();
        for (&pfn, &n) in &ptes {
            let p = self.page(Pfn(pfn));
            if !self.folio_test_hugetlb(Pfn(pfn)) && p.mapcount() != n {
                r.fail(
                    "anon-refcount",
                    format!("pfn {pfn:#x}: {n} PTEs map it, mapcount {}", p.mapcount()),
                );
            }
            *folios.entry(self.folio_head(Pfn(pfn)).0).or_default() += n;
        }
        for (&head, &n) in &pmds {
            let e = self.folio_entire_mapcount(Pfn(head));
            if e != n {
                r.fail(
                    "anon-refcount",
                    format!("folio {head:#x}: {n} PMDs map it, entire mapcount {e}"),
                );
            }
            *folios.entry(head).or_default() += n;
        }
        for (head, n) in folios {
            let head = Pfn(head);
            let (mapcount, refs) = (self.folio_mapcount(head), self.folio_ref_count(head));
            if mapcount != n || refs < n {
                r.fail(
                    "anon-refcount",
                    format!("folio {head}: {n} mappings, mapcount {mapcount}, refcount {refs}"),
                );
            }
        }
        for (head, mms) in per_mm {
            self.check_folio_mm_ids(Pfn(head), &mms, r);
        }
    }
}
