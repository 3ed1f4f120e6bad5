//! The `mmsim` command line.
//!
//! Exit status everywhere: 0 success, 1 a check or expectation failed, 2 bad
//! input (unknown command, bad argument, missing file).

use clap::{Parser, Subcommand};
use mmsim::script::interp::{run_sources, RunOptions, RunReport, TOUR};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mmsim",
    version,
    about = "An executable model of Linux memory hotplug"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario scripts (SCENARIOS.md); with no file, the built-in tour.
    Run {
        /// Scenario files (.mms).
        files: Vec<std::path::PathBuf>,
        /// Print every command and its value.
        #[arg(long)]
        verbose: bool,
        /// Print one JSON report instead of text.
        #[arg(long)]
        json: bool,
        /// A protocol variant KEY=VALUE (overrides the scenario's); repeatable.
        #[arg(long = "variant", value_name = "KEY=VALUE")]
        variants: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run {
            files,
            verbose,
            json,
            variants,
        } => run(files, verbose, json, variants),
    }
}

fn run(
    files: Vec<std::path::PathBuf>,
    verbose: bool,
    json: bool,
    variants: Vec<String>,
) -> ExitCode {
    let mut opts = RunOptions {
        verbose,
        variants: Vec::new(),
        narrate: false,
    };
    for v in &variants {
        match v.split_once('=') {
            Some((k, val)) => opts.variants.push((k.to_string(), val.to_string())),
            None => {
                eprintln!("mmsim: --variant {v}: expected KEY=VALUE");
                return ExitCode::from(2);
            }
        }
    }
    let sources = if files.is_empty() {
        opts.verbose = !json;
        opts.narrate = true;
        vec![("<tour>".to_string(), TOUR.to_string())]
    } else {
        let mut sources = Vec::new();
        for f in &files {
            match std::fs::read_to_string(f) {
                Ok(text) => sources.push((f.display().to_string(), text)),
                Err(e) => {
                    eprintln!("{}:1:1: cannot read: {e}", f.display());
                    return ExitCode::from(2);
                }
            }
        }
        sources
    };
    let report = match run_sources(&sources, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    print_report(&report, json, opts.verbose);
    if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_report(report: &RunReport, json: bool, verbose: bool) {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("mmsim: cannot encode the report: {e}"),
        }
        return;
    }
    for f in &report.files {
        if verbose {
            for line in &f.transcript {
                println!("{line}");
            }
        }
        for line in &f.failures {
            println!("{line}");
        }
    }
    println!("{} passed, {} failed", report.passed, report.failed);
}
