//! Migration of movable pages out of a range (`do_migrate_range()` and the
//! parts of `migrate_pages()` it needs).
//!
//! Who may move a page is decided by its owner through [`MovableOps`], the
//! model of 7.2's `movable_operations`: registered per kind of page (PageOffline
//! balloon pages and the test owner's, zsmalloc, and through the same
//! interface the VM's LRU folios and hugetlb folios). Migration of one folio:
//!
//! 1. `folio_try_get()`: a speculative reference; free pages and pages whose
//!    owner dropped its reference (PageOffline during offlining) are skipped.
//! 2. `isolate`: the first owner of the page's kind that recognises the page
//!    takes it off its own lists and keeps a reference for the migration
//!    core (PG_movable_ops_isolated).
//! 3. The owner allocates a target outside the isolated range (the
//!    allocator never hands out isolated pageblocks), on another node if
//!    there is one: a page from the buddy allocator, or for a hugetlb folio
//!    one from its pool or a fresh one (`alloc_migration_target()`).
//! 4. `migrate`: the owner copies the contents and moves its ownership to the
//!    target; on success the source's last reference is dropped and the page
//!    falls into the isolated free list; on failure `putback` returns it.
//!
//! Errors are not propagated: offlining simply retries the whole scan.

use crate::errno::KResult;
use crate::machine::Machine;
use crate::page::{PageType, Pfn, PG_LRU};
use crate::sync::Arc;
use crate::zone::alloc::Gfp;

/// What kind of page a set of movable ops handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MovableKind {
    /// PageOffline pages with PG_movable_ops (balloon).
    Offline,
    /// PageZsmalloc pages with PG_movable_ops.
    Zsmalloc,
    /// LRU folios (user memory; registered by the VM layer).
    Lru,
    /// hugetlb folios (registered by the VM layer with the pool).
    Hugetlb,
}

/// `struct movable_operations`.
pub trait MovableOps: Send + Sync {
    /// `isolate_page()`: takes the page away from its owner's lists for
    /// migration, holding one extra reference; false if it cannot now.
    fn isolate(&self, m: &Machine, pfn: Pfn) -> bool;
    /// `alloc_migration_target()` for the isolated `src`: where it may move,
    /// allowed by `gfp`, preferably on node `nid`; refcount 1. By default an
    /// order-0 page from the buddy allocator.
    fn alloc_target(&self, m: &Machine, src: Pfn, gfp: Gfp, nid: usize) -> KResult<Pfn> {
        let _ = src;
        m.alloc_pages(gfp, 0, nid)
    }
    /// For a folio that is neither on the LRU nor has movable_ops (a hugetlb
    /// folio): whether it may be migrated now, as `scan_movable_pages()`
    /// asks (`folio_test_hugetlb_migratable()`). By default not.
    fn migratable(&self, m: &Machine, pfn: Pfn) -> bool {
        let _ = (m, pfn);
        false
    }
    /// Gives the free pages the owner keeps in `[start, end)` back to the
    /// buddy allocator before offlining tests the range
    /// (`dissolve_free_hugetlb_folios()`). By default there are none.
    fn dissolve_free(&self, m: &Machine, start: Pfn, end: Pfn) -> KResult<()> {
        let _ = (m, start, end);
        Ok(())
    }
    /// `migrate_page()`: `dst` (refcount 1, allocated) takes over `src`'s
    /// contents and ownership; on success the owner has dropped its own
    /// reference to `src`, leaving only the isolation reference.
    fn migrate(&self, m: &Machine, dst: Pfn, src: Pfn) -> KResult<()>;
    /// `putback_page()`: the page goes back to its owner and the isolation
    /// reference is dropped.
    fn putback(&self, m: &Machine, pfn: Pfn);
}

/// The owners registered for a kind of page: one or two.
type Owners = smallvec::SmallVec<[Arc<dyn MovableOps>; 2]>;

impl Machine {
    /// `set_movable_ops()`: registers `ops` for pages of `kind`.
    ///
    /// 7.2 keeps one `movable_operations` per page type (a second
    /// registration is -EBUSY), and the balloon core's ops find a page's
    /// device through `page->private`. In the model each owner of a kind
    /// registers its own ops — PageOffline pages have two, the balloon
    /// driver and the test-only kernel user — and a page belongs to the
    /// first whose `isolate` takes it: the same dispatch, with each owner
    /// recognising its pages by its own records.
    pub fn set_movable_ops(&self, kind: MovableKind, ops: Arc<dyn MovableOps>) {
        self.hotplug().movable_ops.down_write().push((kind, ops));
    }

    /// The ops registered for the kind of page `pfn` is (none if it is not
    /// movable). Copied out, so that no owner's `isolate` runs under the
    /// registrations' lock.
    fn movable_owners(&self, pfn: Pfn) -> Owners {
        let p = self.page(pfn);
        let kind = if self.folio(pfn).is_hugetlb() {
            MovableKind::Hugetlb
        } else if p.has_movable_ops() {
            if p.is_type(PageType::Offline) {
                MovableKind::Offline
            } else {
                MovableKind::Zsmalloc
            }
        } else if self.folio(pfn).head().test(PG_LRU) {
            // A user folio: its head is on the LRU for all its pages.
            MovableKind::Lru
        } else {
            return Owners::new();
        };
        self.movable_ops_of(kind)
    }

