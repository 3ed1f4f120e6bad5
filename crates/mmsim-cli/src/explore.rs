//! `mmsim races` and `mmsim explore`.
//!
//! The explorer needs the model built with `--cfg mmsim_shuttle` (every
//! atomic access a scheduling point), which is a different build of the
//! same source. The normal `mmsim` therefore hands `explore` over to the
//! explorer build, `target/shuttle/release/mmsim` beside its own
//! `target/release/mmsim`, building it with cargo first when it runs from a
//! checkout and the build is missing. `races` and `explore --merge` need no
//! explorer and run in either build.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use mmsim::race::campaign::{merge, Summary};
use mmsim::race::RACES;

/// `mmsim explore` options.
#[derive(Args, Debug)]
pub struct ExploreArgs {
    /// The race (`mmsim races` lists them).
    pub race: Option<String>,
    /// A protocol variant KEY=VALUE; repeatable. Default: mainline.
    #[arg(long = "variant", value_name = "KEY=VALUE")]
    pub variants: Vec<String>,
    /// A mutant of the holding design (see `mmsim races`).
    #[arg(long)]
    pub mutant: Option<String>,
    /// Schedules to run in this shard.
    #[arg(long, default_value_t = 1000)]
    pub schedules: u64,
    /// The campaign's seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// This shard of the campaign, `I/N` (0 ≤ I < N): shards draw from
    /// disjoint seeds.
    #[arg(long, value_name = "I/N", default_value = "0/1")]
    pub shard: String,
    /// `random`, or `pct` / `pct:DEPTH` (default depth 3).
    #[arg(long, default_value = "pct")]
    pub scheduler: String,
    /// Scheduling points after which an execution counts as a livelock.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_steps: usize,
    /// Where to write the replay file of a failing schedule.
    #[arg(long, value_name = "FILE", default_value = "mmsim-replay.json")]
    pub out: PathBuf,
    /// Replay a file written by a failing run and print its interleaving.
    #[arg(long, value_name = "FILE", conflicts_with = "merge")]
    pub replay: Option<PathBuf>,
    /// Sum the JSON summaries of a campaign's shards.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub merge: Vec<PathBuf>,
    /// Print one JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
    /// Steps of the interleaving to print (the last ones).
    #[arg(long, default_value_t = 60)]
    pub steps: usize,
}

/// `mmsim races`: the table.
pub fn races(json: bool) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<_> = RACES
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "seed_thread": r.seed_thread,
                    "actors": r.actors,
                    "checks": r.checks,
                    "breaks": r.breaks,
                    "holds": r.holds,
                    "mutants": r.mutants.iter().map(|m| serde_json::json!({
                        "name": m.name, "removes": m.removes })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let _ = writeln!(out, "{}", serde_json::Value::Array(list));
        return ExitCode::SUCCESS;
    }
    for r in RACES {
        let _ = writeln!(out, "{}", r.name);
        let _ = writeln!(out, "  seed thread: {}", r.seed_thread);
        let _ = writeln!(out, "  actors:      {}", r.actors);
        let _ = writeln!(out, "  checks:      {}", r.checks);
        let _ = writeln!(out, "  breaks:      {}", r.breaks.join(" | "));
        let _ = writeln!(out, "  holds:       {}", r.holds.join(" | "));
        for m in r.mutants {
            let _ = writeln!(
                out,
                "  mutant:      {} (of `{}`: {})",
                m.name,
                r.holds.first().copied().unwrap_or(""),
                m.removes
            );
        }
        let _ = writeln!(out);
    }
    ExitCode::SUCCESS
}

/// `mmsim explore`.
pub fn explore(args: &ExploreArgs) -> ExitCode {
    if !args.merge.is_empty() {
        return merge_files(&args.merge, args.json);
    }
    run_explorer(args)
}

fn bad_input(msg: &str) -> ExitCode {
    eprintln!("mmsim explore: {msg}");
    ExitCode::from(2)
}

