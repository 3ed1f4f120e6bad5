//! Processes and their memory: `spawn`, `file`, `ksm run` and the process
//! verbs `mmap`, `munmap`, `mremap`, `mprotect`, `madvise`, `touch`,
//! `write`, `read`, `fork`, `exit`, `clear_refs`.
//!
//! Processes run one command at a time (SCENARIOS.md). Each command calls the
//! model (mmap, faults, fork, exit) and mirrors its user-level meaning into the
//! oracle, which knows nothing of pages; every byte a process reads is compared
//! with the oracle as it is read. Ranges are named by mapping and offset; the
//! addresses handed to the model are the mapping's, so the model applies the
//! kernel's own checks (alignment, rounding) and the oracle hears only what the
//! kernel did.

use std::collections::HashMap;

use super::{Cmd, CommandDoc, Family};
use crate::errno::Errno;
use crate::oracle::RangeSet;
use crate::page::PAGE_SIZE;
use crate::script::args::{set_once, Args, ByteRange, Parsed, Place};
use crate::script::lexer::{ColumnError, Token, TokenKind};
use crate::script::output::{check_bulk, ok, text, ByteSink, CmdResult};
use crate::script::world::{Mapping, Process, Span, World};
use crate::sync::Arc;
use crate::vm::mremap::MremapFlags;
use crate::vm::{Mm, TASK_SIZE, VM_HUGEPAGE, VM_HUGETLB, VM_READ, VM_SHARED, VM_WRITE};

/// A command of the process family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessCmd {
    /// `spawn P`.
    Spawn {
        /// The new process.
        proc: String,
    },
    /// `file F SIZE [hugetlb]`: a zero-filled memory-backed file.
    File {
        /// The file's name.
        name: String,
        /// Size, bytes.
        size: u64,
        /// `hugetlb` (an extension): a hugetlbfs file, as
        /// `memfd_create(MFD_HUGETLB)` makes, backed by the hugetlb pool.
        hugetlb: bool,
        /// `dax=NAME`: a file on the fsdax pgmap NAME, its pages the
        /// pgmap's pages.
        dax: Option<String>,
    },
    /// `P mmap NAME SIZE [anon|file=F] [private|shared] [ro|rw|none] [thp]
    /// [hugetlb] [populate]`.
    Mmap {
        /// The process.
        proc: String,
        /// The mapping's name.
        name: String,
        /// Size, bytes.
        size: u64,
        /// `anon` (default) or `file=F`.
        backing: Backing,
        /// `private` (default) or `shared`.
        sharing: Sharing,
        /// `rw` (default), `ro` or `none`.
        prot: Prot,
        /// `thp`: PMD-map THPs where the range allows it.
        thp: bool,
        /// `hugetlb`: back with hugetlb pages.
        hugetlb: bool,
        /// `populate`: MAP_POPULATE.
        populate: bool,
    },
    /// `P munmap NAME [OFF LEN]`.
    Munmap {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
        /// Part of the mapping (default all).
        range: Option<ByteRange>,
    },
    /// `P mremap NAME NEWSIZE [OFF LEN] [to=DEST]`: `mremap()` with
    /// MREMAP_MAYMOVE of the whole mapping (which keeps its name), or of
    /// `[OFF, OFF+LEN)` with MREMAP_FIXED at DEST's address (the moved
    /// memory replaces DEST and takes its name).
    Mremap {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
        /// The new length, bytes.
        new_size: u64,
        /// Part of the mapping (default all; only with `to`).
        range: Option<ByteRange>,
        /// `to=DEST`: the mapping the memory moves onto.
        to: Option<String>,
    },
    /// `P mprotect NAME none|ro|rw [OFF LEN]`.
    Mprotect {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
        /// The new protection.
        prot: Prot,
        /// Part of the mapping (default all).
        range: Option<ByteRange>,
    },
    /// `P madvise NAME ADVICE [OFF LEN]`.
    Madvise {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
        /// The advice.
        advice: Advice,
        /// Part of the mapping (default all).
        range: Option<ByteRange>,
    },
    /// `P touch NAME [OFF LEN]`: read every page.
    Touch {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
        /// Part of the mapping (default all).
        range: Option<ByteRange>,
    },
    /// `P write PLACE LEN BYTE` or `P write PLACE "text"`.
    Write {
        /// The process.
        proc: String,
        /// Where the write starts.
        place: Place,
        /// What is written.
        data: WriteData,
    },
    /// `P read PLACE LEN`.
    Read {
        /// The process.
        proc: String,
        /// Where the read starts.
        place: Place,
        /// Bytes.
        len: u64,
    },
    /// `P fork Q`.
    Fork {
        /// The parent.
        proc: String,
        /// The new child.
        child: String,
    },
    /// `P exit`.
    Exit {
        /// The process.
        proc: String,
    },
    /// `P clear_refs`: `echo 4 > /proc/P/clear_refs` (clear soft-dirty).
    ClearRefs {
        /// The process.
        proc: String,
    },
    /// `ksm run`: one full KSM pass.
    KsmRun,
}

