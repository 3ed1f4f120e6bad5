//! Device memory in processes: fsdax files and HMM-style device-private
//! memory (mm/migrate_device.c, lib/test_hmm.c's dmirror driver, the
//! device-private branches of mm/memory.c; reference kernel-gup-cow.md §1.2,
//! §4.5, §5.2).
//!
//! # The pgmaps
//!
//! The pgmaps are ZONE_DEVICE's ([`crate::memremap`]): an fsdax file takes
//! its pages by index with [`Machine::zone_device_folio_get`], the HMM
//! driver allocates device-private pages with
//! [`Machine::zone_device_page_alloc`] and keeps their bytes in the pgmap's
//! driver store (a device-private page has none in physmem), and the last
//! reference returns a page to its pgmap (`free_zone_device_folio`).
//!
//! # fsdax (7.2's rules)
//!
//! Page `i` of a file made with `file F SIZE dax=NAME` is page `i` of the
//! pgmap: no page cache, no allocation; the bytes live in physmem at the
//! page's physical address (it is pmem). The pages are ordinary refcounted
//! folios (7.2 has no devmap PTE bit): idle at refcount 0, one reference per
//! mapping and per GUP reference; the PTE is not `pte_special`, so GUP-fast
//! walks it like any other. FOLL_LONGTERM is refused: `check_vma_flags()`
//! returns -EOPNOTSUPP for an fsdax VMA, and GUP-fast backs off an fsdax
//! folio (`folio_is_longterm_pinnable()`). A private mapping copies on
//! write, as for any file. When the last reference goes,
//! `free_zone_device_folio()` leaves the page to its pgmap.
//!
//! # Device-private memory
//!
//! `migrate_to_device` is dmirror's `dmirror_migrate_to_device()`:
//! `migrate_vma_setup()` collects the anonymous pages of the range, isolates
//! them and replaces every mapping by a migration entry (through the reverse
//! map, as `migrate_vma_unmap()`'s `try_to_migrate()` does for pages mapped
//! elsewhere too); the driver allocates a device page and copies the bytes
//! into its store; `migrate_vma_pages()`/`migrate_vma_finalize()` make each
//! entry a device-private entry (writable where the PTE was) and free the
//! old page. The device page is an anonymous folio with the old page's
//! identity, mapcount and PG_anon_exclusive.
//!
//! Any CPU access (and GUP, which faults like one) reaches `do_swap_page()`,
//! which takes a reference on the device page and calls the pgmap's
//! `migrate_to_ram` (dmirror's `dmirror_devmem_fault()`): a new anonymous
//! page gets the bytes back from the store, and every mapping of the device
//! page maps it. Fork copies a device-private entry (`copy_nonpresent_pte()`:
//! a reference, a mapping, and read-only in both for a COW mapping); zap
//! drops the mapping and the reference, and the last reference gives the
//! page back to the driver (`page_free`). mprotect makes a writable entry
//! readable; MADV_PAGEOUT and KSM pass device-private entries by; collapse
//! faults them back first. Skipped by `migrate_to_device`, as the kernel's
//! collect step skips them: empty PTEs and the zero page (dmirror would
//! allocate zeroed device pages), THPs (6.12 splits them; the model leaves
//! them), KSM pages, swap-cache pages and anything but private anonymous
//! memory.

use super::pte::{MigrationKind, Pte, SwapEntry};
use super::walk::Mapping;
use super::Mm;
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::memremap::{DevPagemap, MemoryType};
use crate::page::{Pfn, PAGE_SIZE, PG_LRU, PG_UPTODATE};
use crate::sync::Arc;
use crate::zone::alloc::Gfp;

impl Machine {
    /// Whether `pfn` is a page of a device-private pgmap
    /// (`folio_is_device_private()`).
    pub fn folio_is_device_private(&self, pfn: Pfn) -> bool {
        self.is_zone_device_page(pfn)
            && self
                .page_pgmap(pfn)
                .is_some_and(|p| p.memory_type() == MemoryType::DevicePrivate)
    }

    /// `folio_is_fsdax()`.
    pub fn folio_is_fsdax(&self, pfn: Pfn) -> bool {
        self.is_zone_device_page(pfn)
            && self
                .page_pgmap(pfn)
                .is_some_and(|p| p.memory_type() == MemoryType::FsDax)
    }

    /// The fsdax page behind page `index` of a DAX file on `pg`, with a
    /// reference for the caller (`dax_iomap_fault()` → the folio the
    /// mapping will hold). -EFAULT (SIGBUS) past the pgmap.
    pub(crate) fn dax_get_page(&self, pg: &DevPagemap, index: u64) -> KResult<Pfn> {
        if index >= pg.nr_pages() {
            return Err(Errno::EFAULT);
        }
        let pfn = pg.range().start + index;
        self.zone_device_folio_get(pg, pfn)
            .map_err(|_| Errno::EFAULT)?;
        Ok(pfn)
    }

