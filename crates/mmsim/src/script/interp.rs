//! The scenario interpreter: runs parsed [`Script`]s against a [`Machine`].
//!
//! Every file is parsed and checked before any runs (bad input anywhere: exit
//! status 2, nothing ran). Then each statement runs in order: the machine boots
//! at the first command after `machine`/`variant`; every command prints a value
//! (empty for most actions); after every command the cheap invariants run, and
//! `check` runs all of them and the leak check. What fails the scenario, each
//! reported at its line and the run going on:
//!
//! * a command outside `expect` that fails (`FILE:LINE: COMMAND failed: ERRNO`),
//!   as a shell script under `set -e` would stop there;
//! * an expectation that does not hold;
//! * an invariant or oracle violation no `expect ... violates` asked for;
//! * a fatal access (memory a virtio-mem device made inaccessible was
//!   touched) no `expect ... violates fatal-access` asked for; the oracle
//!   violations of that line are its consequences and are not reported.
//!
//! A line that uses `$VAR` is typed when reached; a value that makes it bad
//! input stops the run there (exit status 2), keeping the reports of what ran.

use std::collections::HashMap;

use super::ast::{ExpectCond, Script, Stmt, StmtKind, Value, ValueKind, ViolationKind};
use super::cmd::{self, machine::MachineSpec, Cmd};
use super::lexer::ColumnError;
use super::map::MemoryMap;
use super::output::{ByteSink, CmdError, CmdResult, Output, MAX_VALUE};
use super::parse::{self, ParseError};
use super::report::{Failure, FailureKind, FileReport, LineResult, RunReport};
use super::world::World;
use crate::errno::Errno;
use crate::machine::Machine;
use crate::variant::{VariantError, Variants};

/// Told `(file, line, text)` of each statement before it runs, and of the
/// `machine` line before the boot (for a progress display).
pub type Progress = crate::sync::Arc<dyn Fn(&str, u32, &str) + Send + Sync>;

/// How to run scenarios.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Record every command and its value (the transcript).
    pub verbose: bool,
    /// With `verbose`, also echo the scenario's comment lines (the tour).
    pub narrate: bool,
    /// Record each command line's result in [`FileReport::lines`] (for
    /// `mmsim run --host`, which compares them with the host kernel's).
    pub record_lines: bool,
    /// Variants from the command line; they override the scenario's.
    variants: Vec<(String, String)>,
    /// See [`Progress`].
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("verbose", &self.verbose)
            .field("narrate", &self.narrate)
            .field("record_lines", &self.record_lines)
            .field("variants", &self.variants)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl RunOptions {
    /// Options that record a transcript or not, with no variants.
    pub fn new(verbose: bool) -> RunOptions {
        RunOptions {
            verbose,
            ..RunOptions::default()
        }
    }

    /// Adds a command-line variant `KEY=VALUE`, checked now.
    pub fn set_variant(&mut self, pair: &str) -> Result<(), VariantError> {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| VariantError::UnknownKey(pair.to_owned()))?;
        Variants::default().set(key, value)?;
        self.variants.push((key.to_owned(), value.to_owned()));
        Ok(())
    }
}

/// Loads every file first (bad input anywhere stops everything: `Err`, nothing
/// ran), then runs them in order. An input error found while running stops the
/// run; the report keeps what ran and holds the error.
pub fn run_sources(
    sources: &[(String, String)],
    opts: &RunOptions,
) -> Result<RunReport, ParseError> {
    let scripts = sources
        .iter()
        .map(|(name, text)| parse::parse(name, text))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = RunReport::default();
    for (script, (_, text)) in scripts.iter().zip(sources) {
        let (file, error) = run_script(script, text, opts);
        report.add(file);
        if error.is_some() {
            report.error = error;
            break;
        }
    }
    Ok(report)
}

/// Runs one loaded script; `text` is its source (for the transcript). Returns
/// what ran, and the input error that stopped it, if one did.
pub fn run_script(
    script: &Script,
    text: &str,
    opts: &RunOptions,
) -> (FileReport, Option<ParseError>) {
    let mut it = Interp::new(script, text, opts);
    let error = it.run().err();
    (it.report, error)
}

/// Runs one loaded script up to and including line `at` (all of it if
/// None), then draws its machine ([`MemoryMap`]) with `buckets` runs of
/// pages per block. The map is None if the script never booted a machine.
pub fn map_script(
    script: &Script,
    text: &str,
    opts: &RunOptions,
    at: Option<u32>,
    buckets: usize,
) -> (FileReport, Option<ParseError>, Option<MemoryMap>) {
    let mut it = Interp::new(script, text, opts);
    let error = it.run_until(at).err();
    let map = it
        .world
        .as_ref()
        .map(|w| MemoryMap::of(&w.machine, &w.virtio, buckets));
    (it.report, error, map)
}

