//! Temporary probes for the races of branch race-b (issue 11):
//! `kcore-vs-fake-offline` and `offline-vs-unexpected-ref` under the
//! explorer, broken and holding settings.
//!
//! `RUSTFLAGS="--cfg mmsim_shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p mmsim --release --test races_b -- --nocapture`

#![cfg(mmsim_shuttle)]

use mmsim::race::explore::{self, ExploreConfig, SchedulerKind, Summary};
use mmsim::race::{apply_settings, find, RaceCtx};

fn campaign(race: &str, settings: &str, schedules: u64, scheduler: SchedulerKind) -> Summary {
    campaign_seed(race, settings, schedules, scheduler, 1)
}

fn campaign_seed(
    race: &str,
    settings: &str,
    schedules: u64,
    scheduler: SchedulerKind,
    seed: u64,
) -> Summary {
    let race = find(race).unwrap();
    let mut ctx = RaceCtx::default();
    apply_settings(&mut ctx.variants, settings).unwrap();
    explore::explore(
        race,
        &ExploreConfig {
            ctx,
            schedules,
            seed,
            shard: (0, 1),
            scheduler,
            max_steps: 2_000_000,
        },
    )
}

fn probe(race: &str, settings: &str, schedules: u64, s: SchedulerKind) -> Summary {
    let r = campaign(race, settings, schedules, s);
    eprintln!(
        "{race} {settings} {s}: {} schedules in {:.1}s ({:.1}/s) {:?}",
        r.schedules,
        r.seconds,
        r.rate(),
        r.failure.as_ref().map(|f| &f.message)
    );
    r
}

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

#[test]
fn probe_kcore_vs_fake_offline() {
    let n = env_u64("PROBE_N", 1000);
    let c = env_u64("PROBE_CLEAN", 300);
    for s in [SchedulerKind::Pct(3), SchedulerKind::Random] {
        probe("kcore-vs-fake-offline", "kcore_sync=none", n, s);
    }
    probe(
        "kcore-vs-fake-offline",
        "kcore_sync=rwsem",
        c,
        SchedulerKind::Pct(3),
    );
}

#[test]
fn probe_kcore_vs_fake_offline_seeds() {
    let seeds = env_u64("PROBE_SEEDS", 0);
    let mut found = Vec::new();
    for seed in 1..=seeds {
        let r = campaign_seed(
            "kcore-vs-fake-offline",
            "kcore_sync=none",
            1000,
            SchedulerKind::Pct(3),
            seed,
        );
        found.push(r.failure.map(|f| f.execution));
    }
    eprintln!("pct:3 schedules to first find per seed: {found:?}");
}
