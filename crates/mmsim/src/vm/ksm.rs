//! KSM: merging identical anonymous pages of MADV_MERGEABLE ranges (mm/ksm.c;
//! reference kernel-gup-cow.md §6.4).
//!
//! One `ksm_run()` is one full scan of ksmd: every present anonymous page of
//! every mergeable VMA, in address-space and address order, goes through
//! `cmp_and_merge_page()`:
//!
//! 1. KSM remembers each address from one scan to the next (an rmap_item):
//!    a page whose checksum changed since the previous scan — or that was
//!    not seen before — only has its checksum recorded. Merging two fresh
//!    identical pages therefore takes two scans.
//! 2. A page with the contents of a KSM page (the stable tree) is pointed
//!    at that KSM page, read-only.
//! 3. Otherwise the page goes into the unstable tree, which lives for one
//!    scan; when a second page with the same contents comes along, it
//!    becomes a KSM page and the first is pointed at it.
//!
//! With smart scan (the default since 6.7) a page that did not merge for
//! three scans is skipped in some of the following ones.
//!
//! A page merges only if KSM can write-protect it (`write_protect_page()`):
//! its references must all be mappings (`folio_ref_count == mapcount`, so a
//! GUP reference or pin keeps it out), and an exclusive page must pass
//! `folio_try_share_anon_rmap_pte()`, which refuses a maybe-pinned page. A
//! KSM page is never PG_anon_exclusive: every write fault copies it, and a
//! read-only pin unshares (copies) it first.
//!
//! # The stable tree's reverse map
//!
//! A KSM page has no single anon_vma or index. Its stable node keeps an
//! rmap item for every mapping a merge made — the anon_vma of the VMA and
//! the address — and `rmap_walk_ksm()` looks at that address in every
//! address space of that anon_vma (so a forked child's mapping is found
//! too), believing only entries that map the page. That is how migration
//! finds a KSM page's mappings; once they are all migration entries and
//! the page holds no other reference, the node is moved to the new page
//! (`folio_migrate_ksm()`) under the stable tree's lock, under which a
//! merge also maps a stable page, so a merge either maps the old page first
//! — and the migration fails — or finds the node at the new one. Items
//! whose page is no longer KSM go at the next scan. mremap breaks the KSM
//! pages of the range it moves first (`ksm_madvise(MADV_UNMERGEABLE)`), so an
//! item's address stays where its page is mapped.

use super::pte::{Pte, PTE_YOUNG};
use super::rmap::{head_ksm, set_page_ksm};
use super::vma::{RangeCall, UserRange};
use super::RmapVec;
use super::{Mm, MmMaps, Vma, VM_HUGETLB, VM_MERGEABLE, VM_SHARED};
use crate::errno::KResult;
use crate::machine::Machine;
use crate::page::{Pfn, PAGE_SIZE, PG_ANON_EXCLUSIVE, PG_LRU, PG_SWAPBACKED, PG_UPTODATE};
use crate::sync::Arc;
use std::collections::BTreeMap;

/// The stable tree's nodes by KSM page: each node's rmap items, the
/// (anon_vma, address) of every mapping a merge made of its page.
pub(crate) type StableNodes = BTreeMap<u64, Vec<(u32, u64)>>;

/// `vma_ksm_compatible()`: KSM leaves shared and hugetlb mappings alone.
fn ksm_compatible(v: &Vma) -> bool {
    v.flags & (VM_SHARED | VM_HUGETLB) == 0
}

/// `struct ksm_rmap_item`: what ksmd remembers about one address of a
/// mergeable VMA from one scan to the next.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RmapItem {
    /// `oldchecksum`: the page's checksum at the previous scan.
    oldchecksum: Option<u64>,
    /// `age`: scans that saw this address without it becoming KSM.
    age: u8,
    /// `remaining_skips`: scans still to skip (smart scan).
    remaining_skips: u8,
}

impl RmapItem {
    /// `should_skip_rmap_item()` with `ksm_smart_scan` on (the default): a
    /// page that did not merge in three scans is skipped more and more
    /// often. (KSM pages never come here.)
    fn should_skip(&mut self) -> bool {
        let age = self.age;
        self.age = self.age.saturating_add(1);
        if age < 3 {
            return false;
        }
        if self.remaining_skips == 0 {
            // skip_age()
            self.remaining_skips = match age {
                ..=3 => 1,
                4..=5 => 2,
                6..=8 => 4,
                _ => 8,
            };
            return false;
        }
        self.remaining_skips -= 1;
        true
    }
}

/// A page a scan looks at: where it is mapped, its contents, and the
/// anon_vma an rmap item for it would record.
struct Candidate {
    mm: Arc<Mm>,
    addr: u64,
    pfn: Pfn,
    buf: Vec<u8>,
    anon_vma: u32,
}