fn merge_files(files: &[PathBuf], json: bool) -> ExitCode {
    let mut shards = Vec::new();
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => return bad_input(&format!("{}: {e}", f.display())),
        };
        match serde_json::from_str::<Summary>(&text) {
            Ok(s) => shards.push(s),
            Err(e) => return bad_input(&format!("{}: not a shard summary: {e}", f.display())),
        }
    }
    let merged = match merge(&shards) {
        Ok(m) => m,
        Err(e) => return bad_input(&e.to_string()),
    };
    if json {
        println!("{}", serde_json::to_string(&merged).unwrap_or_default());
    } else {
        println!(
            "{}: {} shards, {} schedules, {:.1} s, {} failing",
            merged.race,
            merged.shards,
            merged.schedules,
            merged.seconds,
            merged.failures.len()
        );
        for (shard, f) in &merged.failures {
            println!("  shard {shard}, execution {}: {}", f.execution, f.message);
        }
    }
    ExitCode::from(u8::from(!merged.failures.is_empty()))
}

/// The explorer build: runs it here.
#[cfg(mmsim_shuttle)]
fn run_explorer(args: &ExploreArgs) -> ExitCode {
    keep_heap();
    shuttle_side::run(args)
}

/// Every execution grows shuttle's schedule, one entry per scheduling point
/// (up to a million for a hotplug race), from empty; with glibc's defaults
/// the heap top it grew into goes back to the host when the execution ends
/// and comes back as fresh pages, faulted in one by one, in the next. Keep
/// it (up to 1 GiB) and serve such vectors from the heap (up to 32 MiB),
/// not a mapping each. Changes no model behaviour, only where the
/// explorer's memory comes from.
#[cfg(all(mmsim_shuttle, target_os = "linux", target_env = "gnu"))]
fn keep_heap() {
    // SAFETY: mallopt only tunes glibc's allocator; called before the
    // explorer allocates anything large, on the only thread.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

#[cfg(all(mmsim_shuttle, not(all(target_os = "linux", target_env = "gnu"))))]
fn keep_heap() {}

/// The normal build: hands over to the explorer build.
#[cfg(not(mmsim_shuttle))]
fn run_explorer(_args: &ExploreArgs) -> ExitCode {
    let Some(exe) = explorer_binary() else {
        return bad_input(
            "the explorer build is missing and this mmsim does not run from a checkout; build it with\n  \
             RUSTFLAGS=\"--cfg mmsim_shuttle\" cargo build --release -p mmsim-cli --target-dir target/shuttle",
        );
    };
    let status = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .status();
    match status {
        Ok(s) => ExitCode::from(s.code().map_or(1, |c| c.clamp(0, 255) as u8)),
        Err(e) => bad_input(&format!("{}: {e}", exe.display())),
    }
}

/// `target/shuttle/<profile>/mmsim` for this `target/<profile>/mmsim`,
/// built first if missing and a checkout is at hand.
#[cfg(not(mmsim_shuttle))]
fn explorer_binary() -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    let profile_dir = me.parent()?;
    let profile = profile_dir.file_name()?.to_owned();
    let target = profile_dir.parent()?;
    let shuttle_target = target.join("shuttle");
    let exe = shuttle_target.join(&profile).join("mmsim");
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if checkout.join("Cargo.toml").is_file() {
        eprintln!(
            "mmsim explore: building the explorer (--cfg mmsim_shuttle) in {}",
            shuttle_target.display()
        );
        let mut cargo =
            std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo
            .current_dir(&checkout)
            .env("RUSTFLAGS", "--cfg mmsim_shuttle")
            .args([
                "build",
                "-q",
                "-p",
                "mmsim-cli",
                "--bin",
                "mmsim",
                "--target-dir",
            ])
            .arg(&shuttle_target);
        if profile == "release" {
            cargo.arg("--release");
        }
        if !cargo.status().ok()?.success() {
            return None;
        }
    }
    exe.is_file().then_some(exe)
}

#[cfg(mmsim_shuttle)]
mod shuttle_side {
    /// `println!` that ignores a closed stdout (`mmsim explore ... | head`).
    macro_rules! outln {
        ($($t:tt)*) => {{
            use std::io::Write as _;
            let _ = writeln!(std::io::stdout(), $($t)*);
        }};
    }
    /// `print!` that ignores a closed stdout.
    macro_rules! out {
        ($($t:tt)*) => {{
            use std::io::Write as _;
            let _ = write!(std::io::stdout(), $($t)*);
        }};
    }

