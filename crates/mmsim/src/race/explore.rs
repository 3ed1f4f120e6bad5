//! The race explorer (`--cfg mmsim_shuttle` only): runs a [`Race`] under
//! shuttle's schedulers, and replays and prints the schedule that broke it.
//!
//! # A campaign
//!
//! [`explore`] runs `schedules` executions of the race body, each under a
//! schedule that shuttle's random or PCT scheduler draws. A campaign can be
//! cut into shards (`--shard I/N`): shard `I` draws its schedules from its
//! own seed, `mix(seed, I)`, so shards never repeat each other's seeds and
//! a batch system can run them anywhere; [`Summary`] of each shard sums
//! with the others' (`mmsim explore --merge`).
//!
//! A scheduler wrapper records every decision of the execution in progress
//! (which task runs at each scheduling point, and the random values drawn),
//! so when an execution panics the explorer holds the exact schedule that
//! led there, with no need to re-run the campaign. A panic whose message
//! starts with [`VIOLATION`] is a detector's finding; any other panic
//! (shuttle's deadlock and step-limit reports included) is reported as it
//! is — a race must never make the model itself panic.
//!
//! # Replay and the printed interleaving
//!
//! A [`Failure`] carries the schedule as shuttle's serialised string. Run
//! under shuttle's replay scheduler it takes the same decisions, so the
//! same violation comes back on every run ([`replay`]). While replaying,
//! the recorder also takes the stack of the task at each scheduling point:
//! the step that runs next is the chosen task's pending access, and its
//! stack names the model function that makes it (the innermost frame of
//! the model outside `sync`). [`shorten`] then merges each run of
//! consecutive steps of one task into one numbered step listing the
//! functions it went through, which is the interleaving a person reads.

use super::campaign::{Failure, SchedulerKind, Summary};
use super::{Race, RaceCtx, VIOLATION};
use shuttle::scheduler::{PctScheduler, RandomScheduler, ReplayScheduler, Schedule, Scheduler};
use shuttle::{Config, FailurePersistence, MaxSteps, Runner};
use shuttle_engine::scheduler::serialization::{deserialize_schedule, serialize_schedule};
use shuttle_engine::scheduler::{Task, TaskId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

/// One campaign (or one shard of one).
#[derive(Clone, Debug)]
pub struct ExploreConfig {
    /// The race body's variants and mutant.
    pub ctx: RaceCtx,
    /// Executions to run in this shard.
    pub schedules: u64,
    /// The campaign's seed.
    pub seed: u64,
    /// This shard's index and the number of shards.
    pub shard: (u64, u64),
    /// The scheduler.
    pub scheduler: SchedulerKind,
    /// Scheduling points after which an execution counts as a livelock.
    pub max_steps: usize,
}

impl ExploreConfig {
    /// The seed this shard's scheduler draws from: distinct per shard.
    pub fn shard_seed(&self) -> u64 {
        super::campaign::shard_seed(self.seed, self.shard.0)
    }
}

/// One executed step of a replayed schedule: the task that ran and the
/// model function its access was made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The task's name (`main` for the body itself).
    pub task: String,
    /// The innermost model function at the access, or `start` for a task's
    /// first step.
    pub function: String,
}

/// A step of the shortened interleaving: consecutive steps of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The task.
    pub task: String,
    /// The distinct functions it went through, in order.
    pub functions: Vec<String>,
    /// How many scheduling points it covers.
    pub accesses: usize,
}

#[derive(Default)]
struct Recorder {
    /// Decisions of the execution in progress.
    current: Option<Schedule>,
    executions: u64,
    /// Replay only: capture stacks and build `steps`.
    tracing: bool,
    names: HashMap<TaskId, String>,
    pending: HashMap<TaskId, String>,
    steps: Vec<Step>,
    symbols: HashMap<usize, Frame>,
    /// Told the number of each execution as it starts.
    progress: Option<Box<dyn Fn(u64)>>,
}

/// The scheduler shuttle drives: the inner one decides, the recorder keeps
/// what it decided.
struct Recording {
    inner: Box<dyn Scheduler>,
    rec: Rc<RefCell<Recorder>>,
}

