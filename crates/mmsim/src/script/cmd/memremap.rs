//! ZONE_DEVICE: `memremap add|remove|show|alloc|free`, a device driver's
//! view of [`crate::memremap`]: mapping device memory with a memmap
//! (`memremap_pages()`), unmapping it (`memunmap_pages()`), and handing its
//! pages out and taking them back as the driver's allocator does.
//!
//! `remove` waits, as `memunmap_pages()` does, until the last reference on
//! the pgmap is gone; a scenario's thread is the only actor that could drop
//! one, so a wait that could never end fails at once with EDEADLK and
//! leaves the pgmap live ([`Machine::memunmap_pages_nowait`]).
//!
//! [`Machine::memunmap_pages_nowait`]: crate::machine::Machine::memunmap_pages_nowait

use super::{Cmd, CommandDoc, Family};
use crate::errno::Errno;
use crate::memremap::MemoryType;
use crate::page::{Pfn, PhysAddr};
use crate::script::args::{set_once, Args, Parsed, Word};
use crate::script::lexer::ColumnError;
use crate::script::output::{ok, pick, text, CmdResult};
use crate::script::world::World;
use crate::sparse::SUBSECTION_SIZE;
use crate::walkers::Fields;

/// A command of the memremap family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemremapCmd {
    /// `memremap add NAME addr=ADDR size=SIZE type=TYPE [node=N]`.
    Add {
        /// The pgmap's name.
        name: String,
        /// Physical address (ignored for `private`).
        addr: u64,
        /// Bytes.
        size: u64,
        /// Memory type.
        ty: MemoryType,
        /// Node.
        node: usize,
    },
    /// `memremap remove NAME`.
    Remove {
        /// The pgmap's name.
        name: String,
    },
    /// `memremap show NAME [FIELD]`.
    Show {
        /// The pgmap's name.
        name: String,
        /// One field only.
        field: Option<String>,
    },
    /// `memremap alloc NAME`.
    Alloc {
        /// The pgmap's name.
        name: String,
    },
    /// `memremap free NAME PFN`.
    Free {
        /// The pgmap's name.
        name: String,
        /// The page the driver gives back.
        pfn: u64,
    },
}

impl MemremapCmd {
    /// The command's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            MemremapCmd::Add { .. } => "memremap add",
            MemremapCmd::Remove { .. } => "memremap remove",
            MemremapCmd::Show { .. } => "memremap show",
            MemremapCmd::Alloc { .. } => "memremap alloc",
            MemremapCmd::Free { .. } => "memremap free",
        }
    }
}

pub(crate) const FAMILY: Family = Family {
    keywords: &[("memremap", memremap)],
    process_verbs: &[],
    pin_verbs: &[],
    docs: &[
        CommandDoc {
            syntax: "memremap add NAME addr=ADDR size=SIZE type=fsdax|private|coherent|generic|p2pdma [node=N]",
            summary: "memremap_pages(): device memory with a memmap in ZONE_DEVICE; prints its first PFN (private: placed above max_phys, addr ignored)",
        },
        CommandDoc {
            syntax: "memremap remove NAME",
            summary: "memunmap_pages(): waits for the last reference, then removes the memmap; EDEADLK (pgmap left live) if a reference remains",
        },
        CommandDoc {
            syntax: "memremap show NAME [FIELD]",
            summary: "type, start_pfn, nr_pages, node, refs (pgmap references), free (pages on the driver's free list), state",
        },
        CommandDoc {
            syntax: "memremap alloc NAME",
            summary: "the driver hands out its lowest free page (refcount 1, a pgmap reference); prints its PFN",
        },
        CommandDoc {
            syntax: "memremap free NAME PFN",
            summary: "the driver drops its reference on a page it handed out (the last one returns it to the free list)",
        },
    ],
};

const TYPES: &[(&str, MemoryType)] = &[
    ("fsdax", MemoryType::FsDax),
    ("private", MemoryType::DevicePrivate),
    ("coherent", MemoryType::DeviceCoherent),
    ("generic", MemoryType::Generic),
    ("p2pdma", MemoryType::PciP2pDma),
];

