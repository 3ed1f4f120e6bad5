//! The process actors and ksmd.
//!
//! A process actor is one parent process ("P" to its oracle) with three
//! private anonymous mappings — `anon` (64 pages, mergeable for KSM), `thp`
//! (two PMD-sized THPs' worth, VM_HUGEPAGE) and `scratch` (8 pages that are
//! unmapped and mapped again) — up to two children it forked, and up to
//! three GUP references it holds across later operations. Every write, fork,
//! exit, munmap, MADV_DONTNEED and GUP is mirrored into the actor's own
//! [`Oracle`], and every byte read back — by a process or through a
//! reference — is checked against it. Operations the oracle knows nothing
//! about (mprotect, MADV_PAGEOUT, KSM, THP collapse) must change nothing it
//! can see.

use super::{Actor, Ctx, Rng};
use crate::errno::Errno;
use crate::gup::{GupFlags, Pinned};
use crate::machine::Machine;
use crate::oracle::{Oracle, OracleError, PinFlags, PinKind};
use crate::page::PAGE_SIZE;
use crate::sync::{thread, Arc};
use crate::vm::huge::HPAGE_PMD_SIZE;
use crate::vm::{Mm, VM_HUGEPAGE, VM_READ, VM_WRITE};
use std::collections::VecDeque;
use std::time::Duration;

/// The mappings every process has: name, pages, VMA flags.
const MAPS: [(&str, u64, u32); 3] = [
    ("anon", 64, VM_READ | VM_WRITE),
    ("thp", 1024, VM_READ | VM_WRITE | VM_HUGEPAGE),
    ("scratch", 8, VM_READ | VM_WRITE),
];
const ANON: usize = 0;
const THP: usize = 1;
const SCRATCH: usize = 2;
/// Children alive at once.
const MAX_CHILDREN: usize = 2;
/// GUP references held at once.
const MAX_PINS: usize = 3;
/// Bytes a process writes or reads at once.
const CHUNK: u64 = 32;

/// The parent or one of its children, with where its mappings are.
struct Member {
    name: String,
    mm: Arc<Mm>,
    addrs: [u64; 3],
}

/// A held GUP reference.
struct Held {
    name: String,
    pinned: Pinned,
    /// Whether DMA may write through it (a write FOLL_PIN).
    dma_write: bool,
}

/// One incarnation of the process, from its start to its exit.
struct Proc {
    oracle: Oracle,
    /// The parent first, then its children.
    members: Vec<Member>,
    pins: VecDeque<Held>,
    /// For unique child and pin names.
    next: u64,
}

/// An oracle error as a violation's text.
fn oracle(r: Result<(), OracleError>) -> Result<(), String> {
    r.map_err(|e| e.to_string())
}

impl Proc {
    fn start(m: &Machine) -> Result<Proc, String> {
        let mm = m.mm_alloc().map_err(|e| format!("mm_alloc: {e}"))?;
        let mut o = Oracle::new();
        oracle(o.spawn("P"))?;
        let mut addrs = [0; 3];
        for (i, (name, pages, flags)) in MAPS.iter().enumerate() {
            addrs[i] = m
                .mmap_anon(&mm, pages * PAGE_SIZE, *flags, false)
                .map_err(|e| format!("mmap {name}: {e}"))?;
            oracle(o.mmap_anon("P", name, pages * PAGE_SIZE))?;
        }
        m.madvise_mergeable(&mm, addrs[ANON], MAPS[ANON].1 * PAGE_SIZE, true)
            .map_err(|e| format!("MADV_MERGEABLE: {e}"))?;
        Ok(Proc {
            oracle: o,
            members: vec![Member {
                name: "P".into(),
                mm,
                addrs,
            }],
            pins: VecDeque::new(),
            next: 0,
        })
    }

    /// A random place: (map index, page, offset in the map) for `len` bytes.
    fn place(rng: &mut Rng, len: u64) -> (usize, u64, u64) {
        let map = [ANON, ANON, THP, SCRATCH][rng.below(4) as usize];
        let page = rng.below(MAPS[map].1);
        let off = page * PAGE_SIZE + rng.below(PAGE_SIZE - len + 1);
        (map, page, off)
    }

    fn write(&mut self, m: &Machine, who: usize, rng: &mut Rng) -> Result<(), String> {
        let (map, _, off) = Self::place(rng, CHUNK);
        let byte = (rng.below(255) + 1) as u8;
        let data = [byte; CHUNK as usize];
        let p = &self.members[who];
        m.user_write(&p.mm, p.addrs[map] + off, &data)
            .map_err(|e| format!("{} write {}+{off:#x}: {e}", p.name, MAPS[map].0))?;
        oracle(self.oracle.write(&p.name, MAPS[map].0, off, &data))
    }

