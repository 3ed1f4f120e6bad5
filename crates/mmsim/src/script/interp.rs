//! The scenario interpreter: runs a parsed [`Script`] against a [`Machine`].
//!
//! Before anything runs, a static pass rejects what cannot run: commands this
//! build does not model yet, bad variants and machine shapes (`FILE:LINE:COLUMN:
//! message`, exit status 2). Then each statement runs in order: the machine
//! boots at the first command after `machine`/`variant`; every command prints a
//! value (empty for most actions, the errno name when it fails); `expect`
//! compares; after every command the cheap invariants run, and a violation no
//! `expect ... violates` asked for is a failure.
//!
//! The interpreter only calls the model's API; it never reaches into its
//! fields.

use super::ast::{
    Cmd, ExpectCond, MachineSpec, NotifierAction, PageAlloc, Script, StmtKind, Value, ValueKind,
    ViolationKind,
};
use super::parse::{self, ParseError};
use crate::check::Violation;
use crate::errno::Errno;
use crate::hotplug::callback::KeepRangeCallback;
use crate::hotplug::notifier::{notifier_from_errno, RecordingNotifier, NOTIFY_BAD, NOTIFY_OK};
use crate::hotplug::{NotifierId, OnlinePageCallback, OnlineType, Task};
use crate::machine::{Machine, MachineConfig};
use crate::page::{PageType, Pfn, PhysAddr, PAGEFLAGS_MASK, PAGE_SHIFT};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{thread, Arc};
use crate::variant::Variants;
use crate::zone::alloc::Gfp;
use crate::zone::NodeState;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// How to run scenarios.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Print every command and its value.
    pub verbose: bool,
    /// Variants from the command line; they override the scenario's.
    pub variants: Vec<(String, String)>,
    /// With `verbose`, also echo the scenario's comment lines (the tour).
    pub narrate: bool,
}

/// What one file's run produced.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FileReport {
    /// The file.
    pub file: String,
    /// Expectations and checks that held.
    pub passed: u32,
    /// Expectations that failed and violations nobody expected.
    pub failed: u32,
    /// One line per failure, `FILE:LINE: ...`.
    pub failures: Vec<String>,
    /// With `verbose`, every command and value.
    pub transcript: Vec<String>,
}

/// What a command printed.
enum Output {
    /// Text (compared blank-folded).
    Text(String),
    /// Bytes of a read (printed as lowercase hex).
    Bytes(Vec<u8>),
}

impl Output {
    fn empty() -> Output {
        Output::Text(String::new())
    }

    /// A short form for transcripts: byte runs as `0xNN xLEN`.
    fn summary(&self) -> String {
        match self {
            Output::Text(s) => s.replace('\n', " "),
            Output::Bytes(b) => match b.first() {
                Some(&x) if b.iter().all(|&y| y == x) => format!("{x:#04x} x{}", b.len()),
                _ if b.len() > 32 => format!(
                    "{}... ({} bytes)",
                    Output::Bytes(b[..32].to_vec()).render(),
                    b.len()
                ),
                _ => self.render(),
            },
        }
    }

    fn render(&self) -> String {
        match self {
            Output::Text(s) => s.clone(),
            Output::Bytes(b) => b.iter().fold(String::new(), |mut s, x| {
                let _ = write!(s, "{x:02x}");
                s
            }),
        }
    }
}

type CmdResult = Result<Output, Errno>;

/// Parses and statically checks a scenario file's text.
pub fn load(file: &str, text: &str) -> Result<Script, ParseError> {
    let script = parse::parse(file, text)?;
    static_check(&script, text)?;
    Ok(script)
}

/// The column of the command's first token on `line` (after `let V =` or
/// `expect`).
fn command_column(text: &str, line: u32) -> u32 {
    let source = text.lines().nth(line as usize - 1).unwrap_or("");
    let Ok(tokens) = super::lexer::tokenize(source) else {
        return 1;
    };
    let idx = match tokens.first().map(|t| t.raw.as_str()) {
        Some("let") => 3,
        Some("expect") => 1,
        _ => 0,
    };
    tokens.get(idx).map_or(1, |t| t.column)
}