/// Runs one loaded script to its end and keeps what it made alive: the
/// machine and the scenario's processes, files, pins and devices in the
/// state the last line left them (`mmsim mount` serves that machine). The
/// world is None if the script never booted a machine or an input error
/// stopped it before the boot.
pub fn run_script_live(
    script: &Script,
    text: &str,
    opts: &RunOptions,
) -> (FileReport, Option<ParseError>, Option<LiveWorld>) {
    let mut it = Interp::new(script, text, opts);
    let error = it.run().err();
    let world = it.world.take().map(LiveWorld);
    (it.report, error, world)
}

/// What a scenario made, kept alive after its last line
/// ([`run_script_live`]). Dropping it ends the scenario's processes'
/// lifetime and stops its virtio-mem drivers.
pub struct LiveWorld(World);

impl LiveWorld {
    /// The machine (shared: clone it for threads that serve it).
    pub fn machine(&self) -> &crate::sync::Arc<Machine> {
        &self.0.machine
    }
}

/// The built-in tour (`mmsim run` with no file).
pub const TOUR: &str = include_str!("tour.mms");

struct Interp<'a> {
    script: &'a Script,
    lines: Vec<&'a str>,
    /// Lines up to which comments were echoed.
    narrated: usize,
    opts: &'a RunOptions,
    /// The `machine` line and its spec.
    machine: Option<(u32, MachineSpec)>,
    variants: Variants,
    world: Option<World>,
    vars: HashMap<String, String>,
    report: FileReport,
}