    use super::{bad_input, ExploreArgs};
    use mmsim::race::campaign::{ReplayFile, SchedulerKind};
    use mmsim::race::explore::{explore_with_progress, render, replay, shorten, ExploreConfig};
    use mmsim::race::{apply_settings, find, Race, RaceCtx, VIOLATION};
    use std::process::ExitCode;

    fn parse_shard(s: &str) -> Option<(u64, u64)> {
        let (i, n) = s.split_once('/')?;
        let (i, n) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
        (n > 0 && i < n).then_some((i, n))
    }

    fn parse_scheduler(s: &str) -> Option<SchedulerKind> {
        match s {
            "random" => Some(SchedulerKind::Random),
            "pct" => Some(SchedulerKind::Pct(3)),
            _ => {
                let d: usize = s.strip_prefix("pct:")?.parse().ok()?;
                (1..=64).contains(&d).then_some(SchedulerKind::Pct(d))
            }
        }
    }

    fn context(
        race: &'static Race,
        variants: &[String],
        mutant: Option<&str>,
    ) -> Result<RaceCtx, String> {
        let mut ctx = RaceCtx::default();
        for kv in variants {
            apply_settings(&mut ctx.variants, kv).map_err(|e| format!("--variant {kv}: {e}"))?;
        }
        if let Some(name) = mutant {
            let m = race
                .mutants
                .iter()
                .find(|m| m.name == name)
                .ok_or_else(|| {
                    let known: Vec<_> = race.mutants.iter().map(|m| m.name).collect();
                    format!(
                        "--mutant {name}: {} has {}",
                        race.name,
                        if known.is_empty() {
                            "no mutants".to_owned()
                        } else {
                            format!("only {}", known.join(", "))
                        }
                    )
                })?;
            ctx.mutant = Some(m.name);
        }
        Ok(ctx)
    }

    /// A progress bar over the campaign's schedules on a terminal (not
    /// under `--json`), cleared when the last one starts or the campaign
    /// ends early; a no-op otherwise.
    fn schedule_bar(args: &ExploreArgs) -> impl Fn(u64) + 'static {
        use std::io::IsTerminal;
        use std::os::fd::AsFd;
        let wanted = !args.json && args.schedules > 1 && std::io::stderr().is_terminal();
        // Drawn on copies of stderr: the explorer points fd 2 at /dev/null
        // while executions run (the panics of a find are expected).
        let copy = || {
            std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .map(std::fs::File::from)
        };
        let term = match (wanted, copy(), copy()) {
            (true, Some(read), Some(write)) => Some(console::Term::read_write_pair(read, write)),
            _ => None,
        };
        let bar = term.map(|term| {
            // Cleared when dropped too: a find ends the campaign early.
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(args.schedules),
                indicatif::ProgressDrawTarget::term(term, 20),
            )
            .with_finish(indicatif::ProgressFinish::AndClear);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "explore {wide_bar} {pos}/{len} schedules, {eta} left",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let total = args.schedules;
        move |n| {
            if let Some(bar) = &bar {
                bar.set_position(n);
                if n >= total {
                    bar.finish_and_clear();
                }
            }
        }
    }