/// What backs a mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// `anon` (the default).
    Anon,
    /// `file=F`: the memory-backed file F.
    File(String),
}

/// `private` or `shared`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// `private` (MAP_PRIVATE, the default).
    Private,
    /// `shared` (MAP_SHARED).
    Shared,
}

/// A protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    /// `none` (PROT_NONE).
    None,
    /// `ro` (PROT_READ).
    ReadOnly,
    /// `rw` (PROT_READ | PROT_WRITE, the default).
    ReadWrite,
}

impl Prot {
    /// The VMA flags it gives.
    fn vm_flags(self) -> u32 {
        match self {
            Prot::None => 0,
            Prot::ReadOnly => VM_READ,
            Prot::ReadWrite => VM_READ | VM_WRITE,
        }
    }
}

/// A `madvise` advice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// `dontneed` (MADV_DONTNEED).
    DontNeed,
    /// `pageout` (MADV_PAGEOUT).
    PageOut,
    /// `mergeable` (MADV_MERGEABLE).
    Mergeable,
    /// `unmergeable` (MADV_UNMERGEABLE).
    Unmergeable,
    /// `hugepage` (MADV_HUGEPAGE).
    HugePage,
    /// `nohugepage` (MADV_NOHUGEPAGE).
    NoHugePage,
    /// `collapse` (MADV_COLLAPSE).
    Collapse,
    /// `dontfork` (MADV_DONTFORK).
    DontFork,
    /// `dofork` (MADV_DOFORK).
    DoFork,
}

/// What `P write` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteData {
    /// `LEN BYTE`: LEN bytes of value BYTE.
    Fill {
        /// Number of bytes.
        len: u64,
        /// Their value.
        byte: u8,
    },
    /// `"text"`: these bytes.
    Text(Vec<u8>),
}

impl WriteData {
    fn len(&self) -> u64 {
        match self {
            WriteData::Fill { len, .. } => *len,
            WriteData::Text(t) => t.len() as u64,
        }
    }
}

impl ProcessCmd {
    /// The command's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            ProcessCmd::Spawn { .. } => "spawn",
            ProcessCmd::File { .. } => "file",
            ProcessCmd::Mmap { .. } => "mmap",
            ProcessCmd::Munmap { .. } => "munmap",
            ProcessCmd::Mremap { .. } => "mremap",
            ProcessCmd::Mprotect { .. } => "mprotect",
            ProcessCmd::Madvise { .. } => "madvise",
            ProcessCmd::Touch { .. } => "touch",
            ProcessCmd::Write { .. } => "write",
            ProcessCmd::Read { .. } => "read",
            ProcessCmd::Fork { .. } => "fork",
            ProcessCmd::Exit { .. } => "exit",
            ProcessCmd::ClearRefs { .. } => "clear_refs",
            ProcessCmd::KsmRun => "ksm run",
        }
    }

    /// The bytes a `read` prints.
    pub(crate) fn read_len(&self) -> Option<u64> {
        match self {
            ProcessCmd::Read { len, .. } => Some(*len),
            _ => None,
        }
    }

    /// What this build does not model.
    pub(crate) fn unsupported(&self) -> Option<&'static str> {
        match self {
            ProcessCmd::Mmap {
                thp: true,
                hugetlb: true,
                ..
            } => Some("THP and hugetlb in one mapping"),
            _ => None,
        }
    }
}

