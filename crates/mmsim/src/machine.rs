//! The machine: everything one modelled computer owns, and its boot.
//!
//! There are no globals: a `Machine` value holds the sparse memmap, the nodes
//! with their zones, the hotplug state (memory blocks, locks, notifiers), the
//! System RAM resources, the RCU domain and the byte store. Its size is chosen at
//! run time, so a race test boots a machine of one section and a benchmark one
//! of a terabyte. Kernel paths are methods on `Machine` spread over the modules
//! that own their concepts (`hotplug::online`, `vm::fault`, ...).
//!
//! # Layers
//!
//! The lower layers — `sync`, `page`, `sparse`, `physmem`, `zone` — know
//! nothing of `Machine`: they work on what they are given (the zone layer on
//! a [`PageAlloc`](crate::zone::alloc::PageAlloc), the memmap and the nodes)
//! and take a trait object or a closure where they need a higher layer's
//! help. `tests/layering.rs` enforces it. This module is where the layers
//! meet: `machine/page_alloc.rs` gives the allocator its `Machine` methods,
//! and `machine/folio.rs` decides where a folio's last reference sends it
//! (the buddy allocator or the hugetlb pool), so that hotplug, which sits
//! below the VM, can drop folio references without calling into the VM.
//!
//! # Lock order
//!
//! Every lock of the machine, outermost first, derived from every
//! acquisition in the code; each lock's own doc points here. A lock may be
//! taken while holding any lock drawn above it on its path (not only its
//! direct parent); locks on different paths are never held together. A
//! name in brackets is a subtree drawn once, further down.
//!
//! ```text
//! device_hotplug_lock               Mutex         hotplug::Hotplug
//! └─ device_lock (one block)        Mutex         hotplug::MemoryBlock
//!    └─ mem_hotplug_lock            percpu rwsem  hotplug::lock: write through
//!       │                                         MemHotplugWrite, read through
//!       │                                         OnlineMemsRead
//!       ├─ memory_chain (read)      RwSem         hotplug::notifier, while the
//!       │  │                                      notifiers run
//!       │  └─ a notifier's own locks (a driver's mutex, the test owner's
//!       │     allocations), page_offline_rwsem (write)
//!       ├─ online_page_callback_lock  Mutex
//!       ├─ [rmap_lock]              offline migration, THP split
//!       ├─ balloon_pages_lock       offline migration of balloon pages
//!       └─ zone->lock
//!
//! mmap_lock                         RwSem         vm::Mm: faults and GUP read;
//! │                                               mmap, munmap, mprotect, fork,
//! │                                               exit write
//! ├─ fork_lock                      Mutex         vm::Mm, the parent's
//! │  └─ write_protect_seq (write)   SeqCount      vm::Mm
//! │     └─ [page-table lock]        copying the parent's PTEs
//! ├─ [rmap_lock]                    THP split (pageout, KSM, GUP), collapse,
//! │                                 exit
//! ├─ [page-table lock]              faults, GUP, mprotect, zap
//! └─ zone->lock
//!
//! [rmap_lock]                       RwSem         vm::VmState, the anon_vma
//! │                                               locks: reverse-map walkers
//! │                                               read, collapse and exit write
//! ├─ anon_vma list                  Mutex         vm::VmState
//! ├─ an mm's VMA copy (rmap_vmas)   Mutex         vm::Mm, published by
//! │                                               vm::MmMaps under mmap_lock
//! ├─ [page-table lock]              other address spaces' PTEs
//! ├─ swap-cache lock                migration's reference check
//! ├─ memfd files (page cache)       Mutex         vm::VmState: migration
//! │                                               hands a cache slot over
//! └─ KSM stable tree                Mutex         vm::VmState: migration
//!                                                 moves a stable node
//!
//! [page-table lock]                 SpinLock      vm::Mm::ptl (split PTLs)
//! ├─ page-table lock                one mm's PMD table, then its PTE table
//! │                                 (collapse); never two mms' (fork locks
//! │                                 only the parent's: the child is private)
//! ├─ swap-cache lock                Mutex         vm::swap::SwapDevice
//! │                                               (pageout, fork's swap_dup)
//! └─ KSM stable tree                a merge adds an rmap item
//!
//! balloon_lock                      Mutex         drivers::balloon: inflate,
//! │                                               deflate; migration only
//! │                                               trylocks it
//! ├─ balloon_pages_lock             SpinLock      drivers::balloon: the page
//! │                                               list
//! └─ zone->lock                     deflate frees pages
//!
//! page_offline_rwsem (read)         RwSem         Machine: kcore's
//! │                                               page_offline_freeze(), under
//! │                                               no other lock
//! └─ RCU read-side section          kcore's check of one page
//!
//! pcp_batch_high_lock               Mutex         zone::pcp (one per zone):
//! │                                               zone_pcp_disable() to
//! │                                               zone_pcp_enable(), held by
//! │                                               offline_pages() across the
//! │                                               whole attempt and by
//! │                                               memory_failure()
//! └─ [pcp->lock]                    the drain
//!
//! pcp->lock (one CPU's lists)       SpinLock      zone::pcp: allocation and
//! │                                               free only trylock it
//! └─ zone->lock                     refills (rmqueue_bulk) and drains
//!                                   (free_pcppages_bulk)
//!
//! zone->lock                        SpinLock      zone::Zone: innermost but
//!                                                 for the leaf locks; taken
//!                                                 by every allocation and free
//! ```
//!
//! Wherever `zone->lock` is drawn under a lock because that path allocates
//! or frees pages, `pcp->lock` may come first (the per-CPU lists of the
//! orders they cache). `pcp_batch_high_lock` sits between mem_hotplug_lock
//! and everything offlining takes after it (the notifier chain, rmap_lock,
//! balloon_pages_lock, the zone's locks): offline_pages() takes it before it
//! isolates and drops it at the end of the attempt.
//!
//! mmap_lock and mem_hotplug_lock are never held together: offlining
//! migrates through the reverse map, not through address spaces, and GUP's
//! longterm-pin path drops mmap_lock before it migrates. A driver may take
//! page_offline_rwsem for write from a memory notifier, that is under
//! mem_hotplug_lock, so a reader frozen on it never waits for
//! mem_hotplug_lock.
//!
//! Leaf locks, with nothing taken under them: the System RAM resources, the
//! kernel log and the bug list (all `Machine`'s), the memory-block table
//! (RwSem), the movable_ops registrations, the node events, the hugetlb
//! pool, the memmap chunk pool, each mm's VMA copy for the reverse map
//! (`rmap_vmas`, written under mmap_lock, read under rmap_lock) and
//! `zone->span_seq` (a seqcount written under mem_hotplug_lock). The huge-zero-page and memfd-file mutexes are
//! leaves but for allocating (`zone->lock`, the hugetlb pool).
//!
//! # Sleeping and spinning
//!
//! `zone->lock` and the page-table locks are spinlocks (`sync::SpinLock`):
//! nothing that sleeps runs under them. The leaf `Mutex`es and the
//! swap-cache lock stand for kernel spinlocks (`resource_lock`, the printk
//! buffer, `hugetlb_lock`, the swap cache's `xa_lock`) and may be taken
//! under a spinlock or inside an RCU section. Everything else —
//! device_hotplug_lock, device_lock, mem_hotplug_lock, mmap_lock, rmap_lock,
//! page_offline_rwsem, the notifier chain, a driver's mutex — sleeps, and is
//! never taken under a spinlock or inside an RCU read-side section.
//!
//! # RCU read-side sections
//!
//! The machine's one RCU domain ([`Machine::rcu`]) covers the lockless
//! readers: GUP-fast, which walks page tables and takes speculative
//! references, and the PFN walkers (`/proc/kpageflags`, `/proc/kpagecount`,
//! kcore's page check, the compaction scanner), which look at memmap slots.
//! Both take the read guard as a parameter, so their code cannot run outside
//! a section, and both check per PFN that the memmap they read was not freed
//! under them (`walkers::lockless`). A section is
//! innermost: it may take a spinlock or a leaf lock (GUP-fast's back-off may
//! drop the last reference of a page, taking `zone->lock` or the hugetlb
//! pool), never a sleeping lock, and it never waits for a grace period.
//! Updaters that free what a reader may hold wait for one: the old page
//! table of a collapsed THP (`synchronize_rcu`), a hot-removed memmap under
//! `memmap_free=rcu` (`call_rcu`).
//!
//! Boot (`Machine::boot`) follows x86-64 with 4 KiB pages: RAM is `[0, ram)`
//! minus the legacy VGA/BIOS hole `[0xa0000, 0x100000)`; page 0 and the kernel
//! image at 16 MiB are PG_reserved; zones are DMA below 16 MiB, DMA32 below
//! 4 GiB, Normal above, and `movable=` moves the top of boot RAM into
//! ZONE_MOVABLE (like `movablecore=`). Every boot section is early and online,
//! every boot memory block online; free memory goes to the buddy allocator.

