//! Migrating user pages on the LRU — anonymous, page-cache and KSM pages
//! (`migrate_pages()`; reference kernel-gup-cow.md §6.2) — plugged into the
//! offline pipeline and `alloc_contig_range()` through [`MovableOps`] for
//! [`MovableKind::Lru`]. (hugetlb folios migrate through their own ops,
//! [`super::hugetlb`].)
//!
//! 1. isolate: `folio_isolate_lru()` — PG_lru is test-and-cleared and the
//!    migration core holds a reference. A THP is split first.
//! 2. `try_to_migrate()`: every PTE mapping the page is replaced, under its
//!    PTL, by a migration entry. The reverse map finds them by the page's
//!    kind (`rmap_walk()`): an anonymous page through its anon_vma and
//!    index (`rmap_walk_anon()`), a page-cache page through the VMAs that map
//!    its file at its index (`rmap_walk_file()`), a KSM page through its
//!    stable node's list of (anon_vma, address) items (`rmap_walk_ksm()`).
//!    The entry carries the exclusivity of an anonymous page: writable,
//!    readable-exclusive or readable (a page-cache or KSM page is never
//!    exclusive: writable or readable). An exclusive page that may be pinned
//!    cannot be migrated (`folio_try_share_anon_rmap` fails), and no page
//!    with references beyond its mappings, its cache's and the migration
//!    core's can (`folio_migrate_mapping()`'s expected count).
//! 3. The bytes are copied and the new page takes the old one's identity:
//!    anonymous at the same index; the page-cache slot, handed over under
//!    the file's lock; the KSM stable node, which points at the new page
//!    from then on (`folio_migrate_ksm()`). The reference count is checked
//!    where the kernel freezes it: for a page in the swap cache or the page
//!    cache under that cache's lock, so a fault or swap-in either took its
//!    reference first and the migration fails, or finds the new page.
//! 4. `remove_migration_ptes()` maps the new page wherever the entries were,
//!    with PG_anon_exclusive restored from them.
//!
//! The rmap lock is held for read from the first entry to the last restored
//! one, so nothing that moves or frees page tables (mremap, collapse, exit)
//! runs meanwhile. A process touching the page faults on the migration entry
//! and waits; on failure the entries are turned back into the old page.

use super::file::page_file;
use super::pte::{MigrationKind, Pte, SwapEntry, PTE_DIRTY, PTE_RW, PTE_YOUNG};
use super::{Mm, RmapVec};
use crate::errno::{Errno, KResult};
use crate::hotplug::{MovableKind, MovableOps};
use crate::machine::Machine;
use crate::page::{Pfn, PG_ANON_EXCLUSIVE, PG_LRU, PG_SWAPBACKED, PG_UPTODATE};
use crate::sync::Arc;

/// The movable ops of LRU folios: anonymous, page cache and KSM.
pub struct LruOps;