fn unsupported(cmd: &Cmd) -> Option<&'static str> {
    match cmd {
        Cmd::VirtioMemAdd { .. }
        | Cmd::VirtioMemResize { .. }
        | Cmd::VirtioMemShow { .. }
        | Cmd::VirtioMemRequest { .. } => Some("virtio-mem"),
        Cmd::BalloonInflate { .. } | Cmd::BalloonDeflate { .. } => Some("the balloon driver"),
        _ => super::process::unsupported(cmd),
    }
}

/// Commands run by the process half of the interpreter.
fn is_process_command(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Spawn { .. }
            | Cmd::File { .. }
            | Cmd::Mmap { .. }
            | Cmd::Munmap { .. }
            | Cmd::Mprotect { .. }
            | Cmd::Madvise { .. }
            | Cmd::Touch { .. }
            | Cmd::Write { .. }
            | Cmd::Read { .. }
            | Cmd::Fork { .. }
            | Cmd::Exit { .. }
            | Cmd::ClearRefs { .. }
            | Cmd::Gup { .. }
            | Cmd::PinRead { .. }
            | Cmd::PinWrite { .. }
            | Cmd::Release { .. }
            | Cmd::KsmRun
            | Cmd::Pagemap { .. }
            | Cmd::Pte { .. }
            | Cmd::Pfn { .. }
            | Cmd::Smaps { .. }
    )
}

fn machine_config(spec: &MachineSpec) -> MachineConfig {
    use super::ast::AutoOnline;
    MachineConfig {
        ram: spec.ram,
        block_size: spec.block,
        nodes: spec.nodes as usize,
        movable: spec.movable,
        swap: spec.swap,
        hugepages: spec.hugepages,
        auto_online: match spec.auto_online {
            AutoOnline::Offline => OnlineType::Offline,
            AutoOnline::Online => OnlineType::Online,
            AutoOnline::OnlineKernel => OnlineType::OnlineKernel,
            AutoOnline::OnlineMovable => OnlineType::OnlineMovable,
        },
        max_phys: spec.max_phys,
    }
}

