//! Device memory in processes: `P migrate_to_device PLACE LEN NAME` (HMM's
//! dmirror migrating a range of anonymous memory to device-private pages
//! of a pgmap made with `memremap add`, see `memremap.rs`).

use super::{Cmd, CommandDoc, Family};
use crate::script::args::Place;
use crate::script::output::{text, CmdResult};
use crate::script::world::World;

/// A command of the device-memory family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevmemCmd {
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
            DevmemCmd::MigrateToDevice { .. } => "migrate_to_device",
        }
    }
}

pub(crate) const FAMILY: Family = Family {
    keywords: &[],
    process_verbs: &[("migrate_to_device", |proc, a| {
        Ok(Cmd::Devmem(DevmemCmd::MigrateToDevice {
            proc,
            place: a.place()?,
            len: a.bulk("LEN")?,
            pgmap: a.name("NAME")?,
        }))
    })],
    pin_verbs: &[],
    docs: &[CommandDoc {
        syntax: "P migrate_to_device PLACE LEN NAME",
        summary: "HMM: migrate the private anonymous pages of the range to device-private pages of NAME; prints how many moved",
    }],
};

pub(crate) fn run(cmd: &DevmemCmd, w: &mut World) -> CmdResult {
    let m = &w.machine;
    match cmd {
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
