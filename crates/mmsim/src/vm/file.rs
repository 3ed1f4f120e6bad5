//! Memory-backed files (memfd/tmpfs) and their page cache, and mappings of
//! them (mm/shmem.c and the file-fault paths of mm/memory.c).
//!
//! A file is a size and a page cache: file page index → page. A page is
//! allocated zero-filled the first time any mapping faults on it and stays in
//! the cache, which holds one reference, for the life of the machine (the
//! model never truncates or unlinks a named file; the unnamed file behind a
//! shared anonymous mapping is truncated when its last mapping goes). A
//! page-cache page records its file and index in `private` (not
//! PAGE_MAPPING_ANON) and counts its mappings like an anonymous page.
//!
//! A shared mapping maps the cache page itself, writable on a write fault. A
//! private mapping maps it read-only and copies it to a new exclusive
//! anonymous page on the first write (`do_cow_fault`, or `do_wp_page`'s copy).
//!
//! # Migration
//!
//! Page-cache pages are allocated as shmem allocates them
//! (GFP_HIGHUSER_MOVABLE), so they may live in ZONE_MOVABLE, and sit on the
//! LRU (PG_lru), so offlining and `alloc_contig_range()` migrate them like
//! anonymous pages (`vm::migrate`): every mapping of the page — found by
//! the file's reverse map, the VMAs mapping the file at its index (i_mmap,
//! [`Machine::file_rmap_addresses`]) — becomes a migration entry, the bytes
//! are copied, and the cache slot is handed to the new page under the
//! file's lock only if the old page holds exactly the references of its
//! mappings, the migration core and the cache (`folio_migrate_mapping()`'s
//! freeze of the count under the xarray lock): a pin or any other reference
//! fails the migration, and the entries go back to the old page. A fault
//! looks a page up and takes its reference under the same lock
//! (`filemap_get_folio()`), so it either holds the old page — and the
//! migration fails — or finds the new one.

use super::fault::VmFault;
use super::RmapVec;
use super::{Mm, Vma, VM_MAYREAD, VM_MAYWRITE, VM_SHARED, VM_WRITE};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, PAGE_SIZE, PG_LRU, PG_SWAPBACKED, PG_UPTODATE};
use crate::sync::Arc;
use crate::zone::alloc::Gfp;
use std::collections::BTreeMap;

const FILE_BIT: u64 = 1 << 62;
const FILE_SHIFT: u32 = 36;
const INDEX_MASK: u64 = (1 << FILE_SHIFT) - 1;

/// One memory-backed file.
#[derive(Default)]
pub struct FileState {
    size: u64,
    /// A hugetlbfs file: its cache holds 2 MiB hugetlb folios, by 2 MiB
    /// index.
    hugetlb: bool,
    /// The unnamed file behind a `MAP_SHARED | MAP_ANONYMOUS` mapping
    /// (`shmem_zero_setup()`): its mappings hold it open, and it is
    /// truncated when the last goes.
    anon: bool,
    /// A file on an fsdax pgmap: page `i` is the pgmap's page `i`
    /// ([`super::devmem`]); no page cache.
    dax: Option<Arc<crate::memremap::DevPagemap>>,
    pages: BTreeMap<u64, Pfn>,
}

/// The file and page index of a page-cache page (of a hugetlbfs file: the
/// 2 MiB index of its head).
pub fn page_file(page: &crate::page::Page) -> Option<(u32, u64)> {
    let p = page.private();
    let typed = page.has_type() && !page.is_type(crate::page::PageType::Hugetlb);
    (p & (1 << 63) == 0 && !typed && p & FILE_BIT != 0)
        .then_some((((p & !FILE_BIT) >> FILE_SHIFT) as u32, p & INDEX_MASK))
}

/// What a page-cache page records in `private`: its file and index.
fn file_identity(file: u32, index: u64) -> u64 {
    FILE_BIT | (u64::from(file) << FILE_SHIFT) | (index & INDEX_MASK)
}

impl Machine {
    /// `memfd_create()` + `fallocate()`-like sizing: a new file of `size`
    /// bytes, zero-filled; returns its id. A `hugetlb` file
    /// (`MFD_HUGETLB`) must be sized in whole huge pages (-EINVAL, as
    /// hugetlbfs_setattr() says).
    pub fn file_create(&self, size: u64, hugetlb: bool) -> KResult<u32> {
        self.file_alloc(size, hugetlb, false)
    }

    fn file_alloc(&self, size: u64, hugetlb: bool, anon: bool) -> KResult<u32> {
        if hugetlb && size % super::huge::HPAGE_PMD_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let size = size
            .checked_next_multiple_of(PAGE_SIZE)
            .filter(|s| *s > 0 && *s < super::TASK_SIZE)
            .ok_or(Errno::EINVAL)?;
        let mut files = self.vm().files.lock();
        files.push(FileState {
            size,
            hugetlb,
            anon,
            dax: None,
            pages: BTreeMap::new(),
        });
        Ok((files.len() - 1) as u32)
    }

