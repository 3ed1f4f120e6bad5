//! Named races: the races argued about on the mailing-list threads this
//! model comes from, each a small program of actors that run the model's own
//! code paths, and a detector that says when an interleaving broke
//! something.
//!
//! # What a race is
//!
//! A [`Race`] boots a small machine, sets up what its actors need through
//! ordinary model calls, spawns each actor as a named thread
//! ([`RaceCtx::spawn`]), joins them and asks the detectors for a verdict
//! ([`RaceCtx::verdict`]): kernel bugs the model reported (a memmap used
//! after it was freed, a page freed twice, ...), fatal accesses to
//! inaccessible memory, the machine's invariants, and what the race itself
//! checks (a pin that lost coherence, say). A violation is a panic whose
//! message starts with [`VIOLATION`]; everything else a race does is
//! ordinary model code.
//!
//! On real threads a race body runs once with whatever interleaving the
//! host gives it. Under `--cfg mmsim_shuttle` the `explore` module runs it
//! under shuttle's random and PCT schedulers, where every atomic access,
//! page-table word and lock operation is a scheduling point, so the
//! interleaving that breaks it is found, written to a replay file and
//! printed as numbered steps.
//!
//! # The table
//!
//! [`RACES`] lists each race with the thread it comes from, what it checks,
//! the variant settings that break it and those that hold, and mutants of
//! the holding design (its protection removed by a hidden knob) that must be
//! found too, so that "clean" means something. `mmsim races` prints it.

pub mod campaign;
pub mod gup_fast_vs_fork;
pub mod gup_fast_vs_hot_remove;
pub mod gup_fast_vs_unmap;
pub mod kcore_vs_fake_offline;
pub mod offline_vs_unexpected_ref;
pub mod pfn_walker_vs_hot_remove;

#[cfg(mmsim_shuttle)]
pub mod explore;

use crate::machine::{Machine, MachineConfig};
use crate::sync::{thread, Arc};
use crate::variant::{VariantError, Variants};

/// Every violation message starts with this, so that the explorer tells a
/// detector's verdict from any other panic (which is a bug of the model).
pub const VIOLATION: &str = "mmsim violation: ";

/// One named race.
pub struct Race {
    /// Its name on the command line (`mmsim explore NAME`).
    pub name: &'static str,
    /// The mailing-list thread or commit it comes from.
    pub seed_thread: &'static str,
    /// The actors, in words.
    pub actors: &'static str,
    /// What breaks when it is lost, and which detector sees it.
    pub checks: &'static str,
    /// Variant settings (`KEY=VALUE ...`) under which it is found.
    pub breaks: &'static [&'static str],
    /// Variant settings under which every schedule is clean.
    pub holds: &'static [&'static str],
    /// Mutants of the first holding setting: each removes the protection
    /// that makes it hold, and must be found.
    pub mutants: &'static [MutantInfo],
    /// The body: sets up, runs the actors, asks for the verdict.
    pub run: fn(&RaceCtx),
}

/// A mutant of a race's holding design.
pub struct MutantInfo {
    /// Its name (`--mutant NAME`).
    pub name: &'static str,
    /// The protection it removes.
    pub removes: &'static str,
}

/// Every race, in the order `mmsim races` lists them.
pub const RACES: &[Race] = &[
    gup_fast_vs_unmap::RACE,
    gup_fast_vs_fork::RACE,
    kcore_vs_fake_offline::RACE,
    offline_vs_unexpected_ref::RACE,
    pfn_walker_vs_hot_remove::RACE,
    gup_fast_vs_hot_remove::RACE,
];

/// The race called `name`.
pub fn find(name: &str) -> Option<&'static Race> {
    RACES.iter().find(|r| r.name == name)
}

/// Applies `KEY=VALUE KEY=VALUE ...` (a table entry) to `variants`.
pub fn apply_settings(variants: &mut Variants, settings: &str) -> Result<(), VariantError> {
    settings
        .split_whitespace()
        .try_for_each(|kv| variants.set_pair(kv))
}

/// What a race body gets: the variants to run under and the mutant, if
/// any.
#[derive(Clone, Debug, Default)]
pub struct RaceCtx {
    /// The protocol variants.
    pub variants: Variants,
    /// A mutant of the holding design (one of the race's `mutants`).
    pub mutant: Option<&'static str>,
}

impl RaceCtx {
    /// Boots the race's machine. A race machine is small: schedules are
    /// long enough as it is.
    pub fn boot(&self, config: MachineConfig) -> Arc<Machine> {
        match Machine::boot(config, self.variants) {
            Ok(m) => Arc::new(m),
            Err(e) => panic!("race machine does not boot: {e}"),
        }
    }

    /// The smallest machine races use: 256 MiB in two 128 MiB blocks.
    pub fn small_config() -> MachineConfig {
        MachineConfig {
            ram: 256 << 20,
            ..MachineConfig::default()
        }
    }

    /// The machine of races that never hotplug boot RAM: 4 MiB, ending
    /// inside the first section (at a subsection), so an execution
    /// initialises and checks 1024 struct pages instead of 65 536. (At
    /// 2 MiB gup-fast-vs-unmap's reuse no longer gets the freed page.)
    pub fn tiny_config() -> MachineConfig {
        MachineConfig {
            ram: 4 << 20,
            ..MachineConfig::default()
        }
    }

    /// Whether the mutant `name` is the one running.
    pub fn mutant_is(&self, name: &str) -> bool {
        self.mutant == Some(name)
    }

    /// Spawns an actor: a named thread (a task under shuttle, whose name the
    /// printed interleaving shows).
    pub fn spawn<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> thread::JoinHandle<T> {
        thread::spawn_named(name, f)
    }

    /// Runs set-up or teardown that no actor runs concurrently with
    /// (before the spawns, after the joins) without a scheduling point per
    /// access: schedules then spend their steps where the actors race.
    pub fn quiet<R>(&self, f: impl FnOnce() -> R) -> R {
        crate::sync::quiescent(f)
    }

    /// Reports a violation that the race itself detected.
    pub fn violation(&self, what: impl std::fmt::Display) -> ! {
        panic!("{VIOLATION}{what}")
    }

    /// The detectors' verdict on `m` after the actors are done: kernel bugs
    /// the model reported, fatal accesses, then every invariant. Panics with
    /// the first finding.
    pub fn verdict(&self, m: &Machine) {
        let violations = self.quiet(|| m.check_all());
        if let Some(access) = m.fatal_access_reports().into_iter().next() {
            self.violation(access);
        }
        if let Some(v) = violations.into_iter().next() {
            self.violation(v);
        }
    }
}

/// Joins an actor, turning its panic into the race's (a violation found by
/// an actor stays one).
pub fn join<T>(handle: thread::JoinHandle<T>) -> T {
    match handle.join() {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e),
    }
}
