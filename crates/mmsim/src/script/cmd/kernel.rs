//! The kernel side, driven directly: sparse sections (`sparse`, `section`,
//! `pfn_valid`, `pfn_to_online_page`), a test-only kernel user of pages (`page
//! alloc|free|mark|fill|get|put|show`, `hwpoison`), zone, node and memory
//! counters (`zoneinfo`, `nodeinfo`, `meminfo`), `drain_all_pages` and
//! `check`.

use super::{Cmd, CommandDoc, Family};
pub use crate::hotplug::owner::Mark as PageMark;
use crate::page::{Pfn, PhysAddr, ZoneType, PAGE_SHIFT};
use crate::script::args::{repeated, set_once, Args, Parsed};
use crate::script::lexer::ColumnError;
use crate::script::output::{ok, pick, text, CmdResult};
use crate::script::world::World;
use crate::zone::alloc::Gfp;

/// A command of the kernel-side family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelCmd {
    /// `sparse add ADDR SIZE [node=N]`: arch `__add_pages()` only, no memory blocks.
    SparseAdd {
        /// Start address.
        addr: u64,
        /// Size, bytes.
        size: u64,
        /// Node of the memmap (default 0).
        node: Option<u32>,
    },
    /// `sparse remove ADDR SIZE`: arch `__remove_pages()`.
    SparseRemove {
        /// Start address.
        addr: u64,
        /// Size, bytes.
        size: u64,
    },
    /// `section NR [FIELD]`: a mem_section's flags.
    Section {
        /// Section number.
        nr: u64,
        /// One field only.
        field: Option<String>,
    },
    /// `pfn_valid PFN`.
    PfnValid {
        /// The frame.
        pfn: u64,
    },
    /// `pfn_to_online_page PFN`.
    PfnToOnlinePage {
        /// The frame.
        pfn: u64,
    },
    /// `page alloc NAME ...`.
    PageAlloc {
        /// Name of the allocation, for `page free` and `page mark`.
        name: String,
        /// Buddy or contiguous-range allocation.
        how: PageAlloc,
    },
    /// `page free NAME`.
    PageFree {
        /// The allocation.
        name: String,
    },
    /// `page mark NAME MARK...`.
    PageMark {
        /// The allocation.
        name: String,
        /// The marks, in line order, no repeats.
        marks: Vec<PageMark>,
    },
    /// `page fill NAME BYTE`: the owner writes BYTE over its pages.
    PageFill {
        /// The allocation.
        name: String,
        /// The byte written.
        byte: u8,
    },
    /// `page get PFN`: `get_page_unless_zero()` by a kernel user.
    PageGet {
        /// The frame.
        pfn: u64,
    },
    /// `page put PFN`: drops a reference taken by `page get`.
    PagePut {
        /// The frame.
        pfn: u64,
    },
    /// `page show PFN [FIELD]`: the model's dump of one `struct page`.
    PageShow {
        /// The frame.
        pfn: u64,
        /// One field alone (`flags`, `type`, `refcount`, `mapcount`, `zone`, `node`).
        field: Option<String>,
    },
    /// `hwpoison PFN`: `memory_failure()`.
    Hwpoison {
        /// The frame.
        pfn: u64,
    },
    /// `zoneinfo NODE ZONE [FIELD]`.
    Zoneinfo {
        /// Node id.
        node: u32,
        /// The zone.
        zone: ZoneType,
        /// One field only.
        field: Option<String>,
    },
    /// `nodeinfo NODE [FIELD]`.
    Nodeinfo {
        /// Node id.
        node: u32,
        /// One field only.
        field: Option<String>,
    },
    /// `meminfo [FIELD]`.
    Meminfo {
        /// One field only.
        field: Option<String>,
    },
    /// `drain_all_pages`: every CPU's per-CPU page lists back to the buddy.
    DrainAllPages,
    /// `check`: run every invariant now.
    Check,
}

/// How `page alloc` allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageAlloc {
    /// `[order=N] [movable] [node=N]`: from the buddy allocator.
    Buddy {
        /// Allocation order (default 0).
        order: u32,
        /// `movable`: a movable allocation (`__GFP_MOVABLE`).
        movable: bool,
        /// `node=N`: the preferred node.
        node: Option<u32>,
    },
    /// `pfn=PFN [nr=N]`: `alloc_contig_range` of exactly these frames.
    Contig {
        /// First frame.
        pfn: u64,
        /// Number of frames (default 1).
        nr: u64,
    },
}

