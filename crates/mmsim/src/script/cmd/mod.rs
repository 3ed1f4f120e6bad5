//! The scenario commands, one file per family; each file holds the family's
//! command type, its parser, its runner and the one-line help of each form.
//!
//! | family | file | commands |
//! |---|---|---|
//! | machine | `machine.rs` | `machine`, `variant` (statements, not commands) |
//! | hotplug and sysfs | `hotplug.rs` | `hotplug`, `sysfs`, `notifier`, `online_page_callback` |
//! | kernel side | `kernel.rs` | `sparse`, `section`, `pfn_valid`, `pfn_to_online_page`, `page`, `hwpoison`, `zoneinfo`, `nodeinfo`, `meminfo`, `check` |
//! | readers of /proc | `readers.rs` | `kcore`, `kpageflags`, `kpagecount`, `P pagemap`, `P pte`, `P pfn`, `P smaps` |
//! | processes | `process.rs` | `spawn`, `file`, `ksm run`, `P mmap`, ... `P exit` |
//! | pins | `pin.rs` | `P gup`, `PIN read`, `PIN write`, `release` |
//! | virtio-mem | `virtio.rs` | `virtio-mem` |
//! | the balloon | `balloon.rs` | `balloon` |
//! | ZONE_DEVICE | `memremap.rs` | `memremap` |
//! | device memory in processes | `devmem.rs` | `P migrate_to_device` |
//!
//! A command's first word is a keyword, a process or a pin. Each family lists
//! the keywords it owns and the verbs it owns after a process or a pin; the
//! parser looks a word up across the families. [`Cmd`] nests each family's own
//! enum, and both the runner here and each family's runner match exhaustively,
//! so a command added to a family and not run is a compile error.

pub mod balloon;
pub mod devmem;
pub mod hotplug;
pub mod kernel;
pub mod machine;
pub mod memremap;
pub mod pin;
pub mod process;
pub mod readers;
pub mod virtio;

use super::args::{Args, Parsed};
use super::output::{ByteSink, CmdResult};
use super::world::World;

/// One command, by family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// Memory hotplug, sysfs, memory notifiers, the online_page callback.
    Hotplug(hotplug::HotplugCmd),
    /// The kernel side: sparse sections, pages, zones and nodes, `check`.
    Kernel(kernel::KernelCmd),
    /// Readers of /proc: kcore, kpageflags, kpagecount, pagemap.
    Reader(readers::ReaderCmd),
    /// Processes and their memory.
    Process(process::ProcessCmd),
    /// GUP references.
    Pin(pin::PinCmd),
    /// virtio-mem devices.
    Virtio(virtio::VirtioCmd),
    /// The balloon.
    Balloon(balloon::BalloonCmd),
    /// ZONE_DEVICE device memory.
    Memremap(memremap::MemremapCmd),
    /// Device memory: pgmaps and HMM migration.
    Devmem(devmem::DevmemCmd),
}

impl Cmd {
    /// The command's name as written, for messages (`"hotplug add"`, `"mmap"`).
    pub fn name(&self) -> &'static str {
        match self {
            Cmd::Hotplug(c) => c.name(),
            Cmd::Kernel(c) => c.name(),
            Cmd::Reader(c) => c.name(),
            Cmd::Process(c) => c.name(),
            Cmd::Pin(c) => c.name(),
            Cmd::Virtio(c) => c.name(),
            Cmd::Balloon(c) => c.name(),
            Cmd::Memremap(c) => c.name(),
            Cmd::Devmem(c) => c.name(),
        }
    }

    /// For a command that prints bytes (a read), how many.
    pub fn read_len(&self) -> Option<u64> {
        match self {
            Cmd::Reader(c) => c.read_len(),
            Cmd::Process(c) => c.read_len(),
            Cmd::Pin(c) => c.read_len(),
            Cmd::Hotplug(_)
            | Cmd::Kernel(_)
            | Cmd::Virtio(_)
            | Cmd::Balloon(_)
            | Cmd::Memremap(_)
            | Cmd::Devmem(_) => None,
        }
    }

    /// Whether this is `check` (every invariant, counted as an expectation).
    pub fn is_check(&self) -> bool {
        matches!(self, Cmd::Kernel(kernel::KernelCmd::Check))
    }

    /// Why this build cannot run the command, if it cannot (reported before
    /// anything runs).
    pub fn unsupported(&self) -> Option<&'static str> {
        match self {
            Cmd::Process(c) => c.unsupported(),
            Cmd::Hotplug(_)
            | Cmd::Kernel(_)
            | Cmd::Reader(_)
            | Cmd::Pin(_)
            | Cmd::Virtio(_)
            | Cmd::Balloon(_)
            | Cmd::Memremap(_)
            | Cmd::Devmem(_) => None,
        }
    }
}

