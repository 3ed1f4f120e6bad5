//! `mmsim stress`: every actor of the machine at once, on real OS threads,
//! for a time budget, with the invariant checker and the oracle on.
//!
//! # The picture
//!
//! One machine, booted with a ZONE_MOVABLE tail, swap, two hot-pluggable
//! memory blocks above boot RAM and a virtio-mem device above those, and
//! around it a crowd of threads that each play one part, as fast as they
//! can, until a shared stop flag says the time is up:
//!
//! * `procN` ([`process`]): a process (one thread, as a process runs one
//!   command at a time) writing, reading, forking and letting its children
//!   exit, pinning slow and fast (FOLL_GET and FOLL_PIN, short-term and
//!   longterm, held over later operations), munmap()ing and mapping again,
//!   mprotect()ing, MADV_PAGEOUT, MADV_DONTNEED, marking memory mergeable
//!   for KSM and collapsing THPs, and now and then exiting and starting
//!   again. Each process mirrors everything it does into its own
//!   [`Oracle`](crate::oracle::Oracle), which judges every byte it or one
//!   of its pins reads;
//! * `ksmd` ([`process::Ksmd`]): KSM scans merging what the
//!   processes marked;
//! * `admin` ([`admin`]): adds, onlines, offlines and removes the hot
//!   blocks and offlines and onlines the boot ZONE_MOVABLE block under the
//!   processes (an offline that cannot finish is interrupted by a signal, as
//!   a person would press Ctrl-C);
//! * `virtio-mem` ([`devices`]): the hypervisor resizing its device, the
//!   guest driver plugging and unplugging in its own thread;
//! * `balloon` ([`devices`]): inflating and deflating;
//! * `kcore`, `kpageflags` ([`readers`]): /proc readers walking PFNs
//!   (half of kcore's reads land on the virtio-mem device, whose
//!   unplugged memory is inaccessible);
//! * `scanner` ([`readers::Scanner`]): the compaction scanner
//!   (`isolate_migratepages_block()`) taking speculative references.
//!
//! # What counts as a violation
//!
//! A violation names the actor and what broke: an oracle violation or a
//! model error a process did not expect; a panic in an actor thread (the
//! model's BUG()s are panics); the bugs the model reported
//! ([`Machine::take_bugs`]) and fatal accesses to inaccessible memory
//! ([`Machine::fatal_access_reports`]), collected while running; and, once
//! every actor has stopped and the virtio-mem driver has settled, every
//! invariant of [`Machine::check_all`]. The first violation stops the run.
//! The full check needs a quiescent machine, so it runs only at the end;
//! bugs and fatal accesses are collected every tick.
//!
//! # Broken variants
//!
//! Measured on 2 shared cores, runs of 2 to 5 seconds (the variants below
//! the first with `memmap_free=rcu`, so that nothing else breaks first):
//!
//! * `memmap_free=immediate` with `pfn_walker=online_page` (mainline, the
//!   default) is found within a second, every run: kpageflags, kpagecount
//!   or kcore reads a memmap that remove_memory() freed after the reader
//!   found its section online (the walkers' use-after-free report).
//!   `memmap_free=rcu` (with or without `pfn_walker=active`) runs clean, so
//!   a clean run needs `--variant memmap_free=rcu`.
//! * `cow_reuse=mapcount` is found in every run or two (`tests/stress.rs`
//!   relies on it): its breakage needs no race, only the right sequence of
//!   fork, GUP, exit and write, which the processes' random walk reaches
//!   quickly (oracle `get-no-foreign-writes` / `pin-coherent`, and the
//!   model's bookkeeping of such pages: mapcount underflow, bad page state).
//! * `cow_reuse=refcount`: found in about two runs of three (`pin-coherent`).
//! * `kcore_sync=none`: found in one 4-to-5-second run of eight, as a fatal
//!   access by kcore to a sub-block the driver fake-offlined and the host
//!   discarded between kcore's PageOffline check and its copy.
//! * `gup_fast_recheck=off` and `gup_fork_seq=off`: not found. A process is
//!   one thread, so GUP-fast never meets a fork or an unmap of its own mm;
//!   migration changing a PTE between GUP-fast's two reads is a window of a
//!   few instructions.
//! * `offline_skip=refcount` (mainline, the default): the scanner only
//!   references LRU and movable_ops pages, as `isolate_migratepages_block()`
//!   does, so it reaches a fake-offline page only if one becomes that
//!   between its check and its reference; not seen in runs.
//!
//! The races proper are the explorer's job (`mmsim explore`), which
//! controls the schedule.

