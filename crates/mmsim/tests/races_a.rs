//! Temporary probes for the races of branch race-a.
//!
//! `RUSTFLAGS="--cfg mmsim_shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p mmsim --release --test races_a -- --nocapture`

#![cfg(mmsim_shuttle)]

use mmsim::race::explore::{self, ExploreConfig, SchedulerKind, Summary};
use mmsim::race::{apply_settings, find, RaceCtx};

fn campaign(
    race: &str,
    settings: &str,
    mutant: Option<&'static str>,
    schedules: u64,
    scheduler: SchedulerKind,
) -> Summary {
    let race = find(race).unwrap();
    let mut ctx = RaceCtx::default();
    apply_settings(&mut ctx.variants, settings).unwrap();
    ctx.mutant = mutant;
    explore::explore(
        race,
        &ExploreConfig {
            ctx,
            schedules,
            seed: 1,
            shard: (0, 1),
            scheduler,
            max_steps: 2_000_000,
        },
    )
}

fn report(what: &str, s: &Summary) {
    eprintln!(
        "{what}: {} schedules {:.1}/s first failure at {:?}: {:?}",
        s.schedules,
        s.rate(),
        s.failure.as_ref().map(|f| f.execution),
        s.failure.as_ref().map(|f| &f.message)
    );
}

fn probe(race: &str, broken: &str, holds: &str, mutant: &'static str, n: u64, clean: u64) {
    for sch in [SchedulerKind::Random, SchedulerKind::Pct(3)] {
        report(
            &format!("{race} {sch} broken"),
            &campaign(race, broken, None, n, sch),
        );
        report(
            &format!("{race} {sch} mutant"),
            &campaign(race, holds, Some(mutant), n, sch),
        );
    }
    report(
        &format!("{race} pct:3 holds"),
        &campaign(race, holds, None, clean, SchedulerKind::Pct(3)),
    );
}

#[test]
fn probe_pfn_walker_vs_hot_remove() {
    let n = std::env::var("N").map_or(1000, |v| v.parse().unwrap());
    let c = std::env::var("CLEAN").map_or(300, |v| v.parse().unwrap());
    probe(
        "pfn-walker-vs-hot-remove",
        "memmap_free=immediate",
        "memmap_free=rcu pfn_walker=active",
        "walker-outside-rcu",
        n,
        c,
    );
}

#[test]
fn probe_gup_fast_vs_hot_remove() {
    let n = std::env::var("N").map_or(1000, |v| v.parse().unwrap());
    let c = std::env::var("CLEAN").map_or(300, |v| v.parse().unwrap());
    probe(
        "gup-fast-vs-hot-remove",
        "memmap_free=immediate",
        "memmap_free=rcu",
        "gup-outside-rcu",
        n,
        c,
    );
}

#[test]
fn probe_steps() {
    use mmsim::hotplug::{OnlineType, Task};
    use mmsim::page::PhysAddr;
    shuttle::check_random(
        || {
            let m = RaceCtx::default().boot(RaceCtx::small_config());
            m.add_memory(0, PhysAddr(4 << 30), 128 << 20).unwrap();
            let blk = m.hotplug().find_block(32).unwrap();
            m.online_memory_block(&blk, OnlineType::OnlineMovable)
                .unwrap();
            let t0 = shuttle::current::context_switches();
            for i in 0..16 {
                m.kpageflags(PhysAddr(4 << 30).pfn() + i);
            }
            let t1 = shuttle::current::context_switches();
            m.device_offline(&blk, &Task::new()).unwrap();
            let t2 = shuttle::current::context_switches();
            m.remove_memory(PhysAddr(4 << 30), 128 << 20).unwrap();
            let t3 = shuttle::current::context_switches();
            eprintln!(
                "kpageflags x16 {} offline {} remove {}",
                t1 - t0,
                t2 - t1,
                t3 - t2
            );
        },
        1,
    );
}