    fn read(&self, m: &Machine, who: usize, map: usize, off: u64, len: u64) -> Result<(), String> {
        let p = &self.members[who];
        let got = m
            .user_read(&p.mm, p.addrs[map] + off, len)
            .map_err(|e| format!("{} read {}+{off:#x}: {e}", p.name, MAPS[map].0))?;
        oracle(self.oracle.check_read(&p.name, MAPS[map].0, off, &got))
    }

    fn random_read(&self, m: &Machine, who: usize, rng: &mut Rng) -> Result<(), String> {
        let (map, _, off) = Self::place(rng, CHUNK);
        self.read(m, who, map, off, CHUNK)
    }

    fn fork(&mut self, m: &Machine) -> Result<(), String> {
        if self.members.len() > MAX_CHILDREN {
            self.exit_child(m, 1)?;
        }
        let parent = &self.members[0];
        let mm = m.dup_mm(&parent.mm).map_err(|e| format!("fork: {e}"))?;
        self.next += 1;
        let name = format!("c{}", self.next);
        oracle(self.oracle.fork("P", &name, &[]))?;
        let addrs = parent.addrs;
        self.members.push(Member { name, mm, addrs });
        Ok(())
    }

    /// Member `who` (a child) reads a page and exits.
    fn exit_child(&mut self, m: &Machine, who: usize) -> Result<(), String> {
        let page = self.next % MAPS[ANON].1;
        self.read(m, who, ANON, page * PAGE_SIZE, PAGE_SIZE)?;
        let c = self.members.remove(who);
        m.exit_mmap(&c.mm);
        oracle(self.oracle.exit(&c.name))
    }

