//! Every acceptance scenario under `tests/scenarios/` (the reference cases
//! transcribed into the scenario language) as a test of its own, named by its
//! path: `cargo test --test scenarios -- cow/base-01` runs the matching ones.
//! A scenario passes when everything in it held and it checked something.

use libtest_mimic::{Arguments, Failed, Trial};
use mmsim::script::interp::{run_sources, RunOptions};
use mmsim::script::source::read_scenario;
use std::path::{Path, PathBuf};

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            scenario_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "mms") {
            out.push(p);
        }
    }
}

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
    let mut files = Vec::new();
    scenario_files(&root, &mut files);
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
