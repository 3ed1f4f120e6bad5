//! `mmsim run --host FILE...`: the host kernel as a second oracle.
//!
//! Each file runs twice: in the model, as `mmsim run` runs it, recording
//! every line's result; and, for its process part, on the host kernel. Then
//! the two are compared line by line, each side's expectations judged with
//! its own values: a `let x = P pfn mem` binds the model's PFN on the model
//! side and the host's on the host side.
//!
//! # The host side
//!
//! Picture the orchestrator (this process) at the centre of a star of
//! drivers, one per scenario process, each a real process whose address
//! space is the scenario process's:
//!
//! * `spawn P` starts `mmsim __host-driver` (this binary, exec'd afresh, so
//!   single-threaded: no model thread exists in a process that forks) with
//!   one end of a Unix socket pair as its standard input;
//! * the orchestrator sends one [`proto::Request`] a line (JSON) and reads
//!   one [`proto::Reply`]: mmap (between PROT_NONE guards, 2 MiB aligned,
//!   MADV_HUGEPAGE for `thp`, MAP_HUGETLB, MADV_POPULATE_* for `populate`,
//!   files are the orchestrator's memfds opened through /proc/PID/fd),
//!   munmap, mremap, mprotect, madvise, touch/read/write (the kernel's user
//!   copies: a fault is EFAULT, not SIGSEGV), clear_refs, vmsplice (FOLL_GET)
//!   and io_uring buffer registration (FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE);
//! * `P fork Q`: the driver forks; the child moves to a new socket pair,
//!   whose other end the orchestrator copies out of the parent driver with
//!   `pidfd_getfd()` (then tells it to close its copy);
//! * a pin's descriptors (the vmsplice pipe, the io_uring ring) are copied
//!   the same way, so a pin outlives its process, as the model's do, and
//!   `PIN read`/`PIN write` are DMA done here: `tee()` of the pipe, or
//!   WRITE_FIXED/READ_FIXED on the ring;
//! * `P exit` ends the driver and waits for its socket's end of file, which
//!   comes after its address space is gone;
//! * the readers (`P pagemap|pte|pfn|smaps`, `kpageflags`, `kpagecount`)
//!   read /proc/PID/pagemap, /proc/PID/smaps, /proc/kpageflags and
//!   /proc/kpagecount from here (root);
//! * `meminfo HugePages_Total|Free|Rsvd|Surp` reads /proc/meminfo, only in
//!   a file whose machine has `hugepages=N` and only when the host's free
//!   pool was exactly N pages (else the whole file is skipped): the pool is
//!   machine-wide, so nothing else may use it while the file runs.
//!
//! A driver that dies or does not answer within a minute is killed and the
//! line reported as a difference; every driver is killed and reaped when a
//! file ends (this process is a child subreaper, so drivers whose parent
//! driver is gone are reaped here too).
//!
//! # What is compared
//!
//! Lines the host cannot express are skipped and counted by reason
//! ([`plan::Skip`]). Of the others: an `expect` agrees when it holds on both
//! sides or on neither; another line when both succeed or both fail with the
//! same errno and, for values that mean the same on both sides (bytes read,
//! pages pinned, KPF flags, map counts, smaps counters, pagemap bits but not
//! PFNs), print the same. The known differences ([`table::KNOWN`]) are
//! applied to the host's value first, each only where it explains the
//! model's value exactly.

pub mod driver;
mod plan;
mod proto;
mod side;
pub(crate) mod sys;
pub mod table;
pub(crate) mod uring;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

use mmsim::script::ast::{ExpectCond, Script, StmtKind};
use mmsim::script::cmd::pin::PinCmd;
use mmsim::script::cmd::process::ProcessCmd;
use mmsim::script::cmd::readers::ReaderCmd;
use mmsim::script::cmd::Cmd;
use mmsim::script::interp::{judge, run_script, Observed, RunOptions};
use mmsim::script::parse::{parse, resolve};
use mmsim::script::report::LineResult;
use mmsim::script::source::read_scenario;

use plan::{classify, machine_mismatch, HostResources, Skip};
use side::{HostSide, Outcome};

