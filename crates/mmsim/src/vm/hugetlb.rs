//! hugetlb: a boot-time pool of 2 MiB pages, hugetlb mappings and their
//! reservations (mm/hugetlb.c; reference kernel-gup-cow.md §1.1, §3.3, §3.4).
//!
//! `machine ... hugepages=N` sets aside N order-9 folios at boot, typed
//! PageHuge, refcount 0 while in the pool. A `MAP_HUGETLB` mapping takes one
//! per 2 MiB on first touch and maps it with a huge PMD; it is never split,
//! swapped or merged.
//!
//! # Reservations
//!
//! A hugetlb fault cannot fall back to smaller pages, so the kernel promises
//! the pages at mmap instead of failing a fault later
//! ([`super::hugetlb_resv`] holds the state). Picture `HugePages_Free` as a
//! shelf and `HugePages_Rsvd` as the part of it with names on:
//!
//! * **who reserves** — `mmap` (`hugetlb_reserve_pages()`): a private
//!   mapping reserves its whole range in a map of its own that its VMA owns
//!   (HPAGE_RESV_OWNER); a shared mapping (a hugetlbfs file, or
//!   MAP_SHARED|MAP_HUGETLB's unnamed one) reserves the file range's
//!   indexes the inode's map does not hold yet, so a range is reserved once
//!   however many processes map it. A reservation must fit in the free
//!   folios nobody reserved (`hugetlb_acct_memory()`; with no overcommit
//!   `gather_surplus_pages()` finds no surplus): else the mmap is -ENOMEM.
//! * **who consumes** — the first fault of a page (`alloc_hugetlb_folio()`):
//!   if `vma_needs_reservation()` finds the page reserved for this VMA, the
//!   folio it takes from the shelf carries the name away (Free and Rsvd
//!   both drop, `vma_commit_reservation()` records the index as consumed or
//!   instantiated). A fault without a reservation — a fork child's, whose
//!   VMA owns none (`reset_vma_resv_huge_pages()`), or the owner's COW of a
//!   page a child shares, which must not take the reservation of another of
//!   its pages (`cow_from_owner`) — may take only a folio nobody reserved,
//!   and fails as the kernel's SIGBUS does (-EFAULT here) if there is none.
//!   When that failing fault is the owner's COW, `unmap_ref_private()` takes
//!   the page from the children instead and marks their VMAs
//!   HPAGE_RESV_UNMAPPED, so a child's later fault there is SIGBUS; the
//!   owner, now the page's only mapper, writes it in place. A folio that
//!   consumed a reservation and is freed before it is mapped (a lost race)
//!   gives it back (HPG_restore_reserve).
//! * **who gives back** — `hugetlb_vm_op_close()` when the owner's private
//!   VMA goes (munmap, exit): the pages of its range no fault consumed;
//!   `hugetlb_unreserve_pages()` when a hugetlbfs inode is evicted (the
//!   unnamed file of a shared mapping, after its last mapping; the model
//!   never unlinks a named file, whose reservations therefore outlive every
//!   process, as a memfd's do while its descriptor is open). mremap moves
//!   the map with the VMA (`clear_vma_resv_huge_pages()` on the old one).
//!
//! The pool keeps its promises elsewhere too: offlining does not dissolve a
//! free folio once every free folio is reserved (-EBUSY), and a smaller
//! `nr_hugepages` keeps the reserved free folios.
//!
//! # Migration and offlining
//!
//! 2 MiB pages support migration (`hugepage_migration_supported()`), so the
//! pool is allocated movable (`htlb_alloc_mask()`: GFP_HIGHUSER_MOVABLE) and
//! may sit in ZONE_MOVABLE. Offlining treats a block's hugetlb folios as
//! mm/memory_hotplug.c does:
//!
//! * an in-use folio is "migratable" until the migration core isolates it
//!   (`isolate_hugetlb()`, under the pool's lock); `scan_movable_pages()`
//!   finds it and it migrates through [`HugetlbOps`]: the target comes from
//!   the free pool, never from a pageblock being isolated, or is allocated
//!   fresh from the buddy allocator as a *temporary* folio
//!   (`alloc_hugetlb_folio_nodemask()` → `alloc_migrate_hugetlb_folio()`);
//!   every PMD mapping it (found by its anon_vma or its file) becomes a
//!   migration entry, the 2 MiB are copied, the identity moves (the anon
//!   mapping, or the hugetlbfs cache slot under the file's lock, with the
//!   usual reference check), the entries map the new folio, and
//!   `move_hugetlb_state()` hands the temporary status to the old folio;
//! * the old folio's last reference sends it back to the pool — or, if
//!   temporary, to the buddy allocator, so a fresh target leaves the pool's
//!   size as it was;
//! * free folios in the block are dissolved before the pages are tested
//!   (`dissolve_free_hugetlb_folios()`): each leaves the pool for the
//!   buddy allocator, and `nr_hugepages` shrinks by one — the pool is not
//!   refilled elsewhere, so a folio a reservation needs is not dissolved. A folio that was the migration target's source
//!   therefore costs the pool a page when the target came from the pool.
//!
//! `alloc_contig_range()` instead replaces a free folio with a fresh one
//! outside the range (`alloc_and_dissolve_hugetlb_folio()`), keeping the
//! pool's size.
//!
//! A hugetlbfs file (`file F SIZE hugetlb`, like `memfd_create(MFD_HUGETLB)`)
//! keeps its 2 MiB folios in its page cache; a private mapping of it maps
//! them read-only and copies on write or unshare.
//!
//! Exclusivity lives on the head page. The rules differ from THP in one
//! place the COW selftest is known for: `hugetlb_wp()` reuses a page when
//! its *mapcount* is 1, not when its refcount is, so a page a pipe still
//! references after the other process unmapped it is reused and written —
//! the vmsplice cases leak, and cow.c marks them XFAIL on hugetlb.

