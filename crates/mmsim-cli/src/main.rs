//! The `mmsim` command line.
//!
//! Exit status everywhere: 0 success, 1 a check or expectation failed, 2 bad
//! input (unknown command, bad argument, missing file). Output that nobody reads
//! any more (`mmsim run --verbose | head`) ends the program quietly with the
//! status the run had.

mod bench;
mod explore;
mod host;
mod mount;
mod stress;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use mmsim::script::cmd::command_docs;
use mmsim::script::interp::{map_script, run_sources, RunOptions, TOUR};
use mmsim::script::parse::ParseError;
use mmsim::script::report::RunReport;
use mmsim::script::source::read_scenario;
use mmsim::variant::Variants;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "mmsim",
    version,
    about = "An executable model of Linux memory hotplug, page tables, GUP and COW",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario scripts; with no file, the built-in tour.
    #[command(
        after_help = "The scenario language is described in docs/scenarios.md; \
`mmsim help commands` lists every command.\n\
Exit status: 0 all held, 1 an expectation, command or check failed, 2 bad input."
    )]
    Run {
        /// Scenario files (.mms); `-` reads standard input.
        files: Vec<PathBuf>,
        /// Print every command and its value, failures in place.
        #[arg(long)]
        verbose: bool,
        /// Print one JSON report instead of text.
        #[arg(long)]
        json: bool,
        /// A protocol variant KEY=VALUE (overrides the scenario's); repeatable.
        #[arg(long = "variant", value_name = "KEY=VALUE")]
        variants: Vec<String>,
        /// Also run the process part on the host kernel (real processes,
        /// pagemap, kpageflags, vmsplice, io_uring; root) and print every
        /// line whose result differs from the model's.
        #[arg(long, conflicts_with_all = ["json", "variants"])]
        host: bool,
    },
    /// A driver of `run --host` (internal: its standard input is the
    /// orchestrator's socket).
    #[command(name = "__host-driver", hide = true)]
    HostDriver,
    /// The named races: their seed threads, what they check, the variants
    /// that break and hold them, and their mutants.
    Races {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Explore a race under shuttle's schedulers (the explorer build, built
    /// on first use from a checkout); replay a failing schedule; merge the
    /// summaries of a campaign's shards.
    #[command(
        after_help = "Exit status: 0 every schedule clean (or a replay that no longer fails), 1 a schedule broke the race (replay file written, interleaving printed), 2 bad input."
    )]
    Explore(explore::ExploreArgs),
    /// Every actor at once on real threads for a time budget, with the
    /// invariants and the oracle on; operations per second and violations.
    #[command(
        after_help = "Actors: processes (--threads of them), ksmd, an admin hot-adding, onlining, \
offlining and removing memory blocks, a virtio-mem host, a balloon, /proc/kcore and \
/proc/kpageflags readers and a compaction-style PFN scanner.\n\
Exit status: 0 no violation, 1 a violation (its report is printed), 2 bad input."
    )]
    Stress {
        /// Seconds to run (more than 0, at most a week).
        #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
        seconds: f64,
        /// Seeds every actor's random choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Boot RAM, a multiple of 128M (`2G`).
        #[arg(long, default_value = "1G")]
        ram: String,
        /// Process actors.
        #[arg(long, default_value_t = 4)]
        threads: usize,
        /// A protocol variant KEY=VALUE; repeatable.
        #[arg(long = "variant", value_name = "KEY=VALUE")]
        variants: Vec<String>,
        /// Print one JSON report instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Help on a topic: `commands` lists every scenario command, `variants`
    /// every protocol variant, `host` the known differences `run --host`
    /// allows; `run` shows its options.
    Help {
        /// `commands`, `variants`, or a subcommand.
        topic: Option<String>,
    },
    /// Draw physical memory after a scenario (or at one of its lines): a row
    /// per memory block with its state, zone and node, virtio-mem blocks
    /// plugged and unplugged, and what its pages are.
    #[command(
        after_help = "Without -o: coloured rows on a terminal, the SVG on a pipe.\n\
Exit status: 0 drawn, 1 drawn but an expectation or command of the scenario failed \
before the line, 2 bad input (or a scenario that boots no machine)."
    )]
    Map {
        /// The scenario (.mms); `-` reads standard input.
        file: PathBuf,
        /// Write the SVG here.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// Stop after this line of the scenario.
        #[arg(long, value_name = "LINE", value_parser = clap::value_parser!(u32).range(1..))]
        at: Option<u32>,
        /// Runs of pages per block in the strip (1 to 512).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=512))]
        buckets: u16,
        /// A protocol variant KEY=VALUE (overrides the scenario's); repeatable.
        #[arg(long = "variant", value_name = "KEY=VALUE")]
        variants: Vec<String>,
    },
    /// The model's operations beside the host kernel doing the same user
    /// work, and beside the physical floors measured on the spot.
    #[command(
        after_help = "Per unit of work, best of a few runs: mmap + first touch, fork of a populated \
mapping and COW after fork (model, host kernel, floor), online + offline of a free 128 MiB block, \
an offline migrating 64 MiB and (without --quick) the boot of 1 TiB (model, floor).\n\
Exit status: 0."
    )]
    Bench {
        /// Smaller sizes and fewer runs (a few seconds).
        #[arg(long)]
        quick: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve the live model as a FUSE file system at DIR: its /sys memory
    /// tree, the notifier error injection files, /proc/kpageflags,
    /// kpagecount and kcore, after the scenario ran (or on a machine of
    /// --ram/--block/--movable), until unmounted or interrupted.
    #[command(
        after_help = "One line on stdout says when the mount is ready. DIR/.mmsim names the \
scenario, and /proc/self/mountinfo shows the mount as fuse.mmsim: check both before writing \
anything below DIR. Needs root (mount(2)) and /dev/fuse.\n\
Exit status: 0 unmounted (by `umount DIR`, SIGINT or SIGTERM), 1 the scenario did not hold, \
the mount failed or a --stress actor broke something, 2 bad input."
    )]
    Mount(mount::MountArgs),
    /// Print a completion script for a shell, e.g.
    /// `mmsim completions bash > /etc/bash_completion.d/mmsim`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or with `--dir` write mmsim.1 and one
    /// mmsim-SUBCOMMAND.1 per subcommand there.
    #[command(after_help = "Read it with `mmsim man | man -l -`.")]
    Man {
        /// A directory to write the pages into (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
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
            host,
        } => {
            if host {
                host::run_host(&files, verbose)
            } else {
                run(&files, verbose, json, &variants)
            }
        }
        Command::HostDriver => host::driver::main(),
        Command::Stress {
            seconds,
            seed,
            ram,
            threads,
            variants,
            json,
        } => stress::stress(seconds, seed, &ram, threads, &variants, json),
        Command::Help { topic } => help(topic.as_deref()),
        Command::Races { json } => explore::races(json),
        Command::Explore(args) => explore::explore(&args),
        Command::Completions { shell } => {
            let mut out = std::io::stdout().lock();
            // generate() panics on a write error; write to memory first.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mmsim", &mut script);
            finish(out.write_all(&script), 0)
        }
        Command::Man { dir } => man(dir.as_deref()),
        Command::Bench { quick, json } => bench::bench(quick, json),
        Command::Mount(args) => mount::mount(&args),
        Command::Map {
            file,
            out,
            at,
            buckets,
            variants,
        } => map(&file, out.as_deref(), at, usize::from(buckets), &variants),
    }
}

