//! Device memory in processes: fsdax files and HMM-style device-private
//! memory (mm/migrate_device.c, lib/test_hmm.c's dmirror driver, the
//! device-private branches of mm/memory.c; reference kernel-gup-cow.md §1.2,
//! §4.5, §5.2).
//!
//! # The pgmap this module uses
//!
//! A [`DevPagemap`] is a range of PFNs with a memmap and no zone, its
//! memory type, and — for device-private memory — the driver's side: a free
//! list of device pages and the driver's own store of their bytes (a
//! device-private page has no bytes in physmem; the PFN is only a handle).
//! Until the ZONE_DEVICE core (`memremap/`) lands, [`Machine::memremap_pages`]
//! here is a stand-in: the memmap comes from `__add_pages()` (sections that
//! never go online), the pgmap is found by PFN in a list
//! ([`Machine::get_dev_pagemap`]), and [`Machine::memunmap_pages`] refuses
//! with EDEADLK while any page holds a reference (the wait that could never
//! end in a scenario).
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
use crate::page::{Pfn, PhysAddr, PAGE_SHIFT, PAGE_SIZE, PG_ANON_EXCLUSIVE, PG_LRU, PG_UPTODATE};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Arc, Mutex};
use crate::zone::alloc::Gfp;
use std::collections::BTreeMap;

/// The memory types this module maps into processes (`enum memory_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryType {
    /// MEMORY_DEVICE_FS_DAX: pmem under a DAX file system.
    FsDax,
    /// MEMORY_DEVICE_PRIVATE: device memory the CPU cannot address (HMM).
    DevicePrivate,
}

impl MemoryType {
    /// The name `memremap show` prints.
    pub fn name(self) -> &'static str {
        match self {
            MemoryType::FsDax => "fsdax",
            MemoryType::DevicePrivate => "private",
        }
    }
}

/// One `struct dev_pagemap` with its driver's state.
pub struct DevPagemap {
    /// Its name in scenarios.
    pub name: String,
    /// `pgmap->type`.
    pub ty: MemoryType,
    /// First PFN.
    pub start: Pfn,
    /// Pages.
    pub nr: u64,
    /// The driver's free device pages (dmirror's `mdevice->free_pages`); a
    /// leaf lock.
    free: Mutex<Vec<Pfn>>,
    /// The driver's copy of each device-private page's bytes (absent:
    /// zeros); a leaf lock.
    store: Mutex<BTreeMap<u64, Box<[u8]>>>,
}

impl DevPagemap {
    /// Whether `pfn` is one of its pages.
    pub fn contains(&self, pfn: Pfn) -> bool {
        pfn.0 >= self.start.0 && pfn.0 - self.start.0 < self.nr
    }

    /// Device pages on the driver's free list.
    pub fn nr_free(&self) -> u64 {
        self.free.lock().len() as u64
    }
}

/// The machine's pgmaps (stand-in for the pgmap xarray).
#[derive(Default)]
pub struct DevMaps {
    /// How many pgmaps exist: lets the page-free path skip the lookup.
    nr: AtomicUsize,
    /// The pgmaps; a leaf lock.
    maps: Mutex<Vec<Arc<DevPagemap>>>,
}

impl Machine {
    /// `memremap_pages()` (stand-in, see the module doc): a memmap for
    /// `[addr, addr + size)` (whole subsections: -EINVAL; overlapping
    /// another memmap: -EEXIST), every page initialised at refcount 0, and
    /// a pgmap named `name` (-EEXIST if taken).
    pub fn memremap_pages(
        &self,
        name: &str,
        addr: u64,
        size: u64,
        ty: MemoryType,
    ) -> KResult<Arc<DevPagemap>> {
        let dm = &self.vm().devmaps;
        if dm.maps.lock().iter().any(|p| p.name == name) {
            return Err(Errno::EEXIST);
        }
        self.sparse_add(PhysAddr(addr), size)?;
        let start = Pfn(addr >> PAGE_SHIFT);
        let nr = size >> PAGE_SHIFT;
        for pfn in crate::page::pfn_range(start, start + nr) {
            let p = self.page(pfn);
            // memmap_init_zone_device(): idle device pages hold no reference.
            p.init_single(crate::page::ZoneType::Normal, 0);
            p.set_ref_count(0);
        }
        let free = match ty {
            MemoryType::DevicePrivate => (start.0..start.0 + nr).rev().map(Pfn).collect(),
            MemoryType::FsDax => Vec::new(),
        };
        let pg = Arc::new(DevPagemap {
            name: name.to_owned(),
            ty,
            start,
            nr,
            free: Mutex::new(free),
            store: Mutex::new(BTreeMap::new()),
        });
        let mut maps = dm.maps.lock();
        maps.push(pg.clone());
        dm.nr.store(maps.len(), Ordering::Relaxed);
        Ok(pg)
    }

