//! Runs every acceptance scenario under `tests/scenarios/` (the reference
//! cases transcribed into the scenario language) and requires each to pass.

use mmsim::script::interp::{run_sources, RunOptions};
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

#[test]
fn every_acceptance_scenario_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let mut files = Vec::new();
    scenario_files(&root, &mut files);
    assert!(files.len() >= 30, "only {} scenarios found", files.len());
    let mut problems = Vec::new();
    let mut expectations = 0;
    for f in &files {
        let name = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let text = std::fs::read_to_string(f).expect("readable scenario");
        match run_sources(&[(name.clone(), text)], &RunOptions::default()) {
            Ok(r) => {
                expectations += r.passed;
                problems.extend(r.files.into_iter().flat_map(|f| f.failures));
                if r.passed == 0 {
                    problems.push(format!("{name}: checks nothing"));
                }
            }
            Err(e) => problems.push(format!("bad input: {e}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    println!(
        "{} scenarios, {expectations} expectations held",
        files.len()
    );
}