pub(crate) const FAMILY: Family = Family {
    keywords: &[
        ("spawn", |a| {
            Ok(Cmd::Process(ProcessCmd::Spawn { proc: a.name("P")? }))
        }),
        ("file", file),
        ("ksm", |a| {
            let sub = a.word("`run`")?;
            match sub.text {
                "run" => Ok(Cmd::Process(ProcessCmd::KsmRun)),
                _ => Err(sub.unknown("ksm")),
            }
        }),
    ],
    process_verbs: &[
        ("mmap", mmap),
        ("munmap", |proc, a| {
            Ok(Cmd::Process(ProcessCmd::Munmap {
                proc,
                name: a.name("NAME")?,
                range: a.range()?,
            }))
        }),
        ("mremap", mremap),
        ("mprotect", |proc, a| {
            Ok(Cmd::Process(ProcessCmd::Mprotect {
                proc,
                name: a.name("NAME")?,
                prot: a.word("none, ro or rw")?.keyword(PROTS)?,
                range: a.range()?,
            }))
        }),
        ("madvise", |proc, a| {
            Ok(Cmd::Process(ProcessCmd::Madvise {
                proc,
                name: a.name("NAME")?,
                advice: a.word("an advice")?.keyword(ADVICES)?,
                range: a.range()?,
            }))
        }),
        ("touch", |proc, a| {
            let name = a.name("NAME")?;
            let range = match a.more() {
                true => Some(ByteRange {
                    off: a.size("OFF")?,
                    len: a.bulk("LEN")?,
                }),
                false => None,
            };
            Ok(Cmd::Process(ProcessCmd::Touch { proc, name, range }))
        }),
        ("write", write),
        ("read", |proc, a| {
            Ok(Cmd::Process(ProcessCmd::Read {
                proc,
                place: a.place()?,
                len: a.bulk("LEN")?,
            }))
        }),
        ("fork", |proc, a| {
            Ok(Cmd::Process(ProcessCmd::Fork {
                proc,
                child: a.name("Q")?,
            }))
        }),
        ("exit", |proc, _| Ok(Cmd::Process(ProcessCmd::Exit { proc }))),
        ("clear_refs", |proc, _| {
            Ok(Cmd::Process(ProcessCmd::ClearRefs { proc }))
        }),
    ],
    pin_verbs: &[],
    docs: &[
        CommandDoc {
            syntax: "spawn P",
            summary: "a new process with an empty address space",
        },
        CommandDoc {
            syntax: "file F SIZE [hugetlb|dax=NAME]",
            summary: "a zero-filled memory-backed file (memfd/tmpfs; hugetlb: on hugetlbfs; dax=NAME: on the fsdax pgmap NAME, page i its page i)",
        },
        CommandDoc {
            syntax: "P mmap NAME SIZE [anon|file=F] [private|shared] [ro|rw|none] [thp] [hugetlb] [populate]",
            summary: "map memory (default anonymous, private, read-write); prints its address",
        },
        CommandDoc {
            syntax: "P munmap NAME [OFF LEN]",
            summary: "unmap the mapping, or part of it",
        },
        CommandDoc {
            syntax: "P mremap NAME NEWSIZE [OFF LEN] [to=DEST]",
            summary: "mremap(): resize the mapping (MREMAP_MAYMOVE), or move it or part of it onto mapping DEST (MREMAP_FIXED), which it replaces; prints the address",
        },
        CommandDoc {
            syntax: "P mprotect NAME none|ro|rw [OFF LEN]",
            summary: "change the protection of the mapping, or part of it",
        },
        CommandDoc {
            syntax: "P madvise NAME dontneed|pageout|mergeable|unmergeable|hugepage|nohugepage|collapse|dontfork|dofork [OFF LEN]",
            summary: "give advice about the mapping, or part of it",
        },
        CommandDoc {
            syntax: "P touch NAME [OFF LEN]",
            summary: "read every page (the first touch of anonymous memory maps the zero page)",
        },
        CommandDoc {
            syntax: "P write PLACE LEN BYTE | P write PLACE \"text\"",
            summary: "store LEN bytes of value BYTE, or the text, at PLACE (NAME or NAME+OFF)",
        },
        CommandDoc {
            syntax: "P read PLACE LEN",
            summary: "load LEN bytes at PLACE; prints them as hex (compared with the oracle)",
        },
        CommandDoc {
            syntax: "P fork Q",
            summary: "fork(): Q becomes P's child",
        },
        CommandDoc {
            syntax: "P exit",
            summary: "the process exits and its memory is torn down",
        },
        CommandDoc {
            syntax: "P clear_refs",
            summary: "echo 4 > /proc/P/clear_refs: clear soft-dirty bits",
        },
        CommandDoc {
            syntax: "ksm run",
            summary: "one full ksmd pass over mergeable ranges; prints pages_shared and pages_sharing",
        },
    ],
};

