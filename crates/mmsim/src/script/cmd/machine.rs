//! `machine` and `variant`: the machine's shape and its protocol variants.
//!
//! Both are statements rather than commands: `machine` comes first and once,
//! `variant` lines right after it, and neither can stand in `let` or `expect`.
//! Everything about them is checked before anything runs, including what the
//! model itself would refuse at boot ([`MachineConfig::validate`]), which is
//! reported at the option at fault.

use super::{CommandDoc, Family};
use crate::hotplug::OnlineType;
use crate::machine::{ConfigError, MachineConfig};
use crate::script::args::{set_once, Args, Parsed};
use crate::script::ast::VariantSetting;
use crate::script::lexer::{self, ColumnError};
use crate::variant::Variants;

/// The `machine` line, with SCENARIOS.md's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineSpec {
    /// `ram=SIZE`: boot RAM is `[0, ram)`.
    pub ram: u64,
    /// `block=SIZE` (default 128M): memory block size, a power of two from 128M
    /// to 2G.
    pub block: u64,
    /// `nodes=N` (default 1, at least 1).
    pub nodes: u32,
    /// `movable=SIZE` (default 0): the top SIZE of boot RAM goes to ZONE_MOVABLE.
    pub movable: u64,
    /// `swap=SIZE` (default 0).
    pub swap: u64,
    /// `hugepages=N` (default 0): preallocated hugetlb pages.
    pub hugepages: u64,
    /// `auto_online=` (default `offline`): `auto_online_blocks`.
    pub auto_online: AutoOnline,
    /// `max_phys=SIZE` (default 1T): hotplug stays below this address.
    pub max_phys: u64,
    /// Column of each option given, by key, for errors found later (at boot).
    pub columns: Vec<(String, u32)>,
}

impl MachineSpec {
    /// The model's configuration.
    pub fn config(&self) -> MachineConfig {
        MachineConfig {
            ram: self.ram,
            block_size: self.block,
            nodes: self.nodes as usize,
            movable: self.movable,
            swap: self.swap,
            hugepages: self.hugepages,
            auto_online: match self.auto_online {
                AutoOnline::Offline => OnlineType::Offline,
                AutoOnline::Online => OnlineType::Online,
                AutoOnline::OnlineKernel => OnlineType::OnlineKernel,
                AutoOnline::OnlineMovable => OnlineType::OnlineMovable,
            },
            max_phys: self.max_phys,
            // A host-side knob (bench), not a property of the machine.
            prealloc: false,
        }
    }

    /// The column of option `key`, or `default` if the line left it out.
    pub fn column_of(&self, key: &str, default: u32) -> u32 {
        self.columns
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(default, |&(_, column)| column)
    }

    /// A boot-time error, located at the option at fault.
    pub fn locate(&self, error: &ConfigError, default: u32) -> ColumnError {
        ColumnError::new(self.column_of(error.key, default), error.message.clone())
    }
}

/// `auto_online_blocks` policies (the kernel's `enum mmop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoOnline {
    /// `offline` (MMOP_OFFLINE).
    Offline,
    /// `online` (MMOP_ONLINE).
    Online,
    /// `online_kernel` (MMOP_ONLINE_KERNEL).
    OnlineKernel,
    /// `online_movable` (MMOP_ONLINE_MOVABLE).
    OnlineMovable,
}

const AUTO_ONLINE: &[(&str, AutoOnline)] = &[
    ("offline", AutoOnline::Offline),
    ("online", AutoOnline::Online),
    ("online_kernel", AutoOnline::OnlineKernel),
    ("online_movable", AutoOnline::OnlineMovable),
];

pub(crate) const FAMILY: Family = Family {
    keywords: &[],
    process_verbs: &[],
    pin_verbs: &[],
    docs: &[
        CommandDoc {
            syntax: "machine ram=SIZE [block=SIZE] [nodes=N] [movable=SIZE] [swap=SIZE] [hugepages=N] [auto_online=offline|online|online_kernel|online_movable] [max_phys=SIZE]",
            summary: "boot RAM [0, ram) with these memory blocks, nodes, ZONE_MOVABLE, swap and hugetlb pool (first line, once)",
        },
        CommandDoc {
            syntax: "variant KEY=VALUE ...",
            summary: "select protocol variants (right after `machine`)",
        },
        CommandDoc {
            syntax: "let VAR = COMMAND",
            summary: "run COMMAND and bind its printed value; `$VAR` in a later word is replaced by it",
        },
        CommandDoc {
            syntax: "expect COMMAND == VALUE | != VALUE | has FLAG[,FLAG...] | fails ERRNO | violates oracle|invariant|fatal-access",
            summary: "run COMMAND and check what it printed, how it failed, or which check it broke",
        },
    ],
};

