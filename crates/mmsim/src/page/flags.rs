//! Page flags (`enum pageflags`) and page types (`enum pagetype`).
//!
//! The flag bits follow Linux 7.2's order on x86-64 with MMU, MEMORY_FAILURE and
//! PAGE_IDLE_FLAG; they are not ABI (user space sees KPF bits only, see
//! `walkers::kpageflags`). Several names alias one bit, exactly as in the kernel:
//! the meaning depends on the page's state (an anonymous page, a buddy page, a
//! PageOffline page), so code must test the state before the alias.
//!
//! The top bits of the flags word hold the page's zone and node, written once
//! when the memmap is initialised for a zone (`set_page_links()`), the way the
//! kernel packs them into `page->flags`.

/// A page flag: a bit number in `Page::flags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageFlag(pub u32);

impl PageFlag {
    /// The bit as a mask.
    pub const fn mask(self) -> u64 {
        1 << self.0
    }
}

macro_rules! pageflags {
    ($($name:ident = $bit:expr;)*) => {
        $(#[allow(missing_docs)] pub const $name: PageFlag = PageFlag($bit);)*
        /// Flag names in bit order, for dumps.
        pub const PAGEFLAG_NAMES: &[(PageFlag, &str)] = &[$(($name, stringify!($name)),)*];
    };
}

pageflags! {
    PG_LOCKED = 0;
    PG_WRITEBACK = 1;
    PG_REFERENCED = 2;
    PG_UPTODATE = 3;
    PG_DIRTY = 4;
    PG_LRU = 5;
    PG_HEAD = 6;
    PG_WAITERS = 7;
    PG_ACTIVE = 8;
    PG_WORKINGSET = 9;
    PG_OWNER_PRIV_1 = 10;
    PG_OWNER_2 = 11;
    PG_ARCH_1 = 12;
    PG_RESERVED = 13;
    PG_PRIVATE = 14;
    PG_PRIVATE_2 = 15;
    PG_RECLAIM = 16;
    PG_SWAPBACKED = 17;
    PG_UNEVICTABLE = 18;
    PG_DROPBEHIND = 19;
    PG_MLOCKED = 20;
    PG_HWPOISON = 21;
    PG_YOUNG = 22;
    PG_IDLE = 23;
    PG_ARCH_2 = 24;
    PG_ARCH_3 = 25;
}

/// Number of flag bits in use; zone and node live above them.
pub const NR_PAGEFLAGS: u32 = 26;

/// `PG_swapcache` (anonymous/shmem folios in the swap cache).
pub const PG_SWAPCACHE: PageFlag = PG_OWNER_PRIV_1;
/// `PG_checked` (filesystems).
pub const PG_CHECKED: PageFlag = PG_OWNER_PRIV_1;
/// `PG_vmemmap_self_hosted` (memmap_on_memory pages).
pub const PG_VMEMMAP_SELF_HOSTED: PageFlag = PG_OWNER_PRIV_1;
/// `PG_anon_exclusive` (anonymous pages only).
pub const PG_ANON_EXCLUSIVE: PageFlag = PG_OWNER_2;
/// `PG_mappedtodisk` (file pages).
pub const PG_MAPPEDTODISK: PageFlag = PG_OWNER_2;
/// `PG_offline_skippable`: proposed in May 2025, never merged; PageOffline
/// pages only. Modelled for the `offline_skip=skippable` and `frozen`
/// variants.
pub const PG_OFFLINE_SKIPPABLE: PageFlag = PG_OWNER_2;
/// `PG_readahead`.
pub const PG_READAHEAD: PageFlag = PG_RECLAIM;
/// `PG_movable_ops` (7.2): the owner registered movable_ops for this page.
pub const PG_MOVABLE_OPS: PageFlag = PG_UPTODATE;
/// `PG_movable_ops_isolated` (7.2): isolated for migration.
pub const PG_MOVABLE_OPS_ISOLATED: PageFlag = PG_RECLAIM;
/// `PG_reported` (free page reporting; buddy pages only).
pub const PG_REPORTED: PageFlag = PG_UPTODATE;
/// `PG_large_rmappable` (second page of a large folio).
pub const PG_LARGE_RMAPPABLE: PageFlag = PG_WORKINGSET;

/// Where the zone index sits in the flags word.
pub const ZONES_SHIFT: u32 = 56;
/// Width of the zone index.
pub const ZONES_WIDTH: u32 = 3;
/// Where the node id sits in the flags word.
pub const NODES_SHIFT: u32 = 59;
/// Width of the node id.
pub const NODES_WIDTH: u32 = 5;
/// `MAX_NUMNODES` in the model.
pub const MAX_NUMNODES: usize = 1 << NODES_WIDTH;

/// Mask of the flag bits proper (without zone and node).
pub const PAGEFLAGS_MASK: u64 = (1 << NR_PAGEFLAGS) - 1;

/// `enum pagetype`: stored in the top byte of `page_type`, which overlays
/// `_mapcount`. `u32::MAX` (mapcount -1) means "no type".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PageType {
    /// PGTY_buddy: head of a free buddy block.
    Buddy = 0xf0,
    /// PGTY_offline: logically offline (balloon, virtio-mem, not onlined).
    Offline = 0xf1,
    /// PGTY_table: a page-table page.
    Table = 0xf2,
    /// PGTY_guard: debug guard page.
    Guard = 0xf3,
    /// PGTY_hugetlb (a folio type).
    Hugetlb = 0xf4,
    /// PGTY_slab.
    Slab = 0xf5,
    /// PGTY_zsmalloc.
    Zsmalloc = 0xf6,
    /// PGTY_unaccepted.
    Unaccepted = 0xf7,
    /// PGTY_large_kmalloc.
    LargeKmalloc = 0xf8,
}