impl<'a> Interp<'a> {
    fn new(script: &'a Script, text: &'a str, opts: &'a RunOptions) -> Interp<'a> {
        Interp {
            script,
            lines: text.lines().collect(),
            narrated: 0,
            opts,
            machine: None,
            variants: Variants::default(),
            world: None,
            vars: HashMap::new(),
            report: FileReport {
                file: script.file.clone(),
                ..FileReport::default()
            },
        }
    }

    fn run(&mut self) -> Result<(), ParseError> {
        self.run_until(None)
    }

    /// Runs the statements on lines up to `at` (all if None).
    fn run_until(&mut self, at: Option<u32>) -> Result<(), ParseError> {
        let script = self.script;
        for stmt in &script.stmts {
            if at.is_some_and(|at| stmt.line > at) {
                break;
            }
            let resolved;
            let kind = match &stmt.kind {
                StmtKind::Deferred(d) => {
                    resolved = parse::resolve(&script.file, stmt.line, d, &self.vars)?;
                    &resolved
                }
                kind => kind,
            };
            match kind {
                StmtKind::Machine(spec) => self.machine = Some((stmt.line, spec.clone())),
                StmtKind::Variant(settings) => {
                    for s in settings {
                        // Checked by the parser.
                        let _ = self.variants.set(&s.key, &s.value);
                    }
                }
                StmtKind::Command(cmd)
                | StmtKind::Let { cmd, .. }
                | StmtKind::Expect { cmd, .. } => {
                    self.boot()?;
                    if let Some(progress) = &self.opts.progress {
                        progress(&script.file, stmt.line, &stmt.text);
                    }
                    self.statement(stmt, kind, cmd);
                }
                StmtKind::Deferred(_) => unreachable!("resolve() types every deferred statement"),
            }
        }
        // A scenario of setup lines alone still boots its machine.
        self.boot()
    }

    fn boot(&mut self) -> Result<(), ParseError> {
        if self.world.is_some() {
            return Ok(());
        }
        let Some((line, spec)) = &self.machine else {
            return Ok(());
        };
        if let Some(progress) = &self.opts.progress {
            let text = self
                .lines
                .get((*line as usize).saturating_sub(1))
                .copied()
                .unwrap_or("machine");
            progress(&self.script.file, *line, text.trim());
        }
        let mut variants = self.variants;
        for (key, value) in &self.opts.variants {
            // Checked by RunOptions::set_variant().
            let _ = variants.set(key, value);
        }
        let machine = Machine::boot(spec.config(), variants).map_err(|e| {
            let column = spec.column_of(e.key, 1);
            ParseError::new(
                &self.script.file,
                *line,
                ColumnError::new(column, e.message),
            )
        })?;
        self.world = Some(World::new(machine));
        Ok(())
    }

    fn statement(&mut self, stmt: &Stmt, kind: &StmtKind, cmd: &Cmd) {
        let world = self.world.as_mut().expect("booted before any command");
        let mut sink = sink_for(kind);
        let result = {
            let _who = crate::physmem::set_accessor(format!("`{}`", stmt.text));
            let result = cmd::run(cmd, world, &mut sink);
            // Work the command queued for drivers runs before anything is
            // checked, so a scenario's outcome does not depend on timing.
            world.machine.virtio_mem_settle();
            result
        };
        let mut fatal = world.machine.fatal_access_reports();
        let mut oracle: Vec<String> = world
            .oracle
            .take_violations()
            .into_iter()
            .map(|v| v.to_string())
            .collect();
        if !fatal.is_empty() {
            // A fatal access ends a real guest; what user space read
            // afterwards (zeros, a lost write) is its consequence, not news.
            oracle.clear();
        }
        // `check` runs every invariant (the cheap ones among them); every
        // other command the cheap ones.
        let violations = if cmd.is_check() {
            world.machine.check_all()
        } else {
            world.machine.check_cheap()
        };
        let mut invariants: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
        self.transcribe(stmt, &result);
        let mut failures: Vec<(FailureKind, String)> = Vec::new();
        let mut held = None;
        if let StmtKind::Expect { cond, .. } = kind {
            let verdict = expect(cond, &result, &mut invariants, &mut oracle, &mut fatal);
            held = Some(verdict.is_ok());
            match verdict {
                Ok(()) => self.report.passed += 1,
                Err(what) => failures.push((FailureKind::Expectation, what)),
            }
        } else {
            // Outside `expect`, a failed command fails the scenario.
            if let Err(e) = &result {
                let message = format!("{} failed: {}", stmt.text, e.describe());
                failures.push((FailureKind::Command, message));
            }
            if let StmtKind::Let { var, .. } = kind {
                // What it printed, or the errno.
                let value = match &result {
                    Ok(out) => out.printed().unwrap_or_default(),
                    Err(e) => e.describe(),
                };
                self.vars.insert(var.clone(), value);
            } else if result.is_ok() && cmd.is_check() && invariants.is_empty() {
                self.report.passed += 1;
            }
        }
        if self.opts.record_lines {
            self.report
                .lines
                .push(line_result(stmt.line, &result, held));
        }
        let invariants = invariants.into_iter().map(|v| (FailureKind::Invariant, v));
        let oracle = oracle.into_iter().map(|v| (FailureKind::Oracle, v));
        let fatal = fatal.into_iter().map(|v| (FailureKind::FatalAccess, v));
        for (kind, message) in failures
            .into_iter()
            .chain(invariants)
            .chain(oracle)
            .chain(fatal)
        {
            self.fail(stmt.line, kind, message);
        }
    }

    fn fail(&mut self, line: u32, kind: FailureKind, message: String) {
        let text = format!("{}:{line}: {message}", self.script.file);
        self.report.failed += 1;
        if self.opts.verbose {
            self.report.transcript.push(text.clone());
        }
        self.report.failures.push(Failure { line, kind, text });
    }

    /// With `verbose`: the line as written and what it printed (each line of a
    /// value on its own line), after the comments before it (tour mode).
    fn transcribe(&mut self, stmt: &Stmt, result: &CmdResult) {
        if !self.opts.verbose {
            return;
        }
        let upto = (stmt.line as usize - 1).min(self.lines.len());
        if self.opts.narrate {
            for l in &self.lines[self.narrated.min(upto)..upto] {
                if let Some(c) = l.trim().strip_prefix('#') {
                    self.report.transcript.push(format!("#{c}"));
                } else if l.trim().is_empty() {
                    self.report.transcript.push(String::new());
                }
            }
        }
        self.narrated = stmt.line as usize;
        let source = self.lines.get(upto).map_or("", |l| l.trim());
        let mut entry = format!("{}:{}: {source}", self.script.file, stmt.line);
        let shown = match result {
            Ok(out) => out.summary(),
            Err(e) => e.describe(),
        };
        for value_line in shown.lines() {
            entry.push_str("\n    => ");
            entry.push_str(value_line);
        }
        self.report.transcript.push(entry);
    }
}

/// A line's result as [`FileReport::lines`] records it.
fn line_result(line: u32, result: &CmdResult, held: Option<bool>) -> LineResult {
    LineResult {
        line,
        value: result
            .as_ref()
            .map(Output::summary)
            .map_err(CmdError::describe),
        held,
    }
}

/// A command's result as another executor produced it (the host kernel, for
/// `mmsim run --host`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// A printed value.
    Text(String),
    /// The bytes of a read.
    Bytes(Vec<u8>),
}

