//! Readers of /proc: `kcore read|page`, `kpageflags`, `kpagecount`, and a
//! process's `pagemap`, `pte`, `pfn` and `smaps`; and the other lockless
//! PFN walker, the compaction scanner (`compact scan`).
//!
//! The formats are the model's (`walkers/`); this family only finds the process
//! and mapping a line names. A /proc/kcore read streams in 1 MiB `read()`s, as
//! a user-space reader with a 1 MiB buffer would.

use super::kernel::ZONES;
use super::{Cmd, CommandDoc, Family};
use crate::errno::Errno;
use crate::page::{Pfn, PhysAddr, ZoneType, PAGE_SIZE};
use crate::script::args::{Args, Parsed, Place};
use crate::script::output::{host_io_errno, ok, pick, text, ByteSink, CmdResult};
use crate::script::world::World;

/// A command of the readers family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReaderCmd {
    /// `kcore read ADDR LEN`.
    KcoreRead {
        /// Physical address.
        addr: u64,
        /// Bytes.
        len: u64,
    },
    /// `kcore page PFN [OFF] LEN`.
    KcorePage {
        /// The frame.
        pfn: u64,
        /// Offset in the frame (default 0).
        off: u64,
        /// Bytes.
        len: u64,
    },
    /// `kpageflags PFN`.
    Kpageflags {
        /// The frame.
        pfn: u64,
    },
    /// `kpageflags dump FILE`.
    KpageflagsDump {
        /// Host file.
        file: String,
    },
    /// `kpagecount PFN`.
    Kpagecount {
        /// The frame.
        pfn: u64,
    },
    /// `P pagemap PLACE`.
    Pagemap {
        /// The process.
        proc: String,
        /// The page.
        place: Place,
    },
    /// `P pte PLACE`.
    Pte {
        /// The process.
        proc: String,
        /// The page.
        place: Place,
    },
    /// `P pfn PLACE`.
    Pfn {
        /// The process.
        proc: String,
        /// The page.
        place: Place,
    },
    /// `P smaps NAME`: the mapping's /proc/PID/smaps counters (an extension).
    Smaps {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
    },
    /// `compact scan NODE ZONE [FIELD]`.
    CompactScan {
        /// The node.
        node: u64,
        /// The zone.
        zone: ZoneType,
        /// One counter alone.
        field: Option<String>,
    },
}

impl ReaderCmd {
    /// The command's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            ReaderCmd::KcoreRead { .. } => "kcore read",
            ReaderCmd::KcorePage { .. } => "kcore page",
            ReaderCmd::Kpageflags { .. } => "kpageflags",
            ReaderCmd::KpageflagsDump { .. } => "kpageflags dump",
            ReaderCmd::Kpagecount { .. } => "kpagecount",
            ReaderCmd::Pagemap { .. } => "pagemap",
            ReaderCmd::Pte { .. } => "pte",
            ReaderCmd::Pfn { .. } => "pfn",
            ReaderCmd::Smaps { .. } => "smaps",
            ReaderCmd::CompactScan { .. } => "compact scan",
        }
    }

    /// The bytes a kcore read prints.
    pub(crate) fn read_len(&self) -> Option<u64> {
        match self {
            ReaderCmd::KcoreRead { len, .. } | ReaderCmd::KcorePage { len, .. } => Some(*len),
            _ => None,
        }
    }
}

pub(crate) const FAMILY: Family = Family {
    keywords: &[
        ("kcore", kcore),
        ("kpageflags", |a| {
            Ok(Cmd::Reader(if a.eat("dump") {
                ReaderCmd::KpageflagsDump {
                    file: a.host_path("FILE")?,
                }
            } else {
                ReaderCmd::Kpageflags {
                    pfn: a.number("PFN")?,
                }
            }))
        }),
        ("kpagecount", |a| {
            Ok(Cmd::Reader(ReaderCmd::Kpagecount {
                pfn: a.number("PFN")?,
            }))
        }),
        ("compact", |a| {
            let sub = a.word("`scan`")?;
            if sub.text != "scan" {
                return Err(sub.unknown("compact"));
            }
            Ok(Cmd::Reader(ReaderCmd::CompactScan {
                node: a.word("NODE")?.small()?,
                zone: a.word("ZONE")?.keyword(ZONES)?,
                field: a.field()?,
            }))
        }),
    ],
    process_verbs: &[
        ("pagemap", |proc, a| {
            Ok(Cmd::Reader(ReaderCmd::Pagemap {
                proc,
                place: a.place()?,
            }))
        }),
        ("pte", |proc, a| {
            Ok(Cmd::Reader(ReaderCmd::Pte {
                proc,
                place: a.place()?,
            }))
        }),
        ("pfn", |proc, a| {
            Ok(Cmd::Reader(ReaderCmd::Pfn {
                proc,
                place: a.place()?,
            }))
        }),
        ("smaps", |proc, a| {
            Ok(Cmd::Reader(ReaderCmd::Smaps {
                proc,
                name: a.name("NAME")?,
            }))
        }),
    ],
    pin_verbs: &[],
    docs: &[
        CommandDoc {
            syntax: "kcore read ADDR LEN",
            summary: "bytes of physical memory as /proc/kcore returns them (hex)",
        },
        CommandDoc {
            syntax: "kcore page PFN [OFF] LEN",
            summary: "the same, from the start of a page frame",
        },
        CommandDoc {
            syntax: "kpageflags PFN",
            summary: "the set KPF_ bits of /proc/kpageflags, lowercased, comma-separated",
        },
        CommandDoc {
            syntax: "kpageflags dump FILE",
            summary: "write the /proc/kpageflags binary for every PFN to FILE",
        },
        CommandDoc {
            syntax: "kpagecount PFN",
            summary: "/proc/kpagecount of the frame",
        },
        CommandDoc {
            syntax: "P pagemap PLACE",
            summary: "/proc/P/pagemap of the page: present, swapped, exclusive, pfn",
        },
        CommandDoc {
            syntax: "P pte PLACE",
            summary: "the page-table entry: present, writable, anon_exclusive, pfn (EFAULT outside any mapping)",
        },
        CommandDoc {
            syntax: "P pfn PLACE",
            summary: "the PFN mapped there (EFAULT if none)",
        },
        CommandDoc {
            syntax: "compact scan NODE DMA|DMA32|Normal|Movable [FIELD]",
            summary: "isolate_migratepages_block() over the zone: scanned, referenced, isolatable, skipped",
        },
        CommandDoc {
            syntax: "P smaps NAME",
            summary: "/proc/P/smaps counters of the mapping: rss_kb, anon_huge_kb, swap_kb, hugetlb_kb",
        },
    ],
};

