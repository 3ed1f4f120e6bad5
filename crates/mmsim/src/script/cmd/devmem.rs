//! Device memory: `memremap add|remove|show` (the stand-in pgmap of
//! [`crate::vm::devmem`] until the ZONE_DEVICE core lands) and
//! `P migrate_to_device PLACE LEN NAME` (HMM's dmirror migrating a range of
//! anonymous memory to device-private pages).

use super::{Cmd, CommandDoc, Family};
use crate::errno::Errno;
use crate::page::PAGE_SHIFT;
use crate::script::args::{set_once, Args, Parsed, Place};
use crate::script::lexer::ColumnError;
use crate::script::output::{ok, pick, text, CmdResult};
use crate::script::world::World;
use crate::sparse::PAGES_PER_SUBSECTION;
use crate::vm::devmem::MemoryType;
use crate::walkers::Fields;

/// A command of the device-memory family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevmemCmd {
    /// `memremap add NAME addr=ADDR size=SIZE type=fsdax|private`.
    Add {
        /// The pgmap's name.
        name: String,
        /// Physical address.
        addr: u64,
        /// Bytes.
        size: u64,
        /// The memory type.
        ty: MemoryType,
    },
    /// `memremap remove NAME`.
    Remove {
        /// The pgmap.
        name: String,
    },
    /// `memremap show NAME [FIELD]`.
    Show {
        /// The pgmap.
        name: String,
        /// One field only.
        field: Option<String>,
    },
    /// `P migrate_to_device PLACE LEN NAME`.
    MigrateToDevice {
        /// The process.
        proc: String,
        /// Where the range starts.
        place: Place,
        /// Bytes.
        len: u64,
        /// The device-private pgmap.
        pgmap: String,
    },
}

impl DevmemCmd {
    /// The command's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            DevmemCmd::Add { .. } => "memremap add",
            DevmemCmd::Remove { .. } => "memremap remove",
            DevmemCmd::Show { .. } => "memremap show",
            DevmemCmd::MigrateToDevice { .. } => "migrate_to_device",
        }
    }
}

const TYPES: &[(&str, MemoryType)] = &[
    ("fsdax", MemoryType::FsDax),
    ("private", MemoryType::DevicePrivate),
];

pub(crate) const FAMILY: Family = Family {
    keywords: &[("memremap", memremap)],
    process_verbs: &[("migrate_to_device", |proc, a| {
        Ok(Cmd::Devmem(DevmemCmd::MigrateToDevice {
            proc,
            place: a.place()?,
            len: a.bulk("LEN")?,
            pgmap: a.name("NAME")?,
        }))
    })],
    pin_verbs: &[],
    docs: &[
        CommandDoc {
            syntax: "memremap add NAME addr=ADDR size=SIZE type=fsdax|private",
            summary: "memremap_pages(): a device pagemap over whole 2M subsections (pmem for fsdax files, or device-private memory for HMM)",
        },
        CommandDoc {
            syntax: "memremap remove NAME",
            summary: "memunmap_pages(): EDEADLK while a page of it is referenced (mapped or pinned), else its memmap goes",
        },
        CommandDoc {
            syntax: "memremap show NAME [FIELD]",
            summary: "type, start_pfn, nr_pages, free_pages (device pages the driver holds) and busy_pages (pages with a reference)",
        },
        CommandDoc {
            syntax: "P migrate_to_device PLACE LEN NAME",
            summary: "HMM: migrate the private anonymous pages of the range to device-private pages of NAME; prints how many moved",
        },
    ],
};

fn memremap(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`add`, `remove` or `show`")?;
    let name = match sub.text {
        "add" | "remove" | "show" => a.name("NAME")?,
        _ => return Err(sub.unknown("memremap")),
    };
    Ok(Cmd::Devmem(match sub.text {
        "add" => add(name, a)?,
        "remove" => DevmemCmd::Remove { name },
        _ => DevmemCmd::Show {
            name,
            field: a.field()?,
        },
    }))
}

fn add(name: String, a: &mut Args<'_>) -> Parsed<DevmemCmd> {
    let mut addr = None;
    let mut size = None;
    let mut ty = None;
    for (word, token) in a.rest_words("a memremap option")? {
        match word.option() {
            Some(("addr", v)) => set_once(&mut addr, (v.number()?, v), token)?,
            Some(("size", v)) => set_once(&mut size, (v.size()?, v), token)?,
            Some(("type", v)) => set_once(&mut ty, v.keyword(TYPES)?, token)?,
            _ => return Err(word.unknown_option("memremap add")),
        }
    }
    let missing = |what: &str| ColumnError::new(a.end, format!("missing `{what}`"));
    let (addr, addr_w) = addr.ok_or_else(|| missing("addr=ADDR"))?;
    let (size, size_w) = size.ok_or_else(|| missing("size=SIZE"))?;
    let ty = ty.ok_or_else(|| missing("type=fsdax|private"))?;
    let sub = PAGES_PER_SUBSECTION << PAGE_SHIFT;
    if !addr_w.is_hole() && addr % sub != 0 {
        return Err(addr_w.error(format!(
            "addr={addr:#x} is not a multiple of the 2M subsection"
        )));
    }
    if !size_w.is_hole() && (size == 0 || size % sub != 0) {
        return Err(size_w.error(format!(
            "size={size:#x} is not a positive multiple of the 2M subsection"
        )));
    }
    Ok(DevmemCmd::Add {
        name,
        addr,
        size,
        ty,
    })
}

pub(crate) fn run(cmd: &DevmemCmd, w: &mut World) -> CmdResult {
    let m = &w.machine;
    match cmd {
        DevmemCmd::Add {
            name,
            addr,
            size,
            ty,
        } => {
            m.memremap_pages(name, *addr, *size, *ty)?;
            ok()
        }
        DevmemCmd::Remove { name } => {
            m.memunmap_pages(name)?;
            ok()
        }
        DevmemCmd::Show { name, field } => {
            let pg = m.dev_pagemap_by_name(name).ok_or(Errno::ENOENT)?;
            let busy = crate::page::pfn_range(pg.start, pg.start + pg.nr)
                .filter(|&p| m.page(p).ref_count() != 0)
                .count();
            let fields = Fields(vec![
                ("type", pg.ty.name().to_owned()),
                ("start_pfn", format!("{:#x}", pg.start.0)),
                ("nr_pages", pg.nr.to_string()),
                ("free_pages", pg.nr_free().to_string()),
                ("busy_pages", busy.to_string()),
            ]);
            pick(&fields, field)
        }
        DevmemCmd::MigrateToDevice {
            proc,
            place,
            len,
            pgmap,
        } => {
            let (mm, map, off) = w.procs.place(proc, place, *len)?;
            text(m.migrate_to_device(&mm, map.addr + off, *len, pgmap)?)
        }
    }
}
