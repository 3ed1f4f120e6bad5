//! KSM: merging identical anonymous pages of MADV_MERGEABLE ranges (mm/ksm.c;
//! reference kernel-gup-cow.md §6.4).
//!
//! One `ksm_run()` is one full scan: every present anonymous page of every
//! mergeable VMA is grouped by content; in each group of identical pages one
//! page (or an existing KSM page with that content) becomes the stable KSM
//! page and the others' PTEs are pointed at it, read-only.
//!
//! A page merges only if KSM can write-protect it (`write_protect_page()`):
//! its references must all be mappings (`folio_ref_count == mapcount`, so a
//! GUP reference or pin keeps it out), and an exclusive page must pass
//! `folio_try_share_anon_rmap_pte()`, which refuses a maybe-pinned page. A
//! KSM page is never PG_anon_exclusive: every write fault copies it, and a
//! read-only pin unshares (copies) it first.
//!
//! KSM pages have no single anon_vma, so the model cannot migrate them yet:
//! offlining a block holding one retries until a signal.

use super::pte::{Pte, PTE_YOUNG};
use super::rmap::set_page_ksm;
use super::vma::{RangeCall, UserRange};
use super::{Mm, Vma, VM_HUGETLB, VM_MERGEABLE, VM_SHARED};
use crate::errno::KResult;
use crate::machine::Machine;
use crate::page::{Pfn, PAGE_SIZE, PG_ANON_EXCLUSIVE};
use crate::sync::Arc;
use std::collections::BTreeMap;

/// `vma_ksm_compatible()`: KSM leaves shared and hugetlb mappings alone.
fn ksm_compatible(v: &Vma) -> bool {
    v.flags & (VM_SHARED | VM_HUGETLB) == 0
}

/// A page KSM may merge: who maps it where.
type Candidate = (Arc<Mm>, u64, Pfn);

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
            // unmerge_ksm_pages(): break every KSM page of the mapped parts.
            let maps = mm.mmap_lock.down_read();
            let mut addr = r.start;
            while addr < r.end {
                let pte = self.pte_at(mm, addr);
                if pte.present() && !pte.special() && self.folio_test_ksm(pte.pfn()) {
                    let unshare = super::fault::FaultFlags {
                        write: false,
                        unshare: true,
                    };
                    self.handle_mm_fault_locked(mm, &maps, addr, unshare)?;
                }
                addr += PAGE_SIZE;
            }
        }
        ret
    }

    /// One full KSM scan over every mergeable range.
    pub fn ksm_run(&self) -> KsmStats {
        // Candidates by content: (mm, address, page).
        let mut groups: BTreeMap<Vec<u8>, Vec<Candidate>> = BTreeMap::new();
        for mm in self.live_mms() {
            let maps = mm.mmap_lock.down_read();
            for v in maps.iter().filter(|v| v.flags & VM_MERGEABLE != 0) {
                let mut addr = v.start;
                while addr < v.end {
                    let pte = self.pte_at(&mm, addr);
                    if pte.present() && !pte.special() && self.folio_test_anon(pte.pfn()) {
                        let mut buf = vec![0u8; PAGE_SIZE as usize];
                        if self.physmem().read(pte.pfn().phys(), &mut buf).is_ok() {
                            groups
                                .entry(buf)
                                .or_default()
                                .push((mm.clone(), addr, pte.pfn()));
                        }
                    }
                    addr += PAGE_SIZE;
                }
            }
        }
        for entries in groups.values() {
            let mut distinct: Vec<Pfn> = entries.iter().map(|e| e.2).collect();
            distinct.sort();
            distinct.dedup();
            if distinct.len() < 2 {
                continue;
            }
            // An existing KSM page is the stable one; else the first page
            // that can be write-protected becomes one — once a second page
            // has merged into it (try_to_merge_two_pages).
            let existing = distinct.iter().copied().find(|&p| self.folio_test_ksm(p));
            let stable = match existing {
                Some(s) => s,
                None => match entries
                    .iter()
                    .find(|(mm, addr, pfn)| self.ksm_write_protect(mm, *addr, *pfn))
                {
                    Some(e) => e.2,
                    None => continue,
                },
            };
            let mut merged = false;
            for (mm, addr, pfn) in entries {
                if *pfn != stable && self.ksm_replace(mm, *addr, *pfn, stable) {
                    merged = true;
                }
            }
            if merged && existing.is_none() {
                set_page_ksm(self.page(stable));
            }
        }
        self.ksm_stats()
    }

    /// `write_protect_page()`: false if the page may not be merged.
    fn ksm_write_protect(&self, mm: &Mm, addr: u64, pfn: Pfn) -> bool {
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
        true
    }

    /// `try_to_merge_one_page()` + `replace_page()`: maps the stable page
    /// where `pfn` was.
    fn ksm_replace(&self, mm: &Mm, addr: u64, pfn: Pfn, stable: Pfn) -> bool {
        if !self.ksm_write_protect(mm, addr, pfn) {
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
        let s = self.page(stable);
        s.ref_inc();
        s.mapcount_add(1);
        self.write_entry(t, i, Pte::new(stable, PTE_YOUNG));
        self.folio_remove_rmap_pte(pfn);
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