    /// `dmirror_migrate_to_device()`: migrates the private anonymous pages
    /// of `[start, start + len)` in `mm` to device-private pages of the
    /// pgmap `name`; returns how many moved (best effort, as
    /// `migrate_vma_*` is). -EINVAL for an unaligned or empty range, a range
    /// no readable VMA covers or a pgmap that is not device-private; ENOENT
    /// for no such pgmap.
    pub fn migrate_to_device(
        &self,
        mm: &Arc<Mm>,
        start: u64,
        len: u64,
        name: &str,
    ) -> KResult<u64> {
        let pg = self.dev_pagemap(name).ok_or(Errno::ENOENT)?;
        if pg.memory_type() != MemoryType::DevicePrivate {
            return Err(Errno::EINVAL);
        }
        if start % PAGE_SIZE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = start
            .checked_add(len)
            .ok_or(Errno::EINVAL)?
            .next_multiple_of(PAGE_SIZE);
        let maps = mm.mmap_lock.down_read();
        let mut moved = 0;
        let mut addr = start;
        while addr < end {
            let vma = maps.find(addr).ok_or(Errno::EINVAL)?;
            if vma.flags & super::VM_READ == 0 {
                return Err(Errno::EINVAL);
            }
            // Only private anonymous memory migrates to device-private
            // memory ("For now only support anonymous memory").
            let anon = vma.file.is_none()
                && vma.anon_vma.is_some()
                && vma.flags & (super::VM_SHARED | super::VM_HUGETLB) == 0;
            if anon {
                if let Mapping::Pte(_, _, pte) = self.lookup(mm, addr) {
                    if pte.present() && !pte.special() {
                        match self.migrate_one_to_device(&pg, pte.pfn()) {
                            Ok(true) => moved += 1,
                            Ok(false) => {}
                            Err(e) if moved == 0 => return Err(e),
                            Err(_) => break,
                        }
                    }
                }
            }
            addr += PAGE_SIZE;
        }
        Ok(moved)
    }

    /// One page of `migrate_vma_setup()` + the driver's copy +
    /// `migrate_vma_pages()`/`finalize()`: Ok(false) if the page was
    /// skipped, -ENOMEM when the device is full.
    fn migrate_one_to_device(&self, pg: &Arc<DevPagemap>, src: Pfn) -> KResult<bool> {
        if self.folio_test_large(src)
            || !self.folio_test_anon(src)
            || self.folio_test_ksm(src)
            || self.is_zone_device_page(src)
            || self.swap_cache_slot(src).is_some()
        {
            return Ok(false);
        }
        // migrate_vma_collect(): folio_get() + isolation from the LRU, so
        // nobody else (an offline, reclaim) migrates it meanwhile.
        let p = self.page(src);
        if !p.test_and_clear(PG_LRU) {
            return Ok(false);
        }
        p.ref_inc();
        let Ok(dst) = self.zone_device_page_alloc(pg) else {
            p.set(PG_LRU);
            self.put_pages(src, 0);
            return Err(Errno::ENOMEM);
        };
        let done = self
            .migrate_anon_between(src, dst, |m| {
                // dmirror_migrate_alloc_and_copy(): the device's copy.
                let mut buf = vec![0u8; PAGE_SIZE as usize].into_boxed_slice();
                m.physmem().read(src.phys(), &mut buf)?;
                pg.store_page(dst, buf);
                Ok(())
            })
            .is_ok();
        if !done {
            // migrate_vma_finalize() of a failed page: back to the LRU, the
            // device page back to the driver.
            p.set(PG_LRU);
            self.put_pages(dst, 0);
        }
        // The collect step's reference: the old page's last after success.
        self.put_pages(src, 0);
        Ok(done)
    }

    /// `do_swap_page()` on a device-private entry: a reference on the
    /// device page under the PTL, then `pgmap->ops->migrate_to_ram()`
    /// (dmirror's `dmirror_devmem_fault()`): a new anonymous page with the
    /// device's bytes replaces the device page in every mapping. Returns
    /// with the entry changed or to be read again.
    pub(crate) fn do_device_private_fault(&self, vmf: &super::fault::VmFault<'_>) -> KResult<()> {
        let Some(SwapEntry::DevicePrivate { pfn: dev, .. }) = vmf.orig.swap_entry() else {
            return Ok(());
        };
        {
            let _ptl = vmf.mm.ptl(vmf.table);
            if !vmf.same(self) {
                return Ok(());
            }
            // get_page() while we know the page can't be freed.
            self.folio_get(dev);
        }
        let ret = self.migrate_device_page_to_ram(dev);
        self.put_pages(dev, 0);
        ret
    }

    /// `migrate_to_ram` of device page `dev` (the caller holds a reference).
    fn migrate_device_page_to_ram(&self, dev: Pfn) -> KResult<()> {
        let pg = self.page_pgmap(dev).ok_or(Errno::EFAULT)?;
        // alloc_page_vma(GFP_HIGHUSER_MOVABLE).
        let new = self.alloc_pages(Gfp::MOVABLE, 0, 0)?;
        let data = pg.stored_page(dev);
        let filled = match data {
            Some(d) => self.physmem().write(new.phys(), &d),
            None => self.physmem().clear_page(new),
        };
        if let Err(e) = filled {
            self.put_pages(new, 0);
            return Err(e);
        }
        self.page(new).set(PG_UPTODATE);
        if self.migrate_anon_between(dev, new, |_| Ok(())).is_err() {
            // Somebody else moved it first (or is moving it): the fault is
            // retried and finds what they left.
            self.put_pages(new, 0);
        }
        Ok(())
    }

    /// Whether `entry` maps `pfn`: a present PTE of it or a device-private
    /// entry for it, and the migration entry kind that replaces it.
    pub(crate) fn entry_maps(
        &self,
        entry: Pte,
        pfn: Pfn,
        exclusive: bool,
    ) -> Option<MigrationKind> {
        if entry.present() && !entry.special() && entry.pfn() == pfn {
            return Some(MigrationKind::for_pte(entry, exclusive));
        }
        match entry.swap_entry() {
            Some(SwapEntry::DevicePrivate { pfn: p, write }) if p == pfn => Some(if write {
                MigrationKind::Write
            } else if exclusive {
                MigrationKind::ReadExclusive
            } else {
                MigrationKind::Read
            }),
            _ => None,
        }
    }
}
