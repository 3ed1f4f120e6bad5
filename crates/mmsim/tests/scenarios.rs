//! Every acceptance scenario under `tests/scenarios/` (the reference cases
//! transcribed into the scenario language) as a test of its own, named by its
//! path: `cargo test --test scenarios -- cow/base-01` runs the matching ones.
//! A scenario passes when everything in it held and it checked something.

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

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let files = find_scenarios(&root).expect("tests/scenarios");
    assert!(files.len() >= 30, "only {} scenarios found", files.len());
    let trials = files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            Trial::test(name.clone(), move || run(&path, name))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