/// The tally of a comparison.
#[derive(Default)]
pub struct Tally {
    /// Lines run on both sides that agreed.
    pub agreed: u32,
    /// Of those, how many agreed through each table entry.
    pub explained: BTreeMap<&'static str, u32>,
    /// Lines that differ, as printed.
    pub differed: Vec<String>,
    /// Lines skipped, by reason.
    pub skipped: BTreeMap<Skip, u32>,
}

impl Tally {
    fn skip(&mut self, why: Skip) {
        *self.skipped.entry(why).or_default() += 1;
    }

    /// Lines compared.
    pub fn compared(&self) -> u32 {
        self.agreed + self.differed.len() as u32
    }
}

/// `mmsim run --host FILE...`: exit 0 if every expressible line agrees
/// (modulo the table), 1 if any differs, 2 for bad input.
pub fn run_host(files: &[PathBuf], verbose: bool) -> ExitCode {
    let mut loaded = Vec::new();
    for f in files {
        let (name, text) = match read_scenario(f) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        match parse(&name, &text) {
            Ok(script) => loaded.push((script, text)),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    if files.is_empty() {
        eprintln!("mmsim: --host needs scenario files");
        return ExitCode::from(2);
    }
    // SAFETY: plain system call.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "mmsim: --host needs root: it reads /proc/kpageflags and copies its drivers' \
             descriptors with pidfd_getfd()"
        );
        return ExitCode::from(2);
    }
    // SAFETY: plain prctl on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "host kernel {} beside the model (Linux 7.2); known differences: `mmsim help host`",
        release.trim()
    );
    let resources = HostResources::probe();
    let mut tally = Tally::default();
    let mut opts = RunOptions::new(verbose);
    opts.record_lines = true;
    for (script, text) in &loaded {
        let (report, error) = run_script(script, text, &opts);
        if let Some(e) = error {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
        let model: HashMap<u32, LineResult> =
            report.lines.into_iter().map(|l| (l.line, l)).collect();
        if let Err(e) = compare_file(script, &model, &resources, &mut tally, verbose) {
            eprintln!("{}: host side: {e}", script.file);
            return ExitCode::from(1);
        }
    }
    for d in &tally.differed {
        println!("{d}");
    }
    println!("{}", summary(&tally));
    ExitCode::from(u8::from(!tally.differed.is_empty()))
}

/// The last line of the report.
fn summary(t: &Tally) -> String {
    let explained: Vec<String> = t
        .explained
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let skipped: u32 = t.skipped.values().sum();
    let reasons: Vec<String> = Skip::ALL
        .iter()
        .filter_map(|s| t.skipped.get(s).map(|n| format!("{n} {}", s.name())))
        .collect();
    format!(
        "{} lines compared: {} agreed{}, {} differed; {skipped} skipped{}",
        t.compared(),
        t.agreed,
        if explained.is_empty() {
            String::new()
        } else {
            format!(
                " ({} through the table: {})",
                t.explained.values().sum::<u32>(),
                explained.join(", ")
            )
        },
        t.differed.len(),
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join("; "))
        }
    )
}

