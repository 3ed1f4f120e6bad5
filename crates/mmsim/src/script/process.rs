//! The process half of the interpreter: user processes, their named
//! mappings, GUP pins, and the oracle every user-visible read is checked
//! against.
//!
//! Processes run one command at a time, as SCENARIOS.md says; each command
//! calls the model (faults, fork, GUP) and mirrors its user-level meaning into
//! the oracle, which knows nothing of pages. A read whose bytes differ from
//! the oracle's is an oracle violation, reported by the interpreter unless an
//! `expect ... violates oracle` asked for it.

use super::ast::{Advice, ByteRange, Cmd, GupKind, Place, Prot, WriteData};
use crate::errno::Errno;
use crate::gup::{GupFlags, Pinned};
use crate::machine::Machine;
use crate::oracle::{Oracle, OracleError, OracleViolation, PinFlags, PinKind};
use crate::page::PAGE_SIZE;
use crate::sync::Arc;
use crate::vm::{Mm, VM_READ, VM_WRITE};
use std::collections::HashMap;

/// A named mapping of a process.
#[derive(Clone, Debug)]
struct Mapping {
    addr: u64,
    size: u64,
    /// Pages (by index) already unmapped by a partial munmap.
    unmapped: std::collections::BTreeSet<u64>,
}

struct Process {
    mm: Arc<Mm>,
    maps: HashMap<String, Mapping>,
    /// MADV_DONTFORK ranges per mapping (offset, length).
    dontfork: HashMap<String, Vec<(u64, u64)>>,
}

struct Pin {
    pinned: Pinned,
    /// Offset of the pinned range's first byte in its first page.
    first_off: u64,
    len: u64,
    write: bool,
}

/// What a process command printed, or its errno.
pub(crate) enum ProcOutput {
    /// Text.
    Text(String),
    /// Bytes of a read.
    Bytes(Vec<u8>),
}

/// Every process, mapping and pin of a scenario, and the oracle.
#[derive(Default)]
pub(crate) struct ProcessWorld {
    procs: HashMap<String, Process>,
    files: HashMap<String, u32>,
    pins: HashMap<String, Pin>,
    oracle: Oracle,
    /// Oracle violations found by the last command.
    pub violations: Vec<OracleViolation>,
}

/// Why a process command cannot run in this build (checked before running).
pub(crate) fn unsupported(cmd: &Cmd) -> Option<&'static str> {
    match cmd {
        Cmd::Mmap {
            backing,
            sharing,
            thp,
            hugetlb,
            ..
        } => {
            if *thp && *hugetlb {
                Some("THP and hugetlb in one mapping")
            } else if matches!(backing, super::ast::Backing::Anon)
                && matches!(sharing, super::ast::Sharing::Shared)
            {
                Some("shared anonymous memory (shmem)")
            } else {
                None
            }
        }
        _ => None,
    }
}

type R = Result<ProcOutput, Errno>;

/// The largest read a command may print (its hex doubles it).
const MAX_READ: u64 = 16 << 20;
/// The most bytes one write or touch command may move (a larger one would
/// take longer than a scenario should).
const MAX_BULK: u64 = 4 << 30;