mod folio;
mod page_alloc;

use crate::errno::{Errno, KResult};
use crate::hotplug::owner::KernelOwner;
use crate::hotplug::{Hotplug, MemoryBlockState, OnlineType};
use crate::page::{Page, Pfn, ZoneType, MAX_LINKED_PFN, MAX_NUMNODES, PAGE_SHIFT, PG_RESERVED};
use crate::physmem::PhysMem;
use crate::sparse::{SectionKind, SparseMem, PAGES_PER_SECTION, SECTION_SIZE, SUBSECTION_SIZE};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{Mutex, Rcu};
use crate::variant::Variants;
use crate::zone::{Node, NodeState, Zone};
use std::fmt;
use std::ops::Range;

/// 16 MiB: the end of ZONE_DMA.
pub const DMA_END: u64 = 16 << 20;
/// 4 GiB: the end of ZONE_DMA32.
pub const DMA32_END: u64 = 4 << 30;
/// The legacy hole below 1 MiB that is not System RAM.
pub const LEGACY_HOLE: Range<u64> = 0xa_0000..0x10_0000;
/// Where the kernel image sits (CONFIG_PHYSICAL_START) and how big the model
/// says it is; its pages are PG_reserved.
pub const KERNEL_IMAGE: Range<u64> = (16 << 20)..(48 << 20);