impl MovableOps for LruOps {
    fn isolate(&self, m: &Machine, pfn: Pfn) -> bool {
        let head = m.folio_head(pfn);
        let user = m.folio_test_anon(head) || page_file(m.page(head)).is_some();
        if !user || m.folio_test_hugetlb(head) {
            return false;
        }
        if m.folio_test_large(pfn) {
            // A THP is taken off the LRU whole (folio_isolate_lru(): one
            // isolator wins, a second backs off at once), then split, and
            // its pages migrate one by one (what migrate_pages() does when
            // no THP can be allocated). The caller's reference on the folio
            // ends up on `pfn`.
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
        if m.folio_test_ksm(src) {
            m.migrate_ksm_page(dst, src)
        } else if let Some((file, index)) = page_file(m.page(src)) {
            m.migrate_file_page(dst, src, file, index)
        } else {
            m.migrate_anon_page(dst, src)
        }
    }

    fn putback(&self, m: &Machine, pfn: Pfn) {
        m.page(pfn).set(PG_LRU);
        m.put_pages(pfn, 0);
    }
}

/// What `try_to_migrate()` did: the entries that may map the page, and
/// which of them it replaced by migration entries, with the PTE each had.
pub(crate) struct Unmapped {
    targets: RmapVec<(Arc<Mm>, Pfn, u64)>,
    entries: RmapVec<(usize, Pte)>,
}

impl Unmapped {
    /// How many mappings became migration entries: the references the
    /// page holds for them.
    pub(crate) fn mappings(&self) -> i32 {
        self.entries.len() as i32
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

    /// Registers the migration ops of LRU folios (at boot).
    pub(crate) fn register_lru_migration(&self) {
        self.set_movable_ops(MovableKind::Lru, Arc::new(LruOps));
    }

    /// The (mm, table, index) of each PTE at `candidates` (the reverse
    /// map's addresses), without splitting anything but a THP's PMD.
    fn rmap_ptes(&self, candidates: RmapVec<(Arc<Mm>, u64)>) -> RmapVec<(Arc<Mm>, Pfn, u64)> {
        let mut out: RmapVec<(Arc<Mm>, Pfn, u64)> = RmapVec::new();
        for (mm, addr) in candidates {
            if let Ok(Some((t, i))) = self.walk(&mm, addr, false) {
                // One entry once, however many items lead to it.
                if !out
                    .iter()
                    .any(|(m, ot, oi)| m.id == mm.id && *ot == t && *oi == i)
                {
                    out.push((mm, t, i));
                }
            }
        }
        out
    }

    /// `try_to_migrate()` of the small folio `src` over `targets`: each
    /// PTE that maps it becomes a migration entry. For an anonymous page
    /// (`anon`) the entry carries its exclusivity, and a maybe-pinned
    /// exclusive page stops the walk: Err, with what was done so far for the
    /// caller to restore.
    fn try_to_migrate(
        &self,
        src: Pfn,
        targets: RmapVec<(Arc<Mm>, Pfn, u64)>,
        anon: bool,
    ) -> Result<Unmapped, Unmapped> {
        let mut u = Unmapped {
            targets,
            entries: RmapVec::new(),
        };
        for n in 0..u.targets.len() {
            let (mm, t, i) = &u.targets[n];
            let _ptl = mm.ptl(*t);
            let pte = self.read_entry(*t, *i);
            let exclusive = anon && self.page(src).test(PG_ANON_EXCLUSIVE);
            // A present PTE of the page, or a device-private entry for it
            // (migrate_vma_collect_pmd() of a device page).
            let Some(kind) = self.entry_maps(pte, src, exclusive) else {
                continue;
            };
            // folio_try_share_anon_rmap_pte(): a pinned exclusive page stays.
            if exclusive && self.folio_maybe_dma_pinned(src) {
                drop(_ptl);
                return Err(u);
            }
            self.write_entry(
                *t,
                *i,
                Pte::swap(SwapEntry::Migration { pfn: src, kind }, false),
            );
            self.folio_remove_rmap_pte(src, mm);
            drop(_ptl);
            u.entries.push((n, pte));
        }
        Ok(u)
    }

    /// `try_to_migrate()` + copy + `remove_migration_ptes()` of an
    /// anonymous page; on failure the old page is mapped back.
    fn migrate_anon_page(&self, dst: Pfn, src: Pfn) -> KResult<()> {
        self.migrate_anon_between(src, dst, |m| m.physmem().copy_page(dst, src))
    }

    /// The anonymous migration of `src` to `dst` with `copy` moving the
    /// bytes: RAM to RAM, RAM to a device-private page (the driver's copy,
    /// `migrate_vma_pages()`) or back (`migrate_to_ram`). `dst` holds its
    /// allocation reference, which a success consumes; on failure (-EAGAIN,
    /// or the copy's error) the old page is mapped back and `dst` is the
    /// caller's to free.
    pub(crate) fn migrate_anon_between(
        &self,
        src: Pfn,
        dst: Pfn,
        copy: impl FnOnce(&Machine) -> KResult<()>,
    ) -> KResult<()> {
        let _rmap = self.vm().rmap_lock.down_read();
        let (anon_vma, index) = self.anon_location(src).ok_or(Errno::EAGAIN)?;
        let targets = self.rmap_ptes(self.anon_rmap_addresses(anon_vma, index));
        let u = match self.try_to_migrate(src, targets, true) {
            Ok(u) => u,
            Err(u) => {
                self.remove_migration_ptes(&u, src, src, true);
                return Err(Errno::EAGAIN);
            }
        };
        // Every mapping is an entry now, so nobody writes the page while it
        // is copied (a writable FOLL_GET reference shows up in the count
        // below, and fails the migration).
        if let Err(e) = copy(self) {
            self.remove_migration_ptes(&u, src, src, true);
            return Err(e);
        }
        self.folio_add_new_anon_rmap(dst, anon_vma, index, false);
        // folio_migrate_flags().
        if self.page(src).test(PG_UPTODATE) {
            self.page(dst).set(PG_UPTODATE);
        }
        if self.is_zone_device_page(dst) {
            // A device page is never on the LRU.
            self.page(dst).clear(PG_LRU);
        }
        // folio_add_new_anon_rmap counted one mapping; the PTEs count below.
        self.page(dst).set_mapcount(0);
        // folio_migrate_mapping(): the mappings' references plus ours only.
        if !self.migrate_folio_refs(src, dst, u.mappings() + 1) {
            self.remove_migration_ptes(&u, src, src, true);
            return Err(Errno::EAGAIN);
        }
        self.page(src).clear(PG_ANON_EXCLUSIVE);
        self.remove_migration_ptes(&u, src, dst, true);
        // The allocation reference of dst is the migration core's.
        self.put_pages(dst, 0);
        Ok(())
    }

    /// Migrates the page-cache page `src` (page `index` of `file`): the
    /// file's reverse map, then the cache slot handed over under the file's
    /// lock ([`Machine::file_migrate_cache_page`]).
    fn migrate_file_page(&self, dst: Pfn, src: Pfn, file: u32, index: u64) -> KResult<()> {
        let _rmap = self.vm().rmap_lock.down_read();
        let targets = self.rmap_ptes(self.file_rmap_addresses(file, index));
        // A page-cache page is never exclusive: nothing refuses here, the
        // reference count decides.
        let u = self
            .try_to_migrate(src, targets, false)
            .unwrap_or_else(|u| u);
        if let Err(e) = self.physmem().copy_page(dst, src) {
            self.remove_migration_ptes(&u, src, src, false);
            return Err(e);
        }
        // folio_migrate_flags(): uptodate and swapbacked come along; the new
        // page goes on the LRU (putback of the new folio).
        let d = self.page(dst);
        for f in [PG_UPTODATE, PG_SWAPBACKED] {
            if self.page(src).test(f) {
                d.set(f);
            }
        }
        if !self.file_migrate_cache_page(file, index, src, dst, u.mappings() + 1) {
            self.page(dst).clear(PG_UPTODATE);
            self.page(dst).clear(PG_SWAPBACKED);
            self.remove_migration_ptes(&u, src, src, false);
            return Err(Errno::EAGAIN);
        }
        d.set(PG_LRU);
        self.remove_migration_ptes(&u, src, dst, false);
        self.put_pages(dst, 0);
        Ok(())
    }

    /// Migrates the KSM page `src`: its stable node's rmap items find the
    /// mappings (`rmap_walk_ksm()`), and the node moves to the new page
    /// under the stable tree's lock, where the reference count is checked
    /// (a merge maps a stable page under the same lock).
    fn migrate_ksm_page(&self, dst: Pfn, src: Pfn) -> KResult<()> {
        let _rmap = self.vm().rmap_lock.down_read();
        let targets = self.rmap_ptes(self.ksm_rmap_addresses(src));
        // A KSM page is never exclusive.
        let u = self
            .try_to_migrate(src, targets, false)
            .unwrap_or_else(|u| u);
        if let Err(e) = self.physmem().copy_page(dst, src) {
            self.remove_migration_ptes(&u, src, src, false);
            return Err(e);
        }
        if !self.ksm_migrate_stable_node(src, dst, u.mappings() + 1) {
            self.remove_migration_ptes(&u, src, src, false);
            return Err(Errno::EAGAIN);
        }
        self.remove_migration_ptes(&u, src, dst, false);
        self.put_pages(dst, 0);
        Ok(())
    }

    /// `remove_migration_ptes()`: maps `to` where the entries for `from`
    /// are, moving one reference per mapping from `from` to `to`; an
    /// anonymous page (`anon`) gets PG_anon_exclusive back from an entry
    /// that says so.
    fn remove_migration_ptes(&self, u: &Unmapped, from: Pfn, to: Pfn, anon: bool) {
        for &(n, orig) in &u.entries {
            let (mm, t, i) = &u.targets[n];
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
            if anon && kind != MigrationKind::Read {
                to_page.set(PG_ANON_EXCLUSIVE);
            }
            let mut bits = PTE_YOUNG | (orig.0 & PTE_DIRTY);
            if kind == MigrationKind::Write {
                bits |= PTE_RW | PTE_DIRTY;
            }
            let entry = if to != from && self.folio_is_device_private(to) {
                // remove_migration_pte() of a device-private folio: a
                // device-private entry, writable where the PTE was.
                let dev = SwapEntry::DevicePrivate {
                    pfn: to,
                    write: kind == MigrationKind::Write,
                };
                Pte::swap(dev, false)
            } else if orig.present() {
                // The protection the PTE had: mprotect() waits for the
                // entry rather than change what it restores to
                // (change_protection()).
                Pte::new(to, bits).with_access_of(orig)
            } else {
                // A device-private entry going back to RAM, or restored.
                match orig.swap_entry() {
                    Some(SwapEntry::DevicePrivate { .. }) if to == from => Pte::swap(
                        SwapEntry::DevicePrivate {
                            pfn: to,
                            write: kind == MigrationKind::Write,
                        },
                        false,
                    ),
                    _ => Pte::new(to, bits),
                }
            };
            self.write_entry(*t, *i, entry);
            if to != from {
                self.put_pages(from, 0);
            }
        }
    }
}