use super::fault::VmFault;
use super::file::page_file;
use super::huge::{haddr, mk_huge_pmd, HPAGE_PMD_NR, HPAGE_PMD_ORDER, HPAGE_PMD_SIZE};
use super::hugetlb_resv::Reservations;
use super::pte::{MigrationKind, Pte, SwapEntry, PTE_DIRTY, PTE_PSE, PTE_RW, PTE_YOUNG};
use super::{Mm, Vma, VM_SHARED, VM_WRITE};
use crate::errno::{Errno, KResult};
use crate::hotplug::{MovableKind, MovableOps};
use crate::machine::Machine;
use crate::page::{PageType, Pfn, PAGE_SIZE, PG_ANON_EXCLUSIVE, PG_UPTODATE};
use crate::sync::Arc;
use crate::zone::alloc::Gfp;
use std::collections::BTreeSet;

/// The pool (`struct hstate` for 2 MiB pages), under `hugetlb_lock`.
#[derive(Default, Debug)]
pub struct HugetlbPool {
    /// Free folios (heads).
    free: Vec<Pfn>,
    /// `nr_huge_pages`.
    total: u64,
    /// In-use folios isolated for migration (HPG_migratable clear, on the
    /// migration core's list).
    isolated: BTreeSet<u64>,
    /// HPG_temporary: folios that go back to the buddy allocator, not to
    /// the pool, when freed (fresh migration targets, and — after
    /// `move_hugetlb_state()` — the folios they replaced).
    temporary: BTreeSet<u64>,
    /// `resv_huge_pages` and the reservation maps.
    pub(crate) resv: Reservations,
}

impl HugetlbPool {
    /// `free_huge_pages`.
    pub(crate) fn nr_free(&self) -> u64 {
        self.free.len() as u64
    }
}

/// The migration ops of hugetlb folios (`isolate_hugetlb()`,
/// `alloc_migration_target()` → `alloc_hugetlb_folio_nodemask()`,
/// `unmap_and_move_huge_page()`, `folio_putback_active_hugetlb()`).
pub struct HugetlbOps;

impl MovableOps for HugetlbOps {
    fn isolate(&self, m: &Machine, pfn: Pfn) -> bool {
        let head = m.folio_head(pfn);
        let mut pool = m.vm().hugetlb.lock();
        if !m.folio_test_hugetlb(head) || pool.isolated.contains(&head.0) || !m.page(head).try_get()
        {
            return false;
        }
        pool.isolated.insert(head.0);
        true
    }

    fn alloc_target(&self, m: &Machine, src: Pfn, gfp: Gfp, nid: usize) -> KResult<Pfn> {
        m.alloc_hugetlb_folio_nodemask(m.folio_head(src), gfp, nid)
    }

    fn migrate(&self, m: &Machine, dst: Pfn, src: Pfn) -> KResult<()> {
        let src = m.folio_head(src);
        m.migrate_hugetlb_folio(dst, src)?;
        // The old folio is done with: off the migration list.
        m.vm().hugetlb.lock().isolated.remove(&src.0);
        Ok(())
    }