//! # Bounds
//!
//! Every actor checks the stop flag before each operation, and every
//! operation is bounded (an offline by its signal), so the run ends within
//! one operation's time of the deadline; then every thread is joined, and
//! the virtio-mem driver thread is stopped when the run ends, even by a
//! panic (as the scenario interpreter's `World` does).

pub mod admin;
pub mod devices;
pub mod process;
pub mod readers;

use crate::hotplug::{OnlineType, Task};
use crate::machine::{Machine, MachineConfig};
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::clock;
use crate::sync::{thread, Arc, Mutex};
use crate::variant::Variants;
use crate::vmm::virtio_mem::HostVirtioMem;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// Bytes of a memory block (and of a section's multiple the RAM must be).
const BLOCK: u64 = 128 << 20;
/// The smallest boot RAM a stress run accepts: the kernel's share, the
/// ZONE_MOVABLE tail the processes live in, and room for the balloon.
pub const MIN_RAM: u64 = 512 << 20;
/// The largest boot RAM a stress run accepts (booting is fast; the point of
/// stress is contention, not size).
pub const MAX_RAM: u64 = 256 << 30;
/// The most process actors.
pub const MAX_THREADS: usize = 64;
/// The longest run: a week.
pub const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
/// The most violations a report lists.
pub const MAX_VIOLATIONS: usize = 50;
/// How often the main thread reports progress, collects bugs and fatal
/// accesses and signals a stuck offline.
const TICK: Duration = Duration::from_millis(10);
/// How long, in seconds, after the end of the run an actor may take to
/// stop before it counts as stuck.
const STUCK: f64 = 60.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct StressConfig {
    /// The time budget.
    pub seconds: f64,
    /// Seeds every actor's random choices (actor `i` gets its own stream).
    pub seed: u64,
    /// Boot RAM in bytes: a multiple of 128M from [`MIN_RAM`] to
    /// [`MAX_RAM`].
    pub ram: u64,
    /// Process actors, 1 to [`MAX_THREADS`].
    pub threads: usize,
    /// The protocol variants.
    pub variants: Variants,
}

/// The variants stress starts from: mainline, except the two settings that
/// close the PFN walkers' race with hot-remove (`memmap_free=rcu`,
/// `pfn_walker=active`). Mainline has that race for real, and on real
/// threads the model's use-after-free detector finds it within a second
/// (`mmsim explore pfn-walker-vs-hot-remove` shows the interleaving), which
/// would hide everything else a run could find; `--variant
/// memmap_free=immediate` puts it back.
pub fn baseline_variants() -> Variants {
    Variants {
        memmap_free: crate::variant::MemmapFree::Rcu,
        pfn_walker: crate::variant::PfnWalker::Active,
        ..Variants::default()
    }
}

impl Default for StressConfig {
    fn default() -> Self {
        StressConfig {
            seconds: 10.0,
            seed: 1,
            ram: 1 << 30,
            threads: 4,
            variants: baseline_variants(),
        }
    }
}

/// Why a configuration cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StressError {
    /// The option at fault (`seconds`, `ram`, `threads`).
    pub key: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for StressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{}: {}", self.key, self.message)
    }
}

impl std::error::Error for StressError {}