    fn pin(&mut self, m: &Machine, who: usize, rng: &mut Rng) -> Result<(), String> {
        if self.pins.len() >= MAX_PINS {
            self.release_oldest(m, rng)?;
        }
        let map = [ANON, THP, SCRATCH][rng.below(3) as usize];
        let nr = 1 + rng.below(4);
        let first = rng.below(MAPS[map].1 - nr + 1);
        let pin = !rng.one_in(3);
        // FOLL_LONGTERM goes with FOLL_PIN only (is_valid_gup_args()).
        let flags = GupFlags {
            write: rng.one_in(2),
            pin,
            longterm: pin && rng.one_in(2),
        };
        let fast = rng.one_in(2);
        let p = &self.members[who];
        let start = p.addrs[map] + first * PAGE_SIZE;
        let pinned = match if fast {
            m.get_user_pages_fast(&p.mm, start, nr, flags)
        } else {
            m.get_user_pages(&p.mm, start, nr, flags)
        } {
            Ok(pinned) => pinned,
            // A longterm pin migrates its pages out of ZONE_MOVABLE first,
            // which fails while another reference holds one (this process's
            // own pins, an isolation by the admin's offline):
            // check_and_migrate_movable_pages() gives up.
            Err(Errno::EAGAIN | Errno::ENOMEM) if flags.longterm => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "{} GUP{} {flags:?} of {nr} pages at {}+{:#x}: {e}",
                    p.name,
                    if fast { "-fast" } else { "" },
                    MAPS[map].0,
                    first * PAGE_SIZE
                ))
            }
        };
        if pinned.pages.len() as u64 != nr {
            let taken = pinned.pages.len();
            m.unpin_user_pages(pinned);
            return Err(format!("GUP took {taken} of {nr} pages"));
        }
        self.next += 1;
        let name = format!("pin{}", self.next);
        let kind = if flags.pin {
            PinKind::Pin
        } else {
            PinKind::Get
        };
        let of = PinFlags {
            kind,
            write: flags.write,
            longterm: flags.longterm,
        };
        let r = self.oracle.pin(
            &name,
            &p.name,
            MAPS[map].0,
            first * PAGE_SIZE,
            nr * PAGE_SIZE,
            of,
        );
        let held = Held {
            name,
            pinned,
            dma_write: flags.pin && flags.write,
        };
        let checked = oracle(r).and_then(|()| self.pin_read(m, &held, rng));
        self.pins.push_back(held);
        checked
    }

    /// A DMA read of a random chunk through `h`, checked.
    fn pin_read(&self, m: &Machine, h: &Held, rng: &mut Rng) -> Result<(), String> {
        let i = rng.below(h.pinned.pages.len() as u64);
        let in_page = rng.below(PAGE_SIZE - CHUNK + 1);
        let mut got = [0u8; CHUNK as usize];
        m.physmem()
            .read(h.pinned.pages[i as usize].phys() + in_page, &mut got)
            .map_err(|e| format!("DMA read through {}: {e}", h.name))?;
        oracle(
            self.oracle
                .check_pin_read(&h.name, i * PAGE_SIZE + in_page, &got),
        )
    }

    /// A DMA write of a random chunk through `h` (a write FOLL_PIN).
    fn pin_write(&mut self, m: &Machine, h: &Held, rng: &mut Rng) -> Result<(), String> {
        let i = rng.below(h.pinned.pages.len() as u64);
        let in_page = rng.below(PAGE_SIZE - CHUNK + 1);
        let data = [(rng.below(255) + 1) as u8; CHUNK as usize];
        m.physmem()
            .write(h.pinned.pages[i as usize].phys() + in_page, &data)
            .map_err(|e| format!("DMA write through {}: {e}", h.name))?;
        oracle(
            self.oracle
                .pin_write(&h.name, i * PAGE_SIZE + in_page, &data),
        )
    }

    /// Uses a held reference: a read, or a DMA write through a write pin.
    fn use_pin(&mut self, m: &Machine, rng: &mut Rng) -> Result<(), String> {
        let Some(h) = self.pins.pop_front() else {
            return Ok(());
        };
        let r = if h.dma_write && rng.one_in(2) {
            self.pin_write(m, &h, rng)
        } else {
            self.pin_read(m, &h, rng)
        };
        self.pins.push_back(h);
        r
    }

    fn release_oldest(&mut self, m: &Machine, rng: &mut Rng) -> Result<(), String> {
        let Some(h) = self.pins.pop_front() else {
            return Ok(());
        };
        let checked = self.pin_read(m, &h, rng);
        m.unpin_user_pages(h.pinned);
        checked.and_then(|()| oracle(self.oracle.release(&h.name)))
    }

    /// munmap() of the whole scratch mapping and a new one in its place.
    fn remap_scratch(&mut self, m: &Machine) -> Result<(), String> {
        let (name, pages, flags) = MAPS[SCRATCH];
        let len = pages * PAGE_SIZE;
        let p = &mut self.members[0];
        m.munmap(&p.mm, p.addrs[SCRATCH], len)
            .map_err(|e| format!("munmap scratch: {e}"))?;
        oracle(self.oracle.munmap("P", name, 0, len))?;
        p.addrs[SCRATCH] = m
            .mmap_anon(&p.mm, len, flags, false)
            .map_err(|e| format!("mmap scratch: {e}"))?;
        oracle(self.oracle.mmap_anon("P", name, len))
    }

    /// mprotect(PROT_READ) of a page (splitting a THP's PMD), a read, and
    /// back to read-write.
    fn mprotect(&self, m: &Machine, rng: &mut Rng) -> Result<(), String> {
        let (map, page, _) = Self::place(rng, CHUNK);
        let p = &self.members[0];
        let at = p.addrs[map] + page * PAGE_SIZE;
        m.mprotect(&p.mm, at, PAGE_SIZE, VM_READ)
            .map_err(|e| format!("mprotect read-only: {e}"))?;
        let read = self.read(m, 0, map, page * PAGE_SIZE, CHUNK);
        m.mprotect(&p.mm, at, PAGE_SIZE, VM_READ | VM_WRITE)
            .map_err(|e| format!("mprotect read-write: {e}"))?;
        read
    }

    fn dontneed(&mut self, m: &Machine, rng: &mut Rng) -> Result<(), String> {
        let (map, page, _) = Self::place(rng, CHUNK);
        let p = &self.members[0];
        m.madvise_dontneed(&p.mm, p.addrs[map] + page * PAGE_SIZE, PAGE_SIZE)
            .map_err(|e| format!("MADV_DONTNEED: {e}"))?;
        oracle(
            self.oracle
                .madvise_dontneed("P", MAPS[map].0, page * PAGE_SIZE, PAGE_SIZE),
        )
    }

    /// MADV_PAGEOUT of a page or of a whole THP (it may fail: swap full).
    fn pageout(&self, m: &Machine, rng: &mut Rng) {
        let p = &self.members[0];
        let (map, page, _) = Self::place(rng, CHUNK);
        let at = p.addrs[map] + page * PAGE_SIZE;
        let _ = if map == THP && rng.one_in(2) {
            m.madvise_pageout(&p.mm, at & !(HPAGE_PMD_SIZE - 1), HPAGE_PMD_SIZE)
        } else {
            m.madvise_pageout(&p.mm, at, PAGE_SIZE)
        };
    }

    /// A whole page of one of two patterns, for KSM to merge (with this
    /// process's other such pages and other processes').
    fn ksm_write(&mut self, m: &Machine, rng: &mut Rng) -> Result<(), String> {
        let page = rng.below(MAPS[ANON].1);
        let data = vec![[0x11u8, 0x22][rng.below(2) as usize]; PAGE_SIZE as usize];
        let p = &self.members[0];
        m.user_write(&p.mm, p.addrs[ANON] + page * PAGE_SIZE, &data)
            .map_err(|e| format!("P write anon page {page}: {e}"))?;
        oracle(self.oracle.write("P", "anon", page * PAGE_SIZE, &data))
    }

    /// MADV_COLLAPSE of one THP's range (it may fail: a pinned or
    /// swapped page, no free huge page).
    fn collapse(&self, m: &Machine, rng: &mut Rng) {
        let p = &self.members[0];
        let at = p.addrs[THP] + rng.below(2) * HPAGE_PMD_SIZE;
        let _ = m.madvise_collapse(&p.mm, at, HPAGE_PMD_SIZE);
    }

    /// Everybody lets go and exits, unchecked.
    fn abandon(mut self, m: &Machine) {
        for h in self.pins.drain(..) {
            m.unpin_user_pages(h.pinned);
        }
        for p in self.members.drain(..) {
            m.exit_mmap(&p.mm);
        }
    }

    /// The end: every reference is read and released, every byte of every
    /// member is checked, and everybody exits.
    fn exit(mut self, m: &Machine, rng: &mut Rng) -> Result<(), String> {
        let mut result = Ok(());
        while !self.pins.is_empty() {
            result = result.and(self.release_oldest(m, rng));
        }
        for who in 0..self.members.len() {
            for (map, (_, pages, _)) in MAPS.iter().enumerate() {
                for page in 0..*pages {
                    result = result.and(self.read(m, who, map, page * PAGE_SIZE, PAGE_SIZE));
                }
            }
        }
        for p in self.members.drain(..).rev() {
            m.exit_mmap(&p.mm);
            result = result.and(oracle(self.oracle.exit(&p.name)));
        }
        result
    }
}