/// `mmsim map`: runs the scenario (up to `at`) and draws its machine.
fn map(
    file: &std::path::Path,
    out: Option<&std::path::Path>,
    at: Option<u32>,
    buckets: usize,
    variants: &[String],
) -> ExitCode {
    if cfg!(mmsim_shuttle) {
        eprintln!("mmsim: this is the explorer build (--cfg mmsim_shuttle): draw maps with the normal build");
        return ExitCode::from(2);
    }
    let mut opts = match run_options(false, variants, false) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let (name, text) = match read_scenario(file) {
        Ok(source) => source,
        Err(e) => return input_error(false, &e.to_string(), Some(&e)),
    };
    let script = match mmsim::script::parse::parse(&name, &text) {
        Ok(s) => s,
        Err(e) => return input_error(false, &e.to_string(), Some(&e)),
    };
    let spinner = std::io::stderr().is_terminal().then(RunSpinner::start);
    opts.progress = spinner.as_ref().map(RunSpinner::hook);
    let (report, error, picture) = map_script(&script, &text, &opts, at, buckets);
    drop(spinner);
    if let Some(e) = error {
        return input_error(false, &e.to_string(), Some(&e));
    }
    let Some(picture) = picture else {
        eprintln!(
            "mmsim: {name} boots no machine{}",
            at.map_or(String::new(), |l| format!(" by line {l}"))
        );
        return ExitCode::from(2);
    };
    for failure in &report.failures {
        eprintln!("{}", failure.text);
    }
    let code = if report.failures.is_empty() { 0 } else { 1 };
    let written = match out {
        Some(path) => std::fs::write(path, picture.svg())
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        None if std::io::stdout().is_terminal() => std::io::stdout()
            .lock()
            .write_all(picture.ansi().as_bytes()),
        None => std::io::stdout().lock().write_all(picture.svg().as_bytes()),
    };
    if let (Err(e), Some(_)) = (&written, out) {
        eprintln!("mmsim: cannot write the map: {e}");
        return ExitCode::from(2);
    }
    finish(written, code)
}