/// Judges another executor's result of a command line the way the
/// interpreter judges its own: the value as [`FileReport::lines`] records it
/// and, for an `expect`, whether it held. No invariant, oracle or fatal-access
/// check ran elsewhere, so `expect ... violates` never holds.
///
/// ```
/// use mmsim::script::{interp::{judge, Observed}, parse::parse};
///
/// let text = "machine ram=1G\nspawn P\nP mmap m 4K\nexpect P read m 4K == 0x01\n";
/// let script = parse("t.mms", text).unwrap();
/// let read = &script.stmts[3];
/// let r = judge(read.line, &read.kind, Ok(Observed::Bytes(vec![1; 4096])));
/// assert_eq!((r.value, r.held), (Ok("0x01 x4096".to_owned()), Some(true)));
/// ```
pub fn judge(line: u32, kind: &StmtKind, result: Result<Observed, Errno>) -> LineResult {
    let result: CmdResult = match result {
        Ok(Observed::Text(s)) => Ok(Output::Text(s)),
        Ok(Observed::Bytes(b)) => {
            let mut sink = sink_for(kind);
            sink.push(&b);
            Ok(sink.finish())
        }
        Err(e) => Err(CmdError::Errno(e)),
    };
    let held = match kind {
        StmtKind::Expect { cond, .. } => Some(
            expect(
                cond,
                &result,
                &mut Vec::new(),
                &mut Vec::new(),
                &mut Vec::new(),
            )
            .is_ok(),
        ),
        _ => None,
    };
    line_result(line, &result, held)
}

/// The sink a statement's read needs (see `output.rs`).
fn sink_for(kind: &StmtKind) -> ByteSink {
    match kind {
        StmtKind::Let { .. } => ByteSink::keeping(MAX_VALUE as usize),
        StmtKind::Expect {
            cond: ExpectCond::Eq(value) | ExpectCond::Ne(value),
            ..
        } => match &value.kind {
            ValueKind::Text(t) => ByteSink::expecting(t.clone()),
            ValueKind::Byte(_) => ByteSink::summary(),
            // Hex as long as the value can match; anything longer differs.
            ValueKind::Words => ByteSink::keeping(value.raw.len() / 2 + 1),
        },
        StmtKind::Expect {
            cond: ExpectCond::Has(flags),
            ..
        } => ByteSink::keeping(flags.iter().map(String::len).sum::<usize>() + flags.len()),
        _ => ByteSink::summary(),
    }
}

/// Evaluates an expectation; `Err` says why it does not hold. An expected
/// violation is taken out of the lists, so it is not reported again.
fn expect(
    cond: &ExpectCond,
    result: &CmdResult,
    invariants: &mut Vec<String>,
    oracle: &mut Vec<String>,
    fatal: &mut Vec<String>,
) -> Result<(), String> {
    let shown = || match result {
        Ok(out) => fold(&out.summary()),
        Err(e) => e.describe(),
    };
    let check = |held: bool, what: &dyn Fn() -> String| if held { Ok(()) } else { Err(what()) };
    match cond {
        ExpectCond::Fails(e) => match result {
            Err(CmdError::Errno(got)) if got == e => Ok(()),
            Ok(_) => Err(format!(
                "expected failure {}, got success `{}`",
                e.name(),
                shown()
            )),
            Err(_) => Err(format!("expected failure {}, got {}", e.name(), shown())),
        },
        ExpectCond::Violates(kind) => {
            let (list, name) = match kind {
                ViolationKind::Invariant => (invariants, "an invariant violation"),
                ViolationKind::Oracle => (oracle, "an oracle violation"),
                ViolationKind::FatalAccess => (fatal, "a fatal access"),
            };
            let held = !list.is_empty();
            list.clear();
            check(held, &|| format!("expected {name}, got none"))
        }
        ExpectCond::Has(flags) => {
            let printed = result.as_ref().ok().and_then(Output::printed);
            let names: Vec<&str> = printed
                .as_deref()
                .unwrap_or("")
                .split(|c: char| c == ',' || c.is_whitespace())
                .collect();
            let held = printed.is_some() && flags.iter().all(|f| names.contains(&f.as_str()));
            check(held, &|| {
                format!("expected {} among `{}`", flags.join(","), shown())
            })
        }
        ExpectCond::Eq(v) => check(matches(v, result), &|| {
            format!("expected {}, got {}", v.raw, shown())
        }),
        ExpectCond::Ne(v) => check(result.is_ok() && !matches(v, result), &|| {
            format!("expected something other than {}, got {}", v.raw, shown())
        }),
    }
}

/// Whether a command's printed value is VALUE (SCENARIOS.md, "Assertions").
fn matches(v: &Value, result: &CmdResult) -> bool {
    let Ok(out) = result else { return false };
    match (&v.kind, out) {
        (ValueKind::Text(_), Output::Bytes(b)) => b.equals_expected == Some(true),
        (ValueKind::Byte(x), Output::Bytes(b)) => b.uniform == Some(*x),
        (ValueKind::Text(t), Output::Text(s)) => t.as_slice() == s.as_bytes(),
        (_, out) => out.printed().is_some_and(|p| fold(&p) == fold(&v.raw)),
    }
}

/// Folds runs of blanks (including newlines) to one blank.
fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
