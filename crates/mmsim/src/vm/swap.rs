//! Swap: one swap device, the swap cache, MADV_PAGEOUT and swap-in
//! (mm/swapfile.c, mm/swap_state.c, mm/vmscan.c, `do_swap_page()`; reference
//! kernel-gup-cow.md §3.5 and §6.1).
//!
//! The device is a set of 4 KiB slots (slot 0 is the header, never used) with
//! a use count per slot (`swap_map`: how many swap PTEs refer to it) and its
//! contents. The swap cache maps a slot to the page that holds its data while
//! both exist; a page in it has PG_swapcache and one reference held by the
//! cache.
//!
//! Exclusivity while swapped out lives only in the swap PTE (the
//! _PAGE_SWP_EXCLUSIVE bit): reclaim sets it when it unmaps a
//! PG_anon_exclusive page, fork clears it in the parent, and swap-in maps the
//! page exclusive only if the bit says so or nobody else can hold the page (a
//! fresh copy, or a sole reference) — and then writable, on a read fault too,
//! if the VMA is writable and soft-dirty tracking does not want to see the
//! next write (the swap entry keeps the soft-dirty bit). A page in the swap
//! cache is never PG_anon_exclusive while a swap PTE refers to it.

use super::fault::VmFault;
use super::pte::{
    Pte, SwapEntry, PTE_DIRTY, PTE_RW, PTE_SOFT_DIRTY, PTE_SWP_SOFT_DIRTY, PTE_YOUNG,
};
use super::vma::{Holes, RangeCall, UserRange};
use super::{Mm, VM_HUGETLB, VM_SOFTDIRTY, VM_WRITE};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, PAGE_SIZE, PG_ANON_EXCLUSIVE, PG_LRU, PG_SWAPCACHE, PG_UPTODATE};
use crate::sync::Mutex;
use crate::zone::alloc::Gfp;
use std::collections::BTreeMap;

/// The swap device's state (`swap_info_struct`, reduced).
pub struct SwapDevice {
    nr_slots: u64,
    /// Slot counts, contents and the swap cache: the swap-cache lock,
    /// taken under the page-table lock ([lock order](crate::machine#lock-order)).
    state: Mutex<SwapState>,
}

#[derive(Default)]
struct SwapState {
    /// Swap PTEs referring to each slot (absent: 0).
    count: BTreeMap<u64, u32>,
    /// The swap cache: slot → page, and back.
    cache: BTreeMap<u64, Pfn>,
    cache_rev: BTreeMap<u64, u64>,
    /// Slot contents written by pageout.
    data: BTreeMap<u64, Box<[u8]>>,
    /// Every slot below this one is in use (`si->lowest_bit`): the search
    /// for a free slot starts here, so pageout of N pages is not N².
    lowest_free: u64,
}

impl SwapDevice {
    /// A device of `bytes` (a multiple of the page size).
    pub fn new(bytes: u64) -> SwapDevice {
        SwapDevice {
            nr_slots: bytes / PAGE_SIZE,
            state: Mutex::new(SwapState::default()),
        }
    }

    /// Slots in use (referenced by a PTE or holding a cached page).
    pub fn used_slots(&self) -> u64 {
        let s = self.state.lock();
        let mut used: std::collections::BTreeSet<u64> = s.count.keys().copied().collect();
        used.extend(s.cache.keys());
        used.len() as u64
    }

    /// The lowest free slot (slot 0 holds the header, as on a real swap
    /// device); it stays free until the caller fills it.
    fn alloc_slot(&self, s: &mut SwapState) -> Option<u64> {
        let found = (s.lowest_free.max(1)..self.nr_slots)
            .find(|slot| !s.count.contains_key(slot) && !s.cache.contains_key(slot))?;
        s.lowest_free = found;
        Some(found)
    }
}

const SWAP_TYPE: u8 = 0;