/// `calc_checksum()`: a hash of the page's bytes (the kernel's xxhash; any
/// hash that changes with the contents serves).
fn calc_checksum(buf: &[u8]) -> u64 {
    // FNV-1a.
    buf.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// What a scan did, as /sys/kernel/mm/ksm reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KsmStats {
    /// `pages_shared`: KSM pages in use after the scan.
    pub pages_shared: u64,
    /// `pages_sharing`: mappings of KSM pages beyond the first of each.
    pub pages_sharing: u64,
}

impl Machine {
    /// `madvise(MADV_MERGEABLE / MADV_UNMERGEABLE)`. Unmerging breaks
    /// sharing of every KSM page in the range (`break_ksm()`: an unshare
    /// fault copies it).
    pub fn madvise_mergeable(&self, mm: &Mm, start: u64, len: u64, mergeable: bool) -> KResult<()> {
        // ksm_madvise(): VMAs KSM cannot handle keep their flags, silently
        // (vma_ksm_compatible()).
        let ret = self.madvise_update_vma(mm, start, len, |v| {
            Ok(if !ksm_compatible(v) {
                v.flags
            } else if mergeable {
                v.flags | VM_MERGEABLE
            } else {
                v.flags & !VM_MERGEABLE
            })
        });
        if let (false, Ok(Some(r))) = (mergeable, UserRange::new(RangeCall::Madvise, start, len)) {
            let maps = mm.mmap_lock.down_read();
            self.unmerge_ksm_pages(mm, &maps, r.start, r.end)?;
        }
        ret
    }

    /// `unmerge_ksm_pages()`: breaks every KSM page mapped in `[start,
    /// end)` of `mm` (`break_ksm()`: an unshare fault copies it);
    /// `mmap_lock` held.
    pub(crate) fn unmerge_ksm_pages(
        &self,
        mm: &Mm,
        maps: &MmMaps,
        start: u64,
        end: u64,
    ) -> KResult<()> {
        let mut addr = start;
        while addr < end {
            let pte = self.pte_at(mm, addr);
            if pte.present() && !pte.special() && self.folio_test_ksm(pte.pfn()) {
                let unshare = super::fault::FaultFlags {
                    write: false,
                    unshare: true,
                };
                self.handle_mm_fault_locked(mm, maps, addr, unshare)?;
            }
            addr += PAGE_SIZE;
        }
        Ok(())
    }

    /// `rmap_walk_ksm()`'s candidates: for each rmap item of the stable
    /// node of `kpfn`, its address in every address space of its anon_vma.
    pub(crate) fn ksm_rmap_addresses(&self, kpfn: Pfn) -> RmapVec<(Arc<Mm>, u64)> {
        let items = self
            .vm()
            .ksm_stable
            .lock()
            .get(&kpfn.0)
            .cloned()
            .unwrap_or_default();
        items
            .into_iter()
            .flat_map(|(anon_vma, addr)| {
                self.anon_vma_mms(anon_vma)
                    .into_iter()
                    .map(move |mm| (mm, addr))
            })
            .collect()
    }

    /// `folio_migrate_ksm()` with `folio_migrate_mapping()`'s check, under
    /// the stable tree's lock: if the KSM page `src` holds exactly
    /// `expected` references (its mappings, now migration entries, and the
    /// migration core's), its stable node moves to `dst`, which becomes the
    /// KSM page; false otherwise, changing nothing.
    pub(crate) fn ksm_migrate_stable_node(&self, src: Pfn, dst: Pfn, expected: i32) -> bool {
        let mut nodes = self.vm().ksm_stable.lock();
        if self.page(src).ref_count() != expected {
            return false;
        }
        let Some(items) = nodes.remove(&src.0) else {
            return false;
        };
        nodes.insert(dst.0, items);
        let (old, new) = (self.page(src), self.page(dst));
        set_page_ksm(new);
        // folio_migrate_flags(); the new page goes on the LRU.
        for f in [PG_UPTODATE, PG_SWAPBACKED] {
            if old.test(f) {
                new.set(f);
            }
        }
        new.set(PG_LRU);
        old.set_private(0);
        true
    }

