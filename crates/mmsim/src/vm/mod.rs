//! User address spaces: `mm_struct`, VMAs, four-level page tables, faults,
//! fork, unmapping and the anonymous reverse map.
//!
//! # Files
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | `Mm` (mm_struct), machine-wide VM state, anon_vmas, the list of live mms, mmap |
//! | `vma.rs` | VMAs, the range checks of munmap/mprotect/madvise, VMA split and flag changes |
//! | `walk.rs` | the page-table walk, `pgd_index()`..`pte_index()`, table pages, smaps |
//! | `pte.rs` | the entry format: present, PROT_NONE, swap and migration entries |
//! | `fault.rs` | `handle_mm_fault()`: anonymous faults, `do_wp_page()` |
//! | `access.rs` | a process's own loads and stores |
//! | `rmap.rs` | folio counts, anonymous identity, PG_anon_exclusive, rmap add/remove |
//! | `mm_id.rs` | which mms map a large folio (CONFIG_MM_ID), large-folio reuse |
//! | `fork.rs` | `dup_mm()`, `copy_page_range()` |
//! | `unmap.rs` | zap, munmap, exit, mprotect, clear_refs, madvise advice on VMAs and PTEs |
//! | `huge.rs` | THPs: PMD faults, PMD split, folio split, collapse, the huge zero page |
//! | `hugetlb.rs` | the hugetlb pool and hugetlb mappings |
//! | `hugetlb_resv.rs` | hugetlb reservations: resv_maps, `HugePages_Rsvd` |
//! | `swap.rs` | the swap device and cache, MADV_PAGEOUT, `do_swap_page()` |
//! | `ksm.rs` | KSM scans |
//! | `mremap.rs` | mremap: resizing and moving mappings |
//! | `migrate.rs` | migrating anonymous pages |
//! | `file.rs` | memfd/tmpfs files and their page cache |
//! | `devmem.rs` | device memory in processes: fsdax files, device-private (HMM) migration |
//!
//! # Page tables live in the memmap
//!
//! Every page-table page (PGD, PUD, PMD, PTE table) is a real page taken from
//! the buddy allocator with GFP_KERNEL (unmovable), typed PageTable (kpageflags
//! `pgtable`), and its 512 entries are real bytes in physical memory, read and
//! written as single 64-bit words. A machine that runs processes therefore has
//! unmovable pages in its kernel zones, exactly as Linux does.
//!
//! # Locks, in order
//!
//! (The whole machine's: the [lock order](crate::machine#lock-order).)
//!
//! 1. `mmap_lock` ([`Mm::mmap_lock`], an rwsem): the VMA tree. Faults and GUP
//!    take it for read; mmap/munmap/mprotect/fork/exit for write.
//! 2. the page-table lock of the PTE table being changed ([`Mm::ptl`]): split
//!    PTLs, modelled as a stripe of spinlocks chosen by the table's PFN.
//! 3. `zone->lock` (inside the page allocator).
//!
//! Fork also holds the parent's `write_protect_seq` (a seqcount) for write
//! while it write-protects COW mappings, so GUP-fast can detect it.
//!
//! # Anonymous pages
//!
//! An anonymous page records in `private` that it is anonymous, its anon_vma
//! and its virtual page index (the kernel's `folio->mapping | PAGE_MAPPING_ANON`
//! and `folio->index`); `_mapcount` counts the PTEs that map it; PG_lru says it
//! is a user page that migration may move; PG_anon_exclusive says which
//! process owns it exclusively (reference kernel-gup-cow.md §1).
//!
//! # Huge mappings
//!
//! A PMD entry may map 2 MiB itself (`_PAGE_PSE`): a THP ([`huge`]), the
//! huge zero page, or a hugetlb page ([`hugetlb`]). Readers that must not
//! change anything look entries up with [`Machine::lookup`]; paths that
//! handle a huge PMD whole (faults, fork, zap, mprotect, GUP) check for one
//! first; everything else uses [`Machine::walk`], the PTE-level walk, which
//! splits a THP's PMD into a PTE table on the way (hugetlb PMDs are never
//! split). Folio-wide counts and the anonymous identity of a page are read
//! through the folio helpers of [`rmap`], which find the head of a large
//! folio.

pub mod access;
pub mod devmem;
pub mod fault;
pub mod file;
pub mod fork;
pub mod huge;
pub mod hugetlb;
pub mod hugetlb_resv;
pub mod ksm;
pub mod migrate;
pub mod mm_id;
pub mod mremap;
pub mod pte;
pub mod rmap;
pub mod swap;
pub mod unmap;
pub mod vma;
pub mod walk;

