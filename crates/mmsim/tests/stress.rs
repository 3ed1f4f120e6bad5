//! `mmsim stress` (issue 11 item 2): every actor at once on real threads.
//! The fixed hot-remove protocol runs clean with every actor at work;
//! mainline's memmap use after free and a broken COW variant are found;
//! bad configurations are refused before anything runs.
//! Bounded by the runs' time budgets and a cap on the number of runs, never
//! by asserting on time.

use mmsim::stress::{run_stress, StressConfig, StressReport};
use mmsim::variant::Variants;

/// A short run on a small machine.
fn short(seed: u64, variants: Variants) -> StressReport {
    let cfg = StressConfig {
        seconds: 2.0,
        seed,
        ram: 512 << 20,
        threads: 2,
        variants,
    };
    run_stress(&cfg, &|_| {}).expect("a valid configuration")
}

/// Stress's baseline: mainline with the hot-remove fix of the pfn_active
/// thread (memmaps freed after a grace period, walkers asking pfn_active
/// under RCU).
fn fixed_memmap_free() -> Variants {
    let v = mmsim::stress::baseline_variants();
    assert_eq!(v.memmap_free.as_str(), "rcu");
    assert_eq!(v.pfn_walker.as_str(), "active");
    v
}

/// Runs up to ten short runs under `variants` until one reports a
/// violation; that report.
fn find(variants: Variants) -> Option<StressReport> {
    (1..=10).find_map(|seed| {
        let r = short(seed, variants);
        (!r.violations.is_empty()).then_some(r)
    })
}

#[test]
fn fixed_memmap_free_runs_clean_with_every_actor_at_work() {
    let r = short(1, fixed_memmap_free());
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    for a in &r.actors {
        assert!(a.ops > 0, "{} did nothing: {:?}", a.actor, r.actors);
    }
    let names: Vec<&str> = r.actors.iter().map(|a| a.actor.as_str()).collect();
    for actor in [
        "proc0",
        "proc1",
        "ksmd",
        "admin",
        "virtio-mem",
        "balloon",
        "kcore",
        "kpageflags",
        "scanner",
    ] {
        assert!(names.contains(&actor), "{actor} missing: {names:?}");
    }
}

// cow_reuse=mapcount (up to 5.7, CVE-2020-29374): a write fault reuses a
// page whose mapcount is 1 although a GUP reference from a child (or a pin
// of the parent's) still holds it, so the reference sees writes it must not
// (get-no-foreign-writes) or misses writes it must see (pin-coherent); the
// model's own bookkeeping of such a page can break too (bad page state,
// buddy invariants). The processes' random walk reaches that within a run
// or two.
#[test]
fn cow_reuse_mapcount_is_found() {
    let mut variants = fixed_memmap_free();
    variants.set("cow_reuse", "mapcount").unwrap();
    find(variants).expect("cow_reuse=mapcount broke nothing in 10 runs");
}

// Mainline (memmap_free=immediate, pfn_to_online_page()): a PFN walker
// that checked a section online reads its memmap after remove_memory()
// freed it (reference kernel-hotplug §4). The admin and the virtio-mem
// driver remove blocks under the readers all the time.
#[test]
fn memmap_free_immediate_is_found() {
    let r = find(Variants::default()).expect("memmap_free=immediate broke nothing in 10 runs");
    assert!(
        r.violations
            .iter()
            .any(|v| v.what.contains("memmap use-after-free")),
        "{:#?}",
        r.violations
    );
}

#[test]
fn bad_configurations_are_refused_before_running() {
    let ok = StressConfig::default();
    assert_eq!(ok.validate(), Ok(()));
    let cases = [
        (
            "seconds",
            StressConfig {
                seconds: 0.0,
                ..ok.clone()
            },
        ),
        (
            "seconds",
            StressConfig {
                seconds: -1.0,
                ..ok.clone()
            },
        ),
        (
            "seconds",
            StressConfig {
                seconds: f64::NAN,
                ..ok.clone()
            },
        ),
        (
            "seconds",
            StressConfig {
                seconds: 1e300,
                ..ok.clone()
            },
        ),
        (
            "threads",
            StressConfig {
                threads: 0,
                ..ok.clone()
            },
        ),
        (
            "threads",
            StressConfig {
                threads: 100_000,
                ..ok.clone()
            },
        ),
        (
            "ram",
            StressConfig {
                ram: (1 << 30) + 4096,
                ..ok.clone()
            },
        ),
        (
            "ram",
            StressConfig {
                ram: 128 << 20,
                ..ok.clone()
            },
        ),
        (
            "ram",
            StressConfig {
                ram: 1 << 50,
                ..ok.clone()
            },
        ),
    ];
    for (key, cfg) in cases {
        let e = run_stress(&cfg, &|_| panic!("nothing may run")).unwrap_err();
        assert_eq!(e.key, key, "{cfg:?}: {e}");
    }
}
