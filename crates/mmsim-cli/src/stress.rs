//! `mmsim stress`: the options checked into a [`StressConfig`], a progress
//! bar on a terminal, and the report as a table or JSON.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use mmsim::stress::{parse_size, run_stress, StressConfig, StressReport};
use serde_json::json;

use crate::{emit, finish};

/// Steps of the progress bar.
const BAR_STEPS: u64 = 1000;

pub(crate) fn stress(
    seconds: f64,
    seed: u64,
    ram: &str,
    threads: usize,
    variants: &[String],
    json: bool,
) -> ExitCode {
    let mut cfg = StressConfig {
        seconds,
        seed,
        threads,
        variants: mmsim::stress::baseline_variants(),
        ..StressConfig::default()
    };
    cfg.ram = match parse_size(ram) {
        Ok(r) => r,
        Err(e) => return bad_input(json, &format!("--ram: {e}")),
    };
    for v in variants {
        if let Err(e) = cfg.variants.set_pair(v) {
            return bad_input(json, &format!("--variant {v}: {e}"));
        }
    }
    if let Err(e) = cfg.validate() {
        return bad_input(json, &e.to_string());
    }
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(BAR_STEPS);
        bar.set_style(
            ProgressStyle::with_template("stress {bar:40} {percent:>3}% {elapsed}/{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("{seconds}s"));
        bar
    });
    let progress = |f: f64| {
        if let Some(b) = &bar {
            b.set_position((f * BAR_STEPS as f64) as u64);
        }
    };
    let report = run_stress(&cfg, &progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match report {
        Ok(r) => print_report(&r, json),
        Err(e) => bad_input(json, &e.to_string()),
    }
}

/// Bad input: on standard error, or as the JSON report's `error`; exit 2.
fn bad_input(json: bool, message: &str) -> ExitCode {
    if json {
        let doc = json!({ "error": { "message": message } });
        return finish(writeln!(std::io::stdout().lock(), "{doc:#}"), 2);
    }
    eprintln!("mmsim stress: {message}");
    ExitCode::from(2)
}

fn print_report(r: &StressReport, json: bool) -> ExitCode {
    emit(
        json.then(|| serde_json::to_string_pretty(r)),
        |out| text(out, r),
        if r.passed() { 0 } else { 1 },
    )
}

fn text(out: &mut impl Write, r: &StressReport) -> std::io::Result<()> {
    writeln!(out, "{:<12} {:>12} {:>12}", "actor", "ops", "ops/s")?;
    for a in &r.actors {
        writeln!(out, "{:<12} {:>12} {:>12.0}", a.actor, a.ops, a.ops_per_sec)?;
    }
    let total: u64 = r.actors.iter().map(|a| a.ops).sum();
    writeln!(
        out,
        "{:<12} {:>12} {:>12.0}",
        "total",
        total,
        total as f64 / r.seconds
    )?;
    for v in &r.violations {
        writeln!(out, "VIOLATION {v}")?;
    }
    if r.more_violations > 0 {
        writeln!(out, "and {} more violations", r.more_violations)?;
    }
    writeln!(
        out,
        "{:.1}s, seed {}, {}: {}",
        r.seconds,
        r.seed,
        r.variants,
        match r.violations.len() as u64 + r.more_violations {
            0 => "no violation".to_owned(),
            1 => "1 violation".to_owned(),
            n => format!("{n} violations"),
        }
    )
}