const PROTS: &[(&str, Prot)] = &[
    ("none", Prot::None),
    ("ro", Prot::ReadOnly),
    ("rw", Prot::ReadWrite),
];

pub(crate) const ADVICES: &[(&str, Advice)] = &[
    ("dontneed", Advice::DontNeed),
    ("pageout", Advice::PageOut),
    ("mergeable", Advice::Mergeable),
    ("unmergeable", Advice::Unmergeable),
    ("hugepage", Advice::HugePage),
    ("nohugepage", Advice::NoHugePage),
    ("collapse", Advice::Collapse),
    ("dontfork", Advice::DontFork),
    ("dofork", Advice::DoFork),
];

fn file(a: &mut Args<'_>) -> Parsed<Cmd> {
    let name = a.name("F")?;
    let size = a.size("SIZE")?;
    let mut hugetlb = None;
    let mut dax = None;
    for (word, token) in a.rest_words("a file option")? {
        match (word.text, word.option()) {
            ("hugetlb", _) => set_once(&mut hugetlb, (), token)?,
            (_, Some(("dax", v))) => set_once(&mut dax, v.name("pgmap name")?, token)?,
            _ => return Err(word.unknown_option("file")),
        }
    }
    if let (Some(_), Some(_)) = (&hugetlb, &dax) {
        return Err(ColumnError::new(
            a.end,
            "a file is on hugetlbfs or on an fsdax pgmap, not both",
        ));
    }
    Ok(Cmd::Process(ProcessCmd::File {
        name,
        size,
        hugetlb: hugetlb.is_some(),
        dax,
    }))
}

/// `P mmap NAME SIZE [anon|file=F] [private|shared] [ro|rw|none] [thp] [hugetlb]
/// [populate]`, options in any order.
fn mmap(proc: String, a: &mut Args<'_>) -> Parsed<Cmd> {
    let name = a.name("NAME")?;
    let size_word = a.word("SIZE")?;
    let size = size_word.size()?;
    let mut backing = None;
    let mut sharing = None;
    let mut prot = None;
    let mut thp = None;
    let mut hugetlb = None;
    let mut populate = None;
    for (word, token) in a.rest_words("an mmap option")? {
        match word.text {
            "anon" => set_once(&mut backing, Backing::Anon, token)?,
            "private" => set_once(&mut sharing, Sharing::Private, token)?,
            "shared" => set_once(&mut sharing, Sharing::Shared, token)?,
            "ro" | "rw" | "none" => set_once(&mut prot, word.keyword(PROTS)?, token)?,
            "thp" => set_once(&mut thp, (), token)?,
            "hugetlb" => set_once(&mut hugetlb, (), token)?,
            "populate" => set_once(&mut populate, (), token)?,
            _ => match word.option() {
                Some(("file", file)) => {
                    set_once(&mut backing, Backing::File(file.name("file name")?), token)?
                }
                _ => return Err(word.unknown_option("mmap")),
            },
        }
    }
    if populate.is_some() {
        // MAP_POPULATE faults in every page: one command's bulk.
        size_word.bulk("SIZE")?;
    }
    Ok(Cmd::Process(ProcessCmd::Mmap {
        proc,
        name,
        size,
        backing: backing.unwrap_or(Backing::Anon),
        sharing: sharing.unwrap_or(Sharing::Private),
        prot: prot.unwrap_or(Prot::ReadWrite),
        thp: thp.is_some(),
        hugetlb: hugetlb.is_some(),
        populate: populate.is_some(),
    }))
}