    fn putback(&self, m: &Machine, pfn: Pfn) {
        let head = m.folio_head(pfn);
        m.vm().hugetlb.lock().isolated.remove(&head.0);
        m.folio_put(head);
    }

    fn migratable(&self, m: &Machine, pfn: Pfn) -> bool {
        m.folio_test_hugetlb_migratable(pfn)
    }

    fn dissolve_free(&self, m: &Machine, start: Pfn, end: Pfn) -> KResult<()> {
        m.dissolve_free_hugetlb_folios(start, end)
    }
}

impl Machine {
    /// Fills the pool with `n` huge pages at boot (`hugetlb_hstate_alloc_pages`),
    /// allocated movable (`htlb_alloc_mask()` for a size that migrates).
    pub(crate) fn hugetlb_boot(&self, n: u64) -> KResult<()> {
        self.set_movable_ops(MovableKind::Hugetlb, Arc::new(HugetlbOps));
        for _ in 0..n {
            self.alloc_pool_hugetlb_folio()?;
        }
        Ok(())
    }

    /// `alloc_pool_huge_folio()`: a fresh movable folio joins the pool,
    /// free.
    fn alloc_pool_hugetlb_folio(&self) -> KResult<()> {
        let head = self.alloc_pages(Gfp::MOVABLE.comp(), HPAGE_PMD_ORDER, 0)?;
        self.page(head).set_type(PageType::Hugetlb);
        self.page(head).set_ref_count(0);
        let mut pool = self.vm().hugetlb.lock();
        pool.free.push(head);
        pool.total += 1;
        Ok(())
    }

    /// `folio_test_hugetlb_migratable()`: an in-use hugetlb folio that
    /// nobody has isolated for migration (racy, as the kernel's test is).
    pub fn folio_test_hugetlb_migratable(&self, pfn: Pfn) -> bool {
        let head = self.folio_head(pfn);
        self.folio_test_hugetlb(head)
            && self.page(head).ref_count() > 0
            && !self.vm().hugetlb.lock().isolated.contains(&head.0)
    }

    /// `dequeue_hugetlb_folio_node_exact()` over the free list: a free
    /// folio `allowed` accepts, never one in an isolated pageblock (7.2
    /// skips those: it would only have to move again); refcount 1.
    /// `pool` is the pool, locked.
    fn dequeue_hugetlb_folio(
        &self,
        pool: &mut HugetlbPool,
        allowed: impl Fn(Pfn) -> bool,
    ) -> Option<Pfn> {
        let at = pool
            .free
            .iter()
            .rposition(|&h| allowed(h) && !self.mem().pageblock_isolated(h))?;
        let head = pool.free.remove(at);
        self.page(head).set_ref_count(1);
        Some(head)
    }

    /// `alloc_hugetlb_folio_nodemask()` for migrating `src`: a free folio of
    /// the pool that `gfp` allows and no reservation needs, preferably on
    /// node `nid`, or a fresh
    /// temporary one from the buddy allocator (`alloc_migrate_hugetlb_folio()`,
    /// counted in `nr_huge_pages` until freed).
    pub(crate) fn alloc_hugetlb_folio_nodemask(
        &self,
        src: Pfn,
        gfp: Gfp,
        nid: usize,
    ) -> KResult<Pfn> {
        let zone_ok = |h: Pfn| self.page(h).zonenum() <= gfp.highest_zone;
        let pooled = {
            let mut pool = self.vm().hugetlb.lock();
            // Only a free folio nobody reserved (available_huge_pages()).
            if pool.nr_free() > pool.resv.resv_huge_pages {
                self.dequeue_hugetlb_folio(&mut pool, |h| {
                    h != src && zone_ok(h) && self.page(h).nid() == nid
                })
                .or_else(|| self.dequeue_hugetlb_folio(&mut pool, |h| h != src && zone_ok(h)))
            } else {
                None
            }
        };
        if let Some(head) = pooled {
            return Ok(head);
        }
        let head = self.alloc_pages(gfp.comp(), HPAGE_PMD_ORDER, nid)?;
        self.page(head).set_type(PageType::Hugetlb);
        let mut pool = self.vm().hugetlb.lock();
        pool.total += 1;
        pool.temporary.insert(head.0);
        Ok(head)
    }

    /// `update_and_free_hugetlb_folio()` of a folio already out of the
    /// pool: back to the buddy allocator.
    fn update_and_free_hugetlb_folio(&self, head: Pfn) {
        let p = self.page(head);
        p.set_private(0);
        p.clear(PG_ANON_EXCLUSIVE);
        for i in 1..4 {
            self.page(head + i).set_tail_word(0);
        }
        p.clear_type(PageType::Hugetlb);
        self.free_pages_prepared(head, HPAGE_PMD_ORDER);
    }

