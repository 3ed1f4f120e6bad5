//! `mmsim map`: a picture of physical memory after a scenario (or at one of
//! its lines).
//!
//! One row per memory block (neighbours that would be drawn the same share
//! one, so a terabyte of free blocks is a row), and one per ZONE_DEVICE
//! range (a pgmap, which has no memory block; its strip tells pages in use
//! from idle ones by their refcount and mapcount, since /proc/kpageflags
//! shows device pages as no page at all): its id and physical range, its sysfs `state`,
//! the zone and node it is online to, for a block inside a virtio-mem device
//! the device blocks plugged and unplugged (the host's view, which is what the
//! guest may touch), and a strip of what its pages are. The strip cuts the
//! block into [`MemoryMap::buckets`] equal runs of pages and paints each with
//! the kind most of its pages have (of at most 128 sampled evenly), read
//! through /proc/kpageflags exactly as `page-types` would (so an offline
//! block, whose memmap is stale, reads as not online).
//!
//! The picture is drawn twice from the same [`MemoryMap`]: as SVG
//! ([`MemoryMap::svg`]), with a legend and sizes in human units, and for a
//! terminal with ANSI colours ([`MemoryMap::ansi`]).

use std::fmt::Write;

use crate::machine::{Machine, Size};
use crate::memremap::MemoryType;
use crate::page::PAGE_SHIFT;
use crate::script::cmd::virtio::VirtioDevs;
use crate::walkers::{
    KPF_ANON, KPF_BUDDY, KPF_HUGE, KPF_LRU, KPF_MMAP, KPF_OFFLINE, KPF_PGTABLE, KPF_RESERVED,
    KPF_SLAB, KPF_THP,
};

/// What a run of pages mostly is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PageKind {
    /// Free, in the buddy allocator.
    Buddy,
    /// Anonymous memory (not THP).
    Anon,
    /// Page cache (file or shmem pages on the LRU, or mapped).
    File,
    /// A transparent huge page.
    Thp,
    /// A hugetlb folio.
    Hugetlb,
    /// PageOffline (virtio-mem's unplugged or fake-offline pages, balloon).
    Offline,
    /// A page table.
    PageTable,
    /// Slab.
    Slab,
    /// PG_reserved.
    Reserved,
    /// Allocated, none of the above (kernel allocations, device pages).
    Other,
    /// No online page (the block is offline or going offline).
    NotOnline,
    /// A ZONE_DEVICE page its owner has handed out or a process maps.
    DeviceInUse,
    /// A ZONE_DEVICE page nobody uses (on its pgmap's free list, or a
    /// device-dax page no process maps).
    DeviceIdle,
}

impl PageKind {
    /// Every kind, in legend order.
    pub const ALL: [PageKind; 13] = [
        PageKind::Buddy,
        PageKind::Anon,
        PageKind::File,
        PageKind::Thp,
        PageKind::Hugetlb,
        PageKind::Offline,
        PageKind::PageTable,
        PageKind::Slab,
        PageKind::Reserved,
        PageKind::Other,
        PageKind::NotOnline,
        PageKind::DeviceInUse,
        PageKind::DeviceIdle,
    ];

    /// The legend's name.
    pub const fn name(self) -> &'static str {
        match self {
            PageKind::Buddy => "buddy (free)",
            PageKind::Anon => "anon",
            PageKind::File => "file",
            PageKind::Thp => "THP",
            PageKind::Hugetlb => "hugetlb",
            PageKind::Offline => "PageOffline",
            PageKind::PageTable => "page tables",
            PageKind::Slab => "slab",
            PageKind::Reserved => "reserved",
            PageKind::Other => "other",
            PageKind::NotOnline => "not online",
            PageKind::DeviceInUse => "device, in use",
            PageKind::DeviceIdle => "device, idle",
        }
    }

    /// The colour, `#rrggbb`.
    pub const fn colour(self) -> &'static str {
        match self {
            PageKind::Buddy => "#d9f0d3",
            PageKind::Anon => "#d6604d",
            PageKind::File => "#4393c3",
            PageKind::Thp => "#b2182b",
            PageKind::Hugetlb => "#762a83",
            PageKind::Offline => "#fdb863",
            PageKind::PageTable => "#35978f",
            PageKind::Slab => "#8c510a",
            PageKind::Reserved => "#404040",
            PageKind::Other => "#bababa",
            PageKind::NotOnline => "#f7f7f7",
            PageKind::DeviceInUse => "#5e3c99",
            PageKind::DeviceIdle => "#cbc9e2",
        }
    }

    /// The kind of one page, from its /proc/kpageflags word: the first of
    /// [`BY_FLAG`] whose bit is set.
    pub fn of_flags(flags: u64) -> PageKind {
        if flags == 0 {
            return PageKind::NotOnline;
        }
        BY_FLAG
            .iter()
            .find(|&&(bit, _)| flags & (1 << bit) != 0)
            .map_or(PageKind::Other, |&(_, kind)| kind)
    }

    /// An ANSI 24-bit background colour sequence.
    fn ansi_bg(self) -> String {
        let hex = &self.colour()[1..];
        let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
        format!("\x1b[48;2;{};{};{}m", c(0), c(2), c(4))
    }
}

