//! virtio-mem devices: `virtio-mem add|resize|show|request`.
//!
//! The forms are parsed and checked as SCENARIOS.md writes them, so a scenario
//! written for them is valid input; this build does not model the device or
//! the guest drivers yet, so a scenario that uses one is refused before
//! anything runs (exit status 2, "not supported yet").

use super::{Cmd, CommandDoc, Family};
use crate::script::args::{set_once, Args, Parsed};
use crate::script::lexer::ColumnError;
use crate::script::output::{CmdError, CmdResult};

/// A command of the virtio-mem family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VirtioCmd {
    /// `virtio-mem add DEV addr=ADDR size=SIZE block=SIZE [node=N]
    /// [requested=SIZE] [inaccessible] [nodriver]`.
    Add {
        /// The device's name.
        dev: String,
        /// Start of the device region.
        addr: u64,
        /// Size of the device region.
        size: u64,
        /// Device block size.
        block: u64,
        /// Node (default: the machine's choice).
        node: Option<u32>,
        /// Initial requested_size (default 0).
        requested: u64,
        /// Offer VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE.
        inaccessible: bool,
        /// Leave the device without a guest driver.
        nodriver: bool,
    },
    /// `virtio-mem resize DEV SIZE`: the host sets requested_size.
    Resize {
        /// The device.
        dev: String,
        /// The new requested_size.
        size: u64,
    },
    /// `virtio-mem show DEV [FIELD]`.
    Show {
        /// The device.
        dev: String,
        /// One field only.
        field: Option<String>,
    },
    /// `virtio-mem request DEV KIND ...`: a raw guest request.
    Request {
        /// The device.
        dev: String,
        /// The request.
        req: VirtioMemRequest,
    },
}

/// A raw virtio-mem guest request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioMemRequest {
    /// `plug ADDR NB_BLOCKS` (VIRTIO_MEM_REQ_PLUG).
    Plug {
        /// Guest physical address of the first block.
        addr: u64,
        /// Number of device blocks.
        nb_blocks: u16,
    },
    /// `unplug ADDR NB_BLOCKS` (VIRTIO_MEM_REQ_UNPLUG).
    Unplug {
        /// Guest physical address of the first block.
        addr: u64,
        /// Number of device blocks.
        nb_blocks: u16,
    },
    /// `unplug_all` (VIRTIO_MEM_REQ_UNPLUG_ALL; ADDR and NB_BLOCKS may be written
    /// and are not part of this request on the wire).
    UnplugAll,
    /// `state ADDR NB_BLOCKS` (VIRTIO_MEM_REQ_STATE).
    State {
        /// Guest physical address of the first block.
        addr: u64,
        /// Number of device blocks.
        nb_blocks: u16,
    },
}

impl VirtioCmd {
    /// The command's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            VirtioCmd::Add { .. } => "virtio-mem add",
            VirtioCmd::Resize { .. } => "virtio-mem resize",
            VirtioCmd::Show { .. } => "virtio-mem show",
            VirtioCmd::Request { .. } => "virtio-mem request",
        }
    }

    /// What the command needs that this build does not model.
    pub(crate) fn unsupported(&self) -> &'static str {
        match self {
            VirtioCmd::Add { .. }
            | VirtioCmd::Resize { .. }
            | VirtioCmd::Show { .. }
            | VirtioCmd::Request { .. } => "virtio-mem",
        }
    }
}

pub(crate) const FAMILY: Family = Family {
    keywords: &[("virtio-mem", virtio_mem)],
    process_verbs: &[],
    pin_verbs: &[],
    docs: &[
        CommandDoc {
            syntax: "virtio-mem add DEV addr=ADDR size=SIZE block=SIZE [node=N] [requested=SIZE] [inaccessible] [nodriver]",
            summary: "a virtio-mem device (not modelled yet: refused before running)",
        },
        CommandDoc {
            syntax: "virtio-mem resize DEV SIZE",
            summary: "the host sets requested_size (not modelled yet)",
        },
        CommandDoc {
            syntax: "virtio-mem show DEV [FIELD]",
            summary: "the device's configuration (not modelled yet)",
        },
        CommandDoc {
            syntax: "virtio-mem request DEV plug|unplug|unplug_all|state ADDR NB_BLOCKS",
            summary: "a raw guest request (not modelled yet)",
        },
    ],
};