fn check_bulk(len: u64) -> Result<(), Errno> {
    if len > MAX_BULK {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

fn text(s: impl Into<String>) -> R {
    Ok(ProcOutput::Text(s.into()))
}

impl ProcessWorld {
    fn proc(&self, name: &str) -> Result<&Process, Errno> {
        self.procs.get(name).ok_or(Errno::ESRCH)
    }

    fn mapping(&self, proc: &str, map: &str) -> Result<(Arc<Mm>, Mapping), Errno> {
        let p = self.proc(proc)?;
        let m = p.maps.get(map).ok_or(Errno::EFAULT)?;
        Ok((p.mm.clone(), m.clone()))
    }

    /// `[off, off+len)` of a mapping, checked.
    fn range(m: &Mapping, r: Option<ByteRange>) -> Result<(u64, u64), Errno> {
        let (off, len) = r.map_or((0, m.size), |r| (r.off, r.len));
        match off.checked_add(len) {
            Some(end) if end <= m.size && len > 0 => Ok((off, len)),
            _ => Err(Errno::EINVAL),
        }
    }

    fn place(&self, proc: &str, place: &Place, len: u64) -> Result<(Arc<Mm>, Mapping, u64), Errno> {
        let (mm, m) = self.mapping(proc, &place.mapping)?;
        match place.off.checked_add(len) {
            Some(end) if end <= m.size => Ok((mm, m, place.off)),
            _ => Err(Errno::EFAULT),
        }
    }

    /// Runs one process command.
    pub fn command(&mut self, m: &Machine, cmd: &Cmd) -> R {
        match cmd {
            Cmd::Spawn { proc } => {
                if self.procs.contains_key(proc) {
                    return Err(Errno::EEXIST);
                }
                let mm = m.mm_alloc()?;
                self.procs.insert(
                    proc.clone(),
                    Process {
                        mm,
                        maps: HashMap::new(),
                        dontfork: HashMap::new(),
                    },
                );
                let r = self.oracle.spawn(proc);
                self.mirror(r);
                text("")
            }
            Cmd::File {
                name,
                size,
                hugetlb,
            } => {
                if self.files.contains_key(name) {
                    return Err(Errno::EEXIST);
                }
                let id = m.file_create(*size, *hugetlb)?;
                self.files.insert(name.clone(), id);
                let r = self.oracle.file(name, *size);
                self.mirror(r);
                text("")
            }
            Cmd::Mmap {
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
                let p = self.procs.get_mut(proc).ok_or(Errno::ESRCH)?;
                if p.maps.contains_key(name) {
                    return Err(Errno::EEXIST);
                }
                let size = size
                    .checked_next_multiple_of(PAGE_SIZE)
                    .filter(|s| *s < crate::vm::TASK_SIZE)
                    .ok_or(Errno::ENOMEM)?;
                if *populate {
                    check_bulk(size)?;
                }
                let flags = match prot {
                    Prot::None => 0,
                    Prot::ReadOnly => VM_READ,
                    Prot::ReadWrite => VM_READ | VM_WRITE,
                };
                let shared = matches!(sharing, super::ast::Sharing::Shared);
                let addr = match backing {
                    super::ast::Backing::Anon => {
                        let flags = flags
                            | if *thp { crate::vm::VM_HUGEPAGE } else { 0 }
                            | if *hugetlb { crate::vm::VM_HUGETLB } else { 0 };
                        m.mmap_anon(&p.mm, size, flags, *populate)?
                    }
                    super::ast::Backing::File(f) => {
                        let id = *self.files.get(f).ok_or(Errno::EBADF)?;
                        // MAP_HUGETLB on a file that is not on hugetlbfs.
                        if *hugetlb && !m.file_is_hugetlb(id) {
                            return Err(Errno::EINVAL);
                        }
                        let a = m.mmap_file(&p.mm, id, size, flags, shared)?;
                        if *populate {
                            let write = flags & VM_WRITE != 0 && shared;
                            let mut at = a;
                            while at < a + size {
                                m.handle_mm_fault(
                                    &p.mm,
                                    at,
                                    crate::vm::fault::FaultFlags {
                                        write,
                                        unshare: false,
                                    },
                                )?;
                                at += PAGE_SIZE;
                            }
                        }
                        a
                    }
                };
                p.maps.insert(
                    name.clone(),
                    Mapping {
                        addr,
                        size,
                        unmapped: Default::default(),
                    },
                );
                let r = match backing {
                    super::ast::Backing::Anon => self.oracle.mmap_anon(proc, name, size),
                    super::ast::Backing::File(f) => {
                        self.oracle.mmap_file(proc, name, f, size, shared)
                    }
                };
                self.mirror(r);
                text(format!("{addr:#x}"))
            }
            Cmd::Munmap { proc, name, range } => {
                let (mm, map) = self.mapping(proc, name)?;
                let (off, len) = Self::range(&map, *range)?;
                m.munmap(&mm, map.addr + off, len)?;
                // munmap() of memory that is already gone succeeds and does
                // nothing; the oracle hears only of pages that go now.
                let pages = off / PAGE_SIZE..(off + len).div_ceil(PAGE_SIZE);
                let fresh: Vec<u64> = pages.filter(|i| !map.unmapped.contains(i)).collect();
                for &i in &fresh {
                    let r = self.oracle.munmap(proc, name, i * PAGE_SIZE, PAGE_SIZE);
                    self.mirror(r);
                }
                let p = self.procs.get_mut(proc).ok_or(Errno::ESRCH)?;
                let entry = p.maps.get_mut(name).ok_or(Errno::EFAULT)?;
                entry.unmapped.extend(fresh);
                if entry.unmapped.len() as u64 == entry.size / PAGE_SIZE {
                    p.maps.remove(name);
                    p.dontfork.remove(name);
                }
                text("")
            }
            Cmd::Mprotect {
                proc,
                name,
                prot,
                range,
            } => {
                let (mm, map) = self.mapping(proc, name)?;
                let (off, len) = Self::range(&map, *range)?;
                let flags = match prot {
                    Prot::None => 0,
                    Prot::ReadOnly => VM_READ,
                    Prot::ReadWrite => VM_READ | VM_WRITE,
                };
                m.mprotect(&mm, map.addr + off, len, flags)?;
                text("")
            }
            Cmd::Madvise {
                proc,
                name,
                advice,
                range,
            } => {
                let (mm, map) = self.mapping(proc, name)?;
                let (off, len) = Self::range(&map, *range)?;
                match advice {
                    Advice::DontNeed => {
                        m.madvise_dontneed(&mm, map.addr + off, len)?;
                        let r = self.oracle.madvise_dontneed(proc, name, off, len);
                        self.mirror(r);
                    }
                    Advice::PageOut => m.madvise_pageout(&mm, map.addr + off, len)?,
                    Advice::HugePage | Advice::NoHugePage => {
                        let huge = matches!(advice, Advice::HugePage);
                        m.madvise_hugepage(&mm, map.addr + off, len, huge)?
                    }
                    Advice::Collapse => m.madvise_collapse(&mm, map.addr + off, len)?,
                    Advice::Mergeable | Advice::Unmergeable => {
                        let merge = matches!(advice, Advice::Mergeable);
                        m.madvise_mergeable(&mm, map.addr + off, len, merge)?
                    }
                    Advice::DontFork | Advice::DoFork => {
                        let dontfork = matches!(advice, Advice::DontFork);
                        m.madvise_dontfork(&mm, map.addr + off, len, dontfork)?;
                        let p = self.procs.get_mut(proc).ok_or(Errno::ESRCH)?;
                        let ranges = p.dontfork.entry(name.clone()).or_default();
                        if dontfork {
                            ranges.push((off, len));
                        } else {
                            ranges.retain(|&(o, l)| o + l <= off || off + len <= o);
                        }
                    }
                }
                text("")
            }
            Cmd::Touch { proc, name, range } => {
                let (mm, map) = self.mapping(proc, name)?;
                let (off, len) = Self::range(&map, *range)?;
                check_bulk(len)?;
                // A page at a time: a touch of a large mapping allocates
                // nothing large.
                let mut at = off;
                while at < off + len {
                    let n = (PAGE_SIZE - at % PAGE_SIZE).min(off + len - at);
                    let got = m.user_read(&mm, map.addr + at, n)?;
                    self.check(self.oracle.check_read(proc, name, at, &got));
                    at += n;
                }
                text("")
            }
            Cmd::Write { proc, place, data } => {
                let len = match data {
                    WriteData::Fill { len, .. } => *len,
                    WriteData::Text(t) => t.len() as u64,
                };
                let (mm, map, off) = self.place(proc, place, len)?;
                check_bulk(len)?;
                // In chunks, so a large fill allocates nothing large.
                const CHUNK: u64 = 1 << 20;
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(CHUNK);
                    let bytes = match data {
                        WriteData::Fill { byte, .. } => vec![*byte; n as usize],
                        WriteData::Text(t) => t[done as usize..(done + n) as usize].to_vec(),
                    };
                    let (landed, res) = m.user_write_partial(&mm, map.addr + off + done, &bytes);
                    // What landed before a fault is written, as a real
                    // process's stores would be.
                    if landed > 0 {
                        let part = &bytes[..landed as usize];
                        let r = self.oracle.write(proc, &place.mapping, off + done, part);
                        self.mirror(r);
                    }
                    res?;
                    done += n;
                }
                text("")
            }
            Cmd::Read { proc, place, len } => {
                if *len > MAX_READ {
                    return Err(Errno::EINVAL);
                }
                let (mm, map, off) = self.place(proc, place, *len)?;
                let got = m.user_read(&mm, map.addr + off, *len)?;
                self.check(self.oracle.check_read(proc, &place.mapping, off, &got));
                Ok(ProcOutput::Bytes(got))
            }
            Cmd::Fork { proc, child } => {
                if self.procs.contains_key(child) {
                    return Err(Errno::EEXIST);
                }
                let parent = self.proc(proc)?;
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
                            .any(|(n, o, l)| n == *name && *o == 0 && *l == map.size)
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                self.procs.insert(
                    child.clone(),
                    Process {
                        mm,
                        maps,
                        dontfork: HashMap::new(),
                    },
                );
                let r = self.oracle.fork(proc, child, &dontfork);
                self.mirror(r);
                text("")
            }
            Cmd::ClearRefs { proc } => {
                m.clear_refs_soft_dirty(&self.proc(proc)?.mm);
                text("")
            }
            Cmd::KsmRun => {
                let st = m.ksm_run();
                text(format!(
                    "pages_shared={} pages_sharing={}",
                    st.pages_shared, st.pages_sharing
                ))
            }
            Cmd::Exit { proc } => {
                let p = self.procs.remove(proc).ok_or(Errno::ESRCH)?;
                m.exit_mmap(&p.mm);
                let r = self.oracle.exit(proc);
                self.mirror(r);
                text("")
            }
            Cmd::Gup {
                proc,
                pin,
                place,
                len,
                write,
                kind,
                longterm,
                fast,
            } => {
                if self.pins.contains_key(pin) {
                    return Err(Errno::EEXIST);
                }
                let (mm, map, off) = self.place(proc, place, *len)?;
                check_bulk(*len)?;
                let start = (map.addr + off) & !(PAGE_SIZE - 1);
                let end = (map.addr + off + len).next_multiple_of(PAGE_SIZE);
                let flags = GupFlags {
                    write: *write,
                    pin: matches!(kind, GupKind::Pin),
                    longterm: *longterm,
                };
                let nr = (end - start) / PAGE_SIZE;
                let pinned = if *fast {
                    m.get_user_pages_fast(&mm, start, nr, flags)?
                } else {
                    m.get_user_pages(&mm, start, nr, flags)?
                };
                let n = pinned.pages.len();
                let kind = if flags.pin {
                    PinKind::Pin
                } else {
                    PinKind::Get
                };
                let r = self.oracle.pin(
                    pin,
                    proc,
                    &place.mapping,
                    off,
                    *len,
                    PinFlags {
                        kind,
                        write: *write,
                        longterm: *longterm,
                    },
                );
                self.mirror(r);
                self.pins.insert(
                    pin.clone(),
                    Pin {
                        pinned,
                        first_off: (map.addr + off) % PAGE_SIZE,
                        len: *len,
                        write: *write,
                    },
                );
                text(n.to_string())
            }
            Cmd::PinRead { pin, off, len } => {
                let p = self.pins.get(pin).ok_or(Errno::ENOENT)?;
                let got = Self::pin_bytes(m, p, *off, *len, None)?;
                self.check(self.oracle.check_pin_read(pin, *off, &got));
                Ok(ProcOutput::Bytes(got))
            }
            Cmd::PinWrite {
                pin,
                off,
                len,
                byte,
            } => {
                let p = self.pins.get(pin).ok_or(Errno::ENOENT)?;
                // DMA writes go through a write FOLL_PIN only.
                if !p.write || !p.pinned.flags.pin {
                    return Err(Errno::EPERM);
                }
                match off.checked_add(*len) {
                    Some(end) if end <= p.len => {}
                    _ => return Err(Errno::EINVAL),
                }
                let data = vec![*byte; *len as usize];
                Self::pin_bytes(m, p, *off, *len, Some(&data))?;
                let r = self.oracle.pin_write(pin, *off, &data);
                self.check(r);
                text("")
            }
            Cmd::Release { pin } => {
                let p = self.pins.remove(pin).ok_or(Errno::ENOENT)?;
                m.unpin_user_pages(p.pinned);
                let r = self.oracle.release(pin);
                self.mirror(r);
                text("")
            }
            Cmd::Pagemap { proc, place } => {
                let (mm, map, off) = self.place(proc, place, 1)?;
                let pte = m.pte_at(&mm, map.addr + off);
                let present = pte.present();
                let swapped = !present && pte.swap_entry().is_some();
                let (pfn, exclusive) = if present {
                    let pfn = pte.pfn();
                    // PM_MMAP_EXCLUSIVE: a normal page mapped exactly once
                    // (by this PTE, or by the PMD mapping its folio).
                    let excl = !pte.special() && m.page_mapcount(pfn) == 1;
                    (pfn.0, excl)
                } else if let Some(crate::vm::pte::SwapEntry::Swap { ty, offset }) =
                    pte.swap_entry()
                {
                    // PM_SWAP: the frame field holds type | offset << 5.
                    (u64::from(ty) | (offset << 5), false)
                } else {
                    (0, false)
                };
                text(format!(
                    "present={} swapped={} exclusive={} pfn={pfn:#x}",
                    u8::from(present),
                    u8::from(swapped),
                    u8::from(exclusive)
                ))
            }
            Cmd::Pte { proc, place } => {
                let (mm, map, off) = self.place(proc, place, 1)?;
                let pte = m.pte_at(&mm, map.addr + off);
                // A PMD mapping keeps PG_anon_exclusive on its head.
                let at = match m.lookup(&mm, map.addr + off) {
                    crate::vm::huge::Mapping::Pmd(_, _, pmd) => pmd.pfn(),
                    _ => pte.pfn(),
                };
                let pae = pte.present() && !pte.special() && m.page_anon_exclusive(at);
                text(format!(
                    "present={} writable={} anon_exclusive={} pfn={:#x}",
                    u8::from(pte.present()),
                    u8::from(pte.write()),
                    u8::from(pae),
                    if pte.present() { pte.pfn().0 } else { 0 }
                ))
            }
            Cmd::Smaps { proc, name } => {
                let (mm, map) = self.mapping(proc, name)?;
                let s = m.smaps(&mm, map.addr, map.addr + map.size);
                text(format!(
                    "rss_kb={} anon_huge_kb={} swap_kb={} hugetlb_kb={}",
                    s.rss >> 10,
                    s.anon_huge >> 10,
                    s.swap >> 10,
                    s.hugetlb >> 10
                ))
            }
            Cmd::Pfn { proc, place } => {
                let (mm, map, off) = self.place(proc, place, 1)?;
                let pte = m.pte_at(&mm, map.addr + off);
                if !pte.present() {
                    return Err(Errno::EFAULT);
                }
                text(format!("{:#x}", pte.pfn().0))
            }
            _ => Err(Errno::ENOSYS),
        }
    }

    /// Records an oracle violation from a check.
    fn check(&mut self, r: Result<(), OracleError>) {
        self.mirror(r);
    }

    /// Mirrors a command into the oracle. A violation is recorded; any other
    /// oracle error means the model accepted something the oracle's simple
    /// world refuses, which is worth reporting the same way.
    fn mirror(&mut self, r: Result<(), OracleError>) {
        match r {
            Ok(()) => {}
            Err(OracleError::Violation(v)) => self.violations.push(v),
            Err(e) => self.violations.push(OracleViolation {
                rule: "oracle-bookkeeping",
                who: "oracle".into(),
                addr: String::new(),
                expected: "a request the oracle accepts".into(),
                got: e.to_string(),
            }),
        }
    }

    /// Reads (or with `data`, DMA-writes) bytes of a pin's pages, `off`
    /// from the pinned range's start.
    fn pin_bytes(
        m: &Machine,
        p: &Pin,
        off: u64,
        len: u64,
        data: Option<&[u8]>,
    ) -> Result<Vec<u8>, Errno> {
        match off.checked_add(len) {
            Some(end) if end <= p.len => {}
            _ => return Err(Errno::EINVAL),
        }
        let mut out = Vec::new();
        let mut done = 0;
        while done < len {
            let at = p.first_off + off + done;
            let page = p.pinned.pages[(at / PAGE_SIZE) as usize];
            let n = (PAGE_SIZE - at % PAGE_SIZE).min(len - done);
            let pa = crate::page::PhysAddr(page.phys().0 + at % PAGE_SIZE);
            match data {
                Some(d) => m
                    .physmem()
                    .write(pa, &d[done as usize..(done + n) as usize])?,
                None => {
                    let mut buf = vec![0u8; n as usize];
                    m.physmem().read(pa, &mut buf)?;
                    out.extend_from_slice(&buf);
                }
            }
            done += n;
        }
        Ok(out)
    }
}
