//! get_user_pages / pin_user_pages, slow path (mm/gup.c; reference
//! kernel-gup-cow.md §4).
//!
//! A GUP walks the caller's page tables under `mmap_lock` (read), faulting in
//! what is missing, and takes a reference on every page:
//! * FOLL_GET: an ordinary reference (what vmsplice's pipe holds);
//! * FOLL_PIN: `GUP_PIN_COUNTING_BIAS` (1024) references on a small folio, so
//!   `folio_maybe_dma_pinned()` can tell; none on the zero page; and the mm
//!   gets MMF_HAS_PINNED for good.
//!
//! A read-only FOLL_PIN must stay coherent with the page table: if the page
//! behind a read-only PTE is not PG_anon_exclusive, GUP first triggers an
//! unshare fault (`gup_must_unshare()`), which makes it exclusive — reusing
//! it if it is no longer shared, copying it otherwise. A FOLL_WRITE GUP write
//! faults instead. Pinned anonymous pages are therefore always exclusive.
//! Under the historical `cow_reuse` variants there is no unsharing (it came
//! with PG_anon_exclusive in 5.19).

pub mod fast;

use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, PAGE_SIZE};
use crate::sync::Arc;
use crate::variant::CowReuse;
use crate::vm::fault::FaultFlags;
use crate::vm::walk::{pte_index, Mapping};
use crate::vm::{Mm, Vma, VM_READ, VM_WRITE};

/// How often migrating a longterm GUP's pages out of ZONE_MOVABLE may fail
/// before the GUP gives up with -EAGAIN.
const LONGTERM_RETRIES: u32 = 1000;
/// How long, in attempts, a longterm GUP waits for pages that somebody else
/// has isolated for migration.
const LONGTERM_WAIT_LIMIT: u32 = 10_000_000;

/// FOLL_* flags that the model distinguishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GupFlags {
    /// FOLL_WRITE.
    pub write: bool,
    /// FOLL_PIN (else FOLL_GET).
    pub pin: bool,
    /// FOLL_LONGTERM.
    pub longterm: bool,
}

/// The pages one GUP call took, to be released with
/// [`Machine::unpin_user_pages`].
#[derive(Debug)]
pub struct Pinned {
    /// The address space.
    pub mm: Arc<Mm>,
    /// One PFN per page, in address order.
    pub pages: Vec<Pfn>,
    /// How they were taken.
    pub flags: GupFlags,
}

impl Machine {
    /// `gup_must_unshare()`: a read-only pin of a page mapped read-only needs
    /// an unshare fault first unless the page is exclusive.
    pub fn gup_must_unshare(&self, vma: &Vma, flags: GupFlags, pfn: Pfn) -> bool {
        if self.variants().cow_reuse != CowReuse::Exclusive {
            return false;
        }
        if !flags.pin || flags.write {
            return false;
        }
        if pfn != self.zero_pfn() && self.folio_test_anon(pfn) {
            return !self.page_anon_exclusive(pfn);
        }
        // Page cache and the zero page: only a longterm pin must see later
        // writes, which in a COW mapping go to a new anonymous page.
        flags.longterm && vma.is_cow()
    }

    /// `__gup_longterm_locked()`: a longterm pin may not sit in ZONE_MOVABLE
    /// (`folio_is_longterm_pinnable()`), so pages there are unpinned,
    /// migrated to a kernel zone (`check_and_migrate_movable_pages()`) and
    /// the whole range pinned again.
    pub fn get_user_pages(
        &self,
        mm: &Arc<Mm>,
        start: u64,
        nr: u64,
        flags: GupFlags,
    ) -> KResult<Pinned> {
        // The kernel repeats while migration says -EAGAIN. A page that
        // somebody else has isolated (an offline migrating its block holds
        // what it isolated until the whole block is done) is progress
        // elsewhere and is waited for; other failures are counted and
        // bounded, and so, as a backstop, is the wait.
        let mut failures = 0;
        for _ in 0..LONGTERM_WAIT_LIMIT {
            let pinned = self.get_user_pages_locked(mm, start, nr, flags)?;
            if !flags.longterm {
                return Ok(pinned);
            }
            let movable: Vec<Pfn> = pinned
                .pages
                .iter()
                .copied()
                .filter(|&p| {
                    p != self.zero_pfn() && self.page(p).zonenum() == crate::page::ZoneType::Movable
                })
                .collect();
            if movable.is_empty() {
                return Ok(pinned);
            }
            // migrate_longterm_unpinnable_folios(): every pin is dropped.
            self.unpin_user_pages(pinned);
            for pfn in movable {
                let user = crate::zone::alloc::Gfp {
                    highest_zone: crate::page::ZoneType::Normal,
                    comp: false,
                };
                if !self.migrate_page_to(pfn, user) {
                    if self.page(self.folio_head(pfn)).test(crate::page::PG_LRU) {
                        failures += 1;
                    }
                    crate::sync::thread::yield_now();
                }
            }
            if failures > LONGTERM_RETRIES {
                break;
            }
        }
        Err(Errno::EAGAIN)
    }