    /// One full KSM scan (`ksm_do_scan()` until the cursor wraps): every
    /// present anonymous page of every mergeable VMA, in address-space and
    /// address order, goes through `cmp_and_merge_page()`.
    pub fn ksm_run(&self) -> KsmStats {
        // Every candidate in scan order, with its contents and the anon_vma
        // an rmap item would record.
        let mut candidates: Vec<Candidate> = Vec::new();
        for mm in self.live_mms() {
            let maps = mm.mmap_lock.down_read();
            for v in maps.iter().filter(|v| v.flags & VM_MERGEABLE != 0) {
                let Some(av) = v.anon_vma else { continue };
                let mut addr = v.start;
                while addr < v.end {
                    let pte = self.pte_at(&mm, addr);
                    if pte.present() && !pte.special() && self.folio_test_anon(pte.pfn()) {
                        if let Some(buf) = self.page_contents(pte.pfn()) {
                            candidates.push(Candidate {
                                mm: mm.clone(),
                                addr,
                                pfn: pte.pfn(),
                                buf,
                                anon_vma: av,
                            });
                        }
                    }
                    addr += PAGE_SIZE;
                }
            }
        }
        // Stable nodes whose page is no longer KSM (its last mapping went)
        // are gone: get_ksm_page() finds their page freed.
        // (A node's page may even have gone offline and away with its
        // memmap since.)
        // A KSM page is never large: its own slot says whether it is one.
        self.vm().ksm_stable.lock().retain(|&kpfn, _| {
            self.mem()
                .pfn_to_online_page(Pfn(kpfn))
                .is_some_and(head_ksm)
        });
        // The stable tree: every KSM page, by contents.
        let mut stable: BTreeMap<Vec<u8>, Pfn> = BTreeMap::new();
        self.for_each_mapped_pte(|_, _, pte| {
            if self.folio_test_ksm(pte.pfn()) {
                if let Some(buf) = self.page_contents(pte.pfn()) {
                    stable.insert(buf, pte.pfn());
                }
            }
        });
        // The unstable tree lives for one scan.
        let mut unstable: BTreeMap<Vec<u8>, (Arc<Mm>, u64, Pfn, u32)> = BTreeMap::new();
        let mut items = self.vm().ksm.lock();
        let mut next_items: BTreeMap<(u32, u64), RmapItem> = BTreeMap::new();
        for Candidate {
            mm,
            addr,
            pfn,
            buf,
            anon_vma: av,
        } in candidates
        {
            // get_next_rmap_item(): an address keeps its rmap_item while a
            // page is mapped there; one without a page loses it.
            let item = next_items
                .entry((mm.id, addr))
                .or_insert_with(|| items.remove(&(mm.id, addr)).unwrap_or_default());
            // The candidates are a snapshot: the page may have been
            // unmapped, migrated and its memory removed since. Only a page
            // still mapped there is looked at (get_mergeable_page()); a
            // mapped page cannot go offline.
            let now = self.pte_at(&mm, addr);
            if !now.present() || now.pfn() != pfn {
                continue;
            }
            if self.folio_test_ksm(pfn) || item.should_skip() {
                continue;
            }
            // "If the hash value of the page has changed from the last time
            // we calculated it, this page is changing frequently: therefore
            // we don't want to insert it in the unstable tree, and we don't
            // want to waste our time searching for something identical to
            // it there."
            let checksum = calc_checksum(&buf);
            if item.oldchecksum != Some(checksum) {
                item.oldchecksum = Some(checksum);
                continue;
            }
            // stable_tree_search() + try_to_merge_with_ksm_page().
            if let Some(&kpfn) = stable.get(&buf) {
                self.ksm_replace(&mm, addr, pfn, kpfn, av, false);
                continue;
            }
            // unstable_tree_search_insert() + try_to_merge_two_pages(): this
            // page becomes the KSM page and the tree page maps it too.
            // A forked page meeting itself stays out ("Don't substitute a
            // ksm page for a forked page"); a failed merge leaves the tree
            // page in the tree.
            match unstable.get(&buf).cloned() {
                Some((tmm, taddr, tpfn, tav)) => {
                    // Our reference keeps the page from being migrated or
                    // freed until it is a KSM page with a node.
                    if tpfn != pfn && self.ksm_write_protect(&mm, addr, pfn, true) {
                        if self.ksm_replace(&tmm, taddr, tpfn, pfn, tav, true) {
                            // stable_tree_insert(): the node, with the items
                            // of both mappings.
                            set_page_ksm(self.page(pfn));
                            self.vm()
                                .ksm_stable
                                .lock()
                                .insert(pfn.0, vec![(av, addr), (tav, taddr)]);
                            unstable.remove(&buf);
                            stable.insert(buf, pfn);
                        }
                        self.folio_put(pfn);
                    }
                }
                None => {
                    unstable.insert(buf, (mm.clone(), addr, pfn, av));
                }
            }
        }
        *items = next_items;
        drop(items);
        self.ksm_stats()
    }