impl KernelCmd {
    /// The command's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            KernelCmd::SparseAdd { .. } => "sparse add",
            KernelCmd::SparseRemove { .. } => "sparse remove",
            KernelCmd::Section { .. } => "section",
            KernelCmd::PfnValid { .. } => "pfn_valid",
            KernelCmd::PfnToOnlinePage { .. } => "pfn_to_online_page",
            KernelCmd::PageAlloc { .. } => "page alloc",
            KernelCmd::PageFree { .. } => "page free",
            KernelCmd::PageMark { .. } => "page mark",
            KernelCmd::PageFill { .. } => "page fill",
            KernelCmd::PageGet { .. } => "page get",
            KernelCmd::PagePut { .. } => "page put",
            KernelCmd::PageShow { .. } => "page show",
            KernelCmd::Hwpoison { .. } => "hwpoison",
            KernelCmd::Zoneinfo { .. } => "zoneinfo",
            KernelCmd::Nodeinfo { .. } => "nodeinfo",
            KernelCmd::Meminfo { .. } => "meminfo",
            KernelCmd::DrainAllPages => "drain_all_pages",
            KernelCmd::Check => "check",
        }
    }
}

pub(crate) const FAMILY: Family = Family {
    keywords: &[
        ("sparse", sparse),
        ("section", |a| {
            Ok(Cmd::Kernel(KernelCmd::Section {
                nr: a.number("NR")?,
                field: a.field()?,
            }))
        }),
        ("pfn_valid", |a| {
            Ok(Cmd::Kernel(KernelCmd::PfnValid {
                pfn: a.number("PFN")?,
            }))
        }),
        ("pfn_to_online_page", |a| {
            Ok(Cmd::Kernel(KernelCmd::PfnToOnlinePage {
                pfn: a.number("PFN")?,
            }))
        }),
        ("page", page),
        ("hwpoison", |a| {
            Ok(Cmd::Kernel(KernelCmd::Hwpoison {
                pfn: a.number("PFN")?,
            }))
        }),
        ("zoneinfo", |a| {
            Ok(Cmd::Kernel(KernelCmd::Zoneinfo {
                node: a.word("NODE")?.small()?,
                zone: a.word("ZONE")?.keyword(ZONES)?,
                field: a.field()?,
            }))
        }),
        ("nodeinfo", |a| {
            Ok(Cmd::Kernel(KernelCmd::Nodeinfo {
                node: a.word("NODE")?.small()?,
                field: a.field()?,
            }))
        }),
        ("meminfo", |a| {
            Ok(Cmd::Kernel(KernelCmd::Meminfo { field: a.field()? }))
        }),
        ("drain_all_pages", |_| Ok(Cmd::Kernel(KernelCmd::DrainAllPages))),
        ("check", |_| Ok(Cmd::Kernel(KernelCmd::Check))),
    ],
    process_verbs: &[],
    pin_verbs: &[],
    docs: &[
        CommandDoc {
            syntax: "sparse add ADDR SIZE [node=N]",
            summary: "__add_pages(): sections and their memmap, no memory blocks",
        },
        CommandDoc {
            syntax: "sparse remove ADDR SIZE",
            summary: "__remove_pages()",
        },
        CommandDoc {
            syntax: "section NR [FIELD]",
            summary: "a mem_section: present, has_mem_map, online, early, subsections",
        },
        CommandDoc {
            syntax: "pfn_valid PFN",
            summary: "1 if the frame has a memmap",
        },
        CommandDoc {
            syntax: "pfn_to_online_page PFN",
            summary: "1 if the frame is in an online section (as the pfn_walker variant decides)",
        },
        CommandDoc {
            syntax: "page alloc NAME [order=N] [movable] [node=N] | pfn=PFN [nr=N]",
            summary: "a kernel user allocates pages from the buddy, or exactly these frames (alloc_contig_range); prints the first PFN",
        },
        CommandDoc {
            syntax: "page mark NAME reserved|offline|fake_offline|movable_ops|table|slab ...",
            summary: "the kernel user gives its pages these flags or types",
        },
        CommandDoc {
            syntax: "page fill NAME BYTE",
            summary: "the kernel user writes BYTE over its pages",
        },
        CommandDoc {
            syntax: "page free NAME",
            summary: "the kernel user frees its pages",
        },
        CommandDoc {
            syntax: "page get PFN",
            summary: "a speculative reference (get_page_unless_zero)",
        },
        CommandDoc {
            syntax: "page put PFN",
            summary: "drop a reference taken by `page get`",
        },
        CommandDoc {
            syntax: "page show PFN [FIELD]",
            summary: "dump_page(): flags, type, refcount, mapcount, zone, node",
        },
        CommandDoc {
            syntax: "hwpoison PFN",
            summary: "memory_failure() of the frame",
        },
        CommandDoc {
            syntax: "zoneinfo NODE DMA|DMA32|Normal|Movable [FIELD]",
            summary: "a zone's start_pfn, spanned, present, managed, free, isolated pageblocks",
        },
        CommandDoc {
            syntax: "nodeinfo NODE [FIELD]",
            summary: "a node's states, span, present and managed pages, node notifier events",
        },
        CommandDoc {
            syntax: "meminfo [FIELD]",
            summary: "MemTotal, MemFree, Balloon (kB), max_pfn and the hugetlb counters",
        },
        CommandDoc {
            syntax: "drain_all_pages",
            summary: "drain_all_pages(NULL): every per-CPU page list back to the buddy free lists",
        },
        CommandDoc {
            syntax: "check",
            summary: "run every invariant and the leak check now (counts as an expectation)",
        },
    ],
};