    /// `memunmap_pages()` (stand-in): EDEADLK while any page of the pgmap
    /// holds a reference (the scenario thread is the only actor, so
    /// `wait_for_completion()` would never return), else the memmap goes
    /// (`pageunmap_range()` → `__remove_pages()`). ENOENT for no such pgmap.
    pub fn memunmap_pages(&self, name: &str) -> KResult<()> {
        let dm = &self.vm().devmaps;
        let pg = self.dev_pagemap_by_name(name).ok_or(Errno::ENOENT)?;
        let busy = crate::page::pfn_range(pg.start, pg.start + pg.nr)
            .any(|pfn| self.page(pfn).ref_count() != 0);
        if busy {
            return Err(Errno::EDEADLK);
        }
        {
            let mut maps = dm.maps.lock();
            maps.retain(|p| !Arc::ptr_eq(p, &pg));
            dm.nr.store(maps.len(), Ordering::Relaxed);
        }
        self.remove_pages_checked(pg.start, pg.nr)
    }

    /// The pgmap named `name`.
    pub fn dev_pagemap_by_name(&self, name: &str) -> Option<Arc<DevPagemap>> {
        let maps = self.vm().devmaps.maps.lock();
        maps.iter().find(|p| p.name == name).cloned()
    }

    /// `get_dev_pagemap()`: the pgmap `pfn` belongs to.
    pub fn get_dev_pagemap(&self, pfn: Pfn) -> Option<Arc<DevPagemap>> {
        let dm = &self.vm().devmaps;
        if dm.nr.load(Ordering::Relaxed) == 0 {
            return None;
        }
        dm.maps.lock().iter().find(|p| p.contains(pfn)).cloned()
    }

    /// `folio_is_device_private()`.
    pub fn folio_is_device_private(&self, pfn: Pfn) -> bool {
        self.get_dev_pagemap(pfn)
            .is_some_and(|p| p.ty == MemoryType::DevicePrivate)
    }

    /// `folio_is_fsdax()`.
    pub fn folio_is_fsdax(&self, pfn: Pfn) -> bool {
        self.get_dev_pagemap(pfn)
            .is_some_and(|p| p.ty == MemoryType::FsDax)
    }

    /// `free_zone_device_folio()` if `pfn` is a device page whose last
    /// reference just went: true if it was one (the caller must not give it
    /// to the buddy). A device-private page goes back to its driver
    /// (`pgmap->ops->page_free`, dmirror's `dmirror_devmem_free()`), its
    /// anonymous identity and bytes dropped; an fsdax page stays with its
    /// pgmap, idle.
    pub(crate) fn free_zone_device_folio(&self, pfn: Pfn) -> bool {
        let Some(pg) = self.get_dev_pagemap(pfn) else {
            return false;
        };
        if pg.ty == MemoryType::DevicePrivate {
            let p = self.page(pfn);
            p.clear(PG_ANON_EXCLUSIVE);
            p.clear(PG_LRU);
            p.clear(PG_UPTODATE);
            p.set_private(0);
            p.set_mapcount(0);
            pg.store.lock().remove(&pfn.0);
            pg.free.lock().push(pfn);
        }
        true
    }

    /// `zone_device_page_init()` of a page from the driver's free list:
    /// refcount 1.
    fn alloc_device_page(&self, pg: &DevPagemap) -> Option<Pfn> {
        let pfn = pg.free.lock().pop()?;
        self.page(pfn).set_ref_count(1);
        Some(pfn)
    }

    /// The fsdax page behind page `index` of a DAX file on `pg`, with a
    /// reference for the caller (`dax_iomap_fault()` → the folio the
    /// mapping will hold). -EFAULT (SIGBUS) past the pgmap.
    pub(crate) fn dax_get_page(&self, pg: &DevPagemap, index: u64) -> KResult<Pfn> {
        if index >= pg.nr {
            return Err(Errno::EFAULT);
        }
        let pfn = pg.start + index;
        self.page(pfn).ref_inc();
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
        let pg = self.dev_pagemap_by_name(name).ok_or(Errno::ENOENT)?;
        if pg.ty != MemoryType::DevicePrivate {
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
    fn migrate_one_to_device(&self, pg: &DevPagemap, src: Pfn) -> KResult<bool> {
        if self.folio_test_large(src)
            || !self.folio_test_anon(src)
            || self.folio_test_ksm(src)
            || self.get_dev_pagemap(src).is_some()
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
        let Some(dst) = self.alloc_device_page(pg) else {
            p.set(PG_LRU);
            self.put_pages(src, 0);
            return Err(Errno::ENOMEM);
        };
        let done = self
            .migrate_anon_between(src, dst, |m| {
                // dmirror_migrate_alloc_and_copy(): the device's copy.
                let mut buf = vec![0u8; PAGE_SIZE as usize].into_boxed_slice();
                m.physmem().read(src.phys(), &mut buf)?;
                pg.store.lock().insert(dst.0, buf);
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
        let pg = self.get_dev_pagemap(dev).ok_or(Errno::EFAULT)?;
        // alloc_page_vma(GFP_HIGHUSER_MOVABLE).
        let new = self.alloc_pages(Gfp::MOVABLE, 0, 0)?;
        let data = pg.store.lock().get(&dev.0).cloned();
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
