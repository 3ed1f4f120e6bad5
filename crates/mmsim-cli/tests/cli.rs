//! The `mmsim` binary: exit statuses and report formats (DESIGN.md, "The
//! command line"; SCENARIOS.md, "Output and exit status").

use std::process::Command;

fn mmsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mmsim"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scenario(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mmsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn tour_runs_clean() {
    let (code, out, err) = mmsim(&["run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("hotplug add"), "the tour is verbose: {out}");
    assert!(out.trim_end().ends_with(" passed, 0 failed"), "{out}");
}

#[test]
fn failed_expectation_exits_1_with_file_and_line() {
    let p = scenario("fail.mms", "machine ram=1G\nexpect pfn_valid 0 == 0\n");
    let (code, out, _) = mmsim(&["run", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("fail.mms:2: expected 0, got 1"), "{out}");
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn bad_input_exits_2_with_position_before_running() {
    let p = scenario("bad.mms", "machine ram=1G\nhotplug add 0x100000000 12X\n");
    let (code, out, err) = mmsim(&["run", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.mms:2:25:"), "{err}");
    assert!(out.is_empty(), "nothing ran: {out}");
    let p = scenario("later.mms", "machine ram=1G\nspawn A\nA mmap b 4K shared\n");
    let (code, _, err) = mmsim(&["run", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("later.mms:3:1: not supported yet"), "{err}");
}

#[test]
fn missing_file_and_bad_variant_exit_2() {
    let (code, _, err) = mmsim(&["run", "/nonexistent/x.mms"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/x.mms"), "{err}");
    let (code, _, err) = mmsim(&["run", "--variant", "cow_reuse=sometimes"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn json_report_is_one_document() {
    let p = scenario("ok.mms", "machine ram=1G\nexpect pfn_valid 0 == 1\n");
    let (code, out, _) = mmsim(&["run", "--json", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["passed"], 1);
    assert_eq!(v["failed"], 0);
}