/// Zone names as scenarios write them.
pub(super) const ZONES: &[(&str, ZoneType)] = &[
    ("DMA", ZoneType::Dma),
    ("DMA32", ZoneType::Dma32),
    ("Normal", ZoneType::Normal),
    ("Movable", ZoneType::Movable),
];

const PAGE_MARKS: &[(&str, PageMark)] = &[
    ("reserved", PageMark::Reserved),
    ("offline", PageMark::Offline),
    ("fake_offline", PageMark::FakeOffline),
    ("movable_ops", PageMark::MovableOps),
    ("table", PageMark::Table),
    ("slab", PageMark::Slab),
];

fn sparse(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`add` or `remove`")?;
    Ok(Cmd::Kernel(match sub.text {
        "add" => KernelCmd::SparseAdd {
            addr: a.number("ADDR")?,
            size: a.size("SIZE")?,
            node: a.node()?,
        },
        "remove" => KernelCmd::SparseRemove {
            addr: a.number("ADDR")?,
            size: a.size("SIZE")?,
        },
        _ => return Err(sub.unknown("sparse")),
    }))
}

fn page(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`alloc`, `free`, `mark`, `fill`, `get`, `put` or `show`")?;
    Ok(Cmd::Kernel(match sub.text {
        "alloc" => page_alloc(a)?,
        "free" => KernelCmd::PageFree {
            name: a.name("NAME")?,
        },
        "mark" => {
            let name = a.name("NAME")?;
            if !a.more() {
                return Err(ColumnError::new(a.end, "missing MARK"));
            }
            let mut marks = Vec::new();
            for (word, token) in a.rest_words("a page mark")? {
                let mark = word.keyword(PAGE_MARKS)?;
                if marks.contains(&mark) && !word.is_hole() {
                    return Err(repeated(token));
                }
                marks.push(mark);
            }
            KernelCmd::PageMark { name, marks }
        }
        "fill" => KernelCmd::PageFill {
            name: a.name("NAME")?,
            byte: a.word("BYTE")?.byte()?,
        },
        "get" => KernelCmd::PageGet {
            pfn: a.number("PFN")?,
        },
        "put" => KernelCmd::PagePut {
            pfn: a.number("PFN")?,
        },
        "show" => KernelCmd::PageShow {
            pfn: a.number("PFN")?,
            field: a.field()?,
        },
        _ => return Err(sub.unknown("page")),
    }))
}

