//! The oracle: a small sequential model of what user space must observe.
//!
//! `check/` verifies the kernel's internal invariants; this is the second,
//! independent truth (DESIGN.md). It knows processes, their named mappings,
//! memory-backed files and GUP references — and nothing of PFNs, page
//! tables, refcounts, the zero page, COW, swap, migration, KSM or hotplug.
//! The scenario interpreter mirrors every user-level action into it and
//! compares every byte a process or a pin reads with it; it shares no code
//! with the model it judges.
//!
//! Picture every private mapping as its own byte array and every file as a
//! byte array that its shared mappings alias. A private file mapping is a
//! view of its file with a transparent sheet on top: a page the process
//! writes is copied onto the sheet and from then on is its own, while the
//! other pages keep showing the file. (POSIX leaves unspecified whether a
//! MAP_PRIVATE mapping sees later changes to its file; Linux decides per
//! 4 KiB page, and so does the oracle.) Fork gives the child a copy of every
//! array and sheet, minus MADV_DONTFORK ranges; shared mappings still alias
//! the file.
//!
//! A GUP reference holds memory, not a mapping: each of its pages names a
//! frame (see `frame.rs`) — the owner's private page, a file page, or an
//! orphan that only pins still hold after the owner unmapped, discarded or
//! exited. Where Linux's user-visible semantics depend on the FOLL_* flags,
//! the oracle follows `gup_must_unshare()`: a FOLL_WRITE GUP and a read-only
//! FOLL_LONGTERM pin make the pages the owner's own first (so they stop
//! following the file in a private file mapping), and a read-only short-term
//! FOLL_PIN of memory the owner never wrote need not see later writes.
//!
//! The rules, as named in an [`OracleViolation`]:
//! * `process-read`: a process reads what the rules above say its mapping
//!   holds — after fork each process sees its own copy.
//! * `pin-coherent`: a FOLL_PIN reads its memory's current bytes: it sees the
//!   owner's later writes, the owner sees DMA writes through a write pin, and
//!   after the owner lets go it keeps the bytes it had (a pin of a file page
//!   keeps following the file).
//! * `get-no-foreign-writes` (and `pin-no-foreign-writes` for the read-only
//!   short-term FOLL_PIN case above): every byte is what it was when the
//!   reference was taken, or a value written to that same memory since —
//!   never one only another process wrote (CVE-2020-29374).
//! * `pin-write-ro`: DMA writes go through write FOLL_PINs only.
//!
//! ```
//! use mmsim::oracle::{Oracle, OracleError, PinFlags, PinKind};
//!
//! let mut o = Oracle::new();
//! o.spawn("A")?;
//! o.mmap_anon("A", "buf", 4096)?;
//! o.write("A", "buf", 0, &[0xaa; 4096])?;
//! o.fork("A", "B", &[])?;
//! let pin = PinFlags { kind: PinKind::Pin, write: false, longterm: true };
//! o.pin("p", "A", "buf", 0, 4096, pin)?;
//! o.write("A", "buf", 0, &[0xbb; 4096])?;
//! o.check_pin_read("p", 0, &[0xbb; 4096])?; // the pin follows A
//! o.check_read("B", "buf", 0, &[0xaa; 4096])?; // B keeps its copy
//! let Err(OracleError::Violation(v)) = o.check_read("B", "buf", 0, &[0xbb; 4096]) else {
//!     panic!("B must not see A's write");
//! };
//! assert_eq!(
//!     v.to_string(),
//!     "oracle violation: process-read: B at buf+0x0: expected aa x4096, got bb x4096"
//! );
//! o.release("p")?;
//! # Ok::<(), OracleError>(())
//! ```

mod frame;
mod orphans;
mod pin;
mod ranges;
mod report;
mod store;
#[cfg(test)]
mod tests;

pub use pin::{PinFlags, PinKind};
pub use ranges::RangeSet;
pub use report::{OracleError, OracleViolation};