impl Machine {
    fn swap(&self) -> KResult<&SwapDevice> {
        self.swap_device().ok_or(Errno::ENOMEM)
    }

    /// The slot of a page in the swap cache.
    pub fn swap_cache_slot(&self, pfn: Pfn) -> Option<u64> {
        self.swap_device()?
            .state
            .lock()
            .cache_rev
            .get(&pfn.0)
            .copied()
    }

    /// Swap PTEs referring to `slot`.
    pub fn swap_count(&self, slot: u64) -> u32 {
        self.swap_device()
            .map_or(0, |d| d.state.lock().count.get(&slot).copied().unwrap_or(0))
    }

    /// `__delete_from_swap_cache()`: the cache lets go of the page.
    fn swap_cache_del(&self, s: &mut SwapState, slot: u64) -> Option<Pfn> {
        let pfn = s.cache.remove(&slot)?;
        s.lowest_free = s.lowest_free.min(slot);
        s.cache_rev.remove(&pfn.0);
        self.page(pfn).clear(PG_SWAPCACHE);
        Some(pfn)
    }

    /// `swap_free()` of one reference; a slot nobody refers to any more is
    /// freed, and its cached page leaves the cache (`folio_free_swap`).
    fn swap_put(&self, slot: u64) {
        let Ok(dev) = self.swap() else { return };
        let freed_page = {
            let mut s = dev.state.lock();
            let n = s.count.get(&slot).copied().unwrap_or(0);
            if n > 1 {
                s.count.insert(slot, n - 1);
                None
            } else {
                s.count.remove(&slot);
                s.lowest_free = s.lowest_free.min(slot);
                s.data.remove(&slot);
                self.swap_cache_del(&mut s, slot)
            }
        };
        if let Some(pfn) = freed_page {
            self.put_pages(pfn, 0);
        }
    }

    /// `swap_duplicate()` (fork).
    pub(crate) fn swap_dup(&self, slot: u64) {
        if let Ok(dev) = self.swap() {
            *dev.state.lock().count.entry(slot).or_insert(0) += 1;
        }
    }

    /// Drops a swap PTE's reference (zap).
    pub(crate) fn swap_entry_free(&self, pte: Pte) {
        if let Some(SwapEntry::Swap { offset, .. }) = pte.swap_entry() {
            self.swap_put(offset);
        }
    }

    /// `madvise(MADV_PAGEOUT)`: reclaims every anonymous page of the range
    /// that this process alone maps. Pages that cannot go (pinned, with
    /// references beyond the mapping, or isolated by a migration) stay.
    /// Without a swap device `add_to_swap()` fails: the call still succeeds
    /// and the pages stay mapped (a large folio is split all the same, as
    /// `shrink_folio_list()` falls back to small folios before it gives up).
    /// Reclaim takes each page off the LRU before it unmaps it, as the
    /// migration core does, so the two never own one page at once.
    pub fn madvise_pageout(&self, mm: &Mm, start: u64, len: u64) -> KResult<()> {
        let Some(r) = UserRange::new(RangeCall::Madvise, start, len)? else {
            return Ok(());
        };
        let dev = self.swap_device();
        let maps = mm.mmap_lock.down_read();
        let (parts, holes) = Self::vma_parts(&maps, r, Holes::Skip);
        for (s, e) in parts {
            // can_madv_lru_vma(): never hugetlb.
            if maps.find(s).is_some_and(|v| v.flags & VM_HUGETLB != 0) {
                return Err(Errno::EINVAL);
            }
            let mut addr = s;
            while addr < e {
                self.pageout_one(dev, mm, addr);
                addr += PAGE_SIZE;
            }
        }
        holes
    }