/// The PFN ranges memblock reserves at boot: page 0, the legacy hole
/// (init_unavailable_range marks holes reserved too) and the kernel image.
pub fn boot_reserved_ranges() -> [Range<Pfn>; 3] {
    let to_pfns = |r: &Range<u64>| Pfn(r.start >> PAGE_SHIFT)..Pfn(r.end >> PAGE_SHIFT);
    [
        Pfn(0)..Pfn(1),
        to_pfns(&LEGACY_HOLE),
        to_pfns(&KERNEL_IMAGE),
    ]
}

/// The machine's shape, as `machine` in a scenario gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineConfig {
    /// Boot RAM `[0, ram)`.
    pub ram: u64,
    /// Memory block size (`memory_block_size_bytes()`): a power of two of
    /// at least one section.
    pub block_size: u64,
    /// Nodes that boot RAM is split over.
    pub nodes: usize,
    /// Top of boot RAM that goes to ZONE_MOVABLE.
    pub movable: u64,
    /// Size in bytes of the swap device (0: none, and MADV_PAGEOUT fails
    /// with -ENOMEM).
    pub swap: u64,
    /// 2 MiB pages set aside for the hugetlb pool at boot.
    pub hugepages: u64,
    /// `auto_online_blocks`: how `add_memory()` onlines the blocks it adds.
    pub auto_online: OnlineType,
    /// Upper bound of hot-pluggable physical memory.
    pub max_phys: u64,
    /// Back boot RAM, and every range `add_memory()` adds, with host memory
    /// up front (QEMU's `prealloc=on`; `PhysMem::prealloc`): what a
    /// measurement wants, at the cost of host memory for all of it.
    pub prealloc: bool,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            ram: 2 << 30,
            block_size: 128 << 20,
            nodes: 1,
            movable: 0,
            swap: 0,
            hugepages: 0,
            auto_online: OnlineType::Offline,
            max_phys: 1 << 40,
            prealloc: false,
        }
    }
}

/// Why a configuration cannot boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The `machine` option at fault (`ram`, `block`, `hugepages`, ...).
    pub key: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The smallest memory block, and the largest x86-64 picks
/// (`probe_memory_block_size()`: MIN_MEMORY_BLOCK_SIZE to MAX_BLOCK_SIZE).
pub const MIN_BLOCK_SIZE: u64 = 128 << 20;
/// See [`MIN_BLOCK_SIZE`].
pub const MAX_BLOCK_SIZE: u64 = 2 << 30;

/// The most boot RAM the model boots. Booting hands every free MAX_ORDER block
/// to the buddy allocator, which writes the block's head `struct page`: one
/// host page of memmap per 4 MiB of RAM (1/1024 of it, 1 GiB for 1 TiB) and
/// about 2.5 s per TiB. Memory beyond this is added with `hotplug add`.
pub const MAX_BOOT_RAM: u64 = 2 << 40;

/// The highest physical address the model can address: `MAX_LINKED_PFN`
/// pages.
pub const MAX_PHYS: u64 = MAX_LINKED_PFN << PAGE_SHIFT;

