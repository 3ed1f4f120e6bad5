//! hugetlb reservations (mm/hugetlb.c: `hugetlb_reserve_pages()`,
//! `resv_map`, `vma_needs_reservation()`, `hugetlb_vm_op_close()`,
//! `hugetlb_unreserve_pages()`, `unmap_ref_private()`).
//!
//! The protocol is described in [`super::hugetlb`]'s module doc; this file
//! holds its state and the steps that move it. Everything here sits under
//! the pool's lock (`hugetlb_lock`), beside the free list whose size the
//! reservations are promises against: `resv_huge_pages` never exceeds the
//! number of free folios (`gather_surplus_pages()` would add surplus pages
//! to keep that true; the model has no overcommit, so the mmap fails).
//!
//! Two kinds of `resv_map`, with opposite meanings of an entry (the kernel
//! warns about this in `__vma_reservation_common()`):
//!
//! * a hugetlbfs inode's (a shared mapping, or a `file F SIZE hugetlb`
//!   mapped shared): an entry is a 2 MiB index *reserved or instantiated*;
//!   reserving again finds it and adds nothing, however many processes map
//!   the range;
//! * a private mapping's, owned by the VMA of the process that mmap()ed it
//!   (HPAGE_RESV_OWNER, [`super::Vma::resv`]): the whole range is reserved
//!   at mmap and an entry is an index whose reservation a fault *consumed*.
//!
//! HPAGE_RESV_UNMAPPED lives in a set keyed by (mm id, anon_vma) rather than
//! in the child's VMA: the owner's fault that sets it holds its own
//! mmap_lock, not the child's, and the model's VMAs are only written under
//! their mm's mmap_lock.

use super::huge::{haddr, HPAGE_PMD_NR};
use super::{Mm, Vma, VM_HUGETLB, VM_SHARED};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::Pfn;
use std::collections::{BTreeMap, BTreeSet};

/// The reservation state of the pool (part of `struct hstate` and the
/// `resv_map`s), under `hugetlb_lock`.
#[derive(Default, Debug)]
pub(crate) struct Reservations {
    /// `resv_huge_pages`: free folios promised to mappings.
    pub(crate) resv_huge_pages: u64,
    /// Private mappings' maps by id: the indexes whose reservation was
    /// consumed.
    private: BTreeMap<u32, BTreeSet<u64>>,
    /// The next private map's id.
    next_id: u32,
    /// Hugetlbfs inodes' maps by file id: the indexes reserved (or
    /// instantiated).
    files: BTreeMap<u32, BTreeSet<u64>>,
    /// HPAGE_RESV_UNMAPPED: (mm id, anon_vma) of the private VMAs without
    /// reservations that `unmap_ref_private()` took a page from.
    unmapped: BTreeSet<(u32, u32)>,
    /// HPG_restore_reserve: heads of folios that consumed a reservation and
    /// are not yet mapped or in a page cache; freeing one gives the
    /// reservation back (`free_huge_folio()`).
    restore_reserve: BTreeSet<u64>,
}

/// Which map a fault consults (`vma_resv_map()`) and the 2 MiB index in it
/// (`vma_hugecache_offset()`).
#[derive(Clone, Copy)]
enum ResvKey {
    /// A shared mapping: its file's map.
    File(u32),
    /// The owner of a private mapping: its own map.
    Private(u32),
    /// A private mapping without reservations (a fork child).
    None,
}

impl ResvKey {
    fn of(vma: &Vma) -> ResvKey {
        match (vma.flags & VM_SHARED != 0, vma.file, vma.resv) {
            (true, Some(f), _) => ResvKey::File(f),
            (false, _, Some(id)) => ResvKey::Private(id),
            _ => ResvKey::None,
        }
    }
}

/// `vma_hugecache_offset()`.
fn hugecache_offset(vma: &Vma, addr: u64) -> u64 {
    vma.linear_page_index(haddr(addr)) / HPAGE_PMD_NR
}

impl Reservations {
    /// `hugetlb_acct_memory(delta > 0)`: `n` more free pages promised, or
    /// ENOMEM if `free` does not cover every promise (no surplus pages).
    fn reserve(&mut self, free: u64, n: u64) -> KResult<()> {
        let want = self.resv_huge_pages + n;
        if want > free {
            return Err(Errno::ENOMEM);
        }
        self.resv_huge_pages = want;
        Ok(())
    }