    /// `dissolve_free_hugetlb_folios()`: every free folio with a page in
    /// `[start, end)` leaves the pool for the buddy allocator and the pool
    /// shrinks (`h->max_huge_pages--`); it is not refilled from elsewhere.
    /// A free folio that a reservation needs stays: once the free folios
    /// are all reserved (`!available_huge_pages()`), the dissolve fails
    /// with -EBUSY (`dissolve_free_hugetlb_folio()`), and so does the
    /// offline; the folios dissolved before stay dissolved.
    pub fn dissolve_free_hugetlb_folios(&self, start: Pfn, end: Pfn) -> KResult<()> {
        let (doomed, ret) = {
            let mut pool = self.vm().hugetlb.lock();
            let inside = |h: &Pfn| *h + HPAGE_PMD_NR > start && *h < end;
            let mut doomed: Vec<Pfn> = Vec::new();
            let mut ret = Ok(());
            while let Some(at) = pool.free.iter().position(inside) {
                if pool.nr_free() <= pool.resv.resv_huge_pages {
                    ret = Err(Errno::EBUSY);
                    break;
                }
                doomed.push(pool.free.remove(at));
                pool.total -= 1;
            }
            (doomed, ret)
        };
        for head in doomed {
            self.update_and_free_hugetlb_folio(head);
        }
        ret
    }

    /// `alloc_and_dissolve_hugetlb_folio()` for every free folio with a page
    /// in `[start, end)` (`alloc_contig_range()`'s
    /// `replace_free_hugepage_folios()`): a fresh folio from outside the
    /// range takes its place in the pool, then it is dissolved; the pool
    /// keeps its size. Returns how many were replaced; a folio no fresh one
    /// can replace stays.
    pub fn replace_free_hugetlb_folios(&self, start: Pfn, end: Pfn) -> u64 {
        let inside: Vec<Pfn> = {
            let pool = self.vm().hugetlb.lock();
            pool.free
                .iter()
                .copied()
                .filter(|h| *h + HPAGE_PMD_NR > start && *h < end)
                .collect()
        };
        let mut replaced = 0;
        for old in inside {
            let nid = self.page(old).nid();
            let Ok(new) = self.alloc_pages(Gfp::MOVABLE.comp(), HPAGE_PMD_ORDER, nid) else {
                continue;
            };
            self.page(new).set_type(PageType::Hugetlb);
            self.page(new).set_ref_count(0);
            let mut pool = self.vm().hugetlb.lock();
            let Some(at) = pool.free.iter().position(|&h| h == old) else {
                // Taken meanwhile: the fresh folio joins the pool all the same.
                pool.free.push(new);
                pool.total += 1;
                continue;
            };
            pool.free[at] = new;
            drop(pool);
            self.update_and_free_hugetlb_folio(old);
            replaced += 1;
        }
        replaced
    }

    /// `HugePages_Total` and `HugePages_Free` (`HugePages_Rsvd`:
    /// [`Machine::hugetlb_resv_pages`]).
    pub fn hugetlb_counts(&self) -> (u64, u64) {
        let pool = self.vm().hugetlb.lock();
        (pool.total, pool.free.len() as u64)
    }

    /// The folios free in the pool (refcount 0, PageHuge).
    pub(crate) fn hugetlb_free_folios(&self) -> Vec<Pfn> {
        self.vm().hugetlb.lock().free.clone()
    }

    /// `alloc_hugetlb_folio()` for a fault of `vma` at `addr`: a zeroed
    /// folio from the pool, refcount 1. It takes the reservation the
    /// mapping holds for `addr` if there is one and this is not the owner's
    /// COW (`cow_from_owner`, which must leave the reservation to the
    /// page's first owner); otherwise only a free folio nobody reserved
    /// will do. None is the fault's SIGBUS, which the model reports as
    /// -EFAULT.
    pub(crate) fn alloc_hugetlb_folio(
        &self,
        vma: &Vma,
        addr: u64,
        cow_from_owner: bool,
    ) -> KResult<Pfn> {
        let head = {
            let mut pool = self.vm().hugetlb.lock();
            let free = pool.nr_free();
            let use_reserve =
                Self::hugetlb_resv_may_take(&pool.resv, free, vma, addr, cow_from_owner)?;
            let head = self
                .dequeue_hugetlb_folio(&mut pool, |_| true)
                .ok_or(Errno::EFAULT)?;
            Self::hugetlb_resv_commit(&mut pool.resv, vma, addr, head, use_reserve);
            head
        };
        for i in 0..HPAGE_PMD_NR {
            self.physmem().clear_page(head + i)?;
        }
        // hugetlb_no_page(): folio_zero_user() + __folio_mark_uptodate().
        self.page(head).set(PG_UPTODATE);
        Ok(head)
    }