/// Whether `word` starts a `machine` or `variant` line.
pub(crate) fn is_statement_keyword(word: &str) -> bool {
    word == "machine" || word == "variant"
}

const DEFAULT_BLOCK: u64 = 128 << 20;
const DEFAULT_MAX_PHYS: u64 = 1 << 40;

/// `machine ram=SIZE [block=SIZE] ...`, options in any order; the cursor is after
/// `machine`.
pub(crate) fn parse_machine(a: &mut Args<'_>) -> Parsed<MachineSpec> {
    let mut ram = None;
    let mut block = None;
    let mut nodes = None;
    let mut movable = None;
    let mut swap = None;
    let mut hugepages = None;
    let mut auto_online = None;
    let mut max_phys = None;
    let mut columns = Vec::new();
    for (word, token) in a.rest_words("a machine option KEY=VALUE")? {
        let (key, value) = word.key_value("a machine option KEY=VALUE")?;
        match key {
            "ram" => set_once(&mut ram, value.size()?, token)?,
            "block" => set_once(&mut block, value.size()?, token)?,
            "nodes" => {
                let n: u32 = value.small()?;
                if n == 0 {
                    return Err(value.error("nodes must be at least 1".to_owned()));
                }
                set_once(&mut nodes, n, token)?
            }
            "movable" => set_once(&mut movable, value.size()?, token)?,
            "swap" => set_once(&mut swap, value.size()?, token)?,
            "hugepages" => set_once(&mut hugepages, value.number()?, token)?,
            "auto_online" => set_once(&mut auto_online, value.keyword(AUTO_ONLINE)?, token)?,
            "max_phys" => set_once(&mut max_phys, value.size()?, token)?,
            _ => {
                return Err(ColumnError::new(
                    token.column,
                    format!("unknown machine option `{}`", lexer::readable(key)),
                ))
            }
        }
        // A value's problem is reported at the value.
        columns.push((key.to_owned(), value.column));
    }
    let spec = MachineSpec {
        ram: ram.ok_or_else(|| ColumnError::new(a.end, "missing `ram=SIZE`"))?,
        block: block.unwrap_or(DEFAULT_BLOCK),
        nodes: nodes.unwrap_or(1),
        movable: movable.unwrap_or(0),
        swap: swap.unwrap_or(0),
        hugepages: hugepages.unwrap_or(0),
        auto_online: auto_online.unwrap_or(AutoOnline::Offline),
        max_phys: max_phys.unwrap_or(DEFAULT_MAX_PHYS),
        columns,
    };
    spec.config()
        .validate()
        .map_err(|e| spec.locate(&e, a.end))?;
    Ok(spec)
}

/// `variant KEY=VALUE ...`, each checked against the model's variants; the
/// cursor is after `variant`.
pub(crate) fn parse_variant(a: &mut Args<'_>) -> Parsed<Vec<VariantSetting>> {
    if !a.more() {
        return Err(ColumnError::new(a.end, "missing KEY=VALUE"));
    }
    let mut check = Variants::default();
    a.rest_words("a variant KEY=VALUE")?
        .into_iter()
        .map(|(word, token)| {
            let (key, value) = word.key_value("a variant KEY=VALUE")?;
            if !lexer::is_name(key) || value.text.is_empty() {
                return Err(ColumnError::new(
                    token.column,
                    format!(
                        "bad variant `{}` (expected KEY=VALUE)",
                        lexer::readable(&token.raw)
                    ),
                ));
            }
            check
                .set(key, value.text)
                .map_err(|e| ColumnError::new(token.column, e.to_string()))?;
            Ok(VariantSetting {
                key: key.to_owned(),
                value: value.text.to_owned(),
                column: token.column,
            })
        })
        .collect()
}