/// Runs the host side of one file and compares each line with the model's.
fn compare_file(
    script: &Script,
    model: &HashMap<u32, LineResult>,
    resources: &HostResources,
    tally: &mut Tally,
    verbose: bool,
) -> Result<(), String> {
    let mut side = HostSide::new()?;
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut file_skip: Option<Skip> = None;
    let mut hugetlb_pool = false;
    let mut diverged = false;
    for stmt in &script.stmts {
        let at = format!("{}:{}: {}", script.file, stmt.line, stmt.text);
        let kind = match &stmt.kind {
            StmtKind::Deferred(d) if file_skip.is_none() && !diverged => {
                match resolve(&script.file, stmt.line, d, &vars) {
                    Ok(k) => k,
                    Err(e) => {
                        tally
                            .differed
                            .push(format!("{at}\n    host: {}", e.message));
                        continue;
                    }
                }
            }
            StmtKind::Deferred(_) => {
                tally.skip(file_skip.unwrap_or(Skip::AfterDivergence));
                continue;
            }
            k => k.clone(),
        };
        let cmd = match &kind {
            StmtKind::Machine(spec) => {
                if let Some(why) = machine_mismatch(spec, resources) {
                    if verbose {
                        println!("{}:{}: skipped: {why}", script.file, stmt.line);
                    }
                    file_skip = Some(Skip::Machine);
                }
                // machine_mismatch() checked the host's free pool is the
                // machine's.
                hugetlb_pool = spec.hugepages > 0;
                continue;
            }
            StmtKind::Variant(_) => {
                file_skip = Some(Skip::Variant);
                continue;
            }
            StmtKind::Command(cmd) | StmtKind::Let { cmd, .. } | StmtKind::Expect { cmd, .. } => {
                cmd
            }
            StmtKind::Deferred(_) => unreachable!("resolved above"),
        };
        if let Some(why) = file_skip {
            tally.skip(why);
            continue;
        }
        if diverged {
            tally.skip(Skip::AfterDivergence);
            continue;
        }
        if let Err((why, diverges)) = classify(cmd, hugetlb_pool) {
            tally.skip(why);
            diverged |= diverges;
            continue;
        }
        if let StmtKind::Expect {
            cond: ExpectCond::Violates(_),
            ..
        } = &kind
        {
            // No invariant or oracle runs on the host.
            tally.skip(Skip::KernelSide);
            continue;
        }
        let Some(m) = model.get(&stmt.line) else {
            return Err(format!(
                "the model recorded no result for line {}",
                stmt.line
            ));
        };
        let model_value = m.value.as_ref().ok().map(String::as_str);
        let outcome = side.run(cmd, model_value);
        let mut explained = side.take_explained();
        let host = match outcome {
            Outcome::Broken(why) => {
                tally.differed.push(format!(
                    "{at}\n    model: {}\n    host:  broken: {why}",
                    shown(m)
                ));
                if let StmtKind::Let { var, .. } = &kind {
                    vars.insert(var.clone(), "EIO".to_owned());
                }
                continue;
            }
            Outcome::Done(mut r) => {
                if let (Ok(_), Err(model_errno)) = (&r, &m.value) {
                    if let Some((name, e)) = table::host_succeeds(cmd, model_errno) {
                        explained.push(name);
                        r = Err(e);
                    }
                }
                if let StmtKind::Let { var, .. } = &kind {
                    vars.insert(var.clone(), printed(&r));
                }
                judge(stmt.line, &kind, r)
            }
        };
        if differs(cmd, m, &host) {
            tally.differed.push(format!(
                "{at}\n    model: {}\n    host:  {}",
                shown(m),
                shown(&host)
            ));
        } else {
            tally.agreed += 1;
            for e in &explained {
                *tally.explained.entry(e).or_default() += 1;
            }
            if verbose {
                println!(
                    "{at}: agreed{}",
                    if explained.is_empty() {
                        String::new()
                    } else {
                        format!(" through {}", explained.join(", "))
                    }
                );
            }
        }
    }
    Ok(())
}