    /// `free_huge_folio()`: back to the pool, or — a temporary folio — to
    /// the buddy allocator (`remove_hugetlb_folio()` +
    /// `update_and_free_hugetlb_folio()`).
    pub(crate) fn free_huge_folio(&self, head: Pfn) {
        {
            let mut pool = self.vm().hugetlb.lock();
            if pool.temporary.remove(&head.0) {
                pool.total -= 1;
                drop(pool);
                self.update_and_free_hugetlb_folio(head);
                return;
            }
        }
        let p = self.page(head);
        p.set_private(0);
        p.clear(PG_ANON_EXCLUSIVE);
        for i in 1..4 {
            self.page(head + i).set_tail_word(0);
        }
        let mut pool = self.vm().hugetlb.lock();
        Self::hugetlb_resv_on_free(&mut pool.resv, head);
        pool.free.push(head);
    }

    /// `unmap_and_move_huge_page()`: migrates the isolated in-use folio
    /// `src` to `dst` (refcount 1, from the pool or temporary). Every PMD
    /// mapping `src` becomes a migration entry (a maybe-pinned exclusive
    /// anonymous folio refuses: `hugetlb_try_share_anon_rmap()`), the
    /// 2 MiB are copied, the identity moves — the anon mapping, or the
    /// hugetlbfs cache slot — if `src` holds only its mappings', its
    /// cache's and the migration core's references, and the entries map
    /// `dst`; `move_hugetlb_state()` gives a temporary `dst`'s status to
    /// `src`. On failure the entries map `src` again.
    pub(crate) fn migrate_hugetlb_folio(&self, dst: Pfn, src: Pfn) -> KResult<()> {
        let _rmap = self.vm().rmap_lock.down_read();
        let file = page_file(self.page(src));
        let anon = self.anon_location(src);
        let candidates = match (anon, file) {
            (Some((anon_vma, index)), _) => self.anon_rmap_addresses(anon_vma, index),
            (None, Some((f, index))) => {
                self.file_rmap_addresses(f, index * (HPAGE_PMD_SIZE / PAGE_SIZE))
            }
            (None, None) => return Err(Errno::EAGAIN),
        };
        let mut targets: Vec<(Arc<Mm>, Pfn, u64)> = Vec::new();
        for (mm, addr) in candidates {
            if let Ok(Some((pt, pi))) = self.walk_pmd(&mm, addr, false) {
                if !targets
                    .iter()
                    .any(|(m, t, i)| m.id == mm.id && *t == pt && *i == pi)
                {
                    targets.push((mm, pt, pi));
                }
            }
        }
        // try_to_migrate(): PMD migration entries.
        let mut entries: Vec<(usize, Pte)> = Vec::new();
        let mut refused = false;
        for (n, (mm, pt, pi)) in targets.iter().enumerate() {
            let _ptl = mm.ptl(*pt);
            let pmd = self.read_entry(*pt, *pi);
            if !pmd.huge() || pmd.pfn() != src {
                continue;
            }
            let exclusive = anon.is_some() && self.page(src).test(PG_ANON_EXCLUSIVE);
            if exclusive && self.folio_maybe_dma_pinned(src) {
                refused = true;
                break;
            }
            let kind = MigrationKind::for_pte(pmd, exclusive);
            let entry = SwapEntry::Migration { pfn: src, kind };
            self.write_entry(*pt, *pi, Pte::swap(entry, false));
            self.folio_remove_rmap_pmd(src, mm);
            entries.push((n, pmd));
        }
        let mut moved = !refused;
        if moved {
            moved = (0..HPAGE_PMD_NR)
                .try_for_each(|i| self.physmem().copy_page(dst + i, src + i))
                .is_ok();
        }
        // folio_migrate_mapping(): the mappings' references and ours.
        let expected = entries.len() as i32 + 1;
        if moved {
            moved = match (anon, file) {
                (Some((anon_vma, index)), _) => {
                    let ok = self.page(src).ref_count() == expected;
                    if ok {
                        self.folio_set_anon(dst, anon_vma, index);
                    }
                    ok
                }
                (None, Some((f, index))) => {
                    self.file_migrate_cache_page(f, index, src, dst, expected)
                }
                (None, None) => false,
            };
        }
        let to = if moved { dst } else { src };
        if moved {
            if self.page(src).test(PG_UPTODATE) {
                self.page(dst).set(PG_UPTODATE);
            }
            self.page(src).clear(PG_ANON_EXCLUSIVE);
            // move_hugetlb_state().
            let mut pool = self.vm().hugetlb.lock();
            if pool.temporary.remove(&dst.0) {
                pool.temporary.insert(src.0);
            }
        }
        // remove_migration_ptes().
        for &(n, orig) in &entries {
            let (mm, pt, pi) = &targets[n];
            let _ptl = mm.ptl(*pt);
            let Some(kind) = self.migration_entry_kind(*pt, *pi, src) else {
                continue;
            };
            if to != src {
                self.page(to).ref_inc();
            }
            let exclusive = anon.is_some() && kind != MigrationKind::Read;
            self.folio_add_anon_rmap_pmd(to, mm, exclusive);
            let mut bits = PTE_PSE | PTE_YOUNG | (orig.0 & PTE_DIRTY);
            if kind == MigrationKind::Write {
                bits |= PTE_RW | PTE_DIRTY;
            }
            self.write_entry(*pt, *pi, Pte::new(to, bits).with_access_of(orig));
            if to != src {
                self.folio_put(src);
            }
        }
        if !moved {
            return Err(Errno::EAGAIN);
        }
        // The allocation reference of dst is the migration core's.
        self.folio_put(dst);
        Ok(())
    }