    /// A file of `size` bytes on the fsdax pgmap `pgmap` (a DAX file
    /// system on pmem, one file filling it from its start): its blocks are
    /// zeroed as a file system zeroes newly allocated blocks. ENOENT for no
    /// such pgmap, EINVAL if it is not fsdax or the size is 0, ENOSPC if the
    /// file does not fit, EBUSY if the pgmap already holds a file.
    pub fn file_create_dax(&self, size: u64, pgmap: &str) -> KResult<u32> {
        let pg = self.dev_pagemap(pgmap).ok_or(Errno::ENOENT)?;
        if pg.memory_type() != crate::memremap::MemoryType::FsDax {
            return Err(Errno::EINVAL);
        }
        let size = size
            .checked_next_multiple_of(PAGE_SIZE)
            .filter(|s| *s > 0)
            .ok_or(Errno::EINVAL)?;
        if size / PAGE_SIZE > pg.nr_pages() {
            return Err(Errno::ENOSPC);
        }
        let mut files = self.vm().files.lock();
        let taken = files
            .iter()
            .any(|f| f.dax.as_ref().is_some_and(|d| Arc::ptr_eq(d, &pg)));
        if taken {
            return Err(Errno::EBUSY);
        }
        let id = files.len() as u32;
        for i in 0..size / PAGE_SIZE {
            let pfn = pg.range().start + i;
            self.physmem().clear_page(pfn)?;
            self.page(pfn).set_private(file_identity(id, i));
        }
        files.push(FileState {
            size,
            dax: Some(pg),
            ..FileState::default()
        });
        Ok(id)
    }

    /// Whether file `id` is on an fsdax pgmap (`vma_is_fsdax()` of its
    /// mappings).
    pub fn file_is_dax(&self, file: u32) -> bool {
        self.vm()
            .files
            .lock()
            .get(file as usize)
            .is_some_and(|f| f.dax.is_some())
    }

    /// `mmap(MAP_SHARED | MAP_ANONYMOUS)`: `shmem_zero_setup()` gives the
    /// mapping an unnamed shmem file of its size (on hugetlbfs for
    /// MAP_HUGETLB), which every process that inherits the mapping shares;
    /// returns the address. The file lives while a mapping of it does
    /// ([`Machine::shmem_release_unmapped`]).
    pub(crate) fn mmap_shared_anon(&self, mm: &Arc<Mm>, size: u64, flags: u32) -> KResult<u64> {
        let hugetlb = flags & super::VM_HUGETLB != 0;
        let file = self.file_alloc(size, hugetlb, true)?;
        let mapped = self.mmap_file(mm, file, size, flags & !super::VM_HUGETLB, true);
        if mapped.is_err() {
            self.shmem_release_unmapped();
        }
        mapped
    }

    /// The last `fput()` of a shared anonymous mapping's file: every such
    /// file that no VMA of a live address space maps any more is truncated
    /// (`shmem_evict_inode()`), its page cache letting go of each page. A
    /// page somebody else still holds (a GUP reference) lives on outside
    /// the file and is freed with that reference. Runs after munmap, exit
    /// and mremap have zapped what they unmapped.
    pub(crate) fn shmem_release_unmapped(&self) {
        let candidates: Vec<u32> = {
            let files = self.vm().files.lock();
            (0..files.len() as u32)
                .filter(|&f| {
                    files[f as usize].anon
                        && (!files[f as usize].pages.is_empty() || self.hugetlb_file_reserved(f))
                })
                .collect()
        };
        if candidates.is_empty() {
            return;
        }
        let mapped: std::collections::BTreeSet<u32> = self
            .live_mms()
            .iter()
            .flat_map(|mm| mm.mapped_files())
            .collect();
        for f in candidates.into_iter().filter(|f| !mapped.contains(f)) {
            let (pages, hugetlb) = {
                let mut files = self.vm().files.lock();
                let file = &mut files[f as usize];
                (std::mem::take(&mut file.pages), file.hugetlb)
            };
            if hugetlb {
                // remove_inode_hugepages() → hugetlb_unreserve_pages().
                self.hugetlb_unreserve_pages(f, pages.len() as u64);
            }
            for pfn in pages.into_values() {
                // __filemap_remove_folio(): the folio leaves the cache.
                self.page(pfn).set_private(0);
                if hugetlb {
                    self.folio_put(pfn);
                } else {
                    self.put_pages(pfn, 0);
                }
            }
        }
    }