/// `P mremap NAME NEWSIZE [OFF LEN] [to=DEST]`: a part of a mapping has to
/// move somewhere that has a name, so `OFF LEN` needs `to=DEST`.
fn mremap(proc: String, a: &mut Args<'_>) -> Parsed<Cmd> {
    let name = a.name("NAME")?;
    let new_size = a.size("NEWSIZE")?;
    let range_at = a
        .peek()
        .filter(|t| t.word().is_some_and(|w| !w.contains('=')));
    let range = match range_at {
        Some(_) => Some(ByteRange {
            off: a.size("OFF")?,
            len: a.size("LEN")?,
        }),
        None => None,
    };
    let to = match a.option("to") {
        Some(dest) => Some(dest.name("DEST")?),
        None => None,
    };
    if let (Some(t), None) = (range_at, &to) {
        return Err(ColumnError::new(
            t.column,
            "OFF LEN moves part of a mapping, which needs to=DEST (the mapping it moves onto)",
        ));
    }
    Ok(Cmd::Process(ProcessCmd::Mremap {
        proc,
        name,
        new_size,
        range,
        to,
    }))
}

/// `P write PLACE LEN BYTE` or `P write PLACE "text"`.
fn write(proc: String, a: &mut Args<'_>) -> Parsed<Cmd> {
    let place = a.place()?;
    let data = match a.peek() {
        Some(Token {
            kind: TokenKind::Str(bytes),
            ..
        }) => {
            a.token("TEXT")?;
            WriteData::Text(bytes.clone())
        }
        _ => WriteData::Fill {
            len: a.bulk("LEN")?,
            byte: a.word("BYTE")?.byte()?,
        },
    };
    Ok(Cmd::Process(ProcessCmd::Write { proc, place, data }))
}

/// `[off, off+len)` of a mapping, or all of it: EINVAL if it is not inside.
fn range(m: &Span, r: Option<ByteRange>) -> Result<(u64, u64), Errno> {
    let (off, len) = r.map_or((0, m.size), |r| (r.off, r.len));
    match off.checked_add(len) {
        Some(end) if end <= m.size => Ok((off, len)),
        _ => Err(Errno::EINVAL),
    }
}