impl MachineConfig {
    /// Checks the configuration the way the kernel would refuse to boot it, and
    /// that the host can hold it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key, message: String| Err(ConfigError { key, message });
        // Boot RAM may end inside a section (at a 2 MiB subsection), which
        // leaves the rest of that early section free for a ZONE_DEVICE range
        // (SECTION_TAINT_ZONE_DEVICE); node and movable splits stay whole
        // sections.
        if self.ram == 0 || self.ram % SUBSECTION_SIZE != 0 {
            return err(
                "ram",
                format!(
                    "ram={} must be a non-zero multiple of 2M (one subsection)",
                    Size(self.ram)
                ),
            );
        }
        if self.ram % SECTION_SIZE != 0 && (self.nodes > 1 || self.movable > 0) {
            return err(
                "ram",
                format!(
                    "ram={} ends inside a section: with nodes= or movable= it must be a \
                     multiple of 128M",
                    Size(self.ram)
                ),
            );
        }
        if self.ram > MAX_BOOT_RAM {
            return err(
                "ram",
                format!(
                    "ram={} is more than the model boots (at most {}T): booting initialises \
                     one page of memmap per 4 MiB of RAM, about 1 GiB of host memory and \
                     2.5 s per TiB",
                    Size(self.ram),
                    MAX_BOOT_RAM >> 40
                ),
            );
        }
        // What booting touches (see MAX_BOOT_RAM), with room to spare. A
        // small machine's few MiB are not worth reading /proc/meminfo for
        // at every boot (the race explorer boots thousands a second).
        let needed = self.ram / 1024 * 2;
        let available = (needed > HOST_MEMORY_ALWAYS_THERE)
            .then(host_available_memory)
            .flatten();
        if let Some(available) = available {
            if needed > available {
                return err(
                    "ram",
                    format!(
                        "ram={} needs about {} MiB of host memory to boot and this host has \
                         {} MiB available: at most {}G fits",
                        Size(self.ram),
                        needed >> 20,
                        available >> 20,
                        (available / 2 * 1024) >> 30
                    ),
                );
            }
        }
        if !self.block_size.is_power_of_two()
            || !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.block_size)
        {
            return err(
                "block",
                format!(
                    "block={} must be a power of two from 128M to 2G (x86-64's memory block sizes)",
                    Size(self.block_size)
                ),
            );
        }
        if self.max_phys % SECTION_SIZE != 0 || self.max_phys < self.ram {
            return err(
                "max_phys",
                format!(
                    "max_phys={} must be a multiple of 128M and at least ram",
                    Size(self.max_phys)
                ),
            );
        }
        if self.max_phys > MAX_PHYS {
            return err(
                "max_phys",
                format!(
                    "max_phys={} is beyond the model's {}T limit",
                    Size(self.max_phys),
                    MAX_PHYS >> 40
                ),
            );
        }
        if self.block_size > self.max_phys {
            return err(
                "block",
                format!(
                    "block={} is larger than max_phys={}",
                    Size(self.block_size),
                    Size(self.max_phys)
                ),
            );
        }
        if self.nodes == 0 || self.nodes > MAX_NUMNODES {
            return err(
                "nodes",
                format!("nodes={} must be 1..={MAX_NUMNODES}", self.nodes),
            );
        }
        if self.nodes > 1 && (self.ram / self.nodes as u64) % SECTION_SIZE != 0 {
            return err(
                "nodes",
                format!(
                    "ram split over {} nodes must give each a multiple of 128M",
                    self.nodes
                ),
            );
        }
        if self.hugepages > self.ram >> 21 {
            return err(
                "hugepages",
                format!(
                    "hugepages={} needs more than ram={} (2 MiB each)",
                    self.hugepages,
                    Size(self.ram)
                ),
            );
        }
        if self.movable % SECTION_SIZE != 0 {
            return err(
                "movable",
                format!("movable={} must be a multiple of 128M", Size(self.movable)),
            );
        }
        if self.movable >= self.ram {
            return err(
                "movable",
                format!(
                    "movable={} leaves no kernel memory below it",
                    Size(self.movable)
                ),
            );
        }
        Ok(())
    }

    /// Boot RAM of node `nid`.
    pub fn node_range(&self, nid: usize) -> Range<u64> {
        let per = self.ram / self.nodes as u64;
        nid as u64 * per..(nid as u64 + 1) * per
    }

    /// The zone a boot PFN belongs to.
    pub fn boot_zone(&self, addr: u64) -> ZoneType {
        if self.movable > 0 && addr >= self.ram - self.movable {
            ZoneType::Movable
        } else if addr < DMA_END {
            ZoneType::Dma
        } else if addr < DMA32_END {
            ZoneType::Dma32
        } else {
            ZoneType::Normal
        }
    }
}