use frame::{FileId, Frame, MapId};
use orphans::Orphans;
use pin::{PageCheck, Pin, PinPage};
use report::place;
use std::collections::BTreeMap;
use std::ops::Range;
use store::{chunks, page_up, pages_of, zero_page, Page, SparsePages, PAGE_SIZE};

/// What a mapping shows.
#[derive(Clone, Copy, Debug)]
enum Backing {
    /// Private anonymous memory: zeros until written.
    Anon,
    /// MAP_PRIVATE of a file: the file, except pages the process made its own.
    PrivateFile(FileId),
    /// MAP_SHARED of a file: the file.
    SharedFile(FileId),
}

/// One mapping of one process.
#[derive(Clone, Debug)]
struct Mapping {
    size: u64,
    backing: Backing,
    /// Anon: the contents. PrivateFile: the pages the process made its own
    /// (a page is here exactly when it no longer follows the file).
    /// SharedFile: always empty.
    private: SparsePages,
    /// Byte ranges that are gone (munmap, or MADV_DONTFORK in a fork child).
    unmapped: RangeSet,
    /// The file page its first page shows (file mappings; an mremap that
    /// moves part of a mapping moves this with it).
    pgoff: u64,
}

/// A memory-backed file (memfd/tmpfs).
#[derive(Debug)]
struct File {
    name: String,
    size: u64,
    pages: SparsePages,
}

#[derive(Debug, Default)]
struct Process {
    maps: BTreeMap<String, MapId>,
}

/// The sequential model of what every process and pin must read.
#[derive(Debug, Default)]
pub struct Oracle {
    procs: BTreeMap<String, Process>,
    files: Vec<File>,
    file_ids: BTreeMap<String, FileId>,
    maps: BTreeMap<MapId, Mapping>,
    /// Pages only pins hold; dropped with the last pin holding them.
    orphans: Orphans,
    pins: BTreeMap<String, Pin>,
    /// The last [`MapId`] handed out.
    last_map: u64,
}

impl Oracle {
    /// An oracle with no processes, files or pins.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new process with an empty address space.
    pub fn spawn(&mut self, proc: &str) -> Result<(), OracleError> {
        if self.procs.contains_key(proc) {
            return Err(OracleError::ProcessExists(proc.into()));
        }
        self.procs.insert(proc.into(), Process::default());
        Ok(())
    }

    /// A memory-backed file (memfd/tmpfs) of `size` zero bytes.
    pub fn file(&mut self, name: &str, size: u64) -> Result<(), OracleError> {
        if self.file_ids.contains_key(name) {
            return Err(OracleError::FileExists(name.into()));
        }
        self.file_ids.insert(name.into(), FileId(self.files.len()));
        self.files.push(File {
            name: name.into(),
            size,
            pages: SparsePages::default(),
        });
        Ok(())
    }

    /// `mmap(MAP_PRIVATE | MAP_ANONYMOUS)` of `size` bytes: zeros.
    pub fn mmap_anon(&mut self, proc: &str, map: &str, size: u64) -> Result<(), OracleError> {
        self.mmap(proc, map, size, Backing::Anon)
    }

    /// `mmap(MAP_SHARED | MAP_ANONYMOUS)` of `size` bytes: zeros, shared by
    /// every process that inherits the mapping — a file of the mapping's
    /// size that nothing else can name.
    pub fn mmap_shared_anon(
        &mut self,
        proc: &str,
        map: &str,
        size: u64,
    ) -> Result<(), OracleError> {
        let id = FileId(self.files.len());
        self.files.push(File {
            name: format!("shared anonymous memory of {proc}'s {map}"),
            size,
            pages: SparsePages::default(),
        });
        let mapped = self.mmap(proc, map, size, Backing::SharedFile(id));
        if mapped.is_err() {
            self.files.pop();
        }
        mapped
    }