    fn pageout_one(&self, dev: Option<&SwapDevice>, mm: &Mm, addr: u64) {
        let Ok(Some((t, i))) = self.walk(mm, addr, false) else {
            return;
        };
        let ptl = mm.ptl(t);
        let pte = self.read_entry(t, i);
        if !pte.present() || pte.special() {
            return;
        }
        let pfn = pte.pfn();
        if self.folio_test_large(pfn) {
            // A large folio is split first (what reclaim does when it
            // cannot swap it out whole); a pinned one stays. The reference
            // is taken while the PTE still maps the folio: once the lock is
            // dropped, an offlining thread may split and migrate it.
            self.folio_get(pfn);
            drop(ptl);
            let _ = self.split_huge_page(pfn);
            self.folio_put(pfn);
            if !self.folio_test_large(pfn) {
                self.pageout_one(dev, mm, addr);
            }
            return;
        }
        // add_to_swap() fails without swap space: the page stays.
        let Some(dev) = dev else {
            return;
        };
        let p = self.page(pfn);
        // madvise_cold_or_pageout: skip folios that may be mapped shared.
        if !self.folio_test_anon(pfn) || self.folio_test_ksm(pfn) || p.mapcount() != 1 {
            return;
        }
        let exclusive = p.test(PG_ANON_EXCLUSIVE);
        // try_to_unmap_one + folio_try_share_anon_rmap_pte: a pinned
        // exclusive page stays mapped.
        if exclusive && self.folio_maybe_dma_pinned(pfn) {
            return;
        }
        // Only the mapping's reference: anything else (GUP) keeps it.
        if p.ref_count() != 1 {
            return;
        }
        let mut s = dev.state.lock();
        let Some(slot) = dev.alloc_slot(&mut s) else {
            return;
        };
        let mut buf = vec![0u8; PAGE_SIZE as usize].into_boxed_slice();
        if self.physmem().read(pfn.phys(), &mut buf).is_err() {
            return;
        }
        // folio_isolate_lru(), before anything changes: reclaim owns the
        // page from here, and the migration core (offlining) cannot isolate
        // it any more; if the migration core got there first, the page
        // stays.
        if !p.test_and_clear(PG_LRU) {
            return;
        }
        // add_to_swap + pageout: the bytes go to the device now.
        s.data.insert(slot, buf);
        s.count.insert(slot, 1);
        drop(s);
        p.clear(PG_ANON_EXCLUSIVE);
        let entry = SwapEntry::Swap {
            ty: SWAP_TYPE,
            offset: slot,
        };
        // pte_swp_mksoft_dirty(): the swap entry keeps soft-dirty.
        let mut swp = Pte::swap(entry, exclusive);
        if pte.soft_dirty() {
            swp = swp.with(PTE_SWP_SOFT_DIRTY);
        }
        self.write_entry(t, i, swp);
        self.folio_remove_rmap_pte(pfn, mm);
        drop(ptl);
        // Off the LRU since the isolation above; the last reference goes.
        self.put_pages(pfn, 0);
    }