impl StressConfig {
    /// Checks the configuration before anything runs.
    pub fn validate(&self) -> Result<(), StressError> {
        let err = |key, message: String| Err(StressError { key, message });
        if !(self.seconds.is_finite() && self.seconds > 0.0 && self.seconds <= MAX_SECONDS) {
            return err(
                "seconds",
                format!(
                    "{:?} must be more than 0 and at most {MAX_SECONDS} (a week)",
                    self.seconds
                ),
            );
        }
        if !(1..=MAX_THREADS).contains(&self.threads) {
            return err(
                "threads",
                format!(
                    "{} process actors: must be from 1 to {MAX_THREADS}",
                    self.threads
                ),
            );
        }
        if self.ram % BLOCK != 0 || !(MIN_RAM..=MAX_RAM).contains(&self.ram) {
            return err(
                "ram",
                format!(
                    "{} must be a multiple of 128M from {}M to {}G",
                    crate::script::args::format_size(self.ram),
                    MIN_RAM >> 20,
                    MAX_RAM >> 30
                ),
            );
        }
        Ok(())
    }

    /// The machine the actors share: boot RAM with a 128M ZONE_MOVABLE tail,
    /// swap for MADV_PAGEOUT, and hot-added memory onlined to ZONE_MOVABLE.
    fn machine_config(&self) -> MachineConfig {
        MachineConfig {
            ram: self.ram,
            movable: BLOCK,
            swap: 64 << 20,
            auto_online: OnlineType::OnlineMovable,
            ..Default::default()
        }
    }
}

/// Parses a size as `--ram` takes it: a number with an optional binary
/// suffix K, M, G or T (`2G`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    crate::script::args::size(text).map_err(|e| match e {
        crate::script::args::NumError::Bad => {
            format!("`{text}` is not a size (a number with an optional K, M, G or T)")
        }
        crate::script::args::NumError::TooLarge => format!("`{text}` is too large"),
    })
}

/// One actor's work.
#[derive(Clone, Debug, Serialize)]
pub struct ActorReport {
    /// The actor (its thread's name).
    pub actor: String,
    /// Operations it finished.
    pub ops: u64,
    /// Operations per second of the run.
    pub ops_per_sec: f64,
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StressViolation {
    /// The actor that found it (`check` for the final invariant check,
    /// `machine` for bugs and fatal accesses the model reported).
    pub actor: String,
    /// What broke.
    pub what: String,
}

impl fmt::Display for StressViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.actor, self.what)
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Serialize)]
pub struct StressReport {
    /// How long the actors ran, in seconds.
    pub seconds: f64,
    /// The seed.
    pub seed: u64,
    /// The variants, `KEY=VALUE` separated by spaces.
    pub variants: String,
    /// Every actor's work, in spawn order.
    pub actors: Vec<ActorReport>,
    /// What broke, the first [`MAX_VIOLATIONS`] (empty: the run was
    /// clean).
    pub violations: Vec<StressViolation>,
    /// How many more violations there were (one broken page often breaks
    /// an invariant for each of its neighbours too).
    pub more_violations: u64,
}

impl StressReport {
    /// No violation.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Where the actors' memory is: boot RAM, then the admin's hot blocks, then
/// the virtio-mem device region.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// The first hot block's address.
    pub hot_base: u64,
    /// How many hot blocks.
    pub hot_blocks: u64,
    /// The virtio-mem device region's address.
    pub dev_addr: u64,
    /// Its size.
    pub dev_size: u64,
    /// The largest size the host asks for.
    pub dev_max: u64,
}

impl Layout {
    fn new(ram: u64) -> Layout {
        let hot_base = ram;
        let hot_blocks = 2;
        Layout {
            hot_base,
            hot_blocks,
            dev_addr: (hot_base + hot_blocks * BLOCK).next_multiple_of(1 << 30),
            dev_size: 1 << 30,
            dev_max: 256 << 20,
        }
    }
}