/// `mmsim man`: the pages clap_mangen renders from the same definitions as
/// `--help`.
fn man(dir: Option<&std::path::Path>) -> ExitCode {
    let cmd = Cli::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        let rendered = clap_mangen::Man::new(cmd).render(&mut page);
        return finish(
            rendered.and_then(|()| std::io::stdout().lock().write_all(&page)),
            0,
        );
    };
    // generate_to builds the command, which names each subcommand's page
    // mmsim-SUBCOMMAND.1.
    let written = std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "mmsim: cannot write the man pages to {}: {e}",
                dir.display()
            );
            ExitCode::from(2)
        }
    }
}

fn help(topic: Option<&str>) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = match topic {
        Some("commands") => {
            command_docs().try_for_each(|doc| writeln!(out, "{}\n    {}", doc.syntax, doc.summary))
        }
        Some("variants") => Variants::KEYS.iter().try_for_each(|(key, values)| {
            writeln!(out, "{key}={}    (default {})", values.join("|"), values[0])
        }),
        Some("host") => write!(out, "{}", host::table::markdown()),
        None => write!(out, "{}", Cli::command().render_long_help()),
        Some(sub) => match Cli::command().find_subcommand_mut(sub) {
            Some(cmd) => write!(out, "{}", cmd.render_long_help()),
            None => {
                eprintln!(
                    "mmsim: no help on `{sub}` (try `commands`, `variants`, `host`, `run` or `stress`)"
                );
                return ExitCode::from(2);
            }
        },
    };
    finish(written, 0)
}

fn run(files: &[PathBuf], verbose: bool, json: bool, variants: &[String]) -> ExitCode {
    if cfg!(mmsim_shuttle) {
        eprintln!(
            "mmsim: this is the explorer build (--cfg mmsim_shuttle): it runs `explore` and \
             `races`; run scenarios with the normal build"
        );
        return ExitCode::from(2);
    }
    let mut opts = match run_options(verbose, variants, json) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let sources = if files.is_empty() {
        // The tour narrates itself, in text and in JSON.
        opts.verbose = true;
        opts.narrate = true;
        vec![("<tour>".to_owned(), TOUR.to_owned())]
    } else {
        let mut sources = Vec::new();
        for f in files {
            match read_scenario(f) {
                Ok(source) => sources.push(source),
                Err(e) => return input_error(json, &e.to_string(), Some(&e)),
            }
        }
        sources
    };
    let spinner = (!json && std::io::stderr().is_terminal()).then(RunSpinner::start);
    opts.progress = spinner.as_ref().map(RunSpinner::hook);
    let report = run_sources(&sources, &opts);
    drop(spinner);
    let report = match report {
        Ok(r) => r,
        Err(e) => return input_error(json, &e.to_string(), Some(&e)),
    };
    print_report(&report, json, opts.verbose)
}