/// The static pass: unsupported commands, bad variants, unbootable machines.
fn static_check(script: &Script, text: &str) -> Result<(), ParseError> {
    let err = |line: u32, column: u32, message: String| ParseError {
        file: script.file.clone(),
        line,
        column,
        message,
    };
    for stmt in &script.stmts {
        let cmd = match &stmt.kind {
            StmtKind::Command(c)
            | StmtKind::Let { cmd: c, .. }
            | StmtKind::Expect { cmd: c, .. } => c,
            StmtKind::Deferred(_) => continue,
        };
        if let Some(what) = unsupported(cmd) {
            return Err(err(
                stmt.line,
                command_column(text, stmt.line),
                format!(
                    "not supported yet: `{}` needs {what}, which this build does not model",
                    cmd.name()
                ),
            ));
        }
        match cmd {
            Cmd::Machine(spec) => {
                machine_config(spec)
                    .validate()
                    .map_err(|e| err(stmt.line, command_column(text, stmt.line), e.0))?;
            }
            Cmd::Variant { settings } => {
                let mut v = Variants::default();
                for (k, val) in settings {
                    v.set(k, val).map_err(|e| {
                        let col = text
                            .lines()
                            .nth(stmt.line as usize - 1)
                            .and_then(|l| l.find(&format!("{k}=")))
                            .map_or(1, |c| c as u32 + 1);
                        err(stmt.line, col, e.to_string())
                    })?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Runs one loaded script; `text` is its source (for the transcript).
pub fn run_script(
    script: &Script,
    text: &str,
    opts: &RunOptions,
) -> Result<FileReport, ParseError> {
    let mut it = Interp {
        world: Default::default(),
        lines: text.lines().map(str::to_string).collect(),
        narrated: 0,
        file: script.file.clone(),
        opts: opts.clone(),
        config: None,
        variants: Variants::default(),
        machine: None,
        vars: HashMap::new(),
        notifiers: HashMap::new(),
        callbacks: HashMap::new(),
        report: FileReport {
            file: script.file.clone(),
            ..Default::default()
        },
    };
    for stmt in &script.stmts {
        let kind = match &stmt.kind {
            StmtKind::Deferred(d) => {
                let k = parse::resolve(&script.file, stmt.line, d, &it.vars)?;
                if let StmtKind::Command(c)
                | StmtKind::Let { cmd: c, .. }
                | StmtKind::Expect { cmd: c, .. } = &k
                {
                    if let Some(what) = unsupported(c) {
                        return Err(ParseError {
                            file: script.file.clone(),
                            line: stmt.line,
                            column: 1,
                            message: format!("not supported yet: `{}` needs {what}, which this build does not model", c.name()),
                        });
                    }
                }
                k
            }
            k => k.clone(),
        };
        it.statement(stmt.line, &kind)?;
    }
    if it.machine.is_none() && it.config.is_some() {
        it.boot(script.stmts.last().map_or(1, |s| s.line))?;
    }
    Ok(it.report)
}

struct Interp {
    file: String,
    world: super::process::ProcessWorld,
    lines: Vec<String>,
    /// Lines up to which comments were echoed.
    narrated: usize,
    opts: RunOptions,
    config: Option<MachineConfig>,
    variants: Variants,
    machine: Option<Machine>,
    vars: HashMap<String, String>,
    notifiers: HashMap<String, (NotifierId, Arc<RecordingNotifier>)>,
    callbacks: HashMap<String, Arc<dyn OnlinePageCallback>>,
    report: FileReport,
}

/// The printed value as a failure message shows it: byte runs compressed.
fn short_form(result: &CmdResult, shown: &str) -> String {
    match result {
        Ok(o @ Output::Bytes(_)) => o.summary(),
        _ => fold(shown),
    }
}

/// Folds runs of blanks (including newlines) to one blank.
fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Interp {
    fn fail(&mut self, line: u32, msg: String) {
        self.report.failed += 1;
        self.report
            .failures
            .push(format!("{}:{line}: {msg}", self.file));
    }

    /// Echoes the comment lines before `line` (tour mode).
    fn narrate(&mut self, line: u32) {
        let upto = (line as usize - 1).min(self.lines.len());
        if self.opts.narrate {
            for l in &self.lines[self.narrated.min(upto)..upto] {
                if let Some(c) = l.trim().strip_prefix('#') {
                    self.report.transcript.push(format!("#{c}"));
                } else if l.trim().is_empty() {
                    self.report.transcript.push(String::new());
                }
            }
        }
        self.narrated = line as usize;
    }

    fn boot(&mut self, line: u32) -> Result<(), ParseError> {
        let Some(cfg) = self.config.clone() else {
            return Ok(());
        };
        let mut variants = self.variants;
        for (k, v) in &self.opts.variants {
            variants.set(k, v).map_err(|e| ParseError {
                file: self.file.clone(),
                line,
                column: 1,
                message: e.to_string(),
            })?;
        }
        let m = Machine::boot(cfg, variants).map_err(|e| ParseError {
            file: self.file.clone(),
            line,
            column: 1,
            message: e.0,
        })?;
        self.machine = Some(m);
        Ok(())
    }

    fn statement(&mut self, line: u32, kind: &StmtKind) -> Result<(), ParseError> {
        let cmd = match kind {
            StmtKind::Command(c)
            | StmtKind::Let { cmd: c, .. }
            | StmtKind::Expect { cmd: c, .. } => c,
            StmtKind::Deferred(_) => unreachable!("resolved before"),
        };
        match cmd {
            Cmd::Machine(spec) => {
                self.config = Some(machine_config(spec));
                return Ok(());
            }
            Cmd::Variant { settings } => {
                for (k, v) in settings {
                    // Checked statically.
                    let _ = self.variants.set(k, v);
                }
                return Ok(());
            }
            _ => {}
        }
        if self.machine.is_none() {
            self.boot(line)?;
        }
        let result = self.command(cmd);
        let mut oracle_violations: Vec<String> = self
            .world
            .violations
            .drain(..)
            .map(|v| v.to_string())
            .collect();
        let mut violations = self.machine().check_cheap();
        if matches!(cmd, Cmd::Check) {
            violations.extend(self.machine().check_all());
        }
        let shown = match &result {
            Ok(o) => o.render(),
            Err(e) => e.name().to_string(),
        };
        if self.opts.verbose {
            self.narrate(line);
            let src = self.lines.get(line as usize - 1).map_or("", |l| l.trim());
            let mut entry = format!("{}:{line}: {src}", self.file);
            if !shown.is_empty() {
                let short = match &result {
                    Ok(o) => o.summary(),
                    Err(_) => shown.clone(),
                };
                let _ = write!(entry, "\n    => {short}");
            }
            self.report.transcript.push(entry);
        }
        match kind {
            StmtKind::Let { var, .. } => {
                self.vars.insert(var.clone(), shown.clone());
            }
            StmtKind::Expect { cond, .. } => {
                let held = self.expect(
                    line,
                    cond,
                    &result,
                    &shown,
                    &mut violations,
                    &mut oracle_violations,
                );
                if held {
                    self.report.passed += 1;
                }
            }
            _ => {
                if matches!(cmd, Cmd::Check) && violations.is_empty() {
                    self.report.passed += 1;
                }
            }
        }
        for v in violations {
            self.fail(line, v.to_string());
        }
        for v in oracle_violations {
            self.fail(line, v);
        }
        Ok(())
    }

    /// Evaluates an expectation; records a failure when it does not hold.
    fn expect(
        &mut self,
        line: u32,
        cond: &ExpectCond,
        result: &CmdResult,
        shown: &str,
        violations: &mut Vec<Violation>,
        oracle_violations: &mut Vec<String>,
    ) -> bool {
        let (held, what) = match cond {
            ExpectCond::Fails(e) => (
                result.as_ref().err() == Some(e),
                format!(
                    "expected failure {}, got {}",
                    e.name(),
                    if result.is_ok() {
                        format!("success `{shown}`")
                    } else {
                        shown.to_string()
                    }
                ),
            ),
            ExpectCond::Violates(kind) => match kind {
                ViolationKind::Invariant => {
                    let held = !violations.is_empty();
                    violations.clear();
                    (
                        held,
                        "expected an invariant violation, got none".to_string(),
                    )
                }
                ViolationKind::Oracle => {
                    let held = !oracle_violations.is_empty();
                    oracle_violations.clear();
                    (held, "expected an oracle violation, got none".to_string())
                }
                ViolationKind::FatalAccess => (
                    false,
                    "expected a fatal access, which needs virtio-mem (not modelled yet)"
                        .to_string(),
                ),
            },
            ExpectCond::Has(flags) => {
                let names: Vec<&str> = shown
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .collect();
                let missing: Vec<&String> = flags
                    .iter()
                    .filter(|f| !names.contains(&f.as_str()))
                    .collect();
                (
                    result.is_ok() && missing.is_empty(),
                    format!("expected {} among `{shown}`", flags.join(",")),
                )
            }
            ExpectCond::Eq(v) => (
                result.is_ok() && value_matches(v, result),
                format!("expected {}, got {}", v.raw, short_form(result, shown)),
            ),
            ExpectCond::Ne(v) => (
                result.is_ok() && !value_matches(v, result),
                format!(
                    "expected something other than {}, got {}",
                    v.raw,
                    short_form(result, shown)
                ),
            ),
        };
        if !held {
            self.fail(line, what);
        }
        held
    }

    fn machine(&self) -> &Machine {
        self.machine.as_ref().expect("booted")
    }

    fn command(&mut self, cmd: &Cmd) -> CmdResult {
        let m = self.machine.as_ref().expect("booted");
        if is_process_command(cmd) {
            return match self.world.command(m, cmd)? {
                super::process::ProcOutput::Text(t) => Ok(Output::Text(t)),
                super::process::ProcOutput::Bytes(b) => Ok(Output::Bytes(b)),
            };
        }
        let ok = || Ok(Output::empty());
        match cmd {
            Cmd::Machine(_) | Cmd::Variant { .. } => ok(),
            Cmd::HotplugAdd { addr, size, node } => {
                m.add_memory(node.unwrap_or(0) as usize, PhysAddr(*addr), *size)?;
                ok()
            }
            Cmd::HotplugRemove { addr, size } => {
                m.remove_memory(PhysAddr(*addr), *size)?;
                ok()
            }
            Cmd::HotplugOfflineAndRemove { addr, size } => {
                m.offline_and_remove_memory(PhysAddr(*addr), *size, &Task::new())?;
                ok()
            }
            Cmd::SysfsRead { path } => {
                let s = m.sysfs_read(path)?;
                Ok(Output::Text(s.strip_suffix('\n').unwrap_or(&s).to_string()))
            }
            Cmd::SysfsWrite {
                path,
                value,
                signal_after,
            } => {
                let value = String::from_utf8_lossy(value).into_owned();
                sysfs_write_with_signal(
                    m,
                    path,
                    &value,
                    Some(signal_after.unwrap_or(DEFAULT_SIGNAL_AFTER)),
                )?;
                ok()
            }
            Cmd::SysfsLs { path } => Ok(Output::Text(m.sysfs_ls(path)?.join("\n"))),
            Cmd::SysfsExport { dir } => {
                m.sysfs_export(std::path::Path::new(dir))
                    .map_err(|_| Errno::EIO)?;
                ok()
            }
            Cmd::SparseAdd { addr, size, .. } => {
                m.sparse_add(PhysAddr(*addr), *size)?;
                ok()
            }
            Cmd::SparseRemove { addr, size } => {
                m.remove_pages_checked(PhysAddr(*addr).pfn(), size >> PAGE_SHIFT)?;
                ok()
            }
            Cmd::Section { nr, field } => {
                let ms = m.mem().section(*nr).ok_or(Errno::EINVAL)?;
                let fields = [
                    ("present", ms.present()),
                    ("has_mem_map", ms.valid()),
                    ("online", ms.online()),
                    ("early", ms.early()),
                ];
                let mut all: Vec<(String, String)> = fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), u8::from(*v).to_string()))
                    .collect();
                all.push(("subsections".into(), format!("{:#x}", ms.subsection_map())));
                pick(&all, field.as_deref())
            }
            Cmd::PfnValid { pfn } => Ok(Output::Text(
                u8::from(m.mem().pfn_valid(Pfn(*pfn))).to_string(),
            )),
            Cmd::PfnToOnlinePage { pfn } => Ok(Output::Text(
                u8::from(m.mem().pfn_to_online_page(Pfn(*pfn)).is_some()).to_string(),
            )),
            Cmd::PageAlloc { name, how } => {
                let pfn = match *how {
                    PageAlloc::Buddy {
                        order,
                        movable,
                        node,
                    } => {
                        let gfp = if movable { Gfp::MOVABLE } else { Gfp::KERNEL };
                        m.owner_alloc(name, order, gfp, node.unwrap_or(0) as usize)?
                    }
                    PageAlloc::Contig { pfn, nr } => m.owner_alloc_contig(name, Pfn(pfn), nr)?,
                };
                Ok(Output::Text(pfn.to_string()))
            }
            Cmd::PageFree { name } => {
                m.owner_free(name)?;
                ok()
            }
            Cmd::PageMark { name, marks } => {
                for mark in marks {
                    m.owner_mark(name, *mark)?;
                }
                ok()
            }
            Cmd::PageFill { name, byte } => {
                m.owner_fill(name, *byte)?;
                ok()
            }
            Cmd::PageGet { pfn } => {
                m.page_get(Pfn(*pfn))?;
                ok()
            }
            Cmd::PagePut { pfn } => {
                m.page_put(Pfn(*pfn))?;
                ok()
            }
            Cmd::PageShow { pfn, field } => {
                let p = m.mem().pfn_to_page(Pfn(*pfn)).ok_or(Errno::EFAULT)?;
                let all = vec![
                    (
                        "flags".into(),
                        format!("{:#x}", p.flags_raw() & PAGEFLAGS_MASK),
                    ),
                    (
                        "type".into(),
                        p.page_type().map_or("none", PageType::name).to_string(),
                    ),
                    ("refcount".into(), p.ref_count().to_string()),
                    ("mapcount".into(), p.mapcount().to_string()),
                    ("zone".into(), p.zonenum().name().to_string()),
                    ("node".into(), p.nid().to_string()),
                ];
                pick(&all, field.as_deref())
            }
            Cmd::Hwpoison { pfn } => {
                m.memory_failure(Pfn(*pfn))?;
                ok()
            }
            Cmd::NotifierAdd {
                name,
                priority,
                going_online,
                going_offline,
            } => {
                if self.notifiers.contains_key(name) {
                    return Err(Errno::EEXIST);
                }
                let ret = |a: &NotifierAction| match a {
                    NotifierAction::Ok => NOTIFY_OK,
                    NotifierAction::Bad => NOTIFY_BAD,
                    NotifierAction::Errno(e) => notifier_from_errno(Some(*e)),
                };
                let nb = Arc::new(RecordingNotifier::new(
                    ret(going_online),
                    ret(going_offline),
                ));
                let id = m.hotplug().register_memory_notifier(nb.clone(), *priority);
                self.notifiers.insert(name.clone(), (id, nb));
                ok()
            }
            Cmd::NotifierRemove { name } => {
                let (id, _) = self.notifiers.remove(name).ok_or(Errno::ENOENT)?;
                m.hotplug().unregister_memory_notifier(id);
                ok()
            }
            Cmd::NotifierLog { name } => {
                let (_, nb) = self.notifiers.get(name).ok_or(Errno::ENOENT)?;
                let names: Vec<&str> = nb.events().iter().map(|a| a.name()).collect();
                Ok(Output::Text(names.join(" ")))
            }
            Cmd::OnlinePageCallbackSet { name, keep } => {
                let cb: Arc<dyn OnlinePageCallback> =
                    self.callbacks.get(name).cloned().unwrap_or_else(|| {
                        let (start, size) = keep.unwrap_or((0, 0));
                        Arc::new(KeepRangeCallback {
                            keep_start: PhysAddr(start).pfn(),
                            keep_end: PhysAddr(start.saturating_add(size)).pfn(),
                        })
                    });
                self.callbacks.insert(name.clone(), cb.clone());
                m.set_online_page_callback(cb)?;
                ok()
            }
            Cmd::OnlinePageCallbackRestore { name } => {
                let cb = self.callbacks.get(name).ok_or(Errno::EINVAL)?;
                m.restore_online_page_callback(cb)?;
                ok()
            }
            Cmd::Zoneinfo { node, zone, field } => {
                let zt = *zone;
                let nid = *node as usize;
                if nid >= m.nodes().len() {
                    return Err(Errno::EINVAL);
                }
                let i = m.zone(nid, zt).info();
                let all = vec![
                    ("start_pfn".into(), format!("{:#x}", i.start_pfn)),
                    ("spanned".into(), i.spanned.to_string()),
                    ("present".into(), i.present.to_string()),
                    ("present_early".into(), i.present_early.to_string()),
                    ("managed".into(), i.managed.to_string()),
                    ("free".into(), i.free.to_string()),
                    (
                        "nr_isolate_pageblock".into(),
                        i.nr_isolate_pageblock.to_string(),
                    ),
                ];
                pick(&all, field.as_deref())
            }
            Cmd::Nodeinfo { node, field } => {
                let nid = *node as usize;
                if nid >= m.nodes().len() {
                    return Err(Errno::EINVAL);
                }
                let n = m.node(nid);
                let (s, e) = n.span();
                let events: Vec<&str> = m
                    .hotplug()
                    .node_events()
                    .iter()
                    .filter(|(_, id)| *id == nid)
                    .map(|(a, _)| a.name())
                    .collect();
                let all = vec![
                    (
                        "online".into(),
                        u8::from(n.state(NodeState::Online)).to_string(),
                    ),
                    (
                        "has_memory".into(),
                        u8::from(n.state(NodeState::Memory)).to_string(),
                    ),
                    (
                        "has_normal_memory".into(),
                        u8::from(n.state(NodeState::NormalMemory)).to_string(),
                    ),
                    ("start_pfn".into(), s.to_string()),
                    ("spanned".into(), (e - s).to_string()),
                    ("present".into(), n.present_pages().to_string()),
                    ("managed".into(), n.managed_pages().to_string()),
                    (
                        "events".into(),
                        if events.is_empty() {
                            "none".into()
                        } else {
                            events.join(",")
                        },
                    ),
                ];
                pick(&all, field.as_deref())
            }
            Cmd::Meminfo { field } => {
                let free: i64 = m
                    .nodes()
                    .iter()
                    .flat_map(|n| n.zones.iter())
                    .map(|z| z.nr_free())
                    .sum();
                let all = vec![
                    ("MemTotal".into(), format!("{}", m.totalram_pages() * 4)),
                    ("MemFree".into(), format!("{}", free * 4)),
                    ("max_pfn".into(), m.max_pfn().to_string()),
                    ("HugePages_Total".into(), m.hugetlb_counts().0.to_string()),
                    ("HugePages_Free".into(), m.hugetlb_counts().1.to_string()),
                    ("Hugepagesize".into(), "2048".into()),
                ];
                pick(&all, field.as_deref())
            }
            Cmd::KcoreRead { addr, len } => {
                check_read(*addr, *len)?;
                Ok(Output::Bytes(m.kcore_read(PhysAddr(*addr), *len)))
            }
            Cmd::KcorePage { pfn, off, len } => {
                let addr = pfn
                    .checked_mul(crate::page::PAGE_SIZE)
                    .and_then(|a| a.checked_add(*off))
                    .ok_or(Errno::EINVAL)?;
                check_read(addr, *len)?;
                Ok(Output::Bytes(m.kcore_page(Pfn(*pfn), *off, *len)))
            }
            Cmd::Kpageflags { pfn } => Ok(Output::Text(crate::walkers::kpageflags_names(
                m.kpageflags(Pfn(*pfn)),
            ))),
            Cmd::KpageflagsDump { file } => {
                m.kpageflags_dump(std::path::Path::new(file))
                    .map_err(|_| Errno::EIO)?;
                ok()
            }
            Cmd::Kpagecount { pfn } => Ok(Output::Text(m.kpagecount(Pfn(*pfn)).to_string())),
            Cmd::Check => ok(),
            other => {
                // Rejected by the static pass.
                debug_assert!(unsupported(other).is_some());
                Err(Errno::ENOSYS)
            }
        }
    }
}

/// A sysfs write without `signal_after` is interrupted after this long, as a
/// person at a shell would press Ctrl-C: an offline that can never finish
/// (an unmovable page in ZONE_MOVABLE) then fails with EINTR instead of
/// hanging the scenario.
const DEFAULT_SIGNAL_AFTER: Duration = Duration::from_secs(10);

/// The largest read a scenario may print (its hex doubles it).
const MAX_SCENARIO_READ: u64 = 16 << 20;

/// A read of `len` bytes at `addr` must not wrap and must stay printable.
fn check_read(addr: u64, len: u64) -> Result<(), Errno> {
    if addr.checked_add(len).is_none() || len > MAX_SCENARIO_READ {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// `KEY=VALUE ...`, or one value when a field is named (-EINVAL if unknown).
fn pick(all: &[(String, String)], field: Option<&str>) -> CmdResult {
    match field {
        None => Ok(Output::Text(
            all.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        Some(f) => all
            .iter()
            .find(|(k, _)| k == f)
            .map(|(_, v)| Output::Text(v.clone()))
            .ok_or(Errno::EINVAL),
    }
}

fn value_matches(v: &Value, result: &CmdResult) -> bool {
    let Ok(out) = result else { return false };
    match (&v.kind, out) {
        (ValueKind::Text(t), Output::Bytes(b)) => t == b,
        (ValueKind::Byte(x), Output::Bytes(b)) => !b.is_empty() && b.iter().all(|y| y == x),
        (ValueKind::Text(t), Output::Text(s)) => t.as_slice() == s.as_bytes(),
        (_, out) => fold(&out.render()) == fold(&v.raw),
    }
}

/// A sysfs write from a task that receives a signal after `after` (if set):
/// the signal is delivered by a timer thread and cancelled if the write
/// returns first.
fn sysfs_write_with_signal(
    m: &Machine,
    path: &str,
    value: &str,
    after: Option<Duration>,
) -> Result<(), Errno> {
    let task = Arc::new(Task::new());
    let Some(after) = after else {
        return m.sysfs_write(path, value, &task);
    };
    let done = Arc::new(AtomicBool::new(false));
    let timer = {
        let (task, done) = (task.clone(), done.clone());
        thread::spawn(move || {
            let deadline = Instant::now() + after;
            // Acquire pairs with the Release store after the write returned.
            while !done.load(Ordering::Acquire) {
                if Instant::now() >= deadline {
                    task.send_signal();
                    return;
                }
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let ret = m.sysfs_write(path, value, &task);
    done.store(true, Ordering::Release); // pairs with the timer's Acquire load
    let _ = timer.join();
    ret
}

/// The result of running a set of files.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunReport {
    /// Per file.
    pub files: Vec<FileReport>,
    /// Total passed.
    pub passed: u32,
    /// Total failed.
    pub failed: u32,
}

/// Loads every file first (bad input anywhere stops everything, exit 2), then
/// runs them in order.
pub fn run_sources(
    sources: &[(String, String)],
    opts: &RunOptions,
) -> Result<RunReport, ParseError> {
    let scripts = sources
        .iter()
        .map(|(name, text)| load(name, text))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = RunReport::default();
    for (s, (_, text)) in scripts.iter().zip(sources) {
        let r = run_script(s, text, opts)?;
        report.passed += r.passed;
        report.failed += r.failed;
        report.files.push(r);
    }
    Ok(report)
}

/// The built-in tour (`mmsim run` with no file).
pub const TOUR: &str = include_str!("tour.mms");

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> RunReport {
        run_sources(&[("t.mms".into(), text.into())], &RunOptions::default()).unwrap()
    }

    #[test]
    fn expectations_count_and_fail() {
        let r = run("machine ram=512M\nexpect pfn_valid 0 == 1\nexpect pfn_valid 0 == 0\n");
        assert_eq!((r.passed, r.failed), (1, 1));
        assert_eq!(
            r.files[0].failures,
            vec!["t.mms:3: expected 0, got 1".to_string()]
        );
    }

    #[test]
    fn unmodelled_commands_are_rejected_before_running() {
        let e = run_sources(
            &[(
                "t.mms".into(),
                "machine ram=512M\nspawn A\nA mmap buf 4K shared\n".into(),
            )],
            &RunOptions::default(),
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (3, 1));
        assert!(e.message.contains("not supported yet"), "{}", e.message);
        assert!(e.message.contains("shmem"), "{}", e.message);
    }

    #[test]
    fn let_binds_printed_value() {
        let r = run("machine ram=512M\nlet p = page alloc x pfn=0x4000\nexpect kpagecount $p == 0\nexpect pfn_to_online_page $p == 1\n");
        assert_eq!((r.passed, r.failed), (2, 0), "{:?}", r.files[0].failures);
    }

    #[test]
    fn bad_variant_is_bad_input() {
        let e = run_sources(
            &[(
                "t.mms".into(),
                "machine ram=512M\nvariant cow_reuse=never\n".into(),
            )],
            &RunOptions::default(),
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (2, 9));
    }
}