use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, PAGE_SIZE};
use crate::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use crate::sync::{Arc, Mutex, RwSem, SeqCount, SpinLock, SpinLockGuard};
use std::collections::BTreeMap;
pub use vma::{MmMaps, Vma};

/// What a reverse-map walk collects for one page: the address spaces, the
/// addresses and the entries that may map it. Nearly always one or two, so
/// they live inline and a migration allocates nothing per page for them.
pub(crate) type RmapVec<T> = smallvec::SmallVec<[T; 2]>;

/// VM_READ.
pub const VM_READ: u32 = 1 << 0;
/// VM_WRITE.
pub const VM_WRITE: u32 = 1 << 1;
/// VM_SHARED.
pub const VM_SHARED: u32 = 1 << 3;
/// VM_MAYREAD.
pub const VM_MAYREAD: u32 = 1 << 4;
/// VM_MAYWRITE.
pub const VM_MAYWRITE: u32 = 1 << 5;
/// VM_HUGETLB: a hugetlb mapping.
pub const VM_HUGETLB: u32 = 1 << 22;
/// VM_HUGEPAGE (MADV_HUGEPAGE, or `mmap ... thp`).
pub const VM_HUGEPAGE: u32 = 1 << 29;
/// VM_NOHUGEPAGE (MADV_NOHUGEPAGE).
pub const VM_NOHUGEPAGE: u32 = 1 << 30;
/// VM_DONTCOPY (MADV_DONTFORK).
pub const VM_DONTCOPY: u32 = 1 << 17;
/// VM_SOFTDIRTY: every page counts as soft-dirty (set on new VMAs, cleared
/// by `clear_refs`, after which soft-dirty is tracked per PTE).
pub const VM_SOFTDIRTY: u32 = 1 << 27;
/// VM_MERGEABLE (MADV_MERGEABLE).
pub const VM_MERGEABLE: u32 = 1 << 31;

/// Stripes of the split page-table lock.
const PTL_STRIPES: usize = 64;
/// Entries per table.
pub const PTRS_PER_TABLE: u64 = 512;
/// Lowest address the model hands out to mmap.
pub const MMAP_BASE: u64 = 0x7f00_0000_0000;
/// One past the highest user address (47 bits).
pub const TASK_SIZE: u64 = 1 << 47;

/// One `mm_struct`.
pub struct Mm {
    /// An id for reports.
    pub id: u32,
    /// The top-level table.
    pgd: Pfn,
    /// `mmap_lock` and the VMAs it protects; [lock order](crate::machine#lock-order).
    pub mmap_lock: RwSem<MmMaps>,
    /// What reverse-map walkers see of the VMAs: the copy [`MmMaps`]
    /// publishes after every change (the kernel's anon_vma chains and i_mmap
    /// trees, read without `mmap_lock`); a leaf lock.
    rmap_vmas: Arc<Mutex<Vec<Vma>>>,
    /// The split page-table locks, striped by table PFN; [lock order](crate::machine#lock-order).
    ptl: [SpinLock<()>; PTL_STRIPES],
    /// MMF_HAS_PINNED: set by the first FOLL_PIN, never cleared.
    has_pinned: AtomicBool,
    /// `mm->write_protect_seq`: written by fork under `fork_lock`, sampled
    /// by GUP-fast; [lock order](crate::machine#lock-order).
    pub write_protect_seq: SeqCount,
    /// Serialises fork's writers of `write_protect_seq` (the kernel relies on
    /// mmap_lock held for write); [lock order](crate::machine#lock-order).
    pub(crate) fork_lock: Mutex<()>,
}

impl std::fmt::Debug for Mm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mm")
            .field("id", &self.id)
            .field("pgd", &self.pgd)
            .finish()
    }
}

impl Mm {
    /// The top-level table's PFN.
    pub fn pgd(&self) -> Pfn {
        self.pgd
    }

    /// The page-table lock of the PTE table at `table` (`pte_lockptr`).
    pub fn ptl(&self, table: Pfn) -> SpinLockGuard<'_, ()> {
        self.ptl[(table.0 as usize) % PTL_STRIPES].lock()
    }

    /// Whether two tables share a lock stripe (taking both would deadlock).
    pub fn same_ptl(&self, a: Pfn, b: Pfn) -> bool {
        (a.0 as usize) % PTL_STRIPES == (b.0 as usize) % PTL_STRIPES
    }

    /// `test_bit(MMF_HAS_PINNED)`.
    pub fn has_pinned(&self) -> bool {
        self.has_pinned.load(Ordering::Relaxed)
    }

    /// The files some VMA of this mm maps (from the reverse map's copy).
    pub(crate) fn mapped_files(&self) -> Vec<u32> {
        self.rmap_vmas
            .lock()
            .iter()
            .filter_map(|v| v.file)
            .collect()
    }

    /// `mm_set_has_pinned_flag()`.
    pub fn set_has_pinned(&self) {
        if !self.has_pinned() {
            self.has_pinned.store(true, Ordering::Relaxed);
        }
    }
}