fn virtio_mem(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`add`, `resize`, `show` or `request`")?;
    let dev = match sub.text {
        "add" | "resize" | "show" | "request" => a.name("DEV")?,
        _ => return Err(sub.unknown("virtio-mem")),
    };
    Ok(Cmd::Virtio(match sub.text {
        "add" => virtio_mem_add(dev, a)?,
        "resize" => VirtioCmd::Resize {
            dev,
            size: a.size("SIZE")?,
        },
        "show" => VirtioCmd::Show {
            dev,
            field: a.field()?,
        },
        _ => {
            let kind = a.word("`plug`, `unplug`, `unplug_all` or `state`")?;
            let req = match kind.text {
                // VIRTIO_MEM_REQ_UNPLUG_ALL carries no range on the wire; one
                // written as in the other requests is accepted and checked, not
                // sent.
                "unplug_all" => {
                    if a.more() {
                        a.number("ADDR")?;
                        a.word("NB_BLOCKS")?.small::<u16>()?;
                    }
                    VirtioMemRequest::UnplugAll
                }
                "plug" | "unplug" | "state" => {
                    let addr = a.number("ADDR")?;
                    let nb_blocks = a.word("NB_BLOCKS")?.small()?;
                    match kind.text {
                        "plug" => VirtioMemRequest::Plug { addr, nb_blocks },
                        "unplug" => VirtioMemRequest::Unplug { addr, nb_blocks },
                        _ => VirtioMemRequest::State { addr, nb_blocks },
                    }
                }
                _ => return Err(kind.unknown("virtio-mem request")),
            };
            VirtioCmd::Request { dev, req }
        }
    }))
}

/// `virtio-mem add DEV addr=ADDR size=SIZE block=SIZE [node=N] [requested=SIZE]
/// [inaccessible] [nodriver]`.
fn virtio_mem_add(dev: String, a: &mut Args<'_>) -> Parsed<VirtioCmd> {
    let mut addr = None;
    let mut size = None;
    let mut block = None;
    let mut node = None;
    let mut requested = None;
    let mut inaccessible = None;
    let mut nodriver = None;
    for (word, token) in a.rest_words("a virtio-mem option")? {
        match word.text {
            "inaccessible" => set_once(&mut inaccessible, (), token)?,
            "nodriver" => set_once(&mut nodriver, (), token)?,
            _ => match word.option() {
                Some(("addr", value)) => set_once(&mut addr, value.number()?, token)?,
                Some(("size", value)) => set_once(&mut size, value.size()?, token)?,
                Some(("block", value)) => set_once(&mut block, value.size()?, token)?,
                Some(("node", value)) => set_once(&mut node, value.small()?, token)?,
                Some(("requested", value)) => set_once(&mut requested, value.size()?, token)?,
                _ => return Err(word.unknown_option("virtio-mem add")),
            },
        }
    }
    let missing = |what: &str| ColumnError::new(a.end, format!("missing `{what}`"));
    Ok(VirtioCmd::Add {
        dev,
        addr: addr.ok_or_else(|| missing("addr=ADDR"))?,
        size: size.ok_or_else(|| missing("size=SIZE"))?,
        block: block.ok_or_else(|| missing("block=SIZE"))?,
        node,
        requested: requested.unwrap_or(0),
        inaccessible: inaccessible.is_some(),
        nodriver: nodriver.is_some(),
    })
}

/// The family's runner. The load-time check refuses every command of this
/// family (see the module doc), so none reaches here in a checked script.
pub(crate) fn run(cmd: &VirtioCmd) -> CmdResult {
    Err(CmdError::Refused(format!(
        "`{}` needs {}, which this build does not model",
        cmd.name(),
        cmd.unsupported()
    )))
}
