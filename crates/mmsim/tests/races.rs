//! Every named race under the explorer (issue 11, "Acceptance"): found in
//! its broken variant within a bounded, seeded number of schedules, clean in
//! its holding variants for ten times as many (its mutants found too), a
//! failing schedule replays to the same violation with the seed thread's
//! functions in its interleaving, the model is deterministic under a fixed
//! schedule, and a campaign's shards draw disjoint seeds and sum up.
//!
//! `RUSTFLAGS="--cfg mmsim_shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p mmsim --release --test races`

#![cfg(mmsim_shuttle)]

use mmsim::race::campaign::{merge, SchedulerKind, Summary};
use mmsim::race::explore::{self, ExploreConfig};
use mmsim::race::{apply_settings, find, RaceCtx, RACES, VIOLATION};

const MAX_STEPS: usize = 2_000_000;

/// The bound within which every broken variant must be found (PCT, seed 0).
const FIND_WITHIN: u64 = 2000;

fn ctx(settings: &str, mutant: Option<&'static str>) -> RaceCtx {
    let mut ctx = RaceCtx::default();
    apply_settings(&mut ctx.variants, settings).unwrap();
    ctx.mutant = mutant;
    ctx
}

fn campaign(race: &str, ctx: RaceCtx, schedules: u64, shard: (u64, u64)) -> Summary {
    explore::explore(
        find(race).unwrap(),
        &ExploreConfig {
            ctx,
            schedules,
            seed: 0,
            shard,
            scheduler: SchedulerKind::Pct(3),
            max_steps: MAX_STEPS,
        },
    )
}

/// For every race: each breaking setting is found within FIND_WITHIN
/// schedules with a detector's violation; each holding setting then runs
/// clean for ten times the schedules the find took (at least 200); each
/// mutant of the first holding setting is found.
#[test]
fn every_race_is_found_broken_and_holds_fixed() {
    for race in RACES {
        let mut needed = 0;
        for broken in race.breaks {
            let s = campaign(race.name, ctx(broken, None), FIND_WITHIN, (0, 1));
            let f = s
                .failure
                .clone()
                .unwrap_or_else(|| panic!("{} [{broken}] not found in {FIND_WITHIN}", race.name));
            assert!(
                f.message.starts_with(VIOLATION),
                "{} [{broken}]: not a detector's verdict: {}",
                race.name,
                f.message
            );
            eprintln!(
                "{} [{broken}]: found in {} ({:.0}/s)",
                race.name,
                s.schedules,
                s.rate()
            );
            needed = needed.max(s.schedules);
        }
        for holds in race.holds {
            let n = (10 * needed).max(200);
            let s = campaign(race.name, ctx(holds, None), n, (0, 1));
            if let Some(f) = &s.failure {
                panic!(
                    "{} [{holds}] broke in execution {}: {}",
                    race.name, f.execution, f.message
                );
            }
            assert_eq!(s.schedules, n);
            eprintln!("{} [{holds}]: clean for {n} ({:.0}/s)", race.name, s.rate());
        }
        for m in race.mutants {
            let s = campaign(
                race.name,
                ctx(race.holds[0], Some(m.name)),
                FIND_WITHIN,
                (0, 1),
            );
            assert!(
                s.failure.is_some(),
                "{} mutant {} not found in {FIND_WITHIN}",
                race.name,
                m.name
            );
        }
    }
}

/// A failing schedule replays to the same violation every time, and the
/// printed interleaving names the seed thread's functions.
#[test]
fn a_failing_schedule_replays_and_names_the_seed_functions() {
    for (race, broken, names) in [
        (
            "gup-fast-vs-unmap",
            "gup_fast_recheck=off",
            &["gup_fast_pte", "munmap"][..],
        ),
        (
            "gup-fast-vs-fork",
            "gup_fork_seq=off",
            &["gup_fast", "copy_page_range"][..],
        ),
    ] {
        let s = campaign(race, ctx(broken, None), FIND_WITHIN, (0, 1));
        let f = s.failure.expect("found");
        for _ in 0..3 {
            let r = explore::replay(
                find(race).unwrap(),
                &ctx(broken, None),
                &f.schedule,
                MAX_STEPS,
            )
            .unwrap();
            assert_eq!(r.message.as_deref(), Some(f.message.as_str()), "{race}");
            let (runs, _) = explore::shorten(&r.steps, usize::MAX);
            let text = explore::render(&runs, 0);
            for name in names {
                assert!(text.contains(name), "{race}: {name} not in\n{text}");
            }
        }
    }
}

/// Shuttle's uncontrolled-nondeterminism check: under one schedule the
/// model makes the same choices every time (no clock, no address-derived
/// shard, no hash order).
#[test]
fn the_model_is_a_function_of_its_schedule() {
    for race in RACES {
        explore::check_determinism(race, &ctx(race.holds[0], None), 10, MAX_STEPS);
    }
}

/// Four shards of one campaign draw from four different seeds, and
/// `--merge` sums their schedules.
#[test]
fn shards_are_disjoint_and_merge_sums_them() {
    let shards: Vec<Summary> = (0..4)
        .map(|i| campaign("gup-fast-vs-fork", ctx("gup_fork_seq=on", None), 25, (i, 4)))
        .collect();
    let mut seeds: Vec<u64> = shards.iter().map(|s| s.shard_seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    assert_eq!(seeds.len(), 4, "shard seeds collide");
    let merged = merge(&shards).unwrap();
    assert_eq!(merged.schedules, 100);
    assert_eq!(merged.shards, 4);
    assert!(merged.failures.is_empty());
    // Round trip through the JSON each shard writes.
    let json: Vec<String> = shards
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
    let back: Vec<Summary> = json
        .iter()
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    assert_eq!(merge(&back).unwrap().schedules, 100);
    // A shard twice, or shards of different campaigns, do not merge.
    assert!(merge(&[shards[0].clone(), shards[0].clone()]).is_err());
    let other = campaign("gup-fast-vs-unmap", ctx("", None), 5, (1, 4));
    assert!(merge(&[shards[0].clone(), other]).is_err());
}
