//! A campaign's results, in both builds: what `mmsim explore` writes per
//! shard (`--json`) and what `--merge` sums, so that merging needs no
//! explorer build.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which of shuttle's schedulers draws the schedules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SchedulerKind {
    /// Uniformly random choice at every scheduling point.
    Random,
    /// Probabilistic concurrency testing with this bug depth.
    Pct(usize),
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedulerKind::Random => f.write_str("random"),
            SchedulerKind::Pct(d) => write!(f, "pct:{d}"),
        }
    }
}

/// A failing execution: enough to replay it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Which execution of the shard (from 1).
    pub execution: u64,
    /// The panic message (a violation starts with [`VIOLATION`](super::VIOLATION)).
    pub message: String,
    /// The schedule, in shuttle's serialised form.
    pub schedule: String,
}

/// What a shard did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// The race.
    pub race: String,
    /// The variants, as `KEY=VALUE` pairs.
    pub variants: Vec<String>,
    /// The mutant, if any.
    pub mutant: Option<String>,
    /// The scheduler.
    pub scheduler: SchedulerKind,
    /// The campaign seed.
    pub seed: u64,
    /// This shard's seed.
    pub shard_seed: u64,
    /// `[index, count]`.
    pub shard: [u64; 2],
    /// Executions run (up to and including a failing one).
    pub schedules: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The first failing execution, if any.
    pub failure: Option<Failure>,
}

impl Summary {
    /// Executions per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.schedules as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Merged shards of one campaign.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Merged {
    /// The race.
    pub race: String,
    /// Shards merged.
    pub shards: u64,
    /// Schedules run over all shards.
    pub schedules: u64,
    /// Sum of the shards' wall-clock seconds (CPU time of the campaign).
    pub seconds: f64,
    /// Each shard's seed, in merge order.
    pub shard_seeds: Vec<u64>,
    /// The failures found, with their shard index.
    pub failures: Vec<(u64, Failure)>,
}

/// Why shards do not merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeError {
    /// Nothing to merge.
    Empty,
    /// Shards of different campaigns (race, variants, mutant, scheduler,
    /// seed or shard count differ).
    Mismatch(String),
    /// The same shard twice.
    Duplicate(u64),
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Empty => f.write_str("no summaries to merge"),
            MergeError::Mismatch(what) => write!(f, "summaries of different campaigns: {what}"),
            MergeError::Duplicate(i) => write!(f, "shard {i} appears twice"),
        }
    }
}

/// Sums the shards of one campaign.
pub fn merge(shards: &[Summary]) -> Result<Merged, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    let mut seen = Vec::new();
    for s in shards {
        let differs = [
            ("race", s.race != first.race),
            ("variants", s.variants != first.variants),
            ("mutant", s.mutant != first.mutant),
            ("scheduler", s.scheduler != first.scheduler),
            ("seed", s.seed != first.seed),
            ("shard count", s.shard[1] != first.shard[1]),
        ];
        if let Some((what, _)) = differs.iter().find(|(_, d)| *d) {
            return Err(MergeError::Mismatch((*what).to_owned()));
        }
        if seen.contains(&s.shard[0]) {
            return Err(MergeError::Duplicate(s.shard[0]));
        }
        seen.push(s.shard[0]);
    }
    Ok(Merged {
        race: first.race.clone(),
        shards: shards.len() as u64,
        schedules: shards.iter().map(|s| s.schedules).sum(),
        seconds: shards.iter().map(|s| s.seconds).sum(),
        shard_seeds: shards.iter().map(|s| s.shard_seed).collect(),
        failures: shards
            .iter()
            .filter_map(|s| s.failure.clone().map(|f| (s.shard[0], f)))
            .collect(),
    })
}

/// The seed shard `index` of a campaign seeded `seed` draws from: distinct
/// per shard.
pub fn shard_seed(seed: u64, index: u64) -> u64 {
    splitmix64(seed ^ splitmix64(index.wrapping_add(1)))
}

/// SplitMix64: spreads a counter over 64 bits.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The replay file `mmsim explore` writes for a failure.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplayFile {
    /// The race.
    pub race: String,
    /// The variants, as `KEY=VALUE`.
    pub variants: Vec<String>,
    /// The mutant, if any.
    pub mutant: Option<String>,
    /// The failure (its schedule replays it).
    pub failure: Failure,
}