/// How a page's flags name its kind, most telling first (a THP is also
/// anonymous and on the LRU; a page table is neither).
const BY_FLAG: [(u32, PageKind); 10] = [
    (KPF_OFFLINE, PageKind::Offline),
    (KPF_BUDDY, PageKind::Buddy),
    (KPF_THP, PageKind::Thp),
    (KPF_HUGE, PageKind::Hugetlb),
    (KPF_PGTABLE, PageKind::PageTable),
    (KPF_SLAB, PageKind::Slab),
    (KPF_ANON, PageKind::Anon),
    (KPF_LRU, PageKind::File),
    (KPF_MMAP, PageKind::File),
    (KPF_RESERVED, PageKind::Reserved),
];

/// One memory block of the picture, or a run of neighbours that look the
/// same (a big machine's free blocks are one row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRow {
    /// `memoryN`.
    pub id: u64,
    /// The last block of the run (`id` for a single block).
    pub last_id: u64,
    /// Physical range, bytes.
    pub start: u64,
    /// Its length (of the whole run).
    pub size: u64,
    /// sysfs `state`.
    pub state: &'static str,
    /// The zone it is online to, if it is.
    pub zone: Option<&'static str>,
    /// Its node.
    pub nid: usize,
    /// What each run of its pages mostly is.
    pub strip: Vec<PageKind>,
    /// For a block of a virtio-mem device: the device's name, and for each
    /// of its device blocks inside this memory block whether it is plugged.
    pub virtio_mem: Option<(String, Vec<bool>)>,
    /// For ZONE_DEVICE memory, which has no memory block: the pgmap's name
    /// (its `state` is then the pgmap's type, `fsdax`, `private`...; `id`
    /// and `last_id` are 0).
    pub device: Option<String>,
}

impl MapRow {
    /// Whether `other` would be drawn the same way (all but the address).
    fn same_look(&self, other: &MapRow) -> bool {
        self.state == other.state
            && self.zone == other.zone
            && self.nid == other.nid
            && self.strip == other.strip
            && self.virtio_mem == other.virtio_mem
            && self.device.is_none()
            && other.device.is_none()
    }

    /// The fill of its state cell: every ZONE_DEVICE type has one.
    pub fn state_colour(&self) -> &'static str {
        state_colour(if self.device.is_some() {
            "device"
        } else {
            self.state
        })
    }

    /// `memory5`, `memory16-8191`, or a pgmap's name.
    pub fn label(&self) -> String {
        if let Some(device) = &self.device {
            device.clone()
        } else if self.last_id == self.id {
            format!("memory{}", self.id)
        } else {
            format!("memory{}-{}", self.id, self.last_id)
        }
    }
}

/// Pages sampled per run of a strip.
const SAMPLES: u64 = 128;

/// A strip of `buckets` runs over `pages` pages: each run takes the kind
/// most of its pages have (of at most [`SAMPLES`], evenly spread, so a
/// terabyte machine is drawn in seconds); `kind` reads page `i`.
fn strip(buckets: usize, pages: u64, mut kind: impl FnMut(u64) -> PageKind) -> Vec<PageKind> {
    (0..buckets as u64)
        .map(|i| {
            let first = i * pages / buckets as u64;
            let last = ((i + 1) * pages / buckets as u64).max(first + 1).min(pages);
            let n = (last - first).clamp(1, SAMPLES);
            let mut counts = [0u32; PageKind::ALL.len()];
            for k in 0..n {
                counts[kind(first + k * (last - first) / n) as usize] += 1;
            }
            let most = (0..counts.len()).max_by_key(|&k| (counts[k], usize::MAX - k));
            PageKind::ALL[most.unwrap_or(0)]
        })
        .collect()
}

/// The picture's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryMap {
    /// One per memory block, by physical address.
    pub rows: Vec<MapRow>,
    /// Runs per block in a strip.
    pub buckets: usize,
}