/// A process actor: one process at a time, which now and then exits and
/// is replaced by a new one.
pub struct ProcessActor {
    proc: Option<Proc>,
}

impl ProcessActor {
    /// The actor with its first process started on `m`.
    pub(crate) fn new(m: &Machine) -> Result<ProcessActor, String> {
        Ok(ProcessActor {
            proc: Some(Proc::start(m)?),
        })
    }
}

impl Actor for ProcessActor {
    fn step(&mut self, ctx: &Ctx, rng: &mut Rng) -> Result<(), String> {
        let m = &*ctx.m;
        let Some(p) = self.proc.as_mut() else {
            self.proc = Some(Proc::start(m)?);
            return Ok(());
        };
        // Any member for the operations a child can do too.
        let who = rng.below(p.members.len() as u64) as usize;
        match rng.below(40) {
            0..=7 => p.write(m, who, rng),
            8..=15 => p.random_read(m, who, rng),
            16..=17 => p.fork(m),
            18 => match p.members.len() {
                1 => Ok(()),
                n => p.exit_child(m, 1 + rng.below(n as u64 - 1) as usize),
            },
            19..=21 => p.pin(m, who, rng),
            22..=24 => p.use_pin(m, rng),
            25..=26 => p.release_oldest(m, rng),
            27 => p.remap_scratch(m),
            28..=29 => p.mprotect(m, rng),
            30..=31 => {
                p.pageout(m, rng);
                Ok(())
            }
            32 => p.dontneed(m, rng),
            33..=35 => p.ksm_write(m, rng),
            36..=37 => {
                p.collapse(m, rng);
                Ok(())
            }
            38 if rng.one_in(50) => self.proc.take().map_or(Ok(()), |p| p.exit(m, rng)),
            _ => p.random_read(m, 0, rng),
        }
    }

    fn finish(&mut self, ctx: &Ctx) -> Result<(), String> {
        let mut rng = Rng::new(0, 0);
        self.proc
            .take()
            .map_or(Ok(()), |p| p.exit(&ctx.m, &mut rng))
    }

    fn abandon(&mut self, ctx: &Ctx) {
        if let Some(p) = self.proc.take() {
            p.abandon(&ctx.m);
        }
    }
}

/// ksmd: a full KSM scan, then a short sleep (ksmd's
/// `sleep_millisecs`, shortened).
pub struct Ksmd;

impl Actor for Ksmd {
    fn step(&mut self, ctx: &Ctx, _rng: &mut Rng) -> Result<(), String> {
        ctx.m.ksm_run();
        thread::sleep(Duration::from_millis(2));
        Ok(())
    }
}