    /// `mmap` of `size` bytes of `file` from its start, MAP_SHARED or
    /// MAP_PRIVATE. The mapping may extend beyond the end of the file, but
    /// accesses there fail with [`OracleError::BeyondEof`] (SIGBUS).
    pub fn mmap_file(
        &mut self,
        proc: &str,
        map: &str,
        file: &str,
        size: u64,
        shared: bool,
    ) -> Result<(), OracleError> {
        let id = *self
            .file_ids
            .get(file)
            .ok_or_else(|| OracleError::NoSuchFile(file.into()))?;
        let backing = if shared {
            Backing::SharedFile(id)
        } else {
            Backing::PrivateFile(id)
        };
        self.mmap(proc, map, size, backing)
    }

    fn mmap(
        &mut self,
        proc: &str,
        map: &str,
        size: u64,
        backing: Backing,
    ) -> Result<(), OracleError> {
        let p = self
            .procs
            .get(proc)
            .ok_or_else(|| OracleError::NoSuchProcess(proc.into()))?;
        if p.maps.contains_key(map) {
            return Err(OracleError::MappingExists {
                proc: proc.into(),
                map: map.into(),
            });
        }
        if size == 0 {
            return Err(OracleError::EmptyRange { at: place(map, 0) });
        }
        let id = self.new_map_id();
        self.maps.insert(
            id,
            Mapping {
                size,
                backing,
                private: SparsePages::default(),
                unmapped: RangeSet::default(),
                pgoff: 0,
            },
        );
        if let Some(p) = self.procs.get_mut(proc) {
            p.maps.insert(map.into(), id);
        }
        Ok(())
    }

    /// `munmap` of the pages holding `[off, off + len)` (`off` page-aligned).
    /// The bytes become inaccessible; pins on them keep the bytes they had.
    /// Once nothing of the mapping is left, its name is free again.
    pub fn munmap(&mut self, proc: &str, map: &str, off: u64, len: u64) -> Result<(), OracleError> {
        let (id, pages) = self.page_range(proc, map, off, len)?;
        self.let_go(id, pages.clone());
        let gone = self.maps.get_mut(&id).is_some_and(|m| {
            m.unmapped
                .insert(pages.start * PAGE_SIZE, pages.end * PAGE_SIZE);
            m.unmapped.covers(0, m.size)
        });
        if gone {
            self.maps.remove(&id);
            if let Some(p) = self.procs.get_mut(proc) {
                p.maps.remove(map);
            }
        }
        Ok(())
    }

    /// `madvise(MADV_DONTNEED)` of the pages holding `[off, off + len)`:
    /// private anonymous memory reads as zeros again, a private file mapping
    /// shows its file again there, a shared file mapping is unchanged. Pins
    /// on discarded pages keep the bytes they had.
    pub fn madvise_dontneed(
        &mut self,
        proc: &str,
        map: &str,
        off: u64,
        len: u64,
    ) -> Result<(), OracleError> {
        let (id, pages) = self.page_range(proc, map, off, len)?;
        if self.maps.get(&id).is_some_and(|m| {
            m.unmapped
                .overlaps(pages.start * PAGE_SIZE, pages.end * PAGE_SIZE)
        }) {
            return Err(OracleError::Unmapped {
                proc: proc.into(),
                at: place(map, off),
            });
        }
        self.madvise_dontneed_mapped(proc, map, off, len)
    }

    /// `madvise(MADV_DONTNEED)` of a range with unmapped holes, as Linux
    /// applies it (`madvise_walk_vmas()`: the advice goes to every mapped
    /// part, then the call fails with ENOMEM): the still-mapped pages
    /// holding `[off, off + len)` are discarded as [`Oracle::madvise_dontneed`]
    /// does, the unmapped ones are skipped.
    pub fn madvise_dontneed_mapped(
        &mut self,
        proc: &str,
        map: &str,
        off: u64,
        len: u64,
    ) -> Result<(), OracleError> {
        let (id, pages) = self.page_range(proc, map, off, len)?;
        let mapped = match self.maps.get(&id) {
            Some(m) => m
                .unmapped
                .gaps(pages.start * PAGE_SIZE, pages.end * PAGE_SIZE),
            None => Vec::new(),
        };
        for (start, end) in mapped {
            self.let_go(id, start / PAGE_SIZE..end / PAGE_SIZE);
        }
        Ok(())
    }