    /// `do_swap_page()`: brings the page of the swap entry `vmf.orig` back.
    pub(crate) fn do_swap_page(&self, vmf: &VmFault<'_>) -> KResult<()> {
        let (mm, vma, orig, addr) = (vmf.mm, vmf.vma, vmf.orig, vmf.address);
        let Some(SwapEntry::Swap { offset: slot, .. }) = orig.swap_entry() else {
            return Ok(());
        };
        let dev = self.swap()?;
        // Look the page up in the swap cache or read it in.
        let (pfn, fresh) = {
            let mut s = dev.state.lock();
            if let Some(&pfn) = s.cache.get(&slot) {
                self.page(pfn).ref_inc();
                (pfn, false)
            } else {
                drop(s);
                let pfn = self.alloc_pages(Gfp::MOVABLE, 0, 0)?;
                s = dev.state.lock();
                let data = s.data.get(&slot).cloned();
                match data {
                    Some(d) => self.physmem().write(pfn.phys(), &d)?,
                    None => self.physmem().clear_page(pfn)?,
                }
                // swap_read_folio(): folio_mark_uptodate() once read.
                self.page(pfn).set(PG_UPTODATE);
                // SWP_SYNCHRONOUS_IO: a slot with one user skips the cache.
                let shared = s.count.get(&slot).copied().unwrap_or(0) > 1;
                if shared {
                    s.cache.insert(slot, pfn);
                    s.cache_rev.insert(pfn.0, slot);
                    self.page(pfn).set(PG_SWAPCACHE);
                    // The cache's reference plus ours.
                    self.page(pfn).ref_inc();
                }
                (pfn, !shared)
            }
        };
        let ptl = mm.ptl(vmf.table);
        if !vmf.same(self) {
            drop(ptl);
            self.put_pages(pfn, 0);
            return Ok(());
        }
        let p = self.page(pfn);
        // The exclusivity decision, under the PTL (§3.5 step 5).
        let exclusive = orig.swp_exclusive() || fresh;
        if !self.folio_test_anon(pfn) {
            let anon_vma = vma.anon_vma.unwrap_or(0);
            let index = vma.linear_page_index(addr);
            self.folio_add_new_anon_rmap(pfn, anon_vma, index, false);
        } else {
            // A swap-cache page: on the LRU already, or isolated by a
            // migration that will put it back.
            p.mapcount_add(1);
        }
        let mut bits = PTE_YOUNG;
        if orig.swp_soft_dirty() {
            bits |= PTE_SOFT_DIRTY;
        }
        // "Same logic as in do_wp_page()", for pages certainly not shared:
        // mapped writable whenever the VMA allows it and soft-dirty
        // tracking needs no write fault (pte_needs_soft_dirty_wp()), on a
        // read fault too; only the dirty bit is the write fault's.
        let may_own = exclusive || p.ref_count() == 1;
        if may_own {
            p.set(PG_ANON_EXCLUSIVE);
            let soft_dirty_wp = vma.flags & VM_SOFTDIRTY == 0 && bits & PTE_SOFT_DIRTY == 0;
            if vma.flags & VM_WRITE != 0 && !soft_dirty_wp {
                bits |= PTE_RW;
                if vmf.write() {
                    bits |= PTE_DIRTY;
                }
            }
        }
        vmf.set(self, vma.mk_pte(pfn, bits));
        drop(ptl);
        // swap_free() of this PTE's reference; the page's reference now
        // belongs to the mapping.
        // A write fault that found the page possibly shared goes on to
        // do_wp_page() when the caller retries the now-present PTE.
        self.swap_put(slot);
        Ok(())
    }

    /// Every slot in use: its use count (swap PTEs referring to it), its
    /// swap-cache page if any, and whether it holds written-out data.
    pub(crate) fn swap_slots(&self) -> Vec<(u64, u32, Option<Pfn>, bool)> {
        let Some(dev) = self.swap_device() else {
            return Vec::new();
        };
        let s = dev.state.lock();
        let mut slots: std::collections::BTreeSet<u64> = s.count.keys().copied().collect();
        slots.extend(s.cache.keys());
        slots.extend(s.data.keys());
        slots
            .into_iter()
            .map(|slot| {
                (
                    slot,
                    s.count.get(&slot).copied().unwrap_or(0),
                    s.cache.get(&slot).copied(),
                    s.data.contains_key(&slot),
                )
            })
            .collect()
    }

    /// Checks that no swap-cache page that a swap PTE still refers to is
    /// PG_anon_exclusive (the BUG_ON in `do_swap_page`).
    pub(crate) fn swap_cache_exclusive_violations(&self) -> Vec<String> {
        let Some(dev) = self.swap_device() else {
            return Vec::new();
        };
        let s = dev.state.lock();
        s.cache
            .iter()
            .filter(|(slot, pfn)| {
                s.count.get(slot).copied().unwrap_or(0) > 0
                    && self.page(**pfn).test(PG_ANON_EXCLUSIVE)
            })
            .map(|(slot, pfn)| {
                format!("swap slot {slot} cached in pfn {pfn} which is PG_anon_exclusive")
            })
            .collect()
    }