    /// `hugetlb_acct_memory(delta < 0)`: `n` promises given back.
    fn unreserve(&mut self, n: u64) {
        self.resv_huge_pages -= n;
    }

    /// `vma_needs_reservation()`: true if a fault at `idx` must take a
    /// folio nobody reserved (`map_chg`).
    fn needs_reservation(&self, key: ResvKey, idx: u64) -> bool {
        match key {
            ResvKey::File(f) => !self.files.get(&f).is_some_and(|m| m.contains(&idx)),
            ResvKey::Private(id) => self.private.get(&id).is_none_or(|m| m.contains(&idx)),
            ResvKey::None => true,
        }
    }

    /// `vma_commit_reservation()`: the index is now instantiated (shared)
    /// or its reservation consumed (private owner).
    fn commit(&mut self, key: ResvKey, idx: u64) {
        match key {
            ResvKey::File(f) => {
                self.files.entry(f).or_default().insert(idx);
            }
            ResvKey::Private(id) => {
                if let Some(m) = self.private.get_mut(&id) {
                    m.insert(idx);
                }
            }
            ResvKey::None => {}
        }
    }

    /// `region_count()` over an owner VMA's range, turned round: how many
    /// of its huge pages are still reserved (not consumed).
    fn unconsumed(&self, vma: &Vma) -> u64 {
        let (start, end) = (
            hugecache_offset(vma, vma.start),
            hugecache_offset(vma, vma.end - 1) + 1,
        );
        let consumed = vma
            .resv
            .and_then(|id| self.private.get(&id))
            .map_or(0, |m| m.range(start..end).count() as u64);
        end - start - consumed
    }

    /// `available_huge_pages()`: free folios nobody reserved.
    fn available(&self, free: u64) -> u64 {
        free - self.resv_huge_pages
    }
}

impl Machine {
    /// `hugetlb_reserve_pages()` for a private mapping of `pages` huge
    /// pages: a new map owned by the mapping, every page reserved; returns
    /// the map's id. -ENOMEM if the unreserved free folios are too few.
    pub(crate) fn hugetlb_reserve_private(&self, pages: u64) -> KResult<u32> {
        let mut pool = self.vm().hugetlb.lock();
        let free = pool.nr_free();
        pool.resv.reserve(free, pages)?;
        let id = pool.resv.next_id;
        pool.resv.next_id += 1;
        pool.resv.private.insert(id, BTreeSet::new());
        Ok(id)
    }

    /// `hugetlb_reserve_pages()` for a shared mapping of the first `pages`
    /// huge pages of hugetlbfs file `file`: `region_chg()` counts the
    /// indexes not in the inode's map yet, those are reserved, and
    /// `region_add()` enters them. -ENOMEM if they do not fit.
    pub(crate) fn hugetlb_reserve_file(&self, file: u32, pages: u64) -> KResult<()> {
        let mut pool = self.vm().hugetlb.lock();
        let free = pool.nr_free();
        let chg = {
            let map = pool.resv.files.get(&file);
            (0..pages)
                .filter(|i| !map.is_some_and(|m| m.contains(i)))
                .count()
        };
        pool.resv.reserve(free, chg as u64)?;
        pool.resv.files.entry(file).or_default().extend(0..pages);
        Ok(())
    }

    /// Whether hugetlbfs file `file` has a reservation map with entries.
    pub(crate) fn hugetlb_file_reserved(&self, file: u32) -> bool {
        self.vm()
            .hugetlb
            .lock()
            .resv
            .files
            .get(&file)
            .is_some_and(|m| !m.is_empty())
    }

    /// `hugetlb_unreserve_pages()` when the whole file goes
    /// (`remove_inode_hugepages()` at eviction): `region_del()` of every
    /// entry, and the reservations of the entries that never became a
    /// folio (`freed` folios did) go back to the pool.
    pub(crate) fn hugetlb_unreserve_pages(&self, file: u32, freed: u64) {
        let mut pool = self.vm().hugetlb.lock();
        let chg = pool.resv.files.remove(&file).map_or(0, |m| m.len() as u64);
        pool.resv.unreserve(chg.saturating_sub(freed));
    }