    /// `mremap()` of the pages holding `[off, off + len)` of a mapping to
    /// `new_size` bytes.
    ///
    /// Without `to` the range is the whole mapping, which keeps its name:
    /// shrinking unmaps its tail; growing adds bytes that read as a fresh
    /// mapping's would. With `to` (MREMAP_FIXED at the start of another
    /// mapping of the process) the memory moves there and replaces what was
    /// mapped under that name, which is let go as by munmap: `to` names the
    /// moved memory from then on — its bytes, its place in its file, the
    /// pins on it — and the range becomes a hole in `map`. Bytes beyond
    /// `new_size` are unmapped; bytes added beyond the old length read as a
    /// fresh mapping's would.
    pub fn mremap(
        &mut self,
        proc: &str,
        map: &str,
        off: u64,
        len: u64,
        new_size: u64,
        to: Option<&str>,
    ) -> Result<(), OracleError> {
        let (id, pages) = self.page_range(proc, map, off, len)?;
        let bad = |why| {
            Err(OracleError::BadRemap {
                at: place(map, off),
                why,
            })
        };
        if new_size == 0 {
            return Err(OracleError::EmptyRange {
                at: place(map, off),
            });
        }
        let new_pages = page_up(new_size);
        let Some(to) = to else {
            let size = self.maps.get(&id).map_or(0, |m| m.size);
            if pages != (0..page_up(size)) {
                return bad("a resize that keeps the name must cover the whole mapping");
            }
            if new_pages < pages.end {
                self.let_go(id, new_pages..pages.end);
            }
            if let Some(m) = self.maps.get_mut(&id) {
                m.unmapped.truncate(new_size);
                m.size = new_size;
            }
            return Ok(());
        };
        let (dest, dest_map) = self.lookup(proc, to)?;
        if dest == id {
            return bad("the destination is the mapping itself");
        }
        let dest_pages = page_up(dest_map.size);
        // The destination goes first (do_munmap() of the target range).
        self.let_go(dest, 0..dest_pages);
        self.maps.remove(&dest);
        // What no longer fits is unmapped where it is.
        let moved = pages.start..pages.start + (pages.end - pages.start).min(new_pages);
        if moved.end < pages.end {
            self.let_go(id, moved.end..pages.end);
        }
        let new = self.new_map_id();
        let Some(src) = self.maps.get_mut(&id) else {
            return Err(OracleError::NoSuchMapping {
                proc: proc.into(),
                map: map.into(),
            });
        };
        let mut private = SparsePages::default();
        for (page, bytes) in src.private.take(moved.clone()) {
            private.put(page - moved.start, bytes);
        }
        src.unmapped
            .insert(pages.start * PAGE_SIZE, pages.end * PAGE_SIZE);
        let moved_map = Mapping {
            size: new_size,
            backing: src.backing,
            private,
            unmapped: RangeSet::default(),
            pgoff: src.pgoff + moved.start,
        };
        let src_gone = src.unmapped.covers(0, src.size);
        self.maps.insert(new, moved_map);
        // The pins on the moved memory follow it.
        for pin in self.pins.values_mut() {
            for pp in &mut pin.pages {
                if let Frame::Private { map: m, page } = pp.frame {
                    if m == id && moved.contains(&page) {
                        pp.frame = Frame::Private {
                            map: new,
                            page: page - moved.start,
                        };
                        pin.scattered = true;
                    }
                }
            }
        }
        if let Some(p) = self.procs.get_mut(proc) {
            p.maps.insert(to.into(), new);
            if src_gone {
                p.maps.remove(map);
            }
        }
        if src_gone {
            self.maps.remove(&id);
        }
        Ok(())
    }