    /// Whether the PMD at `table[idx]` is a migration entry (only a hugetlb
    /// folio's PMD ever is one).
    pub(crate) fn pmd_is_migration(&self, table: Pfn, idx: u64) -> bool {
        matches!(
            self.read_entry(table, idx).swap_entry(),
            Some(SwapEntry::Migration { .. })
        )
    }

    /// Waits while the PMD at `table[idx]` is a migration entry
    /// (`migration_entry_wait_huge()`); true if it was one.
    pub(crate) fn hugetlb_migration_wait(&self, table: Pfn, idx: u64) -> bool {
        let mut waited = false;
        while self.pmd_is_migration(table, idx) {
            waited = true;
            crate::sync::thread::yield_now();
        }
        waited
    }

    /// Waits while the PMD covering `addr` in `mm` is a migration entry;
    /// true if it was one (the caller looks again).
    pub(crate) fn hugetlb_migration_wait_at(&self, mm: &Mm, addr: u64) -> bool {
        match self.walk_pmd(mm, addr, false) {
            Ok(Some((pt, pi))) => self.hugetlb_migration_wait(pt, pi),
            _ => false,
        }
    }

    /// `hugetlb_fault()`: `vmf` is at the PMD of the faulting address in a
    /// hugetlb VMA.
    pub(crate) fn hugetlb_fault(&self, vmf: &VmFault<'_>) -> KResult<()> {
        let (mm, vma, pmd) = (vmf.mm, vmf.vma, vmf.orig);
        // A folio under migration: wait, and let the access retry.
        if self.hugetlb_migration_wait(vmf.table, vmf.idx) {
            return Ok(());
        }
        // hugetlb_no_page(): "PID %d killed due to inadequate hugepage
        // pool" — the owner took this VMA's page back (unmap_ref_private()).
        if pmd.is_none() && vma.flags & VM_SHARED == 0 && self.hugetlb_vma_unmapped(mm, vma) {
            return Err(Errno::EFAULT);
        }
        if pmd.is_none() && vma.file.is_some() {
            return self.hugetlb_file_no_page(vmf);
        }
        if pmd.huge() && vma.flags & VM_SHARED != 0 {
            // A shared mapping never copies: a write just makes it writable.
            if vmf.write() && !pmd.write() && vma.flags & VM_WRITE != 0 {
                let _ptl = mm.ptl(vmf.table);
                if vmf.same(self) {
                    vmf.set(self, pmd.with(PTE_RW | PTE_DIRTY | PTE_YOUNG));
                }
            }
            return Ok(());
        }
        if pmd.is_none() {
            // hugetlb_no_page(): a fresh exclusive page, mapped read-only
            // unless this is a write (the COW "optimisation" that follows in
            // the kernel reuses it at once).
            let head = self.alloc_hugetlb_folio(vma, vmf.address, false)?;
            let _ptl = mm.ptl(vmf.table);
            if !vmf.same(self) {
                drop(_ptl);
                self.restore_reserve_on_error(vma, vmf.address, head);
                self.folio_put(head);
                return Ok(());
            }
            let h = haddr(vmf.address);
            self.map_new_hugetlb(mm, vma, vmf.table, vmf.idx, h, head, vmf.write());
            return Ok(());
        }
        if pmd.huge() && (vmf.write() || vmf.unshare()) && !pmd.write() {
            return self.hugetlb_wp(vmf);
        }
        if vmf.write() {
            let _ptl = mm.ptl(vmf.table);
            if vmf.same(self) {
                vmf.set(self, pmd.with(PTE_DIRTY | PTE_YOUNG));
            }
        }
        Ok(())
    }