    /// `__get_user_pages_locked()` for `nr` pages from `start`.
    fn get_user_pages_locked(
        &self,
        mm: &Arc<Mm>,
        start: u64,
        nr: u64,
        flags: GupFlags,
    ) -> KResult<Pinned> {
        if start % PAGE_SIZE != 0 || nr == 0 {
            return Err(Errno::EINVAL);
        }
        if flags.longterm && !flags.pin {
            return Err(Errno::EINVAL);
        }
        if flags.pin {
            mm.set_has_pinned();
        }
        let maps = mm.mmap_lock.down_read();
        let mut pages = Vec::with_capacity(nr as usize);
        for i in 0..nr {
            let addr = start + i * PAGE_SIZE;
            match self.get_one_page(mm, &maps, addr, flags) {
                Ok(pfn) => pages.push(pfn),
                Err(e) => {
                    drop(maps);
                    self.release_pages(&pages, flags);
                    return Err(e);
                }
            }
        }
        drop(maps);
        Ok(Pinned {
            mm: mm.clone(),
            pages,
            flags,
        })
    }

    /// `follow_page_pte()` + `faultin_page()` until the page is grabbed.
    fn get_one_page(
        &self,
        mm: &Mm,
        maps: &crate::vm::MmMaps,
        addr: u64,
        flags: GupFlags,
    ) -> KResult<Pfn> {
        let vma = maps.find(addr).ok_or(Errno::EFAULT)?;
        // check_vma_flags() without FOLL_FORCE: a write needs VM_WRITE, a
        // read VM_READ (so PROT_NONE is -EFAULT either way).
        if flags.write && vma.flags & VM_WRITE == 0 || !flags.write && vma.flags & VM_READ == 0 {
            return Err(Errno::EFAULT);
        }
        // check_vma_flags(): "(gup_flags & FOLL_LONGTERM) && vma_is_fsdax(vma)"
        // is -EOPNOTSUPP — the file system may need to move its blocks.
        if flags.longterm && vma.file.is_some_and(|f| self.file_is_dax(f)) {
            return Err(Errno::EOPNOTSUPP);
        }
        // Each retry follows a fault that made progress, or a wait for a
        // migration to finish; the bound only guards against a model bug.
        for _ in 0..100_000 {
            // faultin_page() for a missing or (for FOLL_WRITE) read-only entry.
            let fault_in = || {
                let ff = FaultFlags {
                    write: flags.write,
                    unshare: false,
                };
                self.handle_mm_fault_locked(mm, maps, addr, ff)
            };
            if let Mapping::Pmd(pt, pi, pmd) = self.lookup(mm, addr) {
                // follow_huge_pmd(): the subpage of a THP, a hugetlb page
                // or the huge zero page, taken without splitting.
                let ptl = mm.ptl(pt);
                if self.read_entry(pt, pi) != pmd {
                    continue;
                }
                if flags.write && !pmd.write() {
                    drop(ptl);
                    fault_in()?;
                    continue;
                }
                // PG_anon_exclusive of a PMD mapping is on its head.
                if !pmd.write() && self.gup_must_unshare(vma, flags, pmd.pfn()) {
                    drop(ptl);
                    let unshare = FaultFlags {
                        write: false,
                        unshare: true,
                    };
                    self.handle_mm_fault_locked(mm, maps, addr, unshare)?;
                    continue;
                }
                // The subpage: its index within the PMD's 2 MiB.
                let pfn = pmd.pfn() + pte_index(addr);
                self.grab(pfn, flags);
                return Ok(pfn);
            }
            let Some((t, i)) = self.walk(mm, addr, false)? else {
                fault_in()?;
                continue;
            };
            let ptl = mm.ptl(t);
            let pte = self.read_entry(t, i);
            if !pte.present() || (flags.write && !pte.write()) {
                drop(ptl);
                fault_in()?;
                continue;
            }
            let pfn = if pte.special() {
                self.zero_pfn()
            } else {
                pte.pfn()
            };
            if !pte.write() && self.gup_must_unshare(vma, flags, pfn) {
                drop(ptl);
                self.handle_mm_fault_locked(
                    mm,
                    maps,
                    addr,
                    FaultFlags {
                        write: false,
                        unshare: true,
                    },
                )?;
                continue;
            }
            // try_grab_folio() under the PTL: the page cannot go away.
            self.grab(pfn, flags);
            return Ok(pfn);
        }
        // The entry kept changing under us.
        Err(Errno::EAGAIN)
    }

    /// `try_grab_folio()`: a reference (FOLL_GET) or a pin (FOLL_PIN).
    fn grab(&self, pfn: Pfn, flags: GupFlags) {
        if self.is_zero_pfn_any(pfn) {
            return;
        }
        self.gup_refs_taken(1);
        if flags.pin {
            self.folio_pin(pfn);
        } else {
            self.folio_get(pfn);
        }
    }

    /// Drops what a GUP took on each page (`gup_put_folio()`).
    pub(crate) fn release_pages(&self, pages: &[Pfn], flags: GupFlags) {
        for &pfn in pages {
            if self.is_zero_pfn_any(pfn) {
                continue;
            }
            self.gup_refs_taken(-1);
            if flags.pin {
                self.folio_unpin(pfn);
            } else {
                self.folio_put(pfn);
            }
        }
    }

    /// The zero page or a page of the huge zero folio: GUP takes no
    /// reference on them.
    pub(crate) fn is_zero_pfn_any(&self, pfn: Pfn) -> bool {
        pfn == self.zero_pfn() || self.is_huge_zero_pfn(pfn)
    }

    /// `unpin_user_pages()` / `put_page()` of every page of a GUP.
    pub fn unpin_user_pages(&self, pinned: Pinned) {
        self.release_pages(&pinned.pages, pinned.flags);
    }
}