/// Machine-wide VM state: the zero page, anon_vmas, the live address
/// spaces and the GUP references they handed out.
pub struct VmState {
    next_mm: AtomicU32,
    /// Every address space between `mm_alloc()` and `exit_mmap()` (the
    /// kernel's mm_users > 0), in creation order.
    mms: Mutex<Vec<crate::sync::Weak<Mm>>>,
    /// Page references GUP took and nobody released yet (not counting the
    /// zero pages, on which GUP takes none).
    gup_refs: AtomicI64,
    /// ksmd's rmap_items, by (mm id, address): what each scan remembers for
    /// the next. Held for the whole scan, which serialises scans.
    pub(crate) ksm: Mutex<BTreeMap<(u32, u64), ksm::RmapItem>>,
    /// The stable tree's nodes with their rmap items (a leaf lock, taken
    /// under a page-table lock by a merge; [lock order](crate::machine#lock-order)).
    pub(crate) ksm_stable: Mutex<ksm::StableNodes>,
    /// `folio_lock_large_mapcount()`, striped by folio.
    pub(crate) large_mapcount_locks: mm_id::LargeMapcountLocks,
    /// Memory-backed files (memfd/tmpfs) and their page caches; a leaf but
    /// for allocating ([lock order](crate::machine#lock-order)).
    pub(crate) files: Mutex<Vec<file::FileState>>,
    /// The anon_vmas (a leaf lock, [lock order](crate::machine#lock-order)).
    anon_vmas: Mutex<Vec<AnonVma>>,
    zero_pfn: Pfn,
    /// The huge zero folio's PFN once allocated (0 before: PFN 0 is a
    /// reserved page that never holds it).
    pub(crate) huge_zero: AtomicU64,
    /// Serialises the huge zero folio's allocation; a leaf but for
    /// allocating ([lock order](crate::machine#lock-order)).
    pub(crate) huge_zero_lock: Mutex<()>,
    /// The hugetlb pool (a leaf lock, standing for `hugetlb_lock`;
    /// [lock order](crate::machine#lock-order)).
    pub(crate) hugetlb: Mutex<hugetlb::HugetlbPool>,
    /// Stands in for the anon_vma locks: walkers of the reverse map (folio
    /// split, migration) hold it for read while they visit and change other
    /// address spaces' PTEs; collapse holds it for write while it replaces a
    /// PTE table, so no walker holds a pointer into a table being freed.
    /// See the [lock order](crate::machine#lock-order).
    pub(crate) rmap_lock: RwSem<()>,
}

/// An `anon_vma`: the address spaces in which its pages may be mapped (the
/// model's reverse map: fork adds the child to its parent's anon_vma).
#[derive(Default)]
struct AnonVma {
    mms: Vec<crate::sync::Weak<Mm>>,
}

impl VmState {
    /// VM state whose zero page is `zero_pfn`.
    pub fn new(zero_pfn: Pfn) -> VmState {
        VmState {
            next_mm: AtomicU32::new(1),
            mms: Mutex::new(Vec::new()),
            gup_refs: AtomicI64::new(0),
            ksm: Mutex::new(BTreeMap::new()),
            ksm_stable: Mutex::new(BTreeMap::new()),
            large_mapcount_locks: mm_id::LargeMapcountLocks::new(),
            files: Mutex::new(Vec::new()),
            anon_vmas: Mutex::new(Vec::new()),
            zero_pfn,
            huge_zero: AtomicU64::new(0),
            huge_zero_lock: Mutex::new(()),
            hugetlb: Mutex::new(hugetlb::HugetlbPool::default()),
            rmap_lock: RwSem::new(()),
        }
    }
}

impl Machine {
    /// `my_zero_pfn()`: the shared zero page (a reserved page of the kernel
    /// image, never freed, never counted).
    pub fn zero_pfn(&self) -> Pfn {
        self.vm().zero_pfn
    }