/// What a `let` binds on the host: the printed value (a read as hex), or
/// the errno's name, as the interpreter binds.
fn printed(r: &Result<Observed, mmsim::Errno>) -> String {
    match r {
        Ok(Observed::Text(s)) => s.clone(),
        Ok(Observed::Bytes(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Err(e) => e.name().to_owned(),
    }
}

/// A line's result for the report.
fn shown(l: &LineResult) -> String {
    let value = match &l.value {
        Ok(v) if v.is_empty() => "ok".to_owned(),
        Ok(v) => v.clone(),
        Err(e) => format!("failed: {e}"),
    };
    match l.held {
        Some(true) => format!("{value} (held)"),
        Some(false) => format!("{value} (did not hold)"),
        None => value,
    }
}

/// Whether two results of a line differ (see the module doc).
fn differs(cmd: &Cmd, model: &LineResult, host: &LineResult) -> bool {
    if model.held.is_some() || host.held.is_some() {
        return model.held != host.held;
    }
    match (&model.value, &host.value) {
        (Ok(m), Ok(h)) => comparable(cmd) && without_pfn(m) != without_pfn(h),
        (Err(m), Err(h)) => m != h,
        _ => true,
    }
}

/// Whether a command's printed value means the same on both sides (not an
/// address or a PFN).
fn comparable(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Process(ProcessCmd::Read { .. })
            | Cmd::Pin(PinCmd::Read { .. } | PinCmd::Gup { .. })
            | Cmd::Reader(
                ReaderCmd::Kpageflags { .. }
                    | ReaderCmd::Kpagecount { .. }
                    | ReaderCmd::Smaps { .. }
                    | ReaderCmd::Pagemap { .. }
                    | ReaderCmd::Pte { .. }
            )
    )
}

/// A value with its `pfn=` field dropped and blanks folded.
fn without_pfn(v: &str) -> String {
    v.split_whitespace()
        .filter(|w| !w.starts_with("pfn="))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsim::script::ast::StmtKind;

    fn line(value: Result<&str, &str>, held: Option<bool>) -> LineResult {
        LineResult {
            line: 1,
            value: value.map(str::to_owned).map_err(str::to_owned),
            held,
        }
    }

    fn cmd(text: &str) -> Cmd {
        let script = parse(
            "t.mms",
            &format!("machine ram=1G\nspawn P\nP mmap m 4K\n{text}\n"),
        )
        .expect("parses");
        match &script.stmts[3].kind {
            StmtKind::Command(c)
            | StmtKind::Let { cmd: c, .. }
            | StmtKind::Expect { cmd: c, .. } => c.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_expectation_differs_when_it_holds_on_one_side_only() {
        let read = cmd("P read m 4K");
        assert!(differs(
            &read,
            &line(Ok("0x01 x4096"), Some(true)),
            &line(Ok("0x02 x4096"), Some(false))
        ));
        assert!(!differs(
            &read,
            &line(Ok("0x01 x4096"), Some(false)),
            &line(Ok("0x02 x4096"), Some(false))
        ));
    }

    #[test]
    fn values_compare_where_they_mean_the_same_on_both_sides() {
        // Bytes read are the same bytes; PFNs and addresses are not.
        assert!(differs(
            &cmd("P read m 1"),
            &line(Ok("01"), None),
            &line(Ok("02"), None)
        ));
        assert!(!differs(
            &cmd("P pfn m"),
            &line(Ok("0x10"), None),
            &line(Ok("0x99"), None)
        ));
        let pm = cmd("P pagemap m");
        assert!(!differs(
            &pm,
            &line(Ok("present=1 swapped=0 exclusive=1 pfn=0x10"), None),
            &line(Ok("present=1 swapped=0 exclusive=1 pfn=0x99"), None)
        ));
        assert!(differs(
            &pm,
            &line(Ok("present=1 swapped=0 exclusive=1 pfn=0x10"), None),
            &line(Ok("present=1 swapped=0 exclusive=0 pfn=0x10"), None)
        ));
        // Success against failure, and two errnos.
        assert!(differs(
            &pm,
            &line(Ok(""), None),
            &line(Err("EFAULT"), None)
        ));
        assert!(differs(
            &pm,
            &line(Err("EINVAL"), None),
            &line(Err("EFAULT"), None)
        ));
    }

    #[test]
    fn the_table_fixes_a_bit_only_where_the_model_differs_in_it() {
        use mmsim::walkers::{KPF_ANON, KPF_LRU, KPF_MMAP, KPF_SWAPBACKED};
        let host = 1 << KPF_ANON | 1 << KPF_MMAP | 1 << KPF_SWAPBACKED;
        // The model has LRU on this anonymous page: lru-batch explains it.
        let (fixed, used) = table::adjust_kpageflags(host, host | 1 << KPF_LRU);
        assert_eq!((fixed, used), (host | 1 << KPF_LRU, vec!["lru-batch"]));
        // The model lacks it too: nothing to explain.
        assert_eq!(table::adjust_kpageflags(host, host), (host, vec![]));
        // A missing ANON bit is not explained by anything.
        let (fixed, used) = table::adjust_kpageflags(host & !(1 << KPF_ANON), host);
        assert_eq!(fixed, host & !(1 << KPF_ANON));
        assert!(used.is_empty());
    }

    #[test]
    fn a_swap_slot_is_taken_from_the_model_only_when_both_swapped() {
        let host = "present=0 swapped=1 exclusive=0 pfn=0x40";
        assert_eq!(
            table::pagemap_with_model_slot(host, Some("present=0 swapped=1 exclusive=0 pfn=0x20"))
                .as_deref(),
            Some("present=0 swapped=1 exclusive=0 pfn=0x20")
        );
        assert_eq!(
            table::pagemap_with_model_slot(host, Some("present=1 swapped=0 exclusive=1 pfn=0x20")),
            None
        );
    }
}