fn memremap(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`add`, `remove`, `show`, `alloc` or `free`")?;
    let cmd = match sub.text {
        "add" => add(a)?,
        "remove" => MemremapCmd::Remove {
            name: a.name("NAME")?,
        },
        "show" => MemremapCmd::Show {
            name: a.name("NAME")?,
            field: a.field()?,
        },
        "alloc" => MemremapCmd::Alloc {
            name: a.name("NAME")?,
        },
        "free" => MemremapCmd::Free {
            name: a.name("NAME")?,
            pfn: a.number("PFN")?,
        },
        _ => return Err(sub.unknown("memremap")),
    };
    a.finish()?;
    Ok(Cmd::Memremap(cmd))
}

fn add(a: &mut Args<'_>) -> Parsed<MemremapCmd> {
    let name = a.name("NAME")?;
    let mut addr: Option<(u64, Word<'_>)> = None;
    let mut size: Option<(u64, Word<'_>)> = None;
    let mut ty = None;
    let mut node = None;
    for (word, token) in a.rest_words("a memremap option")? {
        match word.option() {
            Some(("addr", v)) => set_once(&mut addr, (v.number()?, v), token)?,
            Some(("size", v)) => set_once(&mut size, (v.size()?, v), token)?,
            Some(("type", v)) => set_once(&mut ty, v.keyword(TYPES)?, token)?,
            Some(("node", v)) => set_once(&mut node, v.small()?, token)?,
            _ => return Err(word.unknown_option("memremap add")),
        }
    }
    let missing = |what: &str| ColumnError::new(a.end, format!("missing `{what}`"));
    let (addr, addr_w) = addr.ok_or_else(|| missing("addr=ADDR"))?;
    let (size, size_w) = size.ok_or_else(|| missing("size=SIZE"))?;
    let ty = ty.ok_or_else(|| missing("type=TYPE"))?;
    let subsections = |v: u64, w: Word<'_>, what: &str| -> Parsed<()> {
        if !w.is_hole() && v % SUBSECTION_SIZE != 0 {
            return Err(w.error(format!(
                "{what}={v:#x} is not a multiple of 2M: device memory is mapped in whole subsections"
            )));
        }
        Ok(())
    };
    subsections(addr, addr_w, "addr")?;
    subsections(size, size_w, "size")?;
    if !size_w.is_hole() && size == 0 {
        return Err(size_w.error("size must not be 0".into()));
    }
    Ok(MemremapCmd::Add {
        name,
        addr,
        size,
        ty,
        node: node.unwrap_or(0),
    })
}

pub(crate) fn run(cmd: &MemremapCmd, w: &mut World) -> CmdResult {
    let m = &w.machine;
    let pgmap = |name: &str| m.dev_pagemap(name).ok_or(Errno::ENOENT);
    match cmd {
        MemremapCmd::Add {
            name,
            addr,
            size,
            ty,
            node,
        } => {
            let p = m.memremap_pages(name, PhysAddr(*addr), *size, *ty, *node)?;
            text(p.range().start)
        }
        MemremapCmd::Remove { name } => {
            m.memunmap_pages_nowait(&pgmap(name)?)?;
            ok()
        }
        MemremapCmd::Show { name, field } => {
            let p = pgmap(name)?;
            let fields = Fields(vec![
                ("type", p.memory_type().name().to_string()),
                ("start_pfn", p.range().start.to_string()),
                ("nr_pages", p.nr_pages().to_string()),
                ("node", p.nid().to_string()),
                ("refs", p.refs().to_string()),
                ("free", p.nr_free().to_string()),
                ("state", p.state().name().to_string()),
            ]);
            pick(&fields, field)
        }
        MemremapCmd::Alloc { name } => text(m.zone_device_page_alloc(&*pgmap(name)?)?),
        MemremapCmd::Free { name, pfn } => {
            m.zone_device_page_free(&*pgmap(name)?, Pfn(*pfn))?;
            ok()
        }
    }
}