/// Runs one command; bytes it reads go to `sink`.
pub(crate) fn run(cmd: &Cmd, w: &mut World, sink: &mut ByteSink) -> CmdResult {
    match cmd {
        Cmd::Hotplug(c) => hotplug::run(c, w),
        Cmd::Kernel(c) => kernel::run(c, w),
        Cmd::Reader(c) => readers::run(c, w, sink),
        Cmd::Process(c) => process::run(c, w, sink),
        Cmd::Pin(c) => pin::run(c, w, sink),
        Cmd::Virtio(c) => virtio::run(c, w),
        Cmd::Balloon(c) => balloon::run(c, w),
        Cmd::Memremap(c) => memremap::run(c, w),
        Cmd::Devmem(c) => devmem::run(c, w),
    }
}

/// Parses a command whose first word is a keyword; the cursor is after it.
pub(crate) type KeywordParser = fn(&mut Args<'_>) -> Parsed<Cmd>;

/// Parses `HEAD VERB ...` (HEAD a process or a pin, given by name); the cursor
/// is after VERB.
pub(crate) type VerbParser = fn(String, &mut Args<'_>) -> Parsed<Cmd>;

/// One form of a command, for `mmsim help commands` and docs/scenarios.md.
#[derive(Clone, Copy, Debug)]
pub struct CommandDoc {
    /// The form, as SCENARIOS.md writes it.
    pub syntax: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
}

/// What a family contributes to the language.
pub(crate) struct Family {
    /// Command keywords it owns.
    pub(crate) keywords: &'static [(&'static str, KeywordParser)],
    /// Verbs it owns after a process name.
    pub(crate) process_verbs: &'static [(&'static str, VerbParser)],
    /// Verbs it owns after a pin name.
    pub(crate) pin_verbs: &'static [(&'static str, VerbParser)],
    /// Its forms.
    pub(crate) docs: &'static [CommandDoc],
}

/// Every family, in the order `mmsim help commands` lists them.
const FAMILIES: &[&Family] = &[
    &machine::FAMILY,
    &hotplug::FAMILY,
    &kernel::FAMILY,
    &readers::FAMILY,
    &process::FAMILY,
    &pin::FAMILY,
    &virtio::FAMILY,
    &balloon::FAMILY,
    &memremap::FAMILY,
    &devmem::FAMILY,
];

/// The parser of a command keyword.
pub(crate) fn keyword_parser(word: &str) -> Option<KeywordParser> {
    find(word, |f| f.keywords)
}

/// Whether `word` is a keyword of the language (a command, or `machine` and
/// `variant`).
pub(crate) fn is_keyword(word: &str) -> bool {
    keyword_parser(word).is_some() || machine::is_statement_keyword(word)
}

/// The parser of a verb after a process name.
pub(crate) fn process_verb(word: &str) -> Option<VerbParser> {
    find(word, |f| f.process_verbs)
}

/// The parser of a verb after a pin name.
pub(crate) fn pin_verb(word: &str) -> Option<VerbParser> {
    find(word, |f| f.pin_verbs)
}

fn find<P: Copy>(word: &str, table: fn(&Family) -> &'static [(&'static str, P)]) -> Option<P> {
    FAMILIES
        .iter()
        .flat_map(|f| table(f).iter())
        .find(|(name, _)| *name == word)
        .map(|&(_, parser)| parser)
}

/// Every command form of the language with its one-line description.
pub fn command_docs() -> impl Iterator<Item = &'static CommandDoc> {
    FAMILIES.iter().flat_map(|f| f.docs.iter())
}

/// Every keyword that starts a command.
pub fn command_keywords() -> impl Iterator<Item = &'static str> {
    FAMILIES
        .iter()
        .flat_map(|f| f.keywords.iter().map(|&(w, _)| w))
}

/// Every word that starts a command, and every verb after a process or a pin
/// (for the help text's completeness test).
pub fn command_words() -> impl Iterator<Item = &'static str> {
    FAMILIES.iter().flat_map(|f| {
        f.keywords
            .iter()
            .map(|&(w, _)| w)
            .chain(f.process_verbs.iter().map(|&(w, _)| w))
            .chain(f.pin_verbs.iter().map(|&(w, _)| w))
    })
}

/// Words no process, pin or variable may be named.
pub(crate) fn is_reserved(name: &str) -> bool {
    name == "let" || name == "expect" || super::parse::is_terminator(name) || is_keyword(name)
}