    /// `hugetlb_no_page()` in a hugetlbfs file mapping: the cache folio,
    /// mapped shared (writable on a write) or read-only into a private
    /// mapping; a write into a private mapping copies it at once
    /// (`hugetlb_wp()` right after the fault).
    fn hugetlb_file_no_page(&self, vmf: &VmFault<'_>) -> KResult<()> {
        let (mm, vma) = (vmf.mm, vmf.vma);
        let file = vma.file.expect("file VMA");
        let index = (vma.pgoff * PAGE_SIZE + haddr(vmf.address) - vma.start) / HPAGE_PMD_SIZE;
        // The lookup's reference becomes the mapping's.
        let cache = self.file_get_huge(vma, vmf.address, file, index)?;
        let shared = vma.flags & VM_SHARED != 0;
        let mapped = {
            let ptl = mm.ptl(vmf.table);
            if !vmf.same(self) {
                drop(ptl);
                self.folio_put(cache);
                return Ok(());
            }
            // hugetlb_add_file_rmap(): one more whole-folio mapping.
            self.folio_add_anon_rmap_pmd(cache, mm, false);
            let writable = shared && vmf.write() && vma.flags & VM_WRITE != 0;
            let pmd = mk_huge_pmd(vma, cache, writable);
            vmf.set(self, pmd);
            pmd
        };
        if vmf.write() && !shared {
            return self.hugetlb_wp(&vmf.at(vmf.table, vmf.idx, mapped));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn map_new_hugetlb(
        &self,
        mm: &Mm,
        vma: &Vma,
        pt: Pfn,
        pi: u64,
        h: u64,
        head: Pfn,
        write: bool,
    ) {
        let anon_vma = vma
            .anon_vma
            .expect("private mappings get an anon_vma at mmap");
        // hugetlb_add_new_anon_rmap() clears HPG_restore_reserve.
        self.hugetlb_clear_restore_reserve(head);
        self.folio_add_new_anon_rmap_pmd(head, mm, anon_vma, vma.linear_page_index(h));
        self.write_entry(
            pt,
            pi,
            mk_huge_pmd(vma, head, write && vma.flags & VM_WRITE != 0),
        );
    }

    /// `hugetlb_wp()`: reuse when mapped once, else copy the whole page.
    ///
    /// The owner of a private mapping copying an anonymous page
    /// (`old_folio != pagecache_folio`) copies outside its reserves: its
    /// reservation for this address went into `old` at the first fault.
    /// If no unreserved folio is free, `unmap_ref_private()` takes `old`
    /// from the children that share it, and the owner, now its only
    /// mapper, reuses it (`retry_avoidcopy`).
    fn hugetlb_wp(&self, vmf: &VmFault<'_>) -> KResult<()> {
        let (mm, vma, orig) = (vmf.mm, vmf.vma, vmf.orig);
        let old = orig.pfn();
        let cow_from_owner = vma.resv.is_some() && self.folio_test_anon(old);
        let mut unmapped_children = false;
        let new = loop {
            {
                let _ptl = mm.ptl(vmf.table);
                if !vmf.same(self) {
                    return Ok(());
                }
                // "Note that we don't rely on the (safer) refcount check".
                if self.folio_mapcount(old) == 1 && self.folio_test_anon(old) {
                    self.page(old).set(PG_ANON_EXCLUSIVE);
                    if !vmf.unshare() {
                        vmf.set(self, orig.with(PTE_RW | PTE_DIRTY | PTE_YOUNG));
                    }
                    return Ok(());
                }
                self.folio_get(old);
            }
            match self.alloc_hugetlb_folio(vma, vmf.address, cow_from_owner) {
                Ok(n) => break n,
                Err(e) => {
                    self.folio_put(old);
                    if !cow_from_owner || unmapped_children {
                        return Err(e);
                    }
                    self.unmap_ref_private(mm, old);
                    unmapped_children = true;
                }
            }
        };
        let copied = (0..HPAGE_PMD_NR).try_for_each(|i| self.physmem().copy_page(new + i, old + i));
        let ptl = mm.ptl(vmf.table);
        if copied.is_err() || !vmf.same(self) {
            drop(ptl);
            self.restore_reserve_on_error(vma, vmf.address, new);
            self.folio_put(new);
            self.folio_put(old);
            return copied;
        }
        let h = haddr(vmf.address);
        self.map_new_hugetlb(mm, vmf.vma, vmf.table, vmf.idx, h, new, !vmf.unshare());
        self.folio_remove_rmap_pmd(old, mm);
        self.folio_put(old);
        drop(ptl);
        self.folio_put(old);
        Ok(())
    }

    /// `copy_hugetlb_page_range()` for one PMD: share it write-protected, or
    /// copy it for the child when the page may be pinned and is exclusive.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn copy_hugetlb_pmd(
        &self,
        dst: &Mm,
        src: &Mm,
        vma: &Vma,
        spt: Pfn,
        spi: u64,
        addr: u64,
        pinned_check: bool,
    ) -> KResult<()> {
        if self.read_entry(spt, spi).is_none() {
            return Ok(());
        }
        let (dpt, dpi) = self.walk_pmd(dst, addr, true)?.expect("allocating walk");
        let head = {
            let mut sptl = src.ptl(spt);
            // A folio under migration: wait until its entry is a PMD again.
            while self.pmd_is_migration(spt, spi) {
                drop(sptl);
                crate::sync::thread::yield_now();
                sptl = src.ptl(spt);
            }
            let _sptl = sptl;
            let pmd = self.read_entry(spt, spi);
            if !pmd.huge() {
                return Ok(());
            }
            let head = pmd.pfn();
            self.folio_get(head);
            // hugetlb_try_dup_anon_rmap(), or hugetlb_add_file_rmap() for a
            // file folio (which is never exclusive, so never refused).
            if self
                .folio_try_dup_anon_rmap_pmd(head, dst, pinned_check)
                .is_ok()
            {
                let cow = vma.is_cow();
                if cow && pmd.write() {
                    self.write_entry(spt, spi, pmd.wrprotect());
                }
                let child = if cow { pmd.wrprotect() } else { pmd };
                self.write_entry(dpt, dpi, child.without(PTE_YOUNG));
                return Ok(());
            }
            head
        };
        // Maybe pinned: the child gets its own copy now, outside any
        // reservation (the child has none: alloc_hugetlb_folio(dst_vma,
        // addr, true)).
        let child_vma = Vma {
            resv: None,
            ..vma.clone()
        };
        let new = match self.alloc_hugetlb_folio(&child_vma, addr, true) {
            Ok(n) => n,
            Err(e) => {
                self.folio_put(head);
                return Err(e);
            }
        };
        let copied =
            (0..HPAGE_PMD_NR).try_for_each(|i| self.physmem().copy_page(new + i, head + i));
        self.folio_put(head);
        if let Err(e) = copied {
            self.folio_put(new);
            return Err(e);
        }
        self.map_new_hugetlb(dst, vma, dpt, dpi, haddr(addr), new, true);
        Ok(())
    }
}

impl Machine {
    /// `set_max_huge_pages()` (a write of `nr_hugepages`): grows the pool
    /// with fresh movable folios until it holds `count` or allocation fails
    /// (no error: the pool is as large as it could get), or shrinks it by
    /// freeing free folios to the buddy allocator — never below the
    /// reserved and in-use ones (`min_count` is `resv_huge_pages +
    /// nr_huge_pages - free_huge_pages`): in-use ones stay, and so do as
    /// many free ones as are reserved (the kernel would count the excess as surplus,
    /// which the model has not).
    pub fn set_max_huge_pages(&self, count: u64) {
        while self.vm().hugetlb.lock().total < count {
            if self.alloc_pool_hugetlb_folio().is_err() {
                break;
            }
        }
        loop {
            let head = {
                let mut pool = self.vm().hugetlb.lock();
                if pool.total <= count || pool.nr_free() <= pool.resv.resv_huge_pages {
                    break;
                }
                let Some(head) = pool.free.pop() else { break };
                pool.total -= 1;
                head
            };
            self.update_and_free_hugetlb_folio(head);
        }
    }
}
