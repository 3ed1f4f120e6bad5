//! GUP references: `P gup PIN ...` takes one, `PIN read` and `PIN write` are DMA
//! through it, `release PIN` drops it.
//!
//! A pin holds pages, not a mapping: its reads and writes go to the frames GUP
//! returned, whatever the process did to its mapping since, and are compared
//! with the oracle (which follows `gup_must_unshare()` to decide what a pin
//! must see). A pin is read like a process's memory: any length up to the bulk
//! limit, streamed and compared as it is read.

use std::collections::HashMap;

use super::{Cmd, CommandDoc, Family};
use crate::errno::Errno;
use crate::gup::{GupFlags, Pinned};
use crate::machine::Machine;
use crate::oracle::{PinFlags, PinKind};
use crate::page::{PhysAddr, PAGE_SIZE};
use crate::script::args::{set_once, Args, Parsed, Place};
use crate::script::output::{ok, text, ByteSink, CmdResult};
use crate::script::world::World;

/// A command of the pin family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinCmd {
    /// `P gup PIN PLACE LEN [write] [get|pin] [fast] [longterm]`.
    Gup {
        /// The process whose memory is pinned.
        proc: String,
        /// Name of the new pin.
        pin: String,
        /// Where the pinned range starts.
        place: Place,
        /// Bytes.
        len: u64,
        /// `write`: FOLL_WRITE.
        write: bool,
        /// `pin` (default) or `get`.
        kind: GupKind,
        /// `fast`: GUP-fast first.
        fast: bool,
        /// `longterm`: FOLL_LONGTERM.
        longterm: bool,
    },
    /// `PIN read OFF LEN`: a DMA read through the pin.
    Read {
        /// The pin.
        pin: String,
        /// Offset from the pinned range's start.
        off: u64,
        /// Bytes.
        len: u64,
    },
    /// `PIN write OFF LEN BYTE`: a DMA write through a write pin.
    Write {
        /// The pin.
        pin: String,
        /// Offset from the pinned range's start.
        off: u64,
        /// Bytes.
        len: u64,
        /// Their value.
        byte: u8,
    },
    /// `release PIN`: `put_page()` / `unpin_user_pages()`.
    Release {
        /// The pin.
        pin: String,
    },
}

/// The reference `P gup` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GupKind {
    /// `pin`: FOLL_PIN (the default).
    Pin,
    /// `get`: FOLL_GET, as vmsplice.
    Get,
}

impl PinCmd {
    /// The command's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            PinCmd::Gup { .. } => "gup",
            PinCmd::Read { .. } => "pin read",
            PinCmd::Write { .. } => "pin write",
            PinCmd::Release { .. } => "release",
        }
    }

    /// The bytes a pin read prints.
    pub(crate) fn read_len(&self) -> Option<u64> {
        match self {
            PinCmd::Read { len, .. } => Some(*len),
            _ => None,
        }
    }
}

pub(crate) const FAMILY: Family = Family {
    keywords: &[("release", |a| {
        Ok(Cmd::Pin(PinCmd::Release {
            pin: a.name("PIN")?,
        }))
    })],
    process_verbs: &[("gup", gup)],
    pin_verbs: &[
        ("read", |pin, a| {
            Ok(Cmd::Pin(PinCmd::Read {
                pin,
                off: a.size("OFF")?,
                len: a.bulk("LEN")?,
            }))
        }),
        ("write", |pin, a| {
            Ok(Cmd::Pin(PinCmd::Write {
                pin,
                off: a.size("OFF")?,
                len: a.bulk("LEN")?,
                byte: a.word("BYTE")?.byte()?,
            }))
        }),
    ],
    docs: &[
        CommandDoc {
            syntax: "P gup PIN PLACE LEN [write] [get|pin] [fast] [longterm]",
            summary: "get_user_pages/pin_user_pages (FOLL_PIN by default, slow path unless fast); prints the pages taken",
        },
        CommandDoc {
            syntax: "PIN read OFF LEN",
            summary: "a DMA read of the pinned pages' current bytes (compared with the oracle)",
        },
        CommandDoc {
            syntax: "PIN write OFF LEN BYTE",
            summary: "a DMA write through a write FOLL_PIN",
        },
        CommandDoc {
            syntax: "release PIN",
            summary: "put_page() / unpin_user_pages()",
        },
    ],
};

/// `P gup PIN PLACE LEN [write] [get|pin] [fast] [longterm]`, options in any order.
fn gup(proc: String, a: &mut Args<'_>) -> Parsed<Cmd> {
    let pin = a.name("PIN")?;
    let place = a.place()?;
    let len = a.bulk("LEN")?;
    let mut write = None;
    let mut kind = None;
    let mut fast = None;
    let mut longterm = None;
    for (word, token) in a.rest_words("a gup option")? {
        match word.text {
            "write" => set_once(&mut write, (), token)?,
            "get" => set_once(&mut kind, GupKind::Get, token)?,
            "pin" => set_once(&mut kind, GupKind::Pin, token)?,
            "fast" => set_once(&mut fast, (), token)?,
            "longterm" => set_once(&mut longterm, (), token)?,
            _ => return Err(word.unknown_option("gup")),
        }
    }
    Ok(Cmd::Pin(PinCmd::Gup {
        proc,
        pin,
        place,
        len,
        write: write.is_some(),
        kind: kind.unwrap_or(GupKind::Pin),
        fast: fast.is_some(),
        longterm: longterm.is_some(),
    }))
}

