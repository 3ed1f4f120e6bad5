//! Migrating anonymous LRU pages (`migrate_pages()` for anon folios;
//! reference kernel-gup-cow.md §6.2), plugged into the offline pipeline
//! through [`MovableOps`] for [`MovableKind::Lru`].
//!
//! 1. isolate: `folio_isolate_lru()` — PG_lru is test-and-cleared and the
//!    migration core holds a reference.
//! 2. `try_to_migrate()`: every PTE mapping the page (found through its
//!    anon_vma) is replaced, under its PTL, by a migration entry that carries
//!    the exclusivity: writable, readable-exclusive or readable. An exclusive
//!    page that may be pinned cannot be migrated (`folio_try_share_anon_rmap`
//!    fails), and neither can a page with references beyond its mappings and
//!    the migration core's (`folio_migrate_mapping()`'s expected count).
//! 3. The bytes are copied and the new page becomes anonymous at the same
//!    index. Then the reference count is checked; for a page in the swap
//!    cache the check and the hand-over of the cache slot to the new page
//!    happen under the cache lock (the kernel freezes the count under the
//!    xarray lock), so a swap-in either took its reference first and the
//!    migration fails, or finds the new page.
//! 4. `remove_migration_ptes()` maps the new page wherever the entries were,
//!    with PG_anon_exclusive restored from them.
//!
//! A process touching the page meanwhile faults on the migration entry and
//! waits; on failure the entries are turned back into the old page.

use super::pte::{MigrationKind, Pte, SwapEntry, PTE_DIRTY, PTE_RW, PTE_YOUNG};
use crate::errno::{Errno, KResult};
use crate::hotplug::{MovableKind, MovableOps};
use crate::machine::Machine;
use crate::page::{Pfn, PG_ANON_EXCLUSIVE, PG_LRU, PG_UPTODATE};
use crate::sync::Arc;

/// The movable ops of anonymous LRU folios.
pub struct AnonLruOps;

impl MovableOps for AnonLruOps {
    fn isolate(&self, m: &Machine, pfn: Pfn) -> bool {
        if m.anon_location(pfn).is_none() {
            return false;
        }
        if m.folio_test_large(pfn) {
            // A THP is taken off the LRU whole (folio_isolate_lru(): one
            // isolator wins, a second backs off at once), then split, and
            // its pages migrate one by one (what migrate_pages() does when
            // no THP can be allocated). The caller's reference on the folio
            // ends up on `pfn`.
            let head = m.folio_head(pfn);
            if !m.page(head).test_and_clear(PG_LRU) {
                return false;
            }
            if m.split_huge_page(pfn).is_err() || m.folio_test_large(pfn) {
                m.page(m.folio_head(pfn)).set(PG_LRU);
                return false;
            }
        }
        let p = m.page(pfn);
        if !p.test_and_clear(PG_LRU) {
            return false;
        }
        p.ref_inc();
        true
    }

    fn migrate(&self, m: &Machine, dst: Pfn, src: Pfn) -> KResult<()> {
        m.migrate_anon_page(dst, src)
    }

    fn putback(&self, m: &Machine, pfn: Pfn) {
        m.page(pfn).set(PG_LRU);
        m.put_pages(pfn, 0);
    }
}

impl Machine {
    /// The kind of the migration entry for `pfn` at `table[idx]` (page-table
    /// lock held), or None — reported as a bug — if something replaced it:
    /// only mprotect may touch a migration entry (making it read-only);
    /// everything else waits for the migration to finish.
    pub(crate) fn migration_entry_kind(
        &self,
        table: Pfn,
        idx: u64,
        pfn: Pfn,
    ) -> Option<MigrationKind> {
        match self.read_entry(table, idx).swap_entry() {
            Some(SwapEntry::Migration { pfn: p, kind }) if p == pfn => Some(kind),
            other => {
                self.report_bug(format!(
                    "BUG: migration entry for pfn {pfn} replaced by {other:?}"
                ));
                None
            }
        }
    }

    /// Registers the anonymous-page migration ops (at boot).
    pub(crate) fn register_anon_migration(&self) {
        self.set_movable_ops(MovableKind::Lru, Arc::new(AnonLruOps));
    }