    /// The 2 MiB indexes of hugetlbfs file `file` that have a folio in its
    /// cache.
    pub(crate) fn file_huge_cached(&self, file: u32) -> std::collections::BTreeSet<u64> {
        self.vm()
            .files
            .lock()
            .get(file as usize)
            .map(|f| f.pages.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Whether file `id` lives on hugetlbfs.
    pub fn file_is_hugetlb(&self, file: u32) -> bool {
        self.vm()
            .files
            .lock()
            .get(file as usize)
            .is_some_and(|f| f.hugetlb)
    }

    /// `hugetlbfs` `filemap_lock_hugetlb_folio()` / `alloc_hugetlb_folio()`:
    /// the cache folio of a hugetlbfs file at 2 MiB index `index`, taken
    /// from the pool on first use by the fault of `vma` at `addr`, through
    /// its reservation if it has one (-EFAULT when no folio may be taken,
    /// the model's SIGBUS). The cache holds one reference; the caller gets
    /// another, taken under the file's lock as [`Machine::file_get_page`]
    /// takes it.
    pub(crate) fn file_get_huge(
        &self,
        vma: &super::Vma,
        addr: u64,
        file: u32,
        index: u64,
    ) -> KResult<Pfn> {
        let mut files = self.vm().files.lock();
        let f = files.get_mut(file as usize).ok_or(Errno::EBADF)?;
        if index * super::huge::HPAGE_PMD_SIZE >= f.size {
            return Err(Errno::EFAULT);
        }
        if let Some(&head) = f.pages.get(&index) {
            self.folio_get(head);
            return Ok(head);
        }
        let head = self.alloc_hugetlb_folio(vma, addr, false)?;
        // hugetlb_add_to_page_cache(): the reservation is spent for good.
        self.hugetlb_clear_restore_reserve(head);
        self.page(head).set_private(file_identity(file, index));
        // The cache's reference, and the caller's.
        self.folio_get(head);
        f.pages.insert(index, head);
        Ok(head)
    }

    /// `shmem_get_folio()`: the cache page of `file` at `index`, allocated
    /// zero-filled on first use, with a reference for the caller, taken
    /// under the file's lock (`filemap_get_folio()`), so a migration either
    /// sees it or has already replaced the page. -EFAULT past the end
    /// (SIGBUS).
    pub(crate) fn file_get_page(&self, file: u32, index: u64) -> KResult<Pfn> {
        let mut files = self.vm().files.lock();
        let f = files.get_mut(file as usize).ok_or(Errno::EBADF)?;
        if index * PAGE_SIZE >= f.size {
            return Err(Errno::EFAULT);
        }
        if let Some(pg) = &f.dax {
            // dax_iomap_fault(): the pmem page itself; SIGBUS once the
            // device is gone.
            let live = self
                .dev_pagemap(pg.name())
                .is_some_and(|p| Arc::ptr_eq(&p, pg));
            if !live {
                return Err(Errno::EFAULT);
            }
            return self.dax_get_page(pg, index);
        }
        if let Some(&pfn) = f.pages.get(&index) {
            self.folio_get(pfn);
            return Ok(pfn);
        }
        // shmem_alloc_folio(): GFP_HIGHUSER_MOVABLE.
        let pfn = self.alloc_pages(Gfp::MOVABLE, 0, 0)?;
        if let Err(e) = self.physmem().clear_page(pfn) {
            self.put_pages(pfn, 0);
            return Err(e);
        }
        let p = self.page(pfn);
        p.set_private(file_identity(file, index));
        // shmem_alloc_folio(): __folio_set_swapbacked(); shmem_get_folio()
        // marks the zeroed folio uptodate; shmem_add_to_page_cache() +
        // folio_add_lru().
        p.set(PG_SWAPBACKED);
        p.set(PG_UPTODATE);
        p.set(PG_LRU);
        // The cache's reference, and the caller's.
        p.ref_inc();
        f.pages.insert(index, pfn);
        Ok(pfn)
    }

    /// `__folio_migrate_mapping()` for a page-cache page: under the file's
    /// lock, if `src` is still the cache page at `index` and holds exactly
    /// `expected` references besides the cache's (its mappings' and the
    /// migration core's), the slot and the cache's reference go to `dst`,
    /// which takes the page's identity. False otherwise, changing nothing.
    pub(crate) fn file_migrate_cache_page(
        &self,
        file: u32,
        index: u64,
        src: Pfn,
        dst: Pfn,
        expected: i32,
    ) -> bool {
        let mut files = self.vm().files.lock();
        let Some(f) = files.get_mut(file as usize) else {
            return false;
        };
        if f.pages.get(&index) != Some(&src) || self.page(src).ref_count() != expected + 1 {
            return false;
        }
        f.pages.insert(index, dst);
        let (old, new) = (self.page(src), self.page(dst));
        new.set_private(old.private());
        new.ref_inc();
        old.ref_dec();
        old.set_private(0);
        true
    }

    /// The i_mmap walk's candidates: where page `index` of `file` may be
    /// mapped — in every VMA of every live address space that maps the file
    /// over that index (a private mapping may show its own copy there
    /// instead: the caller checks the entry).
    pub(crate) fn file_rmap_addresses(&self, file: u32, index: u64) -> RmapVec<(Arc<Mm>, u64)> {
        self.rmap_addresses(&self.live_mms(), index, |v| v.file == Some(file))
    }

    /// Every page-cache folio of every named file, with its order: the
    /// cache holds one reference on each for the life of the machine. (The
    /// file of a shared anonymous mapping lives only as long as a mapping
    /// of it.)
    pub(crate) fn file_cache_folios(&self) -> Vec<(Pfn, u32)> {
        let files = self.vm().files.lock();
        files
            .iter()
            .filter(|f| !f.anon)
            .flat_map(|f| {
                let order = if f.hugetlb {
                    super::huge::HPAGE_PMD_ORDER
                } else {
                    0
                };
                f.pages.values().map(move |&p| (p, order))
            })
            .collect()
    }

    /// `mmap()` of a file, shared or private; returns the address.
    pub fn mmap_file(
        &self,
        mm: &Arc<Mm>,
        file: u32,
        size: u64,
        flags: u32,
        shared: bool,
    ) -> KResult<u64> {
        if size == 0 || self.vm().files.lock().get(file as usize).is_none() {
            return Err(if size == 0 {
                Errno::EINVAL
            } else {
                Errno::EBADF
            });
        }
        let size = size
            .checked_next_multiple_of(PAGE_SIZE)
            .filter(|s| *s < super::TASK_SIZE)
            .ok_or(Errno::ENOMEM)?;
        let hugetlb = self.file_is_hugetlb(file);
        if hugetlb && size % super::huge::HPAGE_PMD_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let align = if hugetlb {
            super::huge::HPAGE_PMD_SIZE
        } else {
            PAGE_SIZE
        };
        let mut maps = mm.mmap_lock.down_write();
        let addr = self.get_unmapped_area(&maps, size, align)?;
        // hugetlbfs_file_mmap() → hugetlb_reserve_pages(): a shared mapping
        // reserves the file's range in the inode's map (once for every
        // mapper), a private one the whole range for itself.
        let resv = match (hugetlb, shared) {
            (false, _) => None,
            (true, true) => {
                self.hugetlb_reserve_file(file, size / super::huge::HPAGE_PMD_SIZE)?;
                None
            }
            (true, false) => {
                Some(self.hugetlb_reserve_private(size / super::huge::HPAGE_PMD_SIZE)?)
            }
        };
        let anon_vma = (!shared).then(|| self.anon_vma_alloc(mm));
        let mut f = flags | VM_MAYREAD | VM_MAYWRITE | super::VM_SOFTDIRTY;
        if shared {
            f |= VM_SHARED;
        }
        if hugetlb {
            f |= super::VM_HUGETLB;
        }
        maps.insert(Vma {
            start: addr,
            end: addr + size,
            flags: f,
            anon_vma,
            file: Some(file),
            pgoff: 0,
            resv,
        });
        Ok(addr)
    }

    /// `do_read_fault()` / `do_shared_fault()` / `do_cow_fault()` on an
    /// empty PTE of a file mapping.
    pub(crate) fn do_file_fault(&self, vmf: &VmFault<'_>) -> KResult<()> {
        let vma = vmf.vma;
        let file = vma.file.expect("file VMA");
        let index = vma.pgoff + (vmf.address - vma.start) / PAGE_SIZE;
        // Our reference keeps the page from being migrated or freed until
        // it is mapped (or copied).
        let page = self.file_get_page(file, index)?;
        let shared = vma.flags & VM_SHARED != 0;
        if vmf.write() && !shared {
            // do_cow_fault(): a private copy, never the cache page.
            let new = self.alloc_anon_page(Some(page));
            self.put_pages(page, 0);
            let new = new?;
            let _ptl = vmf.mm.ptl(vmf.table);
            if !vmf.same(self) {
                drop(_ptl);
                self.put_pages(new, 0);
                return Ok(());
            }
            self.map_new_anon_page(vma, vmf.table, vmf.idx, vmf.address, new, true);
            return Ok(());
        }
        let ptl = vmf.mm.ptl(vmf.table);
        if !vmf.same(self) {
            drop(ptl);
            self.put_pages(page, 0);
            return Ok(());
        }
        // The lookup's reference becomes the mapping's.
        let p = self.page(page);
        p.mapcount_add(1);
        let mut bits = super::pte::PTE_YOUNG;
        if shared && vmf.write() && vma.flags & VM_WRITE != 0 {
            bits |= super::pte::PTE_RW | super::pte::PTE_DIRTY;
        }
        vmf.set(self, vma.mk_pte(page, bits));
        Ok(())
    }
}