/// What every actor shares.
pub(crate) struct Ctx {
    pub m: Arc<Machine>,
    pub layout: Layout,
    /// The virtio-mem device, host side (None for [`Background`] actors,
    /// which run no device actor).
    pub host: Option<Arc<HostVirtioMem>>,
    stop: AtomicBool,
    /// The violations kept, and how many more there were.
    violations: Mutex<(Vec<StressViolation>, u64)>,
    /// The task of the admin's operation in flight, with a number that
    /// changes per operation: the main thread signals it once it has seen
    /// the same operation for a whole tick.
    watched: Mutex<Option<(u64, Arc<Task>)>>,
}

impl Ctx {
    /// Whether the run is over.
    pub fn stopped(&self) -> bool {
        // Acquire pairs with the Release in `stop`.
        self.stop.load(Ordering::Acquire)
    }

    fn stop(&self) {
        // Release: pairs with the Acquire in `stopped`.
        self.stop.store(true, Ordering::Release);
    }

    /// Records a violation (the first [`MAX_VIOLATIONS`]; the rest are
    /// counted) and ends the run.
    pub fn violation(&self, actor: &str, what: String) {
        {
            let mut v = self.violations.lock();
            if v.0.len() < MAX_VIOLATIONS {
                v.0.push(StressViolation {
                    actor: actor.to_owned(),
                    what,
                });
            } else {
                v.1 += 1;
            }
        }
        self.stop();
    }

    /// Runs `op` with a fresh task that the main thread signals if `op`
    /// is still running a tick later (and every tick after).
    pub fn with_watched_task<R>(&self, seq: u64, op: impl FnOnce(&Task) -> R) -> R {
        let task = Arc::new(Task::new());
        *self.watched.lock() = Some((seq, task.clone()));
        let r = op(&task);
        *self.watched.lock() = None;
        r
    }

    /// Bugs and fatal accesses the model reported since the last call.
    fn collect_machine_reports(&self) {
        for bug in self.m.take_bugs() {
            self.violation("machine", format!("kernel bug: {bug}"));
        }
        for fatal in self.m.fatal_access_reports() {
            self.violation("machine", format!("fatal access: {fatal}"));
        }
    }
}

/// A tiny xorshift: each actor's choices come from its own seeded stream.
pub(crate) struct Rng(u64);