    pub(super) fn run(args: &ExploreArgs) -> ExitCode {
        if let Some(file) = &args.replay {
            return replay_file(file, args);
        }
        let Some(name) = args.race.as_deref() else {
            return bad_input("which race? (`mmsim races` lists them)");
        };
        let Some(race) = find(name) else {
            return bad_input(&format!("no race {name:?} (`mmsim races` lists them)"));
        };
        let ctx = match context(race, &args.variants, args.mutant.as_deref()) {
            Ok(c) => c,
            Err(e) => return bad_input(&e),
        };
        let Some(shard) = parse_shard(&args.shard) else {
            return bad_input(&format!("--shard {}: want I/N with 0 <= I < N", args.shard));
        };
        let Some(scheduler) = parse_scheduler(&args.scheduler) else {
            return bad_input(&format!(
                "--scheduler {}: want random, pct or pct:DEPTH (1..64)",
                args.scheduler
            ));
        };
        if args.max_steps == 0 {
            return bad_input("--max-steps must be at least 1");
        }
        let cfg = ExploreConfig {
            ctx: ctx.clone(),
            schedules: args.schedules,
            seed: args.seed,
            shard,
            scheduler,
            max_steps: args.max_steps,
        };
        let summary = explore_with_progress(race, &cfg, schedule_bar(args));
        if args.json {
            outln!("{}", serde_json::to_string(&summary).unwrap_or_default());
        } else {
            outln!(
                "{} [{}{}] {} shard {}/{} seed {}: {} schedules in {:.2} s ({:.0} schedules/s)",
                race.name,
                summary.variants.join(" "),
                summary
                    .mutant
                    .as_deref()
                    .map(|m| format!(" mutant={m}"))
                    .unwrap_or_default(),
                summary.scheduler,
                shard.0,
                shard.1,
                args.seed,
                summary.schedules,
                summary.seconds,
                summary.rate()
            );
        }
        let Some(failure) = summary.failure else {
            if !args.json {
                outln!("clean");
            }
            return ExitCode::SUCCESS;
        };
        let file = ReplayFile {
            race: race.name.to_owned(),
            variants: summary.variants.clone(),
            mutant: summary.mutant.clone(),
            failure: failure.clone(),
        };
        if let Err(e) = std::fs::write(
            &args.out,
            serde_json::to_string_pretty(&file).unwrap_or_default() + "\n",
        ) {
            eprintln!("mmsim explore: {}: {e}", args.out.display());
        }
        if !args.json {
            outln!(
                "FOUND in execution {}: {}",
                failure.execution,
                failure.message.trim_start_matches(VIOLATION)
            );
            outln!("replay file: {}", args.out.display());
            print_interleaving(race, &ctx, &failure.schedule, args);
        }
        ExitCode::from(1)
    }

    fn print_interleaving(race: &'static Race, ctx: &RaceCtx, schedule: &str, args: &ExploreArgs) {
        match replay(race, ctx, schedule, args.max_steps) {
            Ok(r) => {
                let (runs, skipped) = shorten(&r.steps, args.steps);
                outln!("interleaving ({} scheduling points):", r.steps.len());
                out!("{}", render(&runs, skipped));
                match r.message {
                    Some(m) => outln!("→ {}", m.trim_start_matches(VIOLATION)),
                    None => outln!("→ (the replay ran clean: the schedule does not reproduce)"),
                }
            }
            Err(e) => eprintln!("mmsim explore: replay: {e}"),
        }
    }

    fn replay_file(path: &std::path::Path, args: &ExploreArgs) -> ExitCode {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return bad_input(&format!("{}: {e}", path.display())),
        };
        let file: ReplayFile = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => return bad_input(&format!("{}: not a replay file: {e}", path.display())),
        };
        let Some(race) = find(&file.race) else {
            return bad_input(&format!("{}: no race {:?}", path.display(), file.race));
        };
        let ctx = match context(race, &file.variants, file.mutant.as_deref()) {
            Ok(c) => c,
            Err(e) => return bad_input(&format!("{}: {e}", path.display())),
        };
        let replayed = match replay(race, &ctx, &file.failure.schedule, args.max_steps) {
            Ok(r) => r,
            Err(e) => return bad_input(&format!("{}: {e}", path.display())),
        };
        let (runs, skipped) = shorten(&replayed.steps, args.steps);
        if args.json {
            outln!(
                "{}",
                serde_json::json!({
                    "race": race.name,
                    "reproduced": replayed.message.as_deref() == Some(file.failure.message.as_str()),
                    "message": replayed.message,
                    "steps": replayed.steps.len(),
                })
            );
        } else {
            outln!(
                "{} [{}]: replaying {}",
                race.name,
                file.variants.join(" "),
                path.display()
            );
            outln!("interleaving ({} scheduling points):", replayed.steps.len());
            out!("{}", render(&runs, skipped));
        }
        match replayed.message {
            Some(m) => {
                if !args.json {
                    outln!("→ {}", m.trim_start_matches(VIOLATION));
                    if m != file.failure.message {
                        outln!("(the recorded failure was: {})", file.failure.message);
                    }
                }
                ExitCode::from(1)
            }
            None => {
                if !args.json {
                    outln!("→ ran clean: the schedule does not reproduce the failure");
                }
                ExitCode::SUCCESS
            }
        }
    }
}