    /// The ops registered for `kind`, in registration order.
    fn movable_ops_of(&self, kind: MovableKind) -> Owners {
        self.hotplug()
            .movable_ops
            .down_read()
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, ops)| ops.clone())
            .collect()
    }

    /// `folio_test_hugetlb_migratable()`, answered by the hugetlb owner.
    pub(super) fn hugetlb_owner_migratable(&self, pfn: Pfn) -> bool {
        self.movable_ops_of(MovableKind::Hugetlb)
            .iter()
            .any(|ops| ops.migratable(self, pfn))
    }

    /// `dissolve_free_hugetlb_folios()` of `[start, end)`, done by the
    /// hugetlb owner (nothing without a pool).
    pub(super) fn hugetlb_owner_dissolve(&self, start: Pfn, end: Pfn) -> KResult<()> {
        for ops in self.movable_ops_of(MovableKind::Hugetlb) {
            ops.dissolve_free(self, start, end)?;
        }
        Ok(())
    }

    /// `do_migrate_range()`: migrates every movable page of `[start, end)`
    /// it can; returns how many pages moved.
    pub fn do_migrate_range(&self, start: Pfn, end: Pfn) -> u64 {
        let mut isolated = Vec::new();
        let mut pfn = start;
        while pfn < end {
            let Some(page) = self.mem().pfn_to_page(pfn) else {
                pfn = pfn + 1;
                continue;
            };
            if !page.try_get() {
                pfn = pfn + 1;
                continue;
            }
            // Re-check under our reference: it may have changed hands.
            let owners = self.movable_owners(pfn);
            if !owners.is_empty() {
                match owners.into_iter().find(|ops| ops.isolate(self, pfn)) {
                    Some(ops) => isolated.push((pfn, ops)),
                    None => self.log(format!("failed to isolate pfn {:x}", pfn.0)),
                }
            }
            self.folio_put(pfn);
            pfn = pfn + 1;
        }
        // One target node for the batch, from its first page's node, as
        // the kernel does (the range lies in one zone).
        let Some(&(first, _)) = isolated.first() else {
            return 0;
        };
        let target_nid = self.migration_target_nid(first);
        let mut moved = 0;
        for (src, ops) in isolated {
            if self.migrate_one(src, &ops, Gfp::MOVABLE, target_nid) {
                moved += 1;
            }
        }
        moved
    }

    /// Where pages of `src`'s node go (`mtc.nid` and `nmask` of
    /// do_migrate_range()): the first other node with memory, or `src`'s
    /// own if it is the only one.
    fn migration_target_nid(&self, src: Pfn) -> usize {
        let src_nid = self.page(self.folio_head(src)).nid();
        (0..self.nodes().len())
            .find(|&n| n != src_nid && self.node(n).present_pages() > 0)
            .unwrap_or(src_nid)
    }

    /// Isolates and migrates one page to memory `gfp` allows (the longterm
    /// pin path moves pages out of ZONE_MOVABLE this way). True if it moved.
    pub fn migrate_page_to(&self, src: Pfn, gfp: Gfp) -> bool {
        // Hold the folio while isolating it, as do_migrate_range() does.
        let folio = self.folio(src);
        if !folio.try_get() {
            return false;
        }
        // folio_try_get() rechecks page_folio(): a split between the two
        // steps leaves our reference on a different folio.
        if self.folio_head(src) != folio.pfn() {
            self.folio_put(folio.pfn());
            return false;
        }
        let isolated = self
            .movable_owners(src)
            .into_iter()
            .find(|ops| ops.isolate(self, src));
        // After a THP split our reference is on `src` itself.
        self.folio_put(src);
        match isolated {
            Some(ops) => self.migrate_one(src, &ops, gfp, self.migration_target_nid(src)),
            None => false,
        }
    }

    /// Migrates one isolated folio; puts it back on failure.
    fn migrate_one(
        &self,
        src: Pfn,
        ops: &Arc<dyn MovableOps>,
        gfp: Gfp,
        target_nid: usize,
    ) -> bool {
        // A folio still large after isolation (hugetlb) moves whole.
        let src = self.folio_head(src);
        let dst = match ops.alloc_target(self, src, gfp, target_nid) {
            Ok(dst) => dst,
            Err(_) => {
                ops.putback(self, src);
                return false;
            }
        };
        match ops.migrate(self, dst, src) {
            Ok(()) => {
                // Drop the isolation reference: the source is free now.
                self.put_pages(src, 0);
                true
            }
            Err(_) => {
                ops.putback(self, src);
                self.put_pages(dst, 0);
                false
            }
        }
    }
}
