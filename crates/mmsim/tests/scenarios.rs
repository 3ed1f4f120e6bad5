//! Every acceptance scenario under `tests/scenarios/` (the reference cases
//! transcribed into the scenario language) as a test of its own, named by its
//! path: `cargo test --test scenarios -- cow/base-01` runs the matching ones.
//! A scenario passes when everything in it held and it checked something.
//!
//! In the explorer build (`--cfg mmsim_shuttle`) each scenario runs as one
//! shuttle execution under a random schedule seeded by its name: every
//! atomic and lock of the model is then a scheduling point, so the whole
//! model (interpreter, processes, hotplug, the virtio-mem driver thread)
//! runs under the scheduler the races use, and a scenario that depends on
//! the host's thread timing fails there.

mod common;

use libtest_mimic::{Arguments, Failed, Trial};
use mmsim::script::interp::{run_sources, RunOptions};
use mmsim::script::source::{find_scenarios, read_scenario};
use std::path::Path;

fn run(path: &Path, name: String) -> Result<(), Failed> {
    let (_, text) = read_scenario(path).map_err(|e| e.to_string())?;
    let report = run_sources(&[(name.clone(), text)], &RunOptions::default())
        .map_err(|e| format!("bad input: {e}"))?;
    let mut problems: Vec<String> = report
        .files
        .iter()
        .flat_map(|f| f.failures.iter().map(|f| f.text.clone()))
        .collect();
    if let Some(e) = &report.error {
        problems.push(format!("bad input: {e}"));
    }
    if report.passed == 0 {
        problems.push(format!("{name}: checks nothing"));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems.join("\n").into()),
    }
}

/// Scenarios the explorer build does not run: each is tens of millions of
/// scheduling points (16 GiB of hot-plugged memory, or a walk over the
/// device-private window), and shuttle keeps every step of the schedule it
/// records, 4 to 8 GiB of it. They run on real threads like every other.
const TOO_BIG_FOR_SHUTTLE: &[&str] = &[
    "virtio-mem/acceptance-16g-held-reference-refcount.mms",
    "virtio-mem/acceptance-16g-held-reference-skippable.mms",
    "virtio-mem/acceptance-16g-resize.mms",
    "zone-device/walkers-skip-device-active.mms",
    "zone-device/walkers-skip-device-online_page.mms",
];

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let files = find_scenarios(&root).expect("tests/scenarios");
    for big in TOO_BIG_FOR_SHUTTLE {
        assert!(
            root.join(big).is_file(),
            "TOO_BIG_FOR_SHUTTLE names a missing {big}"
        );
    }
    assert!(files.len() >= 30, "only {} scenarios found", files.len());
    let trials = files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let big = cfg!(mmsim_shuttle) && TOO_BIG_FOR_SHUTTLE.contains(&name.as_str());
            Trial::test(name.clone(), move || {
                let seed = name.clone();
                common::model_run(&seed, move || run(&path, name.clone()))
            })
            .with_ignored_flag(big)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