impl Rng {
    /// The stream of actor `index` for run seed `seed` (never zero).
    pub fn new(seed: u64, index: u64) -> Rng {
        let mut x = seed ^ (index + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // splitmix64's finaliser spreads neighbouring seeds apart.
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((x ^ (x >> 31)) | 1)
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// An actor: one operation at a time until the run stops.
pub(crate) trait Actor: Send + 'static {
    /// One operation; an error is a violation (and ends this actor).
    fn step(&mut self, ctx: &Ctx, rng: &mut Rng) -> Result<(), String>;

    /// After the last operation: give back what the actor holds and check
    /// what it can check only at the end.
    fn finish(&mut self, _ctx: &Ctx) -> Result<(), String> {
        Ok(())
    }

    /// After a violation: give back what the actor holds, checking
    /// nothing (its own view may be what broke).
    fn abandon(&mut self, _ctx: &Ctx) {}
}

/// A spawned actor: its name, its operation count, whether its thread has
/// ended, and the thread.
struct Running {
    name: String,
    ops: Arc<AtomicU64>,
    ended: Arc<AtomicBool>,
    handle: thread::JoinHandle<()>,
}

impl Running {
    fn ended(&self) -> bool {
        // Acquire pairs with the Release in Ended::drop.
        self.ended.load(Ordering::Acquire)
    }
}

/// Marks an actor thread ended when it ends, also by a panic.
struct Ended(Arc<AtomicBool>);

impl Drop for Ended {
    fn drop(&mut self) {
        // Release: the actor's last operations before the mark (pairs with
        // the Acquire in Running::ended).
        self.0.store(true, Ordering::Release);
    }
}

/// Stops the virtio-mem driver threads however the run ends (they hold the
/// machine), as the scenario interpreter's `World` does on drop.
struct DriverShutdown(Arc<Machine>);

impl Drop for DriverShutdown {
    fn drop(&mut self) {
        self.0.virtio_mem_shutdown();
    }
}

fn spawn_actor(ctx: &Arc<Ctx>, name: String, mut rng: Rng, mut actor: Box<dyn Actor>) -> Running {
    let ops = Arc::new(AtomicU64::new(0));
    let ended = Arc::new(AtomicBool::new(false));
    let handle = {
        let (ctx, ops, ended, name) = (ctx.clone(), ops.clone(), ended.clone(), name.clone());
        thread::spawn_named(&name.clone(), move || {
            let _ended = Ended(ended);
            while !ctx.stopped() {
                if let Err(e) = actor.step(&ctx, &mut rng) {
                    ctx.violation(&name, e);
                    actor.abandon(&ctx);
                    return;
                }
                ops.fetch_add(1, Ordering::Relaxed);
            }
            if let Err(e) = actor.finish(&ctx) {
                ctx.violation(&name, e);
            }
        })
    };
    Running {
        name,
        ops,
        ended,
        handle,
    }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a payload that is not text".to_owned()
    }
}

/// Runs every actor for `cfg.seconds`, calling `progress` with the fraction
/// of the time budget gone (0.0 to 1.0) every tick, and reports each actor's
/// operation rate and every violation. Bad configuration is an error before
/// anything runs.
pub fn run_stress(cfg: &StressConfig, progress: &dyn Fn(f64)) -> Result<StressReport, StressError> {
    cfg.validate()?;
    let m = Machine::boot(cfg.machine_config(), cfg.variants).map_err(|e| StressError {
        key: "ram",
        message: e.message,
    })?;
    let m = Arc::new(m);
    let shutdown = DriverShutdown(m.clone());
    let layout = Layout::new(cfg.ram);
    let setup = |what: &str, e: String| StressError {
        key: "ram",
        message: format!("cannot set up {what}: {e}"),
    };
    let host =
        devices::virtio_mem_setup(&m, &layout).map_err(|e| setup("the virtio-mem device", e))?;
    let ctx = Arc::new(Ctx {
        m: m.clone(),
        layout,
        host: Some(host),
        stop: AtomicBool::new(false),
        violations: Mutex::new((Vec::new(), 0)),
        watched: Mutex::new(None),
    });

    let mut actors: Vec<(String, Box<dyn Actor>)> = Vec::new();
    for i in 0..cfg.threads {
        let p = process::ProcessActor::new(&m).map_err(|e| setup("a process", e))?;
        actors.push((format!("proc{i}"), Box::new(p)));
    }
    actors.push(("ksmd".into(), Box::new(process::Ksmd)));
    actors.push(("admin".into(), Box::new(admin::Admin::new(&layout))));
    actors.push(("virtio-mem".into(), Box::new(devices::VirtioMemHost)));
    actors.push(("balloon".into(), Box::new(devices::Balloon)));
    actors.push(("kcore".into(), Box::new(readers::Kcore)));
    actors.push(("kpageflags".into(), Box::new(readers::Kpageflags)));
    actors.push(("scanner".into(), Box::new(readers::Scanner)));

    let start = clock::now();
    let running: Vec<Running> = actors
        .into_iter()
        .enumerate()
        .map(|(i, (name, actor))| spawn_actor(&ctx, name, Rng::new(cfg.seed, i as u64), actor))
        .collect();

    let mut stopped_at = None;
    let mut last_watched = None;
    while running.iter().any(|r| !r.ended()) {
        thread::sleep(TICK);
        let gone = clock::seconds_since(start);
        progress((gone / cfg.seconds).min(1.0));
        if gone >= cfg.seconds {
            ctx.stop();
        }
        if ctx.stopped() && stopped_at.is_none() {
            stopped_at = Some(gone);
        }
        ctx.collect_machine_reports();
        // An offline still running a tick after it began is signalled,
        // every tick until it returns (a signal that meets the writer while
        // it waits for device_hotplug_lock is consumed by the restart).
        let watched = ctx.watched.lock().clone();
        if let Some((seq, task)) = &watched {
            if last_watched == Some(*seq) {
                task.send_signal();
            }
        }
        last_watched = watched.map(|(seq, _)| seq);
        if stopped_at.is_some_and(|at| gone > at + STUCK) {
            break;
        }
    }
    let seconds = stopped_at.unwrap_or_else(|| clock::seconds_since(start));
    progress(1.0);

    let mut reports = Vec::new();
    let mut stuck = false;
    for r in running {
        if !r.ended() {
            // Not joined: its thread is left to itself (a deadlock keeps
            // it forever), the machine with it.
            stuck = true;
            ctx.violation(
                &r.name,
                format!("did not stop within {STUCK}s of the end of the run: deadlock or livelock"),
            );
        } else if let Err(payload) = r.handle.join() {
            ctx.violation(&r.name, format!("panicked: {}", panic_message(&*payload)));
        }
        let ops = r.ops.load(Ordering::Relaxed);
        reports.push(ActorReport {
            actor: r.name,
            ops,
            ops_per_sec: ops as f64 / seconds,
        });
    }
    if stuck {
        // A stuck driver thread would hang the shutdown.
        std::mem::forget(shutdown);
        return Ok(report(cfg, seconds, reports, &ctx));
    }
    // Everybody stopped: let the driver finish what the host asked, then
    // every invariant must hold.
    m.virtio_mem_settle();
    ctx.collect_machine_reports();
    for v in m.check_all() {
        ctx.violation("check", v.to_string());
    }
    Ok(report(cfg, seconds, reports, &ctx))
}

/// Process actors faulting, forking and pinning on a machine that
/// something else drives (`mmsim mount --stress`): the same actors as a
/// stress run's `procN`, until [`Background::stop`]. A violation stops them
/// all (as in a stress run) and is kept for `stop` to return.
pub struct Background {
    ctx: Arc<Ctx>,
    running: Vec<Running>,
}

impl Background {
    /// Starts `threads` process actors on `m`, seeded by `seed`.
    pub fn spawn(m: &Arc<Machine>, threads: usize, seed: u64) -> Result<Background, String> {
        let ctx = Arc::new(Ctx {
            m: m.clone(),
            layout: Layout::new(0),
            host: None,
            stop: AtomicBool::new(false),
            violations: Mutex::new((Vec::new(), 0)),
            watched: Mutex::new(None),
        });
        let mut running = Vec::new();
        for i in 0..threads {
            let p = process::ProcessActor::new(m)?;
            let rng = Rng::new(seed, i as u64);
            running.push(spawn_actor(&ctx, format!("proc{i}"), rng, Box::new(p)));
        }
        Ok(Background { ctx, running })
    }

    /// Stops the actors (each after its operation in flight, then its
    /// processes exit) and returns what broke, a panic included.
    pub fn stop(self) -> Vec<StressViolation> {
        self.ctx.stop();
        for r in self.running {
            if let Err(payload) = r.handle.join() {
                self.ctx
                    .violation(&r.name, format!("panicked: {}", panic_message(&*payload)));
            }
        }
        std::mem::take(&mut self.ctx.violations.lock().0)
    }
}

fn report(cfg: &StressConfig, seconds: f64, actors: Vec<ActorReport>, ctx: &Ctx) -> StressReport {
    let (violations, more_violations) = std::mem::take(&mut *ctx.violations.lock());
    StressReport {
        seconds,
        seed: cfg.seed,
        variants: cfg.variants.to_string(),
        actors,
        violations,
        more_violations,
    }
}