/// One GUP reference.
struct Pin {
    pinned: Pinned,
    /// Offset of the pinned range's first byte in its first page.
    first_off: u64,
    len: u64,
    write: bool,
}

impl Pin {
    /// The physical pieces of `[off, off + len)` of the pinned range, each
    /// within one page: EFAULT if the range is not all inside.
    fn pieces(
        &self,
        off: u64,
        len: u64,
    ) -> Result<impl Iterator<Item = (PhysAddr, u64)> + '_, Errno> {
        match off.checked_add(len) {
            Some(end) if end <= self.len => {}
            _ => return Err(Errno::EFAULT),
        }
        let mut done = 0;
        Ok(std::iter::from_fn(move || {
            if done == len {
                return None;
            }
            let at = self.first_off + off + done;
            let page = self.pinned.pages[(at / PAGE_SIZE) as usize];
            let n = (PAGE_SIZE - at % PAGE_SIZE).min(len - done);
            done += n;
            Some((PhysAddr(page.phys().0 + at % PAGE_SIZE), n))
        }))
    }
}

/// Every live GUP reference of a scenario, by name.
#[derive(Default)]
pub(crate) struct Pins {
    pins: HashMap<String, Pin>,
}

pub(crate) fn run(cmd: &PinCmd, w: &mut World, sink: &mut ByteSink) -> CmdResult {
    let m = &w.machine;
    match cmd {
        PinCmd::Gup {
            proc,
            pin,
            place,
            len,
            write,
            kind,
            longterm,
            fast,
        } => {
            if w.pins.pins.contains_key(pin) {
                return Err(Errno::EEXIST.into());
            }
            let (mm, map, off) = w.procs.place(proc, place, *len)?;
            let start = (map.addr + off) & !(PAGE_SIZE - 1);
            let end = (map.addr + off + len).next_multiple_of(PAGE_SIZE);
            let flags = GupFlags {
                write: *write,
                pin: *kind == GupKind::Pin,
                longterm: *longterm,
            };
            let nr = (end - start) / PAGE_SIZE;
            let pinned = if *fast {
                m.get_user_pages_fast(&mm, start, nr, flags)?
            } else {
                m.get_user_pages(&mm, start, nr, flags)?
            };
            let taken = pinned.pages.len();
            let oracle_kind = match kind {
                GupKind::Pin => PinKind::Pin,
                GupKind::Get => PinKind::Get,
            };
            w.oracle.mirror(|o| {
                o.pin(
                    pin,
                    proc,
                    &place.mapping,
                    off,
                    *len,
                    PinFlags {
                        kind: oracle_kind,
                        write: *write,
                        longterm: *longterm,
                    },
                )
            });
            w.pins.pins.insert(
                pin.clone(),
                Pin {
                    pinned,
                    first_off: (map.addr + off) % PAGE_SIZE,
                    len: *len,
                    write: *write,
                },
            );
            text(taken)
        }
        PinCmd::Read { pin, off, len } => {
            let p = w.pins.pins.get(pin).ok_or(Errno::ENOENT)?;
            let mut at = *off;
            for (pa, n) in p.pieces(*off, *len)? {
                let got = read_phys(m, pa, n)?;
                w.oracle.mirror(|o| o.check_pin_read(pin, at, &got));
                sink.push(&got);
                at += n;
            }
            Ok(sink.finish())
        }
        PinCmd::Write {
            pin,
            off,
            len,
            byte,
        } => {
            let p = w.pins.pins.get(pin).ok_or(Errno::ENOENT)?;
            // DMA writes go through a write FOLL_PIN only.
            if !p.write || !p.pinned.flags.pin {
                return Err(Errno::EPERM.into());
            }
            let mut at = *off;
            for (pa, n) in p.pieces(*off, *len)? {
                let data = vec![*byte; n as usize];
                m.physmem().write(pa, &data)?;
                w.oracle.mirror(|o| o.pin_write(pin, at, &data));
                at += n;
            }
            ok()
        }
        PinCmd::Release { pin } => {
            let p = w.pins.pins.remove(pin).ok_or(Errno::ENOENT)?;
            m.unpin_user_pages(p.pinned);
            w.oracle.mirror(|o| o.release(pin));
            ok()
        }
    }
}

fn read_phys(m: &Machine, pa: PhysAddr, n: u64) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; n as usize];
    m.physmem().read(pa, &mut buf)?;
    Ok(buf)
}