    /// A process writes `data` at `off` in its mapping.
    pub fn write(
        &mut self,
        proc: &str,
        map: &str,
        off: u64,
        data: &[u8],
    ) -> Result<(), OracleError> {
        let id = self.accessible(proc, map, off, data.len() as u64)?;
        for c in chunks(off, data.len()) {
            let frame = self.own_page(id, c.page);
            self.write_frame(frame, c.in_page, &data[c.in_buf()]);
        }
        Ok(())
    }

    /// Checks bytes a process read at `off` in its mapping (rule
    /// `process-read`).
    pub fn check_read(
        &self,
        proc: &str,
        map: &str,
        off: u64,
        got: &[u8],
    ) -> Result<(), OracleError> {
        let id = self.accessible(proc, map, off, got.len() as u64)?;
        let mut expected = vec![0; got.len()];
        if let Some(m) = self.maps.get(&id) {
            for c in chunks(off, got.len()) {
                if let Some(p) = self.mapping_page(m, c.page) {
                    expected[c.in_buf()].copy_from_slice(&p[c.in_page()]);
                }
            }
        }
        match expected.iter().zip(got).position(|(e, g)| e != g) {
            None => Ok(()),
            Some(bad) => Err(OracleViolation::mismatch(
                OracleViolation::PROCESS_READ,
                proc.into(),
                place(map, off + bad as u64),
                &expected,
                got,
                bad,
            )
            .into()),
        }
    }

    /// `fork`: `child` gets a copy of every mapping of `parent` except the
    /// MADV_DONTFORK ranges `(map, off, len)` (`off` page-aligned), which are
    /// absent in the child. Private memory is copied; shared file mappings
    /// alias the same file; a private file mapping's own pages are copied and
    /// the others keep following the file.
    pub fn fork(
        &mut self,
        parent: &str,
        child: &str,
        dontfork: &[(String, u64, u64)],
    ) -> Result<(), OracleError> {
        if self.procs.contains_key(child) {
            return Err(OracleError::ProcessExists(child.into()));
        }
        let p = self
            .procs
            .get(parent)
            .ok_or_else(|| OracleError::NoSuchProcess(parent.into()))?;
        // Validate every range before changing anything.
        let mut holes: BTreeMap<&str, Vec<Range<u64>>> = BTreeMap::new();
        for (map, off, len) in dontfork {
            let (_, pages) = self.page_range(parent, map, *off, *len)?;
            holes.entry(map.as_str()).or_default().push(pages);
        }
        let mut copies = Vec::new();
        for (name, id) in &p.maps {
            let Some(m) = self.maps.get(id) else { continue };
            let mut copy = m.clone();
            for r in holes.get(name.as_str()).into_iter().flatten() {
                copy.unmapped.insert(r.start * PAGE_SIZE, r.end * PAGE_SIZE);
                copy.private.punch(r.clone());
            }
            if !copy.unmapped.covers(0, copy.size) {
                copies.push((name.clone(), copy));
            }
        }
        let mut c = Process::default();
        for (name, copy) in copies {
            let id = self.new_map_id();
            self.maps.insert(id, copy);
            c.maps.insert(name, id);
        }
        self.procs.insert(child.into(), c);
        Ok(())
    }

    /// A process exits: its mappings go; its pins keep the bytes they had
    /// until released.
    pub fn exit(&mut self, proc: &str) -> Result<(), OracleError> {
        let p = self
            .procs
            .remove(proc)
            .ok_or_else(|| OracleError::NoSuchProcess(proc.into()))?;
        for id in p.maps.into_values() {
            if let Some(m) = self.maps.remove(&id) {
                self.orphans
                    .adopt(&mut self.pins, id, &m.private, pages_of(0, m.size));
            }
        }
        Ok(())
    }