    /// `mm_alloc()`: an empty address space with its PGD.
    pub fn mm_alloc(&self) -> KResult<Arc<Mm>> {
        let pgd = self.alloc_table()?;
        let maps = MmMaps::default();
        let mm = Arc::new(Mm {
            id: self.vm().next_mm.fetch_add(1, Ordering::Relaxed),
            pgd,
            rmap_vmas: maps.rmap_index(),
            mmap_lock: RwSem::new(maps),
            ptl: std::array::from_fn(|_| SpinLock::new(())),
            has_pinned: AtomicBool::new(false),
            write_protect_seq: SeqCount::new(),
            fork_lock: Mutex::new(()),
        });
        self.vm().mms.lock().push(Arc::downgrade(&mm));
        Ok(mm)
    }

    /// Takes `mm` off the list of live address spaces (`exit_mmap()`,
    /// mm_users dropping to 0).
    pub(crate) fn mm_unlist(&self, mm: &Mm) {
        self.vm()
            .mms
            .lock()
            .retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), mm));
    }

    /// How many address spaces are alive: allocated and not yet torn down
    /// by `exit_mmap()`. One dropped without `exit_mmap()` is not alive (its
    /// page tables leaked, and the leak check says so).
    pub fn nr_live_mms(&self) -> usize {
        self.vm()
            .mms
            .lock()
            .iter()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// GUP took `n` more page references (`try_grab_folio()`).
    pub(crate) fn gup_refs_taken(&self, n: i64) {
        self.vm().gup_refs.fetch_add(n, Ordering::Relaxed);
    }

    /// Page references taken by GUP (get or pin) and not yet released.
    pub fn gup_refs_outstanding(&self) -> i64 {
        self.vm().gup_refs.load(Ordering::Relaxed)
    }

    /// `anon_vma_prepare()`: a new anon_vma for `mm`.
    pub(crate) fn anon_vma_alloc(&self, mm: &Arc<Mm>) -> u32 {
        let mut v = self.vm().anon_vmas.lock();
        v.push(AnonVma {
            mms: vec![Arc::downgrade(mm)],
        });
        (v.len() - 1) as u32
    }

    /// `anon_vma_fork()`: the child maps pages of the same anon_vma.
    pub(crate) fn anon_vma_link(&self, id: u32, mm: &Arc<Mm>) {
        let mut v = self.vm().anon_vmas.lock();
        if let Some(av) = v.get_mut(id as usize) {
            av.mms.retain(|w| w.strong_count() > 0);
            av.mms.push(Arc::downgrade(mm));
        }
    }

    /// `unlink_anon_vmas()` for every VMA of an exiting `mm`: reverse-map
    /// walks no longer visit it. The caller holds the rmap lock for write,
    /// so no walker is inside its page tables when they are freed next.
    pub(crate) fn anon_vma_unlink_mm(&self, mm: &Mm) {
        for av in self.vm().anon_vmas.lock().iter_mut() {
            av.mms
                .retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), mm));
        }
    }

    /// The live address spaces that may map pages of anon_vma `id`.
    pub(crate) fn anon_vma_mms(&self, id: u32) -> RmapVec<Arc<Mm>> {
        self.vm()
            .anon_vmas
            .lock()
            .get(id as usize)
            .map(|av| av.mms.iter().filter_map(|w| w.upgrade()).collect())
            .unwrap_or_default()
    }

    /// The reverse map's candidates for page index `index` (in `vm_pgoff`
    /// space) in `mms`: every address at which a VMA that `owns` says may
    /// map the page would map it (`vma_address()` over the VMAs
    /// `anon_vma_interval_tree_foreach()` or `vma_interval_tree_foreach()`
    /// visit). A caller checks the entry there before it believes it.
    pub(crate) fn rmap_addresses(
        &self,
        mms: &[Arc<Mm>],
        index: u64,
        owns: impl Fn(&Vma) -> bool,
    ) -> RmapVec<(Arc<Mm>, u64)> {
        let mut out = RmapVec::new();
        for mm in mms {
            let vmas = mm.rmap_vmas.lock();
            out.extend(
                vmas.iter()
                    .filter(|v| owns(v))
                    .filter_map(|v| v.address_of(index))
                    .map(|a| (mm.clone(), a)),
            );
        }
        out
    }

    /// `rmap_walk_anon()`'s candidates: where the anonymous page at index
    /// `index` of anon_vma `anon_vma` may be mapped.
    pub(crate) fn anon_rmap_addresses(&self, anon_vma: u32, index: u64) -> RmapVec<(Arc<Mm>, u64)> {
        let mms = self.anon_vma_mms(anon_vma);
        self.rmap_addresses(&mms, index, |v| v.anon_vma == Some(anon_vma))
    }

    /// Every live address space (the model's `mmlist`), in creation order.
    pub fn live_mms(&self) -> Vec<Arc<Mm>> {
        self.vm()
            .mms
            .lock()
            .iter()
            .filter_map(|w| w.upgrade())
            .collect()
    }

    /// `get_unmapped_area()`: the lowest free range of `size` bytes at or
    /// above MMAP_BASE, aligned to `align`.
    pub fn get_unmapped_area(&self, maps: &MmMaps, size: u64, align: u64) -> KResult<u64> {
        let mut addr = MMAP_BASE;
        for v in maps.iter() {
            if v.end <= addr {
                continue;
            }
            if addr.saturating_add(size) <= v.start {
                break;
            }
            addr = v.end.next_multiple_of(align);
        }
        addr = addr.next_multiple_of(align);
        if addr.checked_add(size).is_none_or(|end| end > TASK_SIZE) {
            return Err(Errno::ENOMEM);
        }
        Ok(addr)
    }

    /// `mmap(MAP_ANONYMOUS)`: a new anonymous VMA; returns its address.
    /// Private unless `flags` has VM_SHARED, which makes it shared memory
    /// backed by an unnamed shmem file ([`Machine::mmap_shared_anon`]).
    /// `populate` is MAP_POPULATE ([`Machine::mm_populate`]).
    pub fn mmap_anon(&self, mm: &Arc<Mm>, size: u64, flags: u32, populate: bool) -> KResult<u64> {
        if size == 0 || size % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        // ksys_mmap_pgoff(): MAP_HUGETLB rounds the length up to whole huge
        // pages (mmap(2): "The system automatically aligns length").
        let size = if flags & VM_HUGETLB != 0 {
            size.checked_next_multiple_of(huge::HPAGE_PMD_SIZE)
                .ok_or(Errno::ENOMEM)?
        } else {
            size
        };
        if flags & VM_SHARED != 0 {
            let addr = self.mmap_shared_anon(mm, size, flags & !VM_SHARED)?;
            if populate {
                self.mm_populate(mm, addr, size);
            }
            return Ok(addr);
        }
        // thp_get_unmapped_area(): PMD-aligned for THP and hugetlb.
        let align = if flags & (VM_HUGEPAGE | VM_HUGETLB) != 0 && size >= huge::HPAGE_PMD_SIZE {
            huge::HPAGE_PMD_SIZE
        } else {
            PAGE_SIZE
        };
        let addr = {
            let mut maps = mm.mmap_lock.down_write();
            let addr = self.get_unmapped_area(&maps, size, align)?;
            // hugetlbfs_file_mmap() → hugetlb_reserve_pages(): the whole
            // range is reserved now, or the mmap fails.
            let resv = if flags & VM_HUGETLB != 0 {
                Some(self.hugetlb_reserve_private(size / huge::HPAGE_PMD_SIZE)?)
            } else {
                None
            };
            // anon_vma_prepare() at mmap rather than at the first fault: the
            // model's faults hold mmap_lock for read only.
            let anon_vma = Some(self.anon_vma_alloc(mm));
            maps.insert(Vma {
                start: addr,
                end: addr + size,
                flags: flags | VM_MAYREAD | VM_MAYWRITE | VM_SOFTDIRTY,
                anon_vma,
                file: None,
                // do_mmap(): "pgoff = addr >> PAGE_SHIFT" for private
                // anonymous memory, the index its pages record.
                pgoff: addr >> crate::page::PAGE_SHIFT,
                resv,
            });
            addr
        };
        if populate {
            self.mm_populate(mm, addr, size);
        }
        Ok(addr)
    }

    /// `mm_populate()` after `mmap(MAP_POPULATE)`: faults in every page of
    /// the VMAs in `[start, start + len)` as `populate_vma_page_range()` does
    /// — a write fault where the mapping is private and writable (breaking
    /// COW now), a read fault otherwise, nothing in a PROT_NONE mapping — and,
    /// like the kernel, ignores what fails (the mmap has succeeded).
    pub fn mm_populate(&self, mm: &Arc<Mm>, start: u64, len: u64) {
        let end = start.saturating_add(len);
        let vmas: Vec<(u64, u64, u32)> = {
            let maps = mm.mmap_lock.down_read();
            maps.iter()
                .filter(|v| v.start < end && start < v.end)
                .map(|v| (v.start.max(start), v.end.min(end), v.flags))
                .collect()
        };
        for (from, to, flags) in vmas {
            if flags & (VM_READ | VM_WRITE) == 0 {
                continue;
            }
            let write = flags & (VM_WRITE | VM_SHARED) == VM_WRITE;
            let fault = fault::FaultFlags {
                write,
                unshare: false,
            };
            for a in (from..to).step_by(PAGE_SIZE as usize) {
                if self.handle_mm_fault(mm, a, fault).is_err() {
                    break;
                }
            }
        }
    }
}