    /// The bytes of a page, if it is readable.
    fn page_contents(&self, pfn: Pfn) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        self.physmem().read(pfn.phys(), &mut buf).ok().map(|()| buf)
    }

    /// `write_protect_page()`: false if the page may not be merged. With
    /// `get`, a reference is taken on the page while it is still mapped
    /// (the one the kernel's scan holds from `follow_page()` on).
    fn ksm_write_protect(&self, mm: &Mm, addr: u64, pfn: Pfn, get: bool) -> bool {
        // hugetlb pages are never merged: walk() finds no PTE table there.
        let Ok(Some((t, i))) = self.walk(mm, addr, false) else {
            return false;
        };
        let mapped = |m: &Machine| {
            let pte = m.read_entry(t, i);
            (pte.present() && pte.pfn() == pfn).then_some(pte)
        };
        let ptl = mm.ptl(t);
        if mapped(self).is_none() {
            return false;
        }
        let _ptl = if self.folio_test_large(pfn) {
            // try_to_merge_one_page() splits a large folio first, holding a
            // reference taken while the PTE maps it: without one, the folio
            // may be split and migrated away once the lock is dropped.
            self.folio_get(pfn);
            drop(ptl);
            let _ = self.split_huge_page(pfn);
            self.folio_put(pfn);
            if self.folio_test_large(pfn) {
                return false;
            }
            mm.ptl(t)
        } else {
            ptl
        };
        let Some(pte) = mapped(self) else {
            return false;
        };
        let p = self.page(pfn);
        // Every reference must be a mapping: a GUP reference keeps it out.
        if p.ref_count() != p.mapcount() {
            return false;
        }
        if p.test(PG_ANON_EXCLUSIVE) {
            // folio_try_share_anon_rmap_pte(): never share a pinned page.
            if self.folio_maybe_dma_pinned(pfn) {
                return false;
            }
            p.clear(PG_ANON_EXCLUSIVE);
        }
        if pte.write() {
            self.write_entry(t, i, pte.wrprotect());
        }
        if get {
            p.ref_inc();
        }
        true
    }

    /// `try_to_merge_one_page()` + `replace_page()`: maps the stable page
    /// where `pfn` was, and adds the rmap item (`anon_vma`, `addr`) to its
    /// stable node. `stable` is a KSM page whose node must still be its
    /// (`get_ksm_page()`; checked under the stable tree's lock, where a
    /// migration moves the node: the scan's PFN may be stale, its page
    /// migrated, freed and reused), or, for a `first` merge, the anonymous
    /// page the caller holds a reference on and is about to turn into one.
    fn ksm_replace(
        &self,
        mm: &Mm,
        addr: u64,
        pfn: Pfn,
        stable: Pfn,
        anon_vma: u32,
        first: bool,
    ) -> bool {
        if !self.ksm_write_protect(mm, addr, pfn, false) {
            return false;
        }
        let Ok(Some((t, i))) = self.walk(mm, addr, false) else {
            return false;
        };
        let ptl = mm.ptl(t);
        let pte = self.read_entry(t, i);
        if !pte.present() || pte.pfn() != pfn {
            return false;
        }
        {
            let mut nodes = self.vm().ksm_stable.lock();
            // The reference the new mapping holds, taken first: a KSM page
            // whose last mapping went is freed without the tree's lock
            // (get_ksm_page(): get_page_unless_zero(), then the checks).
            let Some(s) = self.mem().pfn_to_online_page(stable) else {
                return false;
            };
            if !s.try_get() {
                return false;
            }
            if !(first || head_ksm(s) && nodes.contains_key(&stable.0)) {
                drop(nodes);
                self.put_pages(stable, 0);
                return false;
            }
            // pages_identical(): the scan read the contents before the page
            // was write-protected, and a store may have landed since (found
            // by `mmsim stress`). Both pages are read-only and stay where
            // they are now (stores and migration entries need the page-table
            // lock we hold; the stable page is held by its node or our
            // reference): compare again.
            if self.page_contents(pfn) != self.page_contents(stable) {
                drop(nodes);
                self.put_pages(stable, 0);
                return false;
            }
            if !first {
                if let Some(items) = nodes.get_mut(&stable.0) {
                    items.push((anon_vma, addr));
                }
            }
            s.mapcount_add(1);
        }
        // replace_page(): mk_pte(kpage, vma->vm_page_prot), read-only.
        self.write_entry(t, i, Pte::new(stable, PTE_YOUNG).with_access_of(pte));
        self.folio_remove_rmap_pte(pfn, mm);
        drop(ptl);
        self.put_pages(pfn, 0);
        true
    }

    /// Counts KSM pages and their extra mappings.
    pub fn ksm_stats(&self) -> KsmStats {
        let mut seen: BTreeMap<u64, i32> = BTreeMap::new();
        self.for_each_mapped_pte(|_, _, pte| {
            if self.folio_test_ksm(pte.pfn()) {
                *seen.entry(pte.pfn().0).or_default() += 1;
            }
        });
        KsmStats {
            pages_shared: seen.len() as u64,
            pages_sharing: seen.values().map(|&n| (n - 1).max(0) as u64).sum(),
        }
    }
}