    /// GUP: `proc` takes the reference `pin` on `[off, off + len)` of its
    /// mapping; later pin reads and writes are `off`-relative to that range.
    pub fn pin(
        &mut self,
        pin: &str,
        proc: &str,
        map: &str,
        off: u64,
        len: u64,
        flags: PinFlags,
    ) -> Result<(), OracleError> {
        if self.pins.contains_key(pin) {
            return Err(OracleError::PinExists(pin.into()));
        }
        let id = self.accessible(proc, map, off, len)?;
        let scattered = self.maps.get(&id).is_some_and(|m| m.pgoff != 0);
        let mut pages = Vec::new();
        for page in pages_of(off, len) {
            let frame = if flags.breaks_cow() {
                self.own_page(id, page)
            } else {
                self.frame_at(id, page)
            };
            // A read-only short-term FOLL_PIN of never-written private memory
            // holds whatever Linux had there (the zero page), not the memory
            // the owner's first write will create.
            let coherent = flags.kind == PinKind::Pin
                && match frame {
                    Frame::Private { map, page } => self
                        .maps
                        .get(&map)
                        .is_some_and(|m| m.private.contains(page)),
                    Frame::File { .. } | Frame::Orphan(_) => true,
                };
            let check = if coherent {
                PageCheck::Coherent
            } else {
                PageCheck::NoForeignWrites {
                    taken: self
                        .frame_page(frame)
                        .map_or_else(zero_page, |p| Box::new(*p)),
                    later: Vec::new(),
                }
            };
            pages.push(PinPage { frame, check });
        }
        self.pins.insert(
            pin.into(),
            Pin {
                owner: proc.into(),
                map: map.into(),
                off,
                len,
                flags,
                pages,
                scattered,
            },
        );
        Ok(())
    }

    /// Checks bytes read (as a DMA read) through a pin at `off` from the
    /// pinned range's start (rules `pin-coherent`, `get-no-foreign-writes`,
    /// `pin-no-foreign-writes`).
    pub fn check_pin_read(&self, pin: &str, off: u64, got: &[u8]) -> Result<(), OracleError> {
        let p = self.pin_ref(pin)?;
        let start = Self::pin_range(pin, p, off, got.len() as u64)?;
        let mut expected = vec![0; got.len()];
        let mut bad = None;
        for c in chunks(start, got.len()) {
            let Some(pp) = Self::pin_page(p, c.page) else {
                continue;
            };
            let now = self.frame_page(pp.frame);
            for (k, at) in c.in_page().enumerate() {
                let i = c.at + k;
                let cur = now.map_or(0, |page| page[at]);
                expected[i] = pp.expected(at, cur);
                if bad.is_none() && !pp.allows(at, got[i], cur) {
                    bad = Some((i, pp.rule(p.flags)));
                }
            }
        }
        match bad {
            None => Ok(()),
            Some((i, rule)) => Err(OracleViolation::mismatch(
                rule,
                p.who(pin),
                place(&p.map, start + i as u64),
                &expected,
                got,
                i,
            )
            .into()),
        }
    }

    /// A DMA write of `data` through a write FOLL_PIN at `off` from the
    /// pinned range's start: the owner (and for a shared file mapping, the
    /// file) sees it. Through a FOLL_GET reference or a read-only pin it is
    /// a violation of `pin-write-ro` and changes nothing.
    pub fn pin_write(&mut self, pin: &str, off: u64, data: &[u8]) -> Result<(), OracleError> {
        let p = self.pin_ref(pin)?;
        let start = Self::pin_range(pin, p, off, data.len() as u64)?;
        if !p.flags.may_dma_write() {
            return Err(OracleViolation {
                rule: OracleViolation::PIN_WRITE_RO,
                who: p.who(pin),
                addr: place(&p.map, start),
                expected: "a write FOLL_PIN".into(),
                got: p.flags.describe().into(),
            }
            .into());
        }
        let targets: Vec<_> = chunks(start, data.len())
            .filter_map(|c| Some((Self::pin_page(p, c.page)?.frame, c)))
            .collect();
        for (frame, c) in targets {
            self.write_frame(frame, c.in_page, &data[c.in_buf()]);
        }
        Ok(())
    }