/// A byte count as a person writes it (`8T`, `192M`, `4097`): the largest
/// unit that divides it exactly.
pub(crate) struct Size(pub(crate) u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shift, suffix) in [(40, 'T'), (30, 'G'), (20, 'M'), (10, 'K')] {
            if self.0 >= 1 << shift && self.0 % (1 << shift) == 0 {
                return write!(f, "{}{suffix}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// Host memory any host running the model has to spare: booting a machine
/// that needs no more does not ask the host.
const HOST_MEMORY_ALWAYS_THERE: u64 = 16 << 20;

/// The host's MemAvailable, if /proc/meminfo says.
fn host_available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// One System RAM resource (`/proc/iomem` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// `[start, end)` in bytes.
    pub range: Range<u64>,
    /// "System RAM" or "System RAM (driver)".
    pub name: String,
}

/// A modelled computer.
pub struct Machine {
    config: MachineConfig,
    variants: Variants,
    /// The RCU domain of the lockless readers; see the module doc's "RCU
    /// read-side sections".
    rcu: Rcu,
    mem: SparseMem,
    /// `pgmap_array`: the ZONE_DEVICE pgmaps (`crate::memremap`), shared
    /// with the sparse layer for `pfn_to_online_page()`'s slow path.
    pgmaps: crate::sync::Arc<crate::memremap::PgmapTable>,
    nodes: Box<[Node]>,
    hotplug: Hotplug,
    /// The virtio-mem devices' drivers. Declared before `physmem`: their
    /// devices reach guest memory through it, so they go first.
    virtio_mem: crate::drivers::virtio_mem::Registry,
    physmem: PhysMem,
    /// `iomem_resource`'s System RAM children (a leaf lock).
    resources: Mutex<Vec<Resource>>,
    max_pfn: AtomicU64,
    owner: KernelOwner,
    balloon: crate::drivers::balloon::VirtioBalloon,
    vm: crate::vm::VmState,
    swap: Option<crate::vm::swap::SwapDevice>,
    /// The kernel log (dmesg), newest last (a leaf lock).
    log: Mutex<Vec<String>>,
    /// Kernel bugs the model detected (BUG/WARN/bad page), for the checker
    /// (a leaf lock).
    bugs: Mutex<Vec<String>>,
    /// `page_offline_rwsem` (mm/util.c): PFN walkers that read page content
    /// hold it for read, drivers setting PageOffline for write
    /// (`walkers::page_offline`); see the module doc's lock order.
    page_offline_rwsem: crate::sync::RwSem<()>,
    /// The lockless readers' test hooks (`walkers::lockless`).
    reader_hooks: crate::walkers::lockless::ReaderHooks,
}

impl Machine {
    /// Boots a machine: checks the configuration (the error says what is
    /// wrong with it), reserves the physical byte store, builds the boot
    /// memmap, zones and memory blocks, and frees the unreserved boot RAM
    /// to the buddy allocator.
    pub fn boot(config: MachineConfig, variants: Variants) -> Result<Machine, ConfigError> {
        config.validate()?;
        let physmem = PhysMem::new(config.max_phys).map_err(|e| ConfigError {
            key: "max_phys",
            message: format!(
                "cannot reserve {} bytes of address space for physical memory: {e}",
                config.max_phys
            ),
        })?;
        if config.prealloc {
            physmem
                .prealloc(crate::page::PhysAddr(0), config.ram)
                .map_err(|e| ConfigError {
                    key: "prealloc",
                    message: format!("cannot back {} bytes of boot RAM up front: {e}", config.ram),
                })?;
        }
        let pgmaps = crate::sync::Arc::new(crate::memremap::PgmapTable::default());
        // The section table also covers the device-private window above
        // max_phys (crate::memremap).
        let top = (config.max_phys + crate::memremap::DEVICE_PRIVATE_WINDOW).min(MAX_PHYS);
        let m = Machine {
            mem: SparseMem::with_pgmaps(top / SECTION_SIZE, pgmaps.clone()),
            pgmaps,
            nodes: (0..MAX_NUMNODES).map(Node::new).collect(),
            hotplug: Hotplug::new(config.block_size, config.auto_online),
            virtio_mem: Default::default(),
            resources: Mutex::new(Vec::new()),
            max_pfn: AtomicU64::new(0),
            owner: KernelOwner::new(),
            balloon: crate::drivers::balloon::VirtioBalloon::new(),
            // The shared zero page: the first page of the (reserved) kernel
            // image, whose bytes are zero and stay so.
            vm: crate::vm::VmState::new(Pfn(KERNEL_IMAGE.start >> PAGE_SHIFT)),
            swap: (config.swap > 0).then(|| crate::vm::swap::SwapDevice::new(config.swap)),
            log: Mutex::new(Vec::new()),
            bugs: Mutex::new(Vec::new()),
            page_offline_rwsem: crate::sync::RwSem::new(()),
            reader_hooks: Default::default(),
            rcu: Rcu::new(),
            physmem,
            variants,
            config,
        };
        m.boot_memory()?;
        m.register_balloon();
        m.register_owner();
        m.register_lru_migration();
        // Also without a boot pool: it registers hugetlb migration, and
        // nr_hugepages may grow the pool later.
        m.hugetlb_boot(m.config.hugepages)
            .map_err(|_| ConfigError {
                key: "hugepages",
                message: format!(
                    "hugepages={}: not enough memory for the hugetlb pool",
                    m.config.hugepages
                ),
            })?;
        Ok(m)
    }

    fn boot_memory(&self) -> Result<(), ConfigError> {
        let cfg = &self.config;
        let ram_end = cfg.ram;
        {
            let mut res = self.resources.lock();
            let low_end = LEGACY_HOLE.start.min(ram_end);
            res.push(Resource {
                range: 0..low_end,
                name: "System RAM".into(),
            });
            if ram_end > LEGACY_HOLE.end {
                res.push(Resource {
                    range: LEGACY_HOLE.end..ram_end,
                    name: "System RAM".into(),
                });
            }
        }
        // sparse_init(): every boot section is early, fully populated.
        for nr in 0..ram_end.div_ceil(SECTION_SIZE) {
            let start = Pfn(nr * PAGES_PER_SECTION);
            let nr_pages = ((ram_end >> PAGE_SHIFT) - start.0).min(PAGES_PER_SECTION);
            self.mem
                .sparse_add_section(start, nr_pages, SectionKind::Early)
                .map_err(|e| ConfigError {
                    key: "ram",
                    message: format!("cannot map the boot memmap: {e}"),
                })?;
        }
        // Zone spans, memmap_init and free_area_init.
        for nid in 0..cfg.nodes {
            let range = cfg.node_range(nid);
            let node = &self.nodes[nid];
            node.set_state(NodeState::Online, true);
            for zt in ZoneType::ALL {
                let (s, e) = self.boot_zone_range(range.clone(), zt);
                if s < e {
                    node.zone(zt)
                        .set_span(Pfn(s >> PAGE_SHIFT), Pfn(e >> PAGE_SHIFT));
                }
            }
            node.recompute_span();
        }
        let end_pfn = Pfn(ram_end >> PAGE_SHIFT);
        for nid in 0..cfg.nodes {
            let range = cfg.node_range(nid);
            for zt in ZoneType::ALL {
                let (s, e) = self.boot_zone_range(range.clone(), zt);
                if s < e {
                    self.memmap_init_boot_zone(nid, zt, Pfn(s >> PAGE_SHIFT), Pfn(e >> PAGE_SHIFT));
                }
            }
        }
        self.max_pfn.store(end_pfn.0, Ordering::Relaxed);
        self.mem.online_mem_sections(Pfn(0), end_pfn);
        for nid in 0..cfg.nodes {
            let node = &self.nodes[nid];
            node.set_state(NodeState::Memory, node.present_pages() > 0);
            node.set_state(
                NodeState::NormalMemory,
                node.zones
                    .iter()
                    .any(|z| z.zone_type != ZoneType::Movable && z.present_pages() > 0),
            );
        }
        // memory_dev_init(): a block for every present section, online.
        let per_block = cfg.block_size / SECTION_SIZE;
        let nr_sections = ram_end.div_ceil(SECTION_SIZE);
        let mut nr = 0;
        while nr < nr_sections {
            let block_id = nr / per_block;
            let nid = self
                .mem
                .pfn_to_page(Pfn(nr * PAGES_PER_SECTION))
                .map_or(0, |p| p.nid());
            let start = Pfn(block_id * per_block * PAGES_PER_SECTION);
            let zone = self.single_zone_of(
                start,
                Pfn((block_id + 1) * per_block * PAGES_PER_SECTION).min(end_pfn),
            );
            self.hotplug
                .create_boot_block(block_id, nid, zone, MemoryBlockState::Online);
            nr = (block_id + 1) * per_block;
        }
        // setup_per_cpu_pageset(): the boot zones' pcp limits.
        self.init_per_zone_wmark_min();
        Ok(())
    }

    fn boot_zone_range(&self, node: Range<u64>, zt: ZoneType) -> (u64, u64) {
        let cfg = &self.config;
        let movable_start = cfg.ram - cfg.movable;
        let (lo, hi) = match zt {
            ZoneType::Dma => (0, DMA_END),
            ZoneType::Dma32 => (DMA_END, DMA32_END),
            ZoneType::Normal => (DMA32_END, u64::MAX),
            ZoneType::Movable => (movable_start, u64::MAX),
            // Boot memory never lands in ZONE_DEVICE.
            ZoneType::Device => return (0, 0),
        };
        let hi = if zt == ZoneType::Movable || cfg.movable == 0 {
            hi
        } else {
            hi.min(movable_start)
        };
        let s = lo.max(node.start);
        let e = hi.min(node.end);
        if zt == ZoneType::Movable && cfg.movable == 0 {
            return (0, 0);
        }
        (s, e.max(s))
    }

    /// memmap_init + free_area_init + memblock_free_all for one boot zone.
    fn memmap_init_boot_zone(&self, nid: usize, zt: ZoneType, start: Pfn, end: Pfn) {
        let zone = self.zone(nid, zt);
        let reserved = boot_reserved_ranges();
        let hole = reserved[1].clone();
        let overlap =
            |r: &Range<Pfn>, s: Pfn, e: Pfn| r.end.min(e).0.saturating_sub(r.start.max(s).0);
        let reserved_in = |s: Pfn, e: Pfn| reserved.iter().any(|r| overlap(r, s, e) > 0);

        // memmap_init(): zone and node links. A never-written slot already
        // reads as ZONE_NORMAL of node 0 (see Page::init_links), so the bulk
        // of a large machine's memmap is not touched at all.
        // Nobody else runs during boot: no scheduling point per page. The
        // loops below only load and store slots and section words, so they
        // cannot yield, and `quiescent` (no task's accesses are scheduling
        // points) is `unscheduled` at a counter per access instead of a
        // lookup of the current task.
        if !(zt == ZoneType::Normal && nid == 0) {
            crate::sync::quiescent(|| {
                let mut pfn = start;
                while pfn < end {
                    let sec_end = Pfn((pfn.0 / PAGES_PER_SECTION + 1) * PAGES_PER_SECTION).min(end);
                    let pages = self
                        .mem
                        .pfn_range_to_pages(pfn, sec_end)
                        .unwrap_or_else(|| panic!("BUG: pfn {pfn} has no memmap"));
                    for page in pages {
                        page.init_links(zt, nid);
                    }
                    pfn = sec_end;
                }
            });
        }
        let mut pb = start;
        while pb < end {
            self.mem
                .set_pageblock_migratetype_raw(pb, crate::zone::Migratetype::Movable as u8);
            pb = pb + crate::page::PAGEBLOCK_NR_PAGES;
        }
        crate::sync::quiescent(|| {
            for r in &reserved {
                for pfn in crate::page::pfn_range(r.start.max(start), r.end.min(end)) {
                    let page = self.page(pfn);
                    page.set_ref_count(1);
                    page.set(PG_RESERVED);
                }
            }
        });
        let present = (end - start) - overlap(&hole, start, end);
        zone.adjust_present(present as i64, true);
        self.node(nid).adjust_present(present as i64);

        // memblock_free_all(): hand every unreserved page to the buddy in
        // the largest naturally aligned blocks.
        let mut freed = 0i64;
        let mut locked = zone.lock.lock();
        let mut pfn = start;
        while pfn < end {
            if reserved_in(pfn, pfn + 1) {
                pfn = pfn + 1;
                continue;
            }
            let mut order = crate::page::MAX_PAGE_ORDER;
            while order > 0
                && (!pfn.is_aligned(1 << order)
                    || pfn + (1 << order) > end
                    || reserved_in(pfn, pfn + (1 << order)))
            {
                order -= 1;
            }
            crate::zone::buddy::free_one_page(zone, &mut locked, &self.mem, pfn, order, false);
            freed += 1 << order;
            pfn = pfn + (1 << order);
        }
        drop(locked);
        zone.adjust_managed(freed);
    }

    /// The zone of `[start, end)` if all its online pages are in one zone
    /// (`test_pages_in_a_zone()`).
    pub(crate) fn single_zone_of(&self, start: Pfn, end: Pfn) -> Option<(usize, ZoneType)> {
        let mut found = None;
        let mut pfn = start;
        while pfn < end {
            if let Some(p) = self.mem.pfn_to_online_page(pfn) {
                let z = (p.nid(), p.zonenum());
                match found {
                    None => found = Some(z),
                    Some(f) if f != z => return None,
                    _ => {}
                }
            }
            // Zone and node boundaries are pageblock aligned in the model.
            pfn = pfn + crate::page::PAGEBLOCK_NR_PAGES;
        }
        found
    }

    // ----- accessors -------------------------------------------------------

    /// The configuration it booted with.
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    /// The protocol variants the machine runs under (fixed at boot).
    pub fn variants(&self) -> &Variants {
        &self.variants
    }

    /// The RCU domain: GUP-fast and the PFN walkers read under it, and
    /// what they may hold is freed after a grace period (module doc, "RCU
    /// read-side sections").
    pub fn rcu(&self) -> &Rcu {
        &self.rcu
    }

    /// The sparse memory model.
    pub fn mem(&self) -> &SparseMem {
        &self.mem
    }

    /// The pgmaps by address (`pgmap_array`).
    pub(crate) fn pgmap_table(&self) -> &crate::memremap::PgmapTable {
        &self.pgmaps
    }

    /// Hotplug state: memory blocks, device_hotplug_lock, the notifier
    /// chain and the online_page_callback.
    pub fn hotplug(&self) -> &Hotplug {
        &self.hotplug
    }

    /// The byte store behind physical addresses (page contents).
    pub fn physmem(&self) -> &PhysMem {
        &self.physmem
    }

    /// Node `nid` (any id below MAX_NUMNODES; nodes without memory exist).
    pub fn node(&self, nid: usize) -> &Node {
        &self.nodes[nid]
    }

    /// All node slots, MAX_NUMNODES of them, memoryless ones included.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// `NODE_DATA(nid)->node_zones[zt]`.
    pub fn zone(&self, nid: usize, zt: ZoneType) -> &Zone {
        self.nodes[nid].zone(zt)
    }

    /// `page_zone()`.
    pub fn page_zone(&self, page: &Page) -> &Zone {
        self.zone(page.nid(), page.zonenum())
    }

    /// The memmap slot of a PFN known to have one. Panics otherwise: callers
    /// hold the protocol that guarantees it (a BUG in the kernel).
    pub fn page(&self, pfn: Pfn) -> &Page {
        self.mem
            .pfn_to_page(pfn)
            .unwrap_or_else(|| panic!("BUG: pfn {pfn} has no memmap"))
    }

    /// `max_pfn`: highest PFN of memory ever added (never lowered).
    pub fn max_pfn(&self) -> Pfn {
        Pfn(self.max_pfn.load(Ordering::Relaxed))
    }

    pub(crate) fn raise_max_pfn(&self, end: Pfn) {
        self.max_pfn.fetch_max(end.0, Ordering::Relaxed);
    }

    /// A copy of the System RAM resources.
    pub fn resources(&self) -> Vec<Resource> {
        self.resources.lock().clone()
    }

    /// `register_memory_resource()`: -EEXIST if `[start, end)` overlaps an
    /// existing System RAM resource.
    pub(crate) fn request_resource(&self, range: Range<u64>, name: &str) -> KResult<()> {
        let mut res = self.resources.lock();
        if res
            .iter()
            .any(|r| r.range.start < range.end && range.start < r.range.end)
        {
            return Err(Errno::EEXIST);
        }
        res.push(Resource {
            range,
            name: name.to_string(),
        });
        res.sort_by_key(|r| r.range.start);
        Ok(())
    }

    /// `release_mem_region_adjustable()`: removes `[start, end)` from the
    /// resources, splitting one if needed.
    pub(crate) fn release_resource(&self, range: Range<u64>) {
        let mut res = self.resources.lock();
        let mut out = Vec::with_capacity(res.len() + 1);
        for r in res.drain(..) {
            if r.range.end <= range.start || range.end <= r.range.start {
                out.push(r);
                continue;
            }
            if r.range.start < range.start {
                out.push(Resource {
                    range: r.range.start..range.start,
                    name: r.name.clone(),
                });
            }
            if range.end < r.range.end {
                out.push(Resource {
                    range: range.end..r.range.end,
                    name: r.name.clone(),
                });
            }
        }
        *res = out;
    }

    /// `walk_system_ram_range()` page count over `[start, end)`.
    pub fn system_ram_pages(&self, start: Pfn, end: Pfn) -> u64 {
        let (s, e) = (start.phys().0, end.phys().0);
        self.resources
            .lock()
            .iter()
            .map(|r| {
                let lo = r.range.start.max(s);
                let hi = r.range.end.min(e);
                hi.saturating_sub(lo) >> PAGE_SHIFT
            })
            .sum()
    }

    /// The swap device, if the machine has one (`swap=`).
    pub fn swap_device(&self) -> Option<&crate::vm::swap::SwapDevice> {
        self.swap.as_ref()
    }

    /// Machine-wide VM state: the zero page, anon_vmas, files, the hugetlb
    /// pool and the reverse-map lock.
    pub fn vm(&self) -> &crate::vm::VmState {
        &self.vm
    }

    /// The virtio-mem devices' drivers.
    pub fn virtio_mem(&self) -> &crate::drivers::virtio_mem::Registry {
        &self.virtio_mem
    }

    /// The test-only kernel user.
    pub fn owner(&self) -> &KernelOwner {
        &self.owner
    }

    /// The balloon driver's state; [`Machine::balloon`] is its interface.
    pub(crate) fn balloon_dev(&self) -> &crate::drivers::balloon::VirtioBalloon {
        &self.balloon
    }

    /// `page_offline_rwsem`. Take it through `page_offline_freeze()` or
    /// `page_offline_begin()`; direct access is for asserting its state.
    pub fn page_offline_rwsem(&self) -> &crate::sync::RwSem<()> {
        &self.page_offline_rwsem
    }

    /// The lockless readers' test hooks.
    pub(crate) fn reader_hooks(&self) -> &crate::walkers::lockless::ReaderHooks {
        &self.reader_hooks
    }

    /// `pr_info()` and friends: appends to the kernel log.
    pub fn log(&self, msg: String) {
        self.log.lock().push(msg);
    }

    /// The kernel log so far.
    pub fn dmesg(&self) -> Vec<String> {
        self.log.lock().clone()
    }

    /// Records a kernel bug (BUG_ON, WARN, bad page) the model detected; the
    /// checker reports it as an invariant violation.
    pub fn report_bug(&self, msg: String) {
        self.log(msg.clone());
        self.bugs.lock().push(msg);
    }

    /// Takes the bugs recorded since the last call.
    pub fn take_bugs(&self) -> Vec<String> {
        std::mem::take(&mut *self.bugs.lock())
    }

    /// The fatal accesses ([`crate::physmem::fence`]) since the last call,
    /// one report line each.
    pub fn fatal_access_reports(&self) -> Vec<String> {
        let (list, more) = self.physmem.take_fatal_accesses();
        let mut out: Vec<String> = list.iter().map(ToString::to_string).collect();
        if more > 0 {
            out.push(format!("and {more} more fatal accesses"));
        }
        out
    }

    /// `totalram_pages()`: managed pages over every zone.
    pub fn totalram_pages(&self) -> i64 {
        self.nodes.iter().map(|n| n.managed_pages()).sum()
    }
}