/// `page alloc NAME [order=N] [movable] [node=N]` or `page alloc NAME pfn=PFN [nr=N]`.
fn page_alloc(a: &mut Args<'_>) -> Parsed<KernelCmd> {
    let name = a.name("NAME")?;
    let mut order = None;
    let mut movable = None;
    let mut node = None;
    let mut pfn = None;
    let mut nr = None;
    // Whether an option of each form was seen, to report mixing them.
    let mut buddy_seen = false;
    let mut contig_seen = false;
    for (word, token) in a.rest_words("a page alloc option")? {
        let is_contig = match word.text {
            "movable" => {
                set_once(&mut movable, (), token)?;
                false
            }
            _ => match word.option() {
                Some(("order", value)) => {
                    set_once(&mut order, value.small()?, token)?;
                    false
                }
                Some(("node", value)) => {
                    set_once(&mut node, value.small()?, token)?;
                    false
                }
                Some(("pfn", value)) => {
                    set_once(&mut pfn, value.number()?, token)?;
                    true
                }
                Some(("nr", value)) => {
                    set_once(&mut nr, value.number()?, token)?;
                    true
                }
                _ => return Err(word.unknown_option("page alloc")),
            },
        };
        let (mine, other) = if is_contig {
            (&mut contig_seen, buddy_seen)
        } else {
            (&mut buddy_seen, contig_seen)
        };
        if other {
            return Err(ColumnError::new(
                token.column,
                "`order=`, `movable` and `node=` (buddy) do not mix with `pfn=` and `nr=` (contiguous range)",
            ));
        }
        *mine = true;
    }
    let how = match (pfn, nr) {
        (Some(pfn), nr) => PageAlloc::Contig {
            pfn,
            nr: nr.unwrap_or(1),
        },
        (None, Some(_)) => return Err(ColumnError::new(a.end, "missing `pfn=PFN` for `nr=`")),
        (None, None) => PageAlloc::Buddy {
            order: order.unwrap_or(0),
            movable: movable.is_some(),
            node,
        },
    };
    Ok(KernelCmd::PageAlloc { name, how })
}

pub(crate) fn run(cmd: &KernelCmd, w: &mut World) -> CmdResult {
    let m = &w.machine;
    match cmd {
        KernelCmd::SparseAdd { addr, size, .. } => {
            m.sparse_add(PhysAddr(*addr), *size)?;
            ok()
        }
        KernelCmd::SparseRemove { addr, size } => {
            m.remove_pages_checked(PhysAddr(*addr).pfn(), size >> PAGE_SHIFT)?;
            ok()
        }
        KernelCmd::Section { nr, field } => pick(&m.section_info(*nr)?, field),
        KernelCmd::PfnValid { pfn } => text(u8::from(m.mem().pfn_valid(Pfn(*pfn)))),
        KernelCmd::PfnToOnlinePage { pfn } => {
            text(u8::from(m.mem().pfn_to_online_page(Pfn(*pfn)).is_some()))
        }
        KernelCmd::PageAlloc { name, how } => {
            let pfn = match *how {
                PageAlloc::Buddy {
                    order,
                    movable,
                    node,
                } => {
                    let gfp = if movable { Gfp::MOVABLE } else { Gfp::KERNEL };
                    m.owner_alloc(name, order, gfp, node.unwrap_or(0) as usize)?
                }
                PageAlloc::Contig { pfn, nr } => m.owner_alloc_contig(name, Pfn(pfn), nr)?,
            };
            text(pfn)
        }
        KernelCmd::PageFree { name } => {
            m.owner_free(name)?;
            ok()
        }
        KernelCmd::PageMark { name, marks } => {
            for mark in marks {
                m.owner_mark(name, *mark)?;
            }
            ok()
        }
        KernelCmd::PageFill { name, byte } => {
            m.owner_fill(name, *byte)?;
            ok()
        }
        KernelCmd::PageGet { pfn } => {
            m.page_get(Pfn(*pfn))?;
            ok()
        }
        KernelCmd::PagePut { pfn } => {
            m.page_put(Pfn(*pfn))?;
            ok()
        }
        KernelCmd::PageShow { pfn, field } => pick(&m.page_dump(Pfn(*pfn))?, field),
        KernelCmd::Hwpoison { pfn } => {
            m.memory_failure(Pfn(*pfn))?;
            ok()
        }
        KernelCmd::Zoneinfo { node, zone, field } => {
            pick(&m.zoneinfo(*node as usize, *zone)?, field)
        }
        KernelCmd::Nodeinfo { node, field } => pick(&m.nodeinfo(*node as usize)?, field),
        KernelCmd::Meminfo { field } => pick(&m.meminfo(), field),
        KernelCmd::DrainAllPages => {
            m.drain_all_pages(None);
            ok()
        }
        // The interpreter runs every invariant after it.
        KernelCmd::Check => ok(),
    }
}