    /// `folio_migrate_mapping()` for an anonymous page: true if `src` holds
    /// exactly `expected` references (plus the swap cache's, if it is in the
    /// cache). A swap-cache page is checked and handed to `dst` under the
    /// cache lock (the kernel freezes the count under the xarray lock), so a
    /// swap-in either took its reference before — and the migration fails —
    /// or finds `dst`.
    pub(crate) fn migrate_folio_refs(&self, src: Pfn, dst: Pfn, expected: i32) -> bool {
        let Some(dev) = self.swap_device() else {
            return self.page(src).ref_count() == expected;
        };
        let mut s = dev.state.lock();
        let Some(slot) = s.cache_rev.get(&src.0).copied() else {
            return self.page(src).ref_count() == expected;
        };
        if self.page(src).ref_count() != expected + 1 {
            return false;
        }
        s.cache_rev.remove(&src.0);
        s.cache.insert(slot, dst);
        s.cache_rev.insert(dst.0, slot);
        // The cache's reference moves with it.
        self.page(src).clear(PG_SWAPCACHE);
        self.page(src).ref_dec();
        self.page(dst).set(PG_SWAPCACHE);
        self.page(dst).ref_inc();
        true
    }
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use crate::page::PAGE_SIZE;
    use crate::vm::{VM_READ, VM_WRITE};
    use crate::{Machine, MachineConfig};

    fn swap_offset(m: &Machine, mm: &crate::vm::Mm, addr: u64) -> Option<u64> {
        match m.pte_at(mm, addr).swap_entry()? {
            super::SwapEntry::Swap { offset, .. } => Some(offset),
            _ => None,
        }
    }

    /// The slot search starts at the lowest free slot (`si->lowest_bit` of
    /// `scan_swap_map_slots()`), so a slot freed below the others is taken
    /// next, slot 0 (the swap header) never is, and a full device leaves
    /// the page mapped.
    #[test]
    fn pageout_takes_the_lowest_free_slot_and_stops_when_full() {
        let config = MachineConfig {
            ram: 64 << 20,
            swap: 6 * PAGE_SIZE,
            ..Default::default()
        };
        let m = Machine::boot(config, Default::default()).unwrap();
        let mm = m.mm_alloc().unwrap();
        let a = m
            .mmap_anon(&mm, 6 * PAGE_SIZE, VM_READ | VM_WRITE, true)
            .unwrap();
        let page = |i: u64| a + i * PAGE_SIZE;
        m.madvise_pageout(&mm, a, 4 * PAGE_SIZE).unwrap();
        let slots: Vec<_> = (0..4).map(|i| swap_offset(&m, &mm, page(i))).collect();
        assert_eq!(slots, [Some(1), Some(2), Some(3), Some(4)]);
        // Freeing slot 2 (zap of its only swap PTE) makes it the lowest.
        m.munmap(&mm, page(1), PAGE_SIZE).unwrap();
        m.madvise_pageout(&mm, page(4), 2 * PAGE_SIZE).unwrap();
        assert_eq!(swap_offset(&m, &mm, page(4)), Some(2));
        assert_eq!(swap_offset(&m, &mm, page(5)), Some(5));
        // Slots 1..=5 are taken: one more page finds the device full.
        let b = m
            .mmap_anon(&mm, PAGE_SIZE, VM_READ | VM_WRITE, true)
            .unwrap();
        m.madvise_pageout(&mm, b, PAGE_SIZE).unwrap();
        assert!(m.pte_at(&mm, b).present());
        // Swap-in frees slot 1 again, and the next pageout reuses it.
        m.user_write(&mm, page(0), &[9]).unwrap();
        m.madvise_pageout(&mm, b, PAGE_SIZE).unwrap();
        assert_eq!(swap_offset(&m, &mm, b), Some(1));
    }
}