impl Scheduler for Recording {
    fn new_execution(&mut self) -> Option<Schedule> {
        let schedule = self.inner.new_execution()?;
        crate::sync::reset_execution_state();
        let mut rec = self.rec.borrow_mut();
        rec.current = Some(schedule.clone());
        rec.executions += 1;
        if let Some(progress) = &rec.progress {
            progress(rec.executions);
        }
        rec.pending.clear();
        rec.steps.clear();
        PANIC_MESSAGE.with(|m| m.borrow_mut().take());
        Some(schedule)
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        let next = self.inner.next_task(runnable, current, is_yielding)?;
        let mut rec = self.rec.borrow_mut();
        if let Some(schedule) = rec.current.as_mut() {
            schedule.push_task(next);
        }
        if rec.tracing {
            rec.trace(runnable, current, next);
        }
        Some(next)
    }

    fn next_u64(&mut self) -> u64 {
        if let Some(schedule) = self.rec.borrow_mut().current.as_mut() {
            schedule.push_random();
        }
        self.inner.next_u64()
    }
}

impl Recorder {
    /// Called at a scheduling point, on the stack of the task `current`
    /// that reached it; `next` runs its pending step now.
    fn trace(&mut self, runnable: &[&Task], current: Option<TaskId>, next: TaskId) {
        for t in runnable {
            self.names
                .entry(t.id())
                .or_insert_with(|| t.name().unwrap_or_else(|| "main".to_owned()));
        }
        let here = current.map(|_| self.model_function_here());
        let function = match (current, here) {
            (Some(cur), Some(f)) if cur == next => f,
            (cur, here) => {
                if let (Some(cur), Some(f)) = (cur, here) {
                    self.pending.insert(cur, f);
                }
                self.pending
                    .remove(&next)
                    .unwrap_or_else(|| "start".to_owned())
            }
        };
        let task = self
            .names
            .get(&next)
            .cloned()
            .unwrap_or_else(|| format!("task{}", usize::from(next)));
        self.steps.push(Step { task, function });
    }

    /// The innermost model function on the calling stack (outside `sync`,
    /// the harness and the low-level accessors), with its caller for
    /// context. The walk stops at the task's first frame: past it the
    /// unwinder would wander into the scheduler's stack.
    fn model_function_here(&mut self) -> String {
        let mut ips = Vec::with_capacity(48);
        backtrace::trace(|frame| {
            ips.push(frame.ip() as usize);
            ips.len() < 96
        });
        let mut found: Vec<String> = Vec::new();
        let mut accessor: Option<String> = None;
        for ip in ips {
            let frame = self
                .symbols
                .entry(ip)
                .or_insert_with(|| classify(ip))
                .clone();
            match frame {
                Frame::Boundary if !found.is_empty() || accessor.is_some() => break,
                Frame::Accessor(name) if found.is_empty() && accessor.is_none() => {
                    accessor = Some(name);
                }
                Frame::Model(name) => {
                    if found.last() != Some(&name) {
                        found.push(name);
                    }
                    if found.len() == 2 {
                        break;
                    }
                }
                _ => {}
            }
        }
        match (found.len(), accessor) {
            (0, Some(a)) => a,
            (0, None) => "(outside the model)".to_owned(),
            (1, _) => found.remove(0),
            _ => format!("{} ← {}", found[0], found[1]),
        }
    }
}

/// What a stack frame is to the printed interleaving.
#[derive(Clone, Debug)]
enum Frame {
    /// A model function worth naming.
    Model(String),
    /// A low-level accessor (page, physmem, sparse lookups): named only if
    /// nothing above it is.
    Accessor(String),
    /// The scheduler or a task's entry: the task's own stack ends here.
    Boundary,
    /// Anything else (std, the harness, closures).
    Other,
}

/// Classifies the frame at `ip` (of an inlined chain, the innermost model
/// function wins).
fn classify(ip: usize) -> Frame {
    let mut out = Frame::Other;
    backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
        if matches!(out, Frame::Model(_)) {
            return;
        }
        let Some(name) = sym.name() else { return };
        let full = format!("{name:#}");
        if full.contains("shuttle_engine::runtime") || full.contains("corosensei") {
            if matches!(out, Frame::Other) {
                out = Frame::Boundary;
            }
            return;
        }
        let model = full.starts_with("mmsim::") || full.starts_with("<mmsim::");
        if !model
            || full.contains("mmsim::sync::")
            || full.contains("::explore::")
            || full.contains("mmsim::race::RaceCtx")
            || full.contains("mmsim::race::join")
            || full.contains("mmsim::main")
            || full.contains("{{closure}}")
        {
            return;
        }
        let short = short_name(&full);
        let low_level = ["mmsim::page::", "mmsim::physmem::", "mmsim::sparse::"]
            .iter()
            .any(|m| full.starts_with(m) || full.starts_with(&format!("<{m}")));
        out = if low_level {
            Frame::Accessor(short)
        } else {
            Frame::Model(short)
        };
    });
    out
}