pub(crate) fn run(cmd: &ProcessCmd, w: &mut World, sink: &mut ByteSink) -> CmdResult {
    let m = &w.machine;
    match cmd {
        ProcessCmd::Spawn { proc } => {
            if w.procs.procs.contains_key(proc) {
                return Err(Errno::EEXIST.into());
            }
            let mm = m.mm_alloc()?;
            w.procs.procs.insert(
                proc.clone(),
                Process {
                    mm,
                    maps: HashMap::new(),
                    dontfork: HashMap::new(),
                },
            );
            w.oracle.mirror(|o| o.spawn(proc));
            ok()
        }
        ProcessCmd::File {
            name,
            size,
            hugetlb,
            dax,
        } => {
            if w.procs.files.contains_key(name) {
                return Err(Errno::EEXIST.into());
            }
            let id = match dax {
                Some(pgmap) => m.file_create_dax(*size, pgmap)?,
                None => m.file_create(*size, *hugetlb)?,
            };
            w.procs.files.insert(name.clone(), id);
            w.oracle.mirror(|o| o.file(name, *size));
            ok()
        }
        ProcessCmd::Mmap {
            proc,
            name,
            size,
            prot,
            populate,
            backing,
            sharing,
            thp,
            hugetlb,
        } => {
            let procs = &mut w.procs;
            let p = procs.procs.get_mut(proc).ok_or(Errno::ESRCH)?;
            if p.maps.contains_key(name) {
                return Err(Errno::EEXIST.into());
            }
            let size = size
                .checked_next_multiple_of(PAGE_SIZE)
                .filter(|s| *s < TASK_SIZE)
                .ok_or(Errno::ENOMEM)?;
            let flags = prot.vm_flags();
            let shared = *sharing == Sharing::Shared;
            let addr = match backing {
                Backing::Anon => {
                    let flags = flags
                        | if *thp { VM_HUGEPAGE } else { 0 }
                        | if *hugetlb { VM_HUGETLB } else { 0 }
                        | if shared { VM_SHARED } else { 0 };
                    m.mmap_anon(&p.mm, size, flags, *populate)?
                }
                Backing::File(f) => {
                    let id = *procs.files.get(f).ok_or(Errno::EBADF)?;
                    // MAP_HUGETLB on a file that is not on hugetlbfs.
                    if *hugetlb && !m.file_is_hugetlb(id) {
                        return Err(Errno::EINVAL.into());
                    }
                    let addr = m.mmap_file(&p.mm, id, size, flags, shared)?;
                    if *populate {
                        m.mm_populate(&p.mm, addr, size);
                    }
                    addr
                }
            };
            p.maps.insert(
                name.clone(),
                Mapping {
                    span: Span { addr, size },
                    unmapped: RangeSet::default(),
                },
            );
            w.oracle.mirror(|o| match backing {
                Backing::Anon if shared => o.mmap_shared_anon(proc, name, size),
                Backing::Anon => o.mmap_anon(proc, name, size),
                Backing::File(f) => o.mmap_file(proc, name, f, size, shared),
            });
            text(format!("{addr:#x}"))
        }
        ProcessCmd::Munmap {
            proc,
            name,
            range: r,
        } => {
            let (mm, map) = w.procs.mapping(proc, name)?;
            let (off, len) = range(&map, *r)?;
            m.munmap(&mm, map.addr + off, len)?;
            // munmap() of memory that is already gone succeeds and does nothing;
            // the oracle hears only of pages that go now.
            let (start, end) = (off, (off + len).next_multiple_of(PAGE_SIZE));
            let p = w.procs.proc_mut(proc)?;
            let entry = p.maps.get_mut(name).ok_or(Errno::EFAULT)?;
            for (s, e) in entry.unmapped.gaps(start, end) {
                w.oracle.mirror(|o| o.munmap(proc, name, s, e - s));
            }
            entry.unmapped.insert(start, end);
            if entry.unmapped.covers(0, entry.span.size) {
                p.maps.remove(name);
                p.dontfork.remove(name);
            }
            ok()
        }
        ProcessCmd::Mremap {
            proc,
            name,
            new_size,
            range: r,
            to,
        } => mremap_run(w, proc, name, *new_size, *r, to.as_deref()),
        ProcessCmd::Mprotect {
            proc,
            name,
            prot,
            range: r,
        } => {
            let (mm, map) = w.procs.mapping(proc, name)?;
            let (off, len) = range(&map, *r)?;
            m.mprotect(&mm, map.addr + off, len, prot.vm_flags())?;
            ok()
        }
        ProcessCmd::Madvise {
            proc,
            name,
            advice,
            range: r,
        } => {
            let (mm, map) = w.procs.mapping(proc, name)?;
            let (off, len) = range(&map, *r)?;
            madvise(w, proc, name, &mm, map.addr, off, len, *advice)?;
            ok()
        }
        ProcessCmd::Touch {
            proc,
            name,
            range: r,
        } => {
            let (mm, map) = w.procs.mapping(proc, name)?;
            let (off, len) = range(&map, *r)?;
            check_bulk("a touch", len)?;
            // Not through a hole, which another mapping may fill by now.
            let at = Place {
                mapping: name.clone(),
                off,
            };
            w.procs.place(proc, &at, len)?;
            // A page at a time: a touch of a large mapping allocates nothing
            // large.
            let mut at = off;
            while at < off + len {
                let n = (PAGE_SIZE - at % PAGE_SIZE).min(off + len - at);
                let got = m.user_read(&mm, map.addr + at, n)?;
                w.oracle.mirror(|o| o.check_read(proc, name, at, &got));
                at += n;
            }
            ok()
        }
        ProcessCmd::Write { proc, place, data } => {
            let len = data.len();
            // A store stops at an unmapped part of the mapping, as the
            // process's would at its first unmapped address.
            let ((mm, map, off), mapped) = w.procs.mapped_prefix(proc, place, len)?;
            // In chunks, so a large fill allocates nothing large.
            const CHUNK: u64 = 1 << 20;
            let mut done = 0;
            while done < mapped {
                let n = (mapped - done).min(CHUNK);
                let bytes = match data {
                    WriteData::Fill { byte, .. } => vec![*byte; n as usize],
                    WriteData::Text(t) => t[done as usize..(done + n) as usize].to_vec(),
                };
                let (landed, res) = m.user_write_partial(&mm, map.addr + off + done, &bytes);
                // What landed before a fault is written, as a real process's
                // stores would be.
                if landed > 0 {
                    let part = &bytes[..landed as usize];
                    w.oracle
                        .mirror(|o| o.write(proc, &place.mapping, off + done, part));
                }
                res?;
                done += n;
            }
            if mapped < len {
                return Err(Errno::EFAULT.into());
            }
            ok()
        }
        ProcessCmd::Read { proc, place, len } => {
            let (mm, map, off) = w.procs.place(proc, place, *len)?;
            let mut at = off;
            while at < off + len {
                let n = (PAGE_SIZE - at % PAGE_SIZE).min(off + len - at);
                let got = m.user_read(&mm, map.addr + at, n)?;
                w.oracle
                    .mirror(|o| o.check_read(proc, &place.mapping, at, &got));
                sink.push(&got);
                at += n;
            }
            Ok(sink.finish())
        }
        ProcessCmd::Fork { proc, child } => {
            if w.procs.procs.contains_key(child) {
                return Err(Errno::EEXIST.into());
            }
            let parent = w.procs.proc(proc)?;
            let mm = m.dup_mm(&parent.mm)?;
            let dontfork: Vec<(String, u64, u64)> = parent
                .dontfork
                .iter()
                .flat_map(|(name, rs)| rs.iter().map(move |&(o, l)| (name.clone(), o, l)))
                .collect();
            let maps = parent
                .maps
                .iter()
                .filter(|(name, map)| {
                    !dontfork
                        .iter()
                        .any(|(n, o, l)| n == *name && *o == 0 && *l == map.span.size)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            w.procs.procs.insert(
                child.clone(),
                Process {
                    mm,
                    maps,
                    dontfork: HashMap::new(),
                },
            );
            w.oracle.mirror(|o| o.fork(proc, child, &dontfork));
            ok()
        }
        ProcessCmd::Exit { proc } => {
            let p = w.procs.procs.remove(proc).ok_or(Errno::ESRCH)?;
            m.exit_mmap(&p.mm);
            w.oracle.mirror(|o| o.exit(proc));
            ok()
        }
        ProcessCmd::ClearRefs { proc } => {
            m.clear_refs_soft_dirty(&w.procs.proc(proc)?.mm);
            ok()
        }
        ProcessCmd::KsmRun => {
            let st = m.ksm_run();
            text(format!(
                "pages_shared={} pages_sharing={}",
                st.pages_shared, st.pages_sharing
            ))
        }
    }
}

/// `mremap()` of `[off, off+len)` of a mapping (all of it without `to`),
/// then the process's names, MADV_DONTFORK ranges and the oracle follow the
/// memory: without `to` the mapping keeps its name at its new address and
/// size; with `to` the moved memory replaces DEST (which must be exactly
/// NEWSIZE long, rounded as the kernel rounds: EINVAL otherwise) and the
/// range becomes a hole in NAME.
fn mremap_run(
    w: &mut World,
    proc: &str,
    name: &str,
    new_size: u64,
    r: Option<ByteRange>,
    to: Option<&str>,
) -> CmdResult {
    let m = &w.machine;
    let (mm, map) = w.procs.mapping(proc, name)?;
    let (off, len) = range(&map, r)?;
    // The kernel rounds to whole huge pages in a hugetlb mapping.
    let granule = match m.vma_flags_at(&mm, map.addr + off) {
        Some(f) if f & VM_HUGETLB != 0 => crate::vm::huge::HPAGE_PMD_SIZE,
        _ => PAGE_SIZE,
    };
    let rounded = new_size.checked_next_multiple_of(granule);
    let fixed = match to {
        Some(dest) => {
            let (_, d) = w.procs.mapping(proc, dest)?;
            if rounded != Some(d.size) {
                return Err(Errno::EINVAL.into());
            }
            Some(d.addr)
        }
        None => None,
    };
    let flags = MremapFlags {
        maymove: true,
        fixed,
    };
    let addr = m.mremap(&mm, map.addr + off, len, new_size, flags)?;
    let new_size = rounded.ok_or(Errno::EINVAL)?;
    let len = len.next_multiple_of(granule);
    let moved_end = off + len;
    let p = w.procs.proc_mut(proc)?;
    match to {
        None => {
            let entry = p.maps.get_mut(name).ok_or(Errno::EFAULT)?;
            entry.span = Span {
                addr,
                size: new_size,
            };
            entry.unmapped.truncate(new_size);
            if let Some(ranges) = p.dontfork.get_mut(name) {
                ranges.retain(|&(o, _)| o < new_size);
                for r in ranges.iter_mut() {
                    r.1 = r.1.min(new_size - r.0);
                }
            }
        }
        Some(dest) => {
            let entry = p.maps.get_mut(name).ok_or(Errno::EFAULT)?;
            entry.unmapped.insert(off, moved_end);
            if entry.unmapped.covers(0, entry.span.size) {
                p.maps.remove(name);
            }
            p.maps.insert(
                dest.to_owned(),
                Mapping {
                    span: Span {
                        addr,
                        size: new_size,
                    },
                    unmapped: RangeSet::default(),
                },
            );
            // VM_DONTCOPY moves with the VMA.
            let kept = (off + new_size).min(moved_end);
            let mut moved = Vec::new();
            if let Some(ranges) = p.dontfork.get_mut(name) {
                for &(o, l) in ranges.iter() {
                    let (s, e) = (o.max(off), (o + l).min(kept));
                    if s < e {
                        moved.push((s - off, e - s));
                    }
                }
                ranges.retain(|&(o, l)| o + l <= off || moved_end <= o);
            }
            if !p.maps.contains_key(name) {
                p.dontfork.remove(name);
            }
            p.dontfork.insert(dest.to_owned(), moved);
        }
    }
    w.oracle
        .mirror(|o| o.mremap(proc, name, off, len, new_size, to));
    text(format!("{addr:#x}"))
}

/// `madvise(addr + off, len, advice)`, mirrored into the oracle and the
/// process's MADV_DONTFORK ranges as the kernel applied it: the length rounded
/// up to whole pages, and across a hole (a part already unmapped) to every
/// mapped part before the call fails with ENOMEM (`madvise_walk_vmas()`).
#[allow(clippy::too_many_arguments)]
fn madvise(
    w: &mut World,
    proc: &str,
    name: &str,
    mm: &Arc<Mm>,
    addr: u64,
    off: u64,
    len: u64,
    advice: Advice,
) -> Result<(), Errno> {
    let m = &w.machine;
    let start = addr + off;
    // The range is inside the mapping, so rounding up cannot overflow.
    let done = len.next_multiple_of(PAGE_SIZE);
    // Whether the advice reached the mapped parts of the range.
    let applied = |r: &Result<(), Errno>| matches!(r, Ok(()) | Err(Errno::ENOMEM));
    match advice {
        Advice::DontNeed => {
            let r = m.madvise_dontneed(mm, start, len);
            if applied(&r) && done > 0 {
                w.oracle
                    .mirror(|o| o.madvise_dontneed_mapped(proc, name, off, done));
            }
            r
        }
        Advice::PageOut => m.madvise_pageout(mm, start, len),
        Advice::HugePage | Advice::NoHugePage => {
            m.madvise_hugepage(mm, start, len, advice == Advice::HugePage)
        }
        Advice::Collapse => m.madvise_collapse(mm, start, len),
        Advice::Mergeable | Advice::Unmergeable => {
            m.madvise_mergeable(mm, start, len, advice == Advice::Mergeable)
        }
        Advice::DontFork | Advice::DoFork => {
            let dontfork = advice == Advice::DontFork;
            let r = m.madvise_dontfork(mm, start, len, dontfork);
            if applied(&r) {
                let ranges = w
                    .procs
                    .proc_mut(proc)?
                    .dontfork
                    .entry(name.to_owned())
                    .or_default();
                if dontfork {
                    ranges.push((off, done));
                } else {
                    ranges.retain(|&(o, l)| o + l <= off || off + done <= o);
                }
            }
            r
        }
    }
}
