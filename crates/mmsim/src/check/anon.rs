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
//! * Every anonymous page's mapcount equals the number of PTEs that map it,
//!   and its refcount is at least that (one reference per mapping, plus
//!   whatever GUP and others hold).

use super::Report;
use crate::machine::Machine;
use crate::page::Pfn;
use crate::variant::CowReuse;
use crate::vm::rmap::{folio_maybe_dma_pinned, page_anon, page_anon_exclusive};
use std::collections::BTreeMap;

impl Machine {
    pub(super) fn check_anon(&self, r: &mut Report) {
        for v in self.swap_cache_exclusive_violations() {
            r.fail("swap-exclusive", v);
        }
        let mut mappings: BTreeMap<u64, i32> = BTreeMap::new();
        self.for_each_mapped_pte(|mm, addr, pte| {
            let pfn = pte.pfn();
            let p = self.page(pfn);
            if !page_anon(p) {
                return;
            }
            *mappings.entry(pfn.0).or_default() += 1;
            if crate::vm::rmap::page_ksm(p) && p.test(crate::page::PG_ANON_EXCLUSIVE) {
                r.fail(
                    "ksm-not-exclusive",
                    format!("KSM page {pfn} is PG_anon_exclusive"),
                );
            }
            if pte.write() && !page_anon_exclusive(p) {
                r.fail(
                    "anon-writable-exclusive",
                    format!(
                        "mm {} maps pfn {pfn} writable at {addr:#x} without PG_anon_exclusive",
                        mm.id
                    ),
                );
            }
            if self.variants().cow_reuse == CowReuse::Exclusive
                && folio_maybe_dma_pinned(p)
                && !page_anon_exclusive(p)
            {
                r.fail(
                    "anon-pinned-exclusive",
                    format!(
                        "pinned pfn {pfn} (refcount {}) mapped by mm {} lost PG_anon_exclusive",
                        p.ref_count(),
                        mm.id
                    ),
                );
            }
        });
        for (pfn, n) in mappings {
            let p = self.page(Pfn(pfn));
            if p.mapcount() != n || p.ref_count() < n {
                r.fail(
                    "anon-refcount",
                    format!(
                        "pfn {:#x}: {n} PTEs map it, mapcount {}, refcount {}",
                        pfn,
                        p.mapcount(),
                        p.ref_count()
                    ),
                );
            }
        }
    }
}