/// `mmsim::gup::fast::<impl mmsim::machine::Machine>::gup_fast_pte` →
/// `gup_fast_pte`.
fn short_name(full: &str) -> String {
    let mut depth = 0usize;
    let mut last = 0usize;
    let bytes = full.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && i + 1 < bytes.len() && bytes[i + 1] == b':' => last = i + 2,
            _ => {}
        }
    }
    full[last..].to_owned()
}

// Per OS thread on purpose: the explorer runs outside shuttle's tasks.
std::thread_local! {
    /// The first panic message of the execution in progress.
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` with standard error pointed at /dev/null (shuttle prints a
/// line or two per failing execution, which the explorer reports itself).
fn stderr_silenced<R>(f: impl FnOnce() -> R) -> R {
    let saved = rustix::io::dup(rustix::stdio::stderr()).ok();
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::WRONLY,
        rustix::fs::Mode::empty(),
    )
    .ok();
    if let (Some(_), Some(null)) = (&saved, &null) {
        let _ = rustix::stdio::dup2_stderr(null);
    }
    let r = f();
    if let Some(saved) = &saved {
        let _ = rustix::stdio::dup2_stderr(saved);
    }
    r
}

/// Runs `f` with a panic hook that records the first panic's message
/// instead of printing it, and shuttle's own reports silenced.
fn quietly<R>(f: impl FnOnce() -> R) -> R {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "(panic without a message)".to_owned()
        };
        let msg = match info.location() {
            Some(loc) if !msg.starts_with(VIOLATION) => format!("{msg} (at {loc})"),
            _ => msg,
        };
        let _ = PANIC_MESSAGE.try_with(|m| {
            let mut m = m.borrow_mut();
            if m.is_none() {
                *m = Some(msg);
            }
        });
    }));
    let r = stderr_silenced(f);
    panic::set_hook(previous);
    r
}

fn shuttle_config(max_steps: usize) -> Config {
    let mut config = Config::new();
    config.failure_persistence = FailurePersistence::None;
    config.max_steps = MaxSteps::FailAfter(max_steps);
    config.silence_warnings = true;
    config
}

/// Runs `race`'s body under `ctx` for every execution `inner` draws,
/// recording into `rec`, quietly; the panic payload of a failing execution.
fn run_recorded(
    race: &'static Race,
    ctx: &RaceCtx,
    inner: Box<dyn Scheduler>,
    rec: &Rc<RefCell<Recorder>>,
    max_steps: usize,
) -> Result<(), Box<dyn std::any::Any + Send>> {
    let scheduler = Recording {
        inner,
        rec: Rc::clone(rec),
    };
    let runner = Runner::new(scheduler, shuttle_config(max_steps));
    let ctx = ctx.clone();
    let body = race.run;
    quietly(|| {
        panic::catch_unwind(AssertUnwindSafe(|| {
            runner.run(move || body(&ctx));
        }))
    })
}

/// Runs `race` under `cfg` until a schedule fails or `cfg.schedules` ran.
pub fn explore(race: &'static Race, cfg: &ExploreConfig) -> Summary {
    explore_with_progress(race, cfg, |_| {})
}

/// [`explore`], calling `progress(n)` as execution `n` (from 1) starts: for
/// a progress bar.
pub fn explore_with_progress(
    race: &'static Race,
    cfg: &ExploreConfig,
    progress: impl Fn(u64) + 'static,
) -> Summary {
    let rec = Rc::new(RefCell::new(Recorder {
        progress: Some(Box::new(progress)),
        ..Recorder::default()
    }));
    let n = usize::try_from(cfg.schedules).unwrap_or(usize::MAX);
    let seed = cfg.shard_seed();
    let inner: Box<dyn Scheduler> = match cfg.scheduler {
        SchedulerKind::Random => Box::new(RandomScheduler::new_from_seed(seed, n)),
        SchedulerKind::Pct(depth) => Box::new(PctScheduler::new_from_seed(seed, depth.max(1), n)),
    };
    let start = crate::sync::clock::now();
    let result = if n > 0 {
        run_recorded(race, &cfg.ctx, inner, &rec, cfg.max_steps)
    } else {
        Ok(())
    };
    let seconds = crate::sync::clock::seconds_since(start);
    let rec = rec.borrow();
    let failure = result.err().map(|payload| Failure {
        execution: rec.executions,
        message: failure_message(payload),
        schedule: rec
            .current
            .as_ref()
            .map(serialize_schedule)
            .unwrap_or_default(),
    });
    Summary {
        race: race.name.to_owned(),
        variants: non_default(&cfg.ctx.variants),
        mutant: cfg.ctx.mutant.map(str::to_owned),
        scheduler: cfg.scheduler,
        seed: cfg.seed,
        shard_seed: seed,
        shard: [cfg.shard.0, cfg.shard.1],
        schedules: rec.executions,
        seconds,
        failure,
    }
}

/// The settings that differ from mainline, as `KEY=VALUE`.
pub fn non_default(variants: &crate::variant::Variants) -> Vec<String> {
    let mainline = crate::variant::Variants::default();
    variants
        .iter()
        .zip(mainline.iter())
        .filter(|(a, b)| a != b)
        .map(|((k, v), _)| format!("{k}={v}"))
        .collect()
}

/// The message of the panic that ended an execution: the first one
/// recorded (an actor's), else the payload shuttle re-raised.
fn failure_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(first) = PANIC_MESSAGE.with(|m| m.borrow_mut().take()) {
        return first;
    }
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "(panic without a message)".to_owned()
    }
}

/// What a replay saw.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// The failure message, or None if the schedule ran clean.
    pub message: Option<String>,
    /// Every step, in order.
    pub steps: Vec<Step>,
}

/// Replays `schedule` (shuttle's serialised form) of `race` under `ctx`,
/// recording the interleaving. Err if the string is not a schedule.
pub fn replay(
    race: &'static Race,
    ctx: &RaceCtx,
    schedule: &str,
    max_steps: usize,
) -> Result<Replayed, String> {
    let schedule =
        deserialize_schedule(schedule).ok_or_else(|| "not a shuttle schedule".to_owned())?;
    let rec = Rc::new(RefCell::new(Recorder {
        tracing: true,
        ..Recorder::default()
    }));
    let inner = Box::new(ReplayScheduler::new_from_schedule(schedule));
    let result = run_recorded(race, ctx, inner, &rec, max_steps);
    let message = result.err().map(failure_message);
    let steps = std::mem::take(&mut rec.borrow_mut().steps);
    Ok(Replayed { message, steps })
}

/// Merges consecutive steps of one task; keeps the last `keep` runs.
/// Returns the runs and how many earlier runs were left out.
pub fn shorten(steps: &[Step], keep: usize) -> (Vec<Run>, usize) {
    let mut runs: Vec<Run> = Vec::new();
    for s in steps {
        match runs.last_mut() {
            Some(r) if r.task == s.task => {
                r.accesses += 1;
                if r.functions.last() != Some(&s.function) && s.function != "start" {
                    r.functions.push(s.function.clone());
                }
            }
            _ => runs.push(Run {
                task: s.task.clone(),
                functions: vec![s.function.clone()],
                accesses: 1,
            }),
        }
    }
    let cut = runs.len().saturating_sub(keep);
    (runs.split_off(cut), cut)
}

/// The interleaving as numbered lines, each run's functions shortened to
/// the first and last few.
pub fn render(runs: &[Run], skipped: usize) -> String {
    let mut out = String::new();
    if skipped > 0 {
        out.push_str(&format!("  ... {skipped} earlier steps (setup) left out\n"));
    }
    let width = runs.iter().map(|r| r.task.len()).max().unwrap_or(4);
    for (i, r) in runs.iter().enumerate() {
        let f = &r.functions;
        let path = if f.len() <= 6 {
            f.join(" → ")
        } else {
            format!(
                "{} → … → {}",
                f[..3].join(" → "),
                f[f.len() - 2..].join(" → ")
            )
        };
        out.push_str(&format!(
            "{:>4}. {:<width$}  {path}",
            skipped + i + 1,
            r.task
        ));
        if r.accesses > 1 {
            out.push_str(&format!("  ({} accesses)", r.accesses));
        }
        out.push('\n');
    }
    out
}

/// Runs `race` under shuttle's uncontrolled-nondeterminism checker: each
/// schedule is run twice and must offer the same choices both times.
/// Panics (shuttle's message) if the model consults anything but the
/// schedule (a clock, an address, a hash order).
pub fn check_determinism(race: &'static Race, ctx: &RaceCtx, schedules: usize, max_steps: usize) {
    let ctx = ctx.clone();
    let body = race.run;
    let scheduler = shuttle::scheduler::UncontrolledNondeterminismCheckScheduler::new(
        RandomScheduler::new_from_seed(0, schedules),
    );
    let runner = Runner::new(scheduler, shuttle_config(max_steps));
    crate::sync::reset_execution_state();
    runner.run(move || body(&ctx));
}