    /// `hugetlb_vm_op_close()`: a private hugetlb VMA of its owner goes
    /// (munmap, exit); the reservations of its range that no fault
    /// consumed go back to the pool. The map itself goes with the owner's
    /// last VMA that uses it (its kref): none of `remaining`, the VMAs the
    /// mm keeps.
    pub(crate) fn hugetlb_vm_op_close<'a>(
        &self,
        remaining: impl IntoIterator<Item = &'a Vma>,
        vma: &Vma,
    ) {
        if vma.flags & VM_HUGETLB == 0 {
            return;
        }
        let Some(id) = vma.resv else {
            return;
        };
        let shared_map = remaining.into_iter().any(|v| v.resv == Some(id));
        let mut pool = self.vm().hugetlb.lock();
        let reserve = pool.resv.unconsumed(vma);
        pool.resv.unreserve(reserve);
        if !shared_map {
            pool.resv.private.remove(&id);
        }
    }

    /// `exit_mmap()`'s part: the mm's HPAGE_RESV_UNMAPPED marks die with
    /// its VMAs.
    pub(crate) fn hugetlb_exit_mmap(&self, mm: &Mm) {
        self.vm()
            .hugetlb
            .lock()
            .resv
            .unmapped
            .retain(|&(m, _)| m != mm.id);
    }

    /// `alloc_hugetlb_folio()`'s reservation step, under the pool's lock:
    /// whether the fault of `vma` at `addr` may use a reserved folio
    /// (`vma_needs_reservation()` found one and this is not the owner's
    /// COW, `cow_from_owner`); false with -EFAULT (the model's SIGBUS) if it
    /// may not and every free folio is reserved (`available_huge_pages()`).
    pub(super) fn hugetlb_resv_may_take(
        resv: &Reservations,
        free: u64,
        vma: &Vma,
        addr: u64,
        cow_from_owner: bool,
    ) -> KResult<bool> {
        let reserved = !resv.needs_reservation(ResvKey::of(vma), hugecache_offset(vma, addr));
        let use_reserve = reserved && !cow_from_owner;
        if !use_reserve && resv.available(free) == 0 {
            return Err(Errno::EFAULT);
        }
        Ok(use_reserve)
    }

    /// The rest of `alloc_hugetlb_folio()` once `head` is dequeued: a used
    /// reservation is debited and HPG_restore_reserve set, and
    /// `vma_commit_reservation()` enters the index in the map.
    pub(super) fn hugetlb_resv_commit(
        resv: &mut Reservations,
        vma: &Vma,
        addr: u64,
        head: Pfn,
        used_reserve: bool,
    ) {
        if used_reserve {
            resv.resv_huge_pages -= 1;
            resv.restore_reserve.insert(head.0);
        }
        resv.commit(ResvKey::of(vma), hugecache_offset(vma, addr));
    }

    /// `restore_reserve_on_error()`: a folio `alloc_hugetlb_folio()` gave
    /// the fault at `addr` is about to be freed unused (the fault lost a
    /// race or could not copy). If it consumed the owner's reservation, the
    /// index is unconsumed again (`vma_add_reservation()` → `region_del()`)
    /// and freeing it restores the count ([`Machine::hugetlb_resv_on_free`]).
    pub(crate) fn restore_reserve_on_error(&self, vma: &Vma, addr: u64, head: Pfn) {
        let mut pool = self.vm().hugetlb.lock();
        if !pool.resv.restore_reserve.contains(&head.0) {
            return;
        }
        if let ResvKey::Private(id) = ResvKey::of(vma) {
            if let Some(m) = pool.resv.private.get_mut(&id) {
                m.remove(&hugecache_offset(vma, addr));
            }
        }
    }

    /// `folio_clear_hugetlb_restore_reserve()`: the folio is mapped or in
    /// a page cache now, its reservation spent for good.
    pub(crate) fn hugetlb_clear_restore_reserve(&self, head: Pfn) {
        self.vm()
            .hugetlb
            .lock()
            .resv
            .restore_reserve
            .remove(&head.0);
    }

    /// `free_huge_folio()`'s `folio_test_hugetlb_restore_reserve()`: a
    /// folio freed before it was used gives its reservation back.
    pub(super) fn hugetlb_resv_on_free(resv: &mut Reservations, head: Pfn) {
        if resv.restore_reserve.remove(&head.0) {
            resv.resv_huge_pages += 1;
        }
    }

    /// `HugePages_Rsvd`.
    pub fn hugetlb_resv_pages(&self) -> u64 {
        self.vm().hugetlb.lock().resv.resv_huge_pages
    }

    /// What the reservation maps promise, counted from the maps and the
    /// mappings rather than from `resv_huge_pages`: for each live private
    /// owner VMA, its huge pages not consumed; for each file, its map's
    /// entries without a folio in its cache. The checker compares it with
    /// `HugePages_Rsvd`.
    pub(crate) fn hugetlb_resv_promised(&self) -> u64 {
        let owners: Vec<Vma> = self
            .live_mms()
            .iter()
            .flat_map(|mm| {
                let maps = mm.mmap_lock.down_read();
                maps.iter()
                    .filter(|v| v.resv.is_some())
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        let pool = self.vm().hugetlb.lock();
        let private: u64 = owners.iter().map(|v| pool.resv.unconsumed(v)).sum();
        let files: Vec<(u32, BTreeSet<u64>)> = pool
            .resv
            .files
            .iter()
            .map(|(&f, m)| (f, m.clone()))
            .collect();
        drop(pool);
        let shared: u64 = files
            .into_iter()
            .map(|(f, m)| m.difference(&self.file_huge_cached(f)).count() as u64)
            .sum();
        private + shared
    }

    /// `unmap_ref_private()`: the owner of a private mapping could not get
    /// a folio for its COW of `old` at `addr` (a child shares it and every
    /// free folio is reserved). Every other private VMA mapping `old` at
    /// that place without reservations of its own loses the mapping and is
    /// marked HPAGE_RESV_UNMAPPED, so that its next no-page fault fails
    /// (SIGBUS: it would otherwise find a zeroed page where the data was at
    /// fork). The owner then finds `old` mapped once and reuses it.
    pub(crate) fn unmap_ref_private(&self, mm: &Mm, old: Pfn) {
        let Some((anon_vma, index)) = self.anon_location(old) else {
            return;
        };
        let _rmap = self.vm().rmap_lock.down_read();
        for (other, addr) in self.anon_rmap_addresses(anon_vma, index) {
            if other.id == mm.id {
                continue;
            }
            // The candidate's VMA, as the rmap index publishes it.
            let private_child = other
                .rmap_vmas
                .lock()
                .iter()
                .any(|v| v.contains(addr) && v.flags & VM_SHARED == 0 && v.resv.is_none());
            if !private_child {
                continue;
            }
            let Ok(Some((pt, pi))) = self.walk_pmd(&other, addr, false) else {
                continue;
            };
            let pmd = self.read_entry(pt, pi);
            if !pmd.huge() || pmd.pfn() != old {
                continue;
            }
            // __unmap_hugepage_range() with a ref_page: only that page's
            // mapping goes, and the VMA is marked.
            self.zap_huge_pmd(&other, pt, pi);
            self.vm()
                .hugetlb
                .lock()
                .resv
                .unmapped
                .insert((other.id, anon_vma));
        }
    }

    /// How many private reservation maps and HPAGE_RESV_UNMAPPED marks
    /// exist (both die with their address space).
    pub(crate) fn hugetlb_resv_private_state(&self) -> (usize, usize) {
        let pool = self.vm().hugetlb.lock();
        (pool.resv.private.len(), pool.resv.unmapped.len())
    }

    /// `is_vma_resv_set(vma, HPAGE_RESV_UNMAPPED)` for `vma` of `mm`.
    pub(crate) fn hugetlb_vma_unmapped(&self, mm: &Mm, vma: &Vma) -> bool {
        let Some(av) = vma.anon_vma else {
            return false;
        };
        self.vm()
            .hugetlb
            .lock()
            .resv
            .unmapped
            .contains(&(mm.id, av))
    }
}