    /// The (mm, table, index) of every PTE that may map `pfn` or hold a
    /// migration entry for it.
    fn rmap_walk(&self, pfn: Pfn) -> Vec<(Arc<super::Mm>, Pfn, u64)> {
        let Some((anon_vma, index)) = self.anon_location(pfn) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (mm, addr) in self.anon_rmap_addresses(anon_vma, index) {
            if let Ok(Some((t, i))) = self.walk(&mm, addr, false) {
                out.push((mm, t, i));
            }
        }
        out
    }

    /// `try_to_migrate()` + copy + `remove_migration_ptes()`; on failure the
    /// old page is mapped back.
    fn migrate_anon_page(&self, dst: Pfn, src: Pfn) -> KResult<()> {
        let _rmap = self.vm().rmap_lock.down_read();
        let targets = self.rmap_walk(src);
        // Which targets got an entry, with the PTE it replaced.
        let mut unmapped: Vec<(usize, Pte)> = Vec::new();
        let mut failed = false;
        for (n, (mm, t, i)) in targets.iter().enumerate() {
            let _ptl = mm.ptl(*t);
            let pte = self.read_entry(*t, *i);
            if !pte.present() || pte.special() || pte.pfn() != src {
                continue;
            }
            let p = self.page(src);
            let exclusive = p.test(PG_ANON_EXCLUSIVE);
            // folio_try_share_anon_rmap_pte(): a pinned exclusive page stays.
            if exclusive && self.folio_maybe_dma_pinned(src) {
                failed = true;
                break;
            }
            let kind = MigrationKind::for_pte(pte, exclusive);
            self.write_entry(
                *t,
                *i,
                Pte::swap(SwapEntry::Migration { pfn: src, kind }, false),
            );
            self.folio_remove_rmap_pte(src, mm);
            unmapped.push((n, pte));
        }
        if failed {
            self.restore_migration_ptes(&targets, &unmapped, src, src);
            return Err(Errno::EAGAIN);
        }
        // Every mapping is an entry now, so nobody writes the page while it
        // is copied (a writable FOLL_GET reference shows up in the count
        // below, and fails the migration).
        if let Err(e) = self.physmem().copy_page(dst, src) {
            self.restore_migration_ptes(&targets, &unmapped, src, src);
            return Err(e);
        }
        let (anon_vma, index) = self.anon_location(src).expect("anonymous");
        self.folio_add_new_anon_rmap(dst, anon_vma, index, false);
        // folio_migrate_flags().
        if self.page(src).test(PG_UPTODATE) {
            self.page(dst).set(PG_UPTODATE);
        }
        // folio_add_new_anon_rmap counted one mapping; the PTEs count below.
        self.page(dst).set_mapcount(0);
        // folio_migrate_mapping(): the mappings' references plus ours only.
        let expected = unmapped.len() as i32 + 1;
        if !self.migrate_folio_refs(src, dst, expected) {
            self.restore_migration_ptes(&targets, &unmapped, src, src);
            return Err(Errno::EAGAIN);
        }
        self.page(src).clear(PG_ANON_EXCLUSIVE);
        self.restore_migration_ptes(&targets, &unmapped, src, dst);
        // The allocation reference of dst is the migration core's.
        self.put_pages(dst, 0);
        Ok(())
    }

    /// `remove_migration_ptes()`: maps `to` where the entries for `from`
    /// are, moving one reference per mapping from `from` to `to`.
    fn restore_migration_ptes(
        &self,
        targets: &[(Arc<super::Mm>, Pfn, u64)],
        unmapped: &[(usize, Pte)],
        from: Pfn,
        to: Pfn,
    ) {
        for &(n, orig) in unmapped {
            let (mm, t, i) = &targets[n];
            let _ptl = mm.ptl(*t);
            // The entry as it is now: mprotect may have made it read-only.
            let Some(kind) = self.migration_entry_kind(*t, *i, from) else {
                continue;
            };
            let to_page = self.page(to);
            if to != from {
                to_page.ref_inc();
            }
            to_page.mapcount_add(1);
            if kind != MigrationKind::Read {
                to_page.set(PG_ANON_EXCLUSIVE);
            }
            let mut bits = PTE_YOUNG | (orig.0 & PTE_DIRTY);
            if kind == MigrationKind::Write {
                bits |= PTE_RW | PTE_DIRTY;
            }
            // The protection the PTE had: mprotect() waits for the entry
            // rather than change what it restores to (change_protection()).
            self.write_entry(*t, *i, Pte::new(to, bits).with_access_of(orig));
            if to != from {
                self.put_pages(from, 0);
            }
        }
    }
}
