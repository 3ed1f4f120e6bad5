//! The balloon: `balloon inflate|deflate|show`, the host's requests to the
//! guest's virtio-balloon driver ([`crate::drivers::balloon`]) and what the
//! driver tells it back.
//!
//! `inflate` and `deflate` print the bytes actually moved: an inflate stops
//! early when memory runs out, a deflate never gives back more than the
//! balloon holds. A SIZE that is not whole 4 KiB pages fails with EINVAL.

use super::{Cmd, CommandDoc, Family};
use crate::script::args::{Args, Parsed};
use crate::script::output::{pick, text, CmdResult};
use crate::script::world::World;
use crate::walkers::Fields;

/// A command of the balloon family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BalloonCmd {
    /// `balloon inflate SIZE`.
    Inflate {
        /// Bytes the host asks for.
        size: u64,
    },
    /// `balloon deflate SIZE`.
    Deflate {
        /// Bytes the host gives back.
        size: u64,
    },
    /// `balloon show [FIELD]`.
    Show {
        /// One field only.
        field: Option<String>,
    },
}

impl BalloonCmd {
    /// The command's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            BalloonCmd::Inflate { .. } => "balloon inflate",
            BalloonCmd::Deflate { .. } => "balloon deflate",
            BalloonCmd::Show { .. } => "balloon show",
        }
    }
}

pub(crate) const FAMILY: Family = Family {
    keywords: &[("balloon", balloon)],
    process_verbs: &[],
    pin_verbs: &[],
    docs: &[
        CommandDoc {
            syntax: "balloon inflate SIZE",
            summary: "the host asks the balloon for SIZE (whole pages); prints the bytes inflated, less if memory ran out",
        },
        CommandDoc {
            syntax: "balloon deflate SIZE",
            summary: "the host gives SIZE back (whole pages); prints the bytes deflated, at most what the balloon holds",
        },
        CommandDoc {
            syntax: "balloon show [FIELD]",
            summary: "pages in the balloon, and the vmstat events balloon_inflate, balloon_deflate, balloon_migrate",
        },
    ],
};

fn balloon(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`inflate`, `deflate` or `show`")?;
    Ok(Cmd::Balloon(match sub.text {
        "inflate" => BalloonCmd::Inflate {
            size: a.size("SIZE")?,
        },
        "deflate" => BalloonCmd::Deflate {
            size: a.size("SIZE")?,
        },
        "show" => BalloonCmd::Show { field: a.field()? },
        _ => return Err(sub.unknown("balloon")),
    }))
}

pub(crate) fn run(cmd: &BalloonCmd, w: &mut World) -> CmdResult {
    let b = w.machine.balloon();
    match cmd {
        BalloonCmd::Inflate { size } => text(b.inflate(*size)?),
        BalloonCmd::Deflate { size } => text(b.deflate(*size)?),
        BalloonCmd::Show { field } => {
            let s = b.stats();
            let fields = Fields(vec![
                ("pages", s.pages.to_string()),
                ("balloon_inflate", s.inflated.to_string()),
                ("balloon_deflate", s.deflated.to_string()),
                ("balloon_migrate", s.migrated.to_string()),
            ]);
            pick(&fields, field)
        }
    }
}