impl PageType {
    /// Decodes the top byte of a `page_type` word.
    pub const fn from_byte(b: u8) -> Option<PageType> {
        Some(match b {
            0xf0 => PageType::Buddy,
            0xf1 => PageType::Offline,
            0xf2 => PageType::Table,
            0xf3 => PageType::Guard,
            0xf4 => PageType::Hugetlb,
            0xf5 => PageType::Slab,
            0xf6 => PageType::Zsmalloc,
            0xf7 => PageType::Unaccepted,
            0xf8 => PageType::LargeKmalloc,
            _ => return None,
        })
    }

    /// The kernel's name for dumps (`PGTY_buddy` → "buddy").
    pub const fn name(self) -> &'static str {
        match self {
            PageType::Buddy => "buddy",
            PageType::Offline => "offline",
            PageType::Table => "table",
            PageType::Guard => "guard",
            PageType::Hugetlb => "hugetlb",
            PageType::Slab => "slab",
            PageType::Zsmalloc => "zsmalloc",
            PageType::Unaccepted => "unaccepted",
            PageType::LargeKmalloc => "large_kmalloc",
        }
    }
}

/// `enum zone_type` on x86-64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ZoneType {
    /// Below 16 MiB.
    Dma = 0,
    /// Below 4 GiB.
    Dma32 = 1,
    /// The rest of kernel memory.
    Normal = 2,
    /// ZONE_MOVABLE: only movable allocations.
    Movable = 3,
    /// ZONE_DEVICE: device memory given a memmap by `memremap_pages()`
    /// (the memremap module above). It spans the device ranges of its node, is never
    /// onlined and has no present or managed pages; no allocation's zonelist
    /// reaches it.
    Device = 4,
}

/// Number of zone types per node.
pub const MAX_NR_ZONES: usize = 5;

impl ZoneType {
    /// All zones in index order.
    pub const ALL: [ZoneType; MAX_NR_ZONES] = [
        ZoneType::Dma,
        ZoneType::Dma32,
        ZoneType::Normal,
        ZoneType::Movable,
        ZoneType::Device,
    ];

    /// From the index stored in the page flags.
    pub const fn from_index(i: usize) -> Option<ZoneType> {
        match i {
            0 => Some(ZoneType::Dma),
            1 => Some(ZoneType::Dma32),
            2 => Some(ZoneType::Normal),
            3 => Some(ZoneType::Movable),
            4 => Some(ZoneType::Device),
            _ => None,
        }
    }

    /// The index.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name sysfs and /proc/zoneinfo use (`valid_zones`).
    pub const fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
            ZoneType::Movable => "Movable",
            ZoneType::Device => "Device",
        }
    }

    /// Parses a zone name as `name()` prints it.
    pub fn from_name(s: &str) -> Option<ZoneType> {
        ZoneType::ALL.into_iter().find(|z| z.name() == s)
    }
}