    /// `put_page` / `unpin_user_pages`: the reference goes.
    pub fn release(&mut self, pin: &str) -> Result<(), OracleError> {
        self.pins
            .remove(pin)
            .ok_or_else(|| OracleError::NoSuchPin(pin.into()))?;
        self.orphans.collect(&self.pins);
        Ok(())
    }

    fn new_map_id(&mut self) -> MapId {
        self.last_map += 1;
        MapId(self.last_map)
    }

    fn lookup(&self, proc: &str, map: &str) -> Result<(MapId, &Mapping), OracleError> {
        let p = self
            .procs
            .get(proc)
            .ok_or_else(|| OracleError::NoSuchProcess(proc.into()))?;
        p.maps
            .get(map)
            .and_then(|id| Some((*id, self.maps.get(id)?)))
            .ok_or_else(|| OracleError::NoSuchMapping {
                proc: proc.into(),
                map: map.into(),
            })
    }

    /// The mapping, if `[off, off + len)` of it may be read or written.
    fn accessible(&self, proc: &str, map: &str, off: u64, len: u64) -> Result<MapId, OracleError> {
        let (id, m) = self.lookup(proc, map)?;
        let end = off
            .checked_add(len)
            .filter(|&end| end <= m.size)
            .ok_or_else(|| OracleError::OutOfRange {
                at: place(map, off),
                len,
                size: m.size,
            })?;
        if m.unmapped.overlaps(off, end) {
            return Err(OracleError::Unmapped {
                proc: proc.into(),
                at: place(map, off),
            });
        }
        if let Backing::PrivateFile(f) | Backing::SharedFile(f) = m.backing {
            let file_end = m.pgoff * PAGE_SIZE + end;
            if let Some(file) = self.files.get(f.0).filter(|file| file_end > file.size) {
                return Err(OracleError::BeyondEof {
                    at: place(map, off),
                    file: file.name.clone(),
                    size: file.size,
                });
            }
        }
        Ok(id)
    }

    /// The mapping and the pages of a munmap/madvise/fork range: `off`
    /// page-aligned, `len` non-zero and rounded up to whole pages.
    fn page_range(
        &self,
        proc: &str,
        map: &str,
        off: u64,
        len: u64,
    ) -> Result<(MapId, Range<u64>), OracleError> {
        let (id, m) = self.lookup(proc, map)?;
        let at = || place(map, off);
        if off % PAGE_SIZE != 0 {
            return Err(OracleError::Unaligned { at: at() });
        }
        if len == 0 {
            return Err(OracleError::EmptyRange { at: at() });
        }
        let end = off
            .checked_add(len)
            .filter(|&end| page_up(end) <= page_up(m.size))
            .ok_or_else(|| OracleError::OutOfRange {
                at: at(),
                len,
                size: m.size,
            })?;
        Ok((id, off / PAGE_SIZE..page_up(end)))
    }

    /// What a process sees in page `page` of its mapping (`None`: zeros).
    fn mapping_page<'a>(&'a self, m: &'a Mapping, page: u64) -> Option<&'a Page> {
        let file_page = |f: FileId| {
            self.files
                .get(f.0)
                .and_then(|file| file.pages.get(m.pgoff + page))
        };
        match m.backing {
            Backing::Anon => m.private.get(page),
            Backing::PrivateFile(f) => m.private.get(page).or_else(|| file_page(f)),
            Backing::SharedFile(f) => file_page(f),
        }
    }