/// The interpreter's options with the command line's `--variant`s, each
/// checked (bad input: the exit status, its message printed).
pub(crate) fn run_options(
    verbose: bool,
    variants: &[String],
    json: bool,
) -> Result<RunOptions, ExitCode> {
    let mut opts = RunOptions::new(verbose);
    for v in variants {
        opts.set_variant(v)
            .map_err(|e| input_error(json, &format!("--variant {v}: {e}"), None))?;
    }
    Ok(opts)
}

/// A spinner on stderr naming the statement that runs, for runs that take
/// more than a second (booting a terabyte, a long offline, a big dump):
/// hidden until then, cleared at the end. Nothing else writes while a run
/// goes on (the report comes after), so it never interleaves with output.
struct RunSpinner {
    bar: indicatif::ProgressBar,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    shower: Option<std::thread::JoinHandle<()>>,
}

impl RunSpinner {
    fn start() -> RunSpinner {
        use std::sync::atomic::{AtomicBool, Ordering};
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let shower = {
            let (bar, done) = (bar.clone(), done.clone());
            std::thread::spawn(move || {
                for _ in 0..20 {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    // Acquire pairs with the Release store in drop().
                    if done.load(Ordering::Acquire) {
                        return;
                    }
                }
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            })
        };
        RunSpinner {
            bar,
            done,
            shower: Some(shower),
        }
    }

    /// Names what runs now.
    fn say(&self, what: &str) {
        self.bar.set_message(what.to_string());
    }

    fn hook(&self) -> mmsim::script::interp::Progress {
        let bar = self.bar.clone();
        mmsim::sync::Arc::new(move |file: &str, line: u32, text: &str| {
            bar.set_message(format!("{file}:{line}: {text}"));
        })
    }
}

impl Drop for RunSpinner {
    fn drop(&mut self) {
        // Release pairs with the shower's Acquire load.
        self.done.store(true, std::sync::atomic::Ordering::Release);
        if let Some(shower) = self.shower.take() {
            let _ = shower.join();
        }
        self.bar.finish_and_clear();
    }
}

/// Bad input found before anything ran: on standard error, or as the JSON
/// report's `error`; exit status 2.
fn input_error(json: bool, message: &str, at: Option<&ParseError>) -> ExitCode {
    if json {
        let error = match at {
            Some(e) => serde_json::to_value(e).unwrap_or_else(|_| json!({ "message": message })),
            None => json!({ "message": message }),
        };
        let doc = json!({ "files": [], "passed": 0, "failed": 0, "error": error });
        let written = writeln!(std::io::stdout().lock(), "{doc:#}");
        return finish(written, 2);
    }
    eprintln!("{message}");
    ExitCode::from(2)
}

fn print_report(report: &RunReport, json: bool, verbose: bool) -> ExitCode {
    let ret = emit(
        json.then(|| serde_json::to_string_pretty(report)),
        |out| {
            report
                .text_lines(verbose)
                .try_for_each(|line| writeln!(out, "{line}"))
                .and_then(|()| writeln!(out, "{}", report.summary()))
        },
        report.exit_code(),
    );
    if !json {
        if let Some(e) = &report.error {
            eprintln!("{e}");
        }
    }
    ret
}

/// Writes a report on standard output — `encoded`, its JSON, if given,
/// else what `text` writes — and exits with `code` (2 if the report could
/// not be encoded or written).
pub(crate) fn emit(
    encoded: Option<serde_json::Result<String>>,
    text: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
    code: u8,
) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = match encoded {
        Some(Ok(s)) => writeln!(out, "{s}"),
        Some(Err(e)) => {
            eprintln!("mmsim: cannot encode the report: {e}");
            return ExitCode::from(2);
        }
        None => text(&mut out),
    };
    finish(written.and_then(|()| out.flush()), code)
}

/// The exit status, after output that may have met a closed pipe: a reader
/// that went away is no error of ours.
pub(crate) fn finish(written: std::io::Result<()>, code: u8) -> ExitCode {
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("mmsim: cannot write the report: {e}");
            ExitCode::from(2)
        }
        _ => ExitCode::from(code),
    }
}