fn kcore(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`read` or `page`")?;
    Ok(Cmd::Reader(match sub.text {
        "read" => ReaderCmd::KcoreRead {
            addr: a.number("ADDR")?,
            len: a.bulk("LEN")?,
        },
        "page" => {
            let pfn = a.number("PFN")?;
            let first = a.word("LEN")?;
            let (off, len) = match a.more() {
                true => (first.size()?, a.bulk("LEN")?),
                false => (0, first.bulk("LEN")?),
            };
            ReaderCmd::KcorePage { pfn, off, len }
        }
        _ => return Err(sub.unknown("kcore")),
    }))
}

/// One `read()` of /proc/kcore.
const KCORE_READ_CHUNK: u64 = 1 << 20;

pub(crate) fn run(cmd: &ReaderCmd, w: &mut World, sink: &mut ByteSink) -> CmdResult {
    let m = &w.machine;
    match cmd {
        ReaderCmd::KcoreRead { addr, len } => kcore_read(w, *addr, *len, sink),
        ReaderCmd::KcorePage { pfn, off, len } => {
            let addr = pfn
                .checked_mul(PAGE_SIZE)
                .and_then(|a| a.checked_add(*off))
                .ok_or(Errno::EINVAL)?;
            kcore_read(w, addr, *len, sink)
        }
        ReaderCmd::Kpageflags { pfn } => {
            text(crate::walkers::kpageflags_names(m.kpageflags(Pfn(*pfn))))
        }
        ReaderCmd::KpageflagsDump { file } => {
            m.kpageflags_dump(std::path::Path::new(file))
                .map_err(|e| host_io_errno(&e))?;
            ok()
        }
        ReaderCmd::Kpagecount { pfn } => text(m.kpagecount(Pfn(*pfn))),
        ReaderCmd::Pagemap { proc, place } => {
            let (mm, map, off) = w.procs.place(proc, place, 1)?;
            text(m.pagemap_entry(&mm, map.addr + off))
        }
        ReaderCmd::Pte { proc, place } => {
            let (mm, map, off) = w.procs.place(proc, place, 1)?;
            text(m.pte_info(&mm, map.addr + off)?)
        }
        ReaderCmd::Pfn { proc, place } => {
            let (mm, map, off) = w.procs.place(proc, place, 1)?;
            let entry = m.pagemap_entry(&mm, map.addr + off);
            if !entry.present() {
                return Err(Errno::EFAULT.into());
            }
            text(format!("{:#x}", entry.frame()))
        }
        ReaderCmd::Smaps { proc, name } => {
            let (mm, map) = w.procs.mapping(proc, name)?;
            text(m.smaps(&mm, map.addr, map.addr + map.size))
        }
        ReaderCmd::CompactScan { node, zone, field } => pick(
            &m.isolate_migratepages_scan(*node as usize, *zone)?.fields(),
            field,
        ),
    }
}

/// `len` bytes of /proc/kcore from `addr`, in [`KCORE_READ_CHUNK`] reads.
fn kcore_read(w: &World, addr: u64, len: u64, sink: &mut ByteSink) -> CmdResult {
    if addr.checked_add(len).is_none() {
        return Err(Errno::EINVAL.into());
    }
    let mut at = addr;
    while at < addr + len {
        let n = (KCORE_READ_CHUNK - at % KCORE_READ_CHUNK).min(addr + len - at);
        sink.push(&w.machine.kcore_read(PhysAddr(at), n));
        at += n;
    }
    Ok(sink.finish())
}