    /// The memory behind page `page` of a mapping now.
    fn frame_at(&self, id: MapId, page: u64) -> Frame {
        let m = self.maps.get(&id);
        match m.map(|m| (m.backing, m.private.contains(page), m.pgoff)) {
            Some(
                (Backing::SharedFile(file), _, pgoff) | (Backing::PrivateFile(file), false, pgoff),
            ) => Frame::File {
                file,
                page: pgoff + page,
            },
            _ => Frame::Private { map: id, page },
        }
    }

    /// Makes page `page` of a private mapping the process's own memory, as
    /// a write fault does (a private file page is copied from the file), and
    /// returns the memory behind it. The caller has looked the mapping up.
    fn own_page(&mut self, id: MapId, page: u64) -> Frame {
        let files = &self.files;
        if let Some(m) = self.maps.get_mut(&id) {
            match m.backing {
                Backing::Anon => {
                    m.private.get_or_fill(page, zero_page);
                }
                Backing::PrivateFile(f) => {
                    let at = m.pgoff + page;
                    m.private.get_or_fill(page, || {
                        let from_file = files.get(f.0).and_then(|file| file.pages.get(at));
                        from_file.map_or_else(zero_page, |p| Box::new(*p))
                    });
                }
                Backing::SharedFile(file) => {
                    return Frame::File {
                        file,
                        page: m.pgoff + page,
                    }
                }
            }
        }
        Frame::Private { map: id, page }
    }

    /// A frame's bytes (`None`: zeros).
    fn frame_page(&self, frame: Frame) -> Option<&Page> {
        match frame {
            Frame::Private { map, page } => self.maps.get(&map)?.private.get(page),
            Frame::File { file, page } => self.files.get(file.0)?.pages.get(page),
            Frame::Orphan(o) => self.orphans.get(o),
        }
    }

    /// Writes `bytes` at `at` in a frame and tells every pin holding it.
    fn write_frame(&mut self, frame: Frame, at: usize, bytes: &[u8]) {
        let page = match frame {
            Frame::Private { map, page } => self
                .maps
                .get_mut(&map)
                .map(|m| m.private.get_or_fill(page, zero_page)),
            Frame::File { file, page } => self
                .files
                .get_mut(file.0)
                .map(|f| f.pages.get_or_fill(page, zero_page)),
            Frame::Orphan(o) => self.orphans.get_mut(o),
        };
        if let Some(dst) = page.and_then(|p| p.get_mut(at..at + bytes.len())) {
            dst.copy_from_slice(bytes);
        }
        for pin in self.pins.values_mut() {
            if let Some(pp) = pin.page_holding(frame) {
                pp.check.note_write(at, bytes);
            }
        }
    }

    /// The owner lets go of `pages` of a mapping (munmap, MADV_DONTNEED):
    /// pins keep what they hold, and the mapping's private pages there are
    /// discarded.
    fn let_go(&mut self, id: MapId, pages: Range<u64>) {
        if let Some(m) = self.maps.get_mut(&id) {
            self.orphans
                .adopt(&mut self.pins, id, &m.private, pages.clone());
            m.private.punch(pages);
        }
    }

    fn pin_ref(&self, pin: &str) -> Result<&Pin, OracleError> {
        self.pins
            .get(pin)
            .ok_or_else(|| OracleError::NoSuchPin(pin.into()))
    }

    /// The mapping offset of `off` in a pin, if `[off, off + len)` lies in it.
    fn pin_range(name: &str, p: &Pin, off: u64, len: u64) -> Result<u64, OracleError> {
        match off.checked_add(len) {
            Some(end) if end <= p.len => Ok(p.off + off),
            _ => Err(OracleError::OutOfRange {
                at: format!("pin {name}+{off:#x}"),
                len,
                size: p.len,
            }),
        }
    }

    /// The pin's page that was the mapping's page `page`.
    fn pin_page(p: &Pin, page: u64) -> Option<&PinPage> {
        p.pages
            .get(usize::try_from(page.checked_sub(p.first_page())?).ok()?)
    }
}