/// Escapes text for SVG.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Layout of the SVG, in pixels (tests read pixels at these places).
pub mod layout {
    /// Height of the title and column heads.
    pub const TOP: u32 = 44;
    /// Height of one row.
    pub const ROW: u32 = 22;
    /// Left edge of the state cell.
    pub const STATE_X: u32 = 150;
    /// Width of the state cell.
    pub const STATE_W: u32 = 110;
    /// Left edge of the virtio-mem cell.
    pub const VMEM_X: u32 = 400;
    /// Width of the virtio-mem cell.
    pub const VMEM_W: u32 = 120;
    /// Left edge of the page strip.
    pub const STRIP_X: u32 = 530;
    /// Width of the page strip.
    pub const STRIP_W: u32 = 512;
    /// Total width.
    pub const WIDTH: u32 = STRIP_X + STRIP_W + 20;
}

/// The fill of a state cell (`device` for ZONE_DEVICE ranges).
pub fn state_colour(state: &str) -> &'static str {
    match state {
        "online" => "#1a9850",
        "offline" => "#d73027",
        "device" => "#5e3c99",
        _ => "#fee08b",
    }
}

impl MemoryMap {
    /// The picture of `m` now: every memory block, `buckets` runs per
    /// strip, and the host's view of `virtio`'s devices.
    pub(crate) fn of(m: &Machine, virtio: &VirtioDevs, buckets: usize) -> MemoryMap {
        let buckets = buckets.max(1);
        let block_size = m.hotplug().block_size();
        let pages = block_size >> PAGE_SHIFT;
        let mut rows: Vec<MapRow> = m
            .hotplug()
            .blocks()
            .iter()
            .map(|b| {
                let start = b.start_pfn.phys().0;
                let strip = strip(buckets, pages, |i| {
                    PageKind::of_flags(m.kpageflags(b.start_pfn + i))
                });
                MapRow {
                    id: b.id,
                    last_id: b.id,
                    start,
                    size: block_size,
                    state: b.state().as_str(),
                    zone: b.zone().map(|(_, z)| z.name()),
                    nid: b.nid,
                    strip,
                    virtio_mem: virtio.plugged_in(start, block_size),
                    device: None,
                }
            })
            .collect();
        rows.extend(m.pgmaps().all().iter().map(|pgmap| {
            let range = pgmap.range();
            let pages = range.end.0 - range.start.0;
            let strip = strip(buckets, pages, |i| {
                let pfn = range.start + i;
                m.pfn_to_device_page(pfn).map_or(PageKind::NotOnline, |p| {
                    // Generic (device-dax) pages rest at refcount 1, the
                    // others at 0 (`__init_zone_device_page()`).
                    let idle = i32::from(pgmap.memory_type() == MemoryType::Generic);
                    if p.ref_count() > idle || p.mapcount() > 0 {
                        PageKind::DeviceInUse
                    } else {
                        PageKind::DeviceIdle
                    }
                })
            });
            MapRow {
                id: 0,
                last_id: 0,
                start: range.start.phys().0,
                size: pages << PAGE_SHIFT,
                state: pgmap.memory_type().name(),
                zone: Some("Device"),
                nid: pgmap.nid(),
                strip,
                virtio_mem: None,
                device: Some(pgmap.name().to_string()),
            }
        }));
        rows.sort_by_key(|r| r.start);
        let mut merged: Vec<MapRow> = Vec::with_capacity(rows.len());
        for r in rows {
            match merged.last_mut() {
                Some(prev) if prev.same_look(&r) && prev.start + prev.size == r.start => {
                    prev.last_id = r.last_id;
                    prev.size += r.size;
                }
                _ => merged.push(r),
            }
        }
        MemoryMap {
            rows: merged,
            buckets,
        }
    }

    /// The picture as SVG.
    pub fn svg(&self) -> String {
        use layout::*;
        let legend_y = TOP + ROW * self.rows.len() as u32 + 16;
        let height = legend_y + 20 * PageKind::ALL.len().div_ceil(4) as u32 + 60;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="monospace" font-size="12">"#
        );
        let _ = writeln!(
            s,
            r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
        );
        let total: u64 = self.rows.iter().map(|r| r.size).sum();
        let blocks: u64 = self
            .rows
            .iter()
            .filter(|r| r.device.is_none())
            .map(|r| r.last_id - r.id + 1)
            .sum();
        let devices = match self.rows.iter().filter(|r| r.device.is_some()).count() {
            0 => String::new(),
            1 => " and 1 ZONE_DEVICE range".to_string(),
            n => format!(" and {n} ZONE_DEVICE ranges"),
        };
        let _ = writeln!(
            s,
            r#"<text x="8" y="16">physical memory: {blocks} memory blocks{devices}, {} in all (neighbours that look the same share a row)</text>"#,
            Size(total)
        );
        for (x, head) in [
            (8, "block  start"),
            (STATE_X, "state"),
            (STATE_X + STATE_W + 10, "zone  node"),
            (VMEM_X, "virtio-mem"),
            (STRIP_X, "pages"),
        ] {
            let _ = writeln!(s, r#"<text x="{x}" y="{}">{}</text>"#, TOP - 8, xml(head));
        }
        for (i, r) in self.rows.iter().enumerate() {
            let y = TOP + ROW * i as u32;
            let text_y = y + 15;
            let _ = writeln!(
                s,
                r#"<text x="8" y="{text_y}">{} {}</text>"#,
                r.label(),
                xml(&Size(r.start).to_string())
            );
            let _ = writeln!(
                s,
                r#"<rect x="{STATE_X}" y="{}" width="{STATE_W}" height="{}" fill="{}"/><text x="{}" y="{text_y}" fill="{}">{}</text>"#,
                y + 2,
                ROW - 4,
                r.state_colour(),
                STATE_X + 4,
                if r.device.is_some() || matches!(r.state, "online" | "offline") {
                    "#ffffff"
                } else {
                    "#000000"
                },
                r.state
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{text_y}">{} {}</text>"#,
                STATE_X + STATE_W + 10,
                r.zone.unwrap_or("-"),
                r.nid
            );
            if let Some((dev, plugged)) = &r.virtio_mem {
                // One rectangle per run of equal blocks: no seams between
                // neighbours.
                let w = VMEM_W as f64 / plugged.len().max(1) as f64;
                let mut k = 0;
                while k < plugged.len() {
                    let p = plugged[k];
                    let n = plugged[k..].iter().take_while(|&&q| q == p).count();
                    let _ = writeln!(
                        s,
                        r#"<rect x="{:.2}" y="{}" width="{:.2}" height="{}" fill="{}"><title>{} {} {}</title></rect>"#,
                        VMEM_X as f64 + k as f64 * w,
                        y + 2,
                        n as f64 * w,
                        ROW - 4,
                        if p { "#2166ac" } else { "#e0e0e0" },
                        xml(dev),
                        n,
                        if p { "plugged" } else { "unplugged" }
                    );
                    k += n;
                }
            }
            let w = STRIP_W as f64 / self.buckets as f64;
            for (k, kind) in r.strip.iter().enumerate() {
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.2}" y="{}" width="{:.2}" height="{}" fill="{}"/>"#,
                    STRIP_X as f64 + k as f64 * w,
                    y + 2,
                    w + 0.05,
                    ROW - 4,
                    kind.colour()
                );
            }
        }
        for (k, kind) in PageKind::ALL.iter().enumerate() {
            let x = 8 + 200 * (k % 4) as u32;
            let y = legend_y + 20 * (k / 4) as u32;
            let _ = writeln!(
                s,
                r##"<rect x="{x}" y="{y}" width="14" height="14" fill="{}" stroke="#808080"/><text x="{}" y="{}">{}</text>"##,
                kind.colour(),
                x + 20,
                y + 12,
                xml(kind.name())
            );
        }
        let y = legend_y + 20 * PageKind::ALL.len().div_ceil(4) as u32 + 8;
        let _ = writeln!(
            s,
            r##"<rect x="8" y="{y}" width="14" height="14" fill="#2166ac"/><text x="28" y="{}">virtio-mem plugged</text><rect x="208" y="{y}" width="14" height="14" fill="#e0e0e0"/><text x="228" y="{}">unplugged</text>"##,
            y + 12,
            y + 12
        );
        s.push_str("</svg>\n");
        s
    }

    /// The picture for a terminal: one line per block, the strip in ANSI
    /// background colours, and a legend.
    pub fn ansi(&self) -> String {
        let reset = "\x1b[0m";
        let mut s = String::new();
        for r in &self.rows {
            let _ = write!(
                s,
                "{:<14} {:>6} {:<13} {:<8} {} ",
                r.label(),
                Size(r.start),
                r.state,
                r.zone.unwrap_or("-"),
                r.nid
            );
            for kind in &r.strip {
                let _ = write!(s, "{} ", kind.ansi_bg());
            }
            s.push_str(reset);
            if let Some((dev, plugged)) = &r.virtio_mem {
                let marks: String = plugged.iter().map(|&p| if p { '#' } else { '.' }).collect();
                let _ = write!(s, " {dev} {marks}");
            }
            s.push('\n');
        }
        for kind in PageKind::ALL {
            let _ = write!(s, "{} {reset} {}  ", kind.ansi_bg(), kind.name());
        }
        s.push('\n');
        s
    }
}
