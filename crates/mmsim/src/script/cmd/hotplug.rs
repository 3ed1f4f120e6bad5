//! Memory hotplug and sysfs: `hotplug add|remove|offline_and_remove`, `sysfs
//! read|write|ls|export`, test memory notifiers (`notifier`) and the
//! online_page callback (`online_page_callback`).
//!
//! A sysfs write (and `hotplug offline_and_remove`) runs as a task that a timer
//! signals after `signal_after` (or [`DEFAULT_SIGNAL_AFTER`]), the way a person
//! at a shell presses Ctrl-C: an offline that can never finish (an unmovable
//! page in ZONE_MOVABLE) then ends with EINTR instead of hanging the scenario.
//! `signal_after` is at most [`MAX_SIGNAL_AFTER`], so one command never waits
//! longer than that.

use std::collections::HashMap;
use std::time::Duration;

use super::{Cmd, CommandDoc, Family};
use crate::errno::Errno;
use crate::hotplug::callback::KeepRangeCallback;
use crate::hotplug::notifier::{notifier_from_errno, RecordingNotifier, NOTIFY_BAD, NOTIFY_OK};
use crate::hotplug::{with_signal_after, NotifierId, OnlinePageCallback};
use crate::page::{Pfn, PhysAddr};
use crate::script::args::{set_once, Args, Parsed, Word};
use crate::script::lexer::{Token, TokenKind};
use crate::script::output::{host_io_errno, ok, CmdResult, Output};
use crate::script::world::World;
use crate::sync::Arc;

/// A command of the hotplug and sysfs family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HotplugCmd {
    /// `hotplug add ADDR SIZE [node=N]`: `add_memory()`, then auto-online per policy.
    Add {
        /// Start address.
        addr: u64,
        /// Size, bytes.
        size: u64,
        /// Target node (default 0).
        node: Option<u32>,
    },
    /// `hotplug remove ADDR SIZE`: `remove_memory()`.
    Remove {
        /// Start address.
        addr: u64,
        /// Size, bytes.
        size: u64,
    },
    /// `hotplug offline_and_remove ADDR SIZE [signal_after=DURATION]`:
    /// `offline_and_remove_memory()`.
    OfflineAndRemove {
        /// Start address.
        addr: u64,
        /// Size, bytes.
        size: u64,
        /// Deliver a signal to the caller after this long.
        signal_after: Option<Duration>,
    },
    /// `sysfs read PATH`.
    SysfsRead {
        /// Path below `/sys`, without leading or trailing `/`.
        path: String,
    },
    /// `sysfs write PATH VALUE [signal_after=DURATION]`.
    SysfsWrite {
        /// Path below `/sys`, without leading or trailing `/`.
        path: String,
        /// The bytes written (a word as written, or a string's bytes).
        value: Vec<u8>,
        /// Deliver a signal to the writer after this long.
        signal_after: Option<Duration>,
    },
    /// `sysfs ls PATH`.
    SysfsLs {
        /// Path below `/sys`, without leading or trailing `/`.
        path: String,
    },
    /// `sysfs export DIR`.
    SysfsExport {
        /// Host directory.
        dir: String,
    },
    /// `notifier add NAME [priority=N] [going_online=...] [going_offline=...]
    /// [range=ADDR,SIZE]`.
    NotifierAdd {
        /// The notifier's name.
        name: String,
        /// Chain priority (default 0; higher runs first).
        priority: i32,
        /// Answer to MEM_GOING_ONLINE (default `ok`).
        going_online: NotifierAction,
        /// Answer to MEM_GOING_OFFLINE (default `ok`).
        going_offline: NotifierAction,
        /// `(addr, size)`: answer so only for events overlapping it (`ok`
        /// to the others).
        range: Option<(u64, u64)>,
        /// A `page get` reference to drop in MEM_GOING_OFFLINE.
        put: Option<u64>,
    },
    /// `notifier remove NAME`.
    NotifierRemove {
        /// The notifier.
        name: String,
    },
    /// `notifier log NAME`: the events the notifier saw.
    NotifierLog {
        /// The notifier.
        name: String,
    },
    /// `online_page_callback set NAME [keep=ADDR,SIZE]`.
    CallbackSet {
        /// The callback's owner.
        name: String,
        /// `(addr, size)`: pages kept back (left PageOffline) when onlined.
        keep: Option<(u64, u64)>,
    },
    /// `online_page_callback restore NAME`.
    CallbackRestore {
        /// The callback's owner.
        name: String,
    },
}

/// What a test memory notifier answers for one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifierAction {
    /// `ok`: NOTIFY_OK.
    Ok,
    /// `bad`: plain NOTIFY_BAD (the operation fails with EPERM).
    Bad,
    /// `ERRNO`: `notifier_from_errno(-ERRNO)`.
    Errno(Errno),
}

impl HotplugCmd {
    /// The command's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            HotplugCmd::Add { .. } => "hotplug add",
            HotplugCmd::Remove { .. } => "hotplug remove",
            HotplugCmd::OfflineAndRemove { .. } => "hotplug offline_and_remove",
            HotplugCmd::SysfsRead { .. } => "sysfs read",
            HotplugCmd::SysfsWrite { .. } => "sysfs write",
            HotplugCmd::SysfsLs { .. } => "sysfs ls",
            HotplugCmd::SysfsExport { .. } => "sysfs export",
            HotplugCmd::NotifierAdd { .. } => "notifier add",
            HotplugCmd::NotifierRemove { .. } => "notifier remove",
            HotplugCmd::NotifierLog { .. } => "notifier log",
            HotplugCmd::CallbackSet { .. } => "online_page_callback set",
            HotplugCmd::CallbackRestore { .. } => "online_page_callback restore",
        }
    }
}

pub(crate) const FAMILY: Family = Family {
    keywords: &[
        ("hotplug", hotplug),
        ("sysfs", sysfs),
        ("notifier", notifier),
        ("online_page_callback", online_page_callback),
    ],
    process_verbs: &[],
    pin_verbs: &[],
    docs: &[
        CommandDoc {
            syntax: "hotplug add ADDR SIZE [node=N]",
            summary: "add_memory(): add memory blocks, online them per auto_online_blocks",
        },
        CommandDoc {
            syntax: "hotplug remove ADDR SIZE",
            summary: "remove_memory() of offline blocks",
        },
        CommandDoc {
            syntax: "hotplug offline_and_remove ADDR SIZE [signal_after=DURATION]",
            summary: "offline_and_remove_memory(), as drivers use it; the caller gets a signal after DURATION (default 2s, at most 10s)",
        },
        CommandDoc {
            syntax: "sysfs read PATH",
            summary: "print a file below /sys without its trailing newline",
        },
        CommandDoc {
            syntax: "sysfs write PATH VALUE [signal_after=DURATION]",
            summary: "write a file below /sys; the writer gets a signal after DURATION (default 2s, at most 10s)",
        },
        CommandDoc {
            syntax: "sysfs ls PATH",
            summary: "the entries of a directory below /sys, one a line, sorted",
        },
        CommandDoc {
            syntax: "sysfs export DIR",
            summary: "write DIR/sys/devices/system/memory/... as plain files (for lsmem --sysroot)",
        },
        CommandDoc {
            syntax: "notifier add NAME [priority=N] [going_online=ok|bad|ERRNO] [going_offline=ok|bad|ERRNO] [put=PFN] [range=ADDR,SIZE]",
            summary: "register a memory notifier that answers MEM_GOING_ONLINE/OFFLINE so (only for blocks overlapping ADDR,SIZE if given)",
        },
        CommandDoc {
            syntax: "notifier remove NAME",
            summary: "unregister it",
        },
        CommandDoc {
            syntax: "notifier log NAME",
            summary: "the memory notifier events it saw, in order",
        },
        CommandDoc {
            syntax: "online_page_callback set NAME [keep=ADDR,SIZE]",
            summary: "set_online_page_callback(): pages in the keep range stay as memmap init left them (PageOffline; PG_reserved under memmap_init=reserved)",
        },
        CommandDoc {
            syntax: "online_page_callback restore NAME",
            summary: "restore_online_page_callback()",
        },
    ],
};

/// A sysfs write without `signal_after` is interrupted after this long.
pub const DEFAULT_SIGNAL_AFTER: Duration = Duration::from_secs(2);

/// The longest `signal_after`.
pub const MAX_SIGNAL_AFTER: Duration = Duration::from_secs(10);

fn hotplug(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`add`, `remove` or `offline_and_remove`")?;
    let (addr, size) = match sub.text {
        "add" | "remove" | "offline_and_remove" => (a.number("ADDR")?, a.size("SIZE")?),
        _ => return Err(sub.unknown("hotplug")),
    };
    Ok(Cmd::Hotplug(match sub.text {
        "add" => HotplugCmd::Add {
            addr,
            size,
            node: a.node()?,
        },
        "remove" => HotplugCmd::Remove { addr, size },
        _ => HotplugCmd::OfflineAndRemove {
            addr,
            size,
            signal_after: a.option("signal_after").map(signal_after).transpose()?,
        },
    }))
}

fn sysfs(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`read`, `write`, `ls` or `export`")?;
    Ok(Cmd::Hotplug(match sub.text {
        "read" => HotplugCmd::SysfsRead {
            path: a.word("PATH")?.sys_path()?,
        },
        "write" => HotplugCmd::SysfsWrite {
            path: a.word("PATH")?.sys_path()?,
            value: match a.token("VALUE")? {
                Token {
                    kind: TokenKind::Str(bytes),
                    ..
                } => bytes.clone(),
                word => word.raw.as_bytes().to_vec(),
            },
            signal_after: a.option("signal_after").map(signal_after).transpose()?,
        },
        "ls" => HotplugCmd::SysfsLs {
            path: a.word("PATH")?.sys_path()?,
        },
        "export" => HotplugCmd::SysfsExport {
            dir: a.host_path("DIR")?,
        },
        _ => return Err(sub.unknown("sysfs")),
    }))
}

fn signal_after(value: Word<'_>) -> Parsed<Duration> {
    let after = value.duration()?;
    if after > MAX_SIGNAL_AFTER {
        return Err(value.error(format!(
            "signal_after={} is longer than {}s, the longest a write may wait",
            value.text,
            MAX_SIGNAL_AFTER.as_secs()
        )));
    }
    Ok(after)
}

fn notifier(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`add`, `remove` or `log`")?;
    let name = match sub.text {
        "add" | "remove" | "log" => a.name("NAME")?,
        _ => return Err(sub.unknown("notifier")),
    };
    Ok(Cmd::Hotplug(match sub.text {
        "add" => {
            let mut priority = None;
            let mut going_online = None;
            let mut going_offline = None;
            let mut range = None;
            let mut put = None;
            for (word, token) in a.rest_words("a notifier option")? {
                match word.option() {
                    Some(("priority", value)) => set_once(&mut priority, value.int()?, token)?,
                    Some(("going_online", value)) => {
                        set_once(&mut going_online, notifier_action(value)?, token)?
                    }
                    Some(("going_offline", value)) => {
                        set_once(&mut going_offline, notifier_action(value)?, token)?
                    }
                    Some(("range", value)) => set_once(&mut range, addr_size(value)?, token)?,
                    Some(("put", value)) => set_once(&mut put, value.number()?, token)?,
                    _ => return Err(word.unknown_option("notifier add")),
                }
            }
            HotplugCmd::NotifierAdd {
                name,
                priority: priority.unwrap_or(0),
                going_online: going_online.unwrap_or(NotifierAction::Ok),
                going_offline: going_offline.unwrap_or(NotifierAction::Ok),
                range,
                put,
            }
        }
        "remove" => HotplugCmd::NotifierRemove { name },
        _ => HotplugCmd::NotifierLog { name },
    }))
}

fn notifier_action(word: Word<'_>) -> Parsed<NotifierAction> {
    match word.text {
        "ok" => Ok(NotifierAction::Ok),
        "bad" => Ok(NotifierAction::Bad),
        _ => word.errno().map(NotifierAction::Errno),
    }
}

/// The value of an `OPTION=ADDR,SIZE` option (`keep=`, `range=`).
fn addr_size(value: Word<'_>) -> Parsed<(u64, u64)> {
    if value.is_hole() {
        return Ok((0, 0));
    }
    let mut parts = value.pieces(',');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(addr), Some(size), None) => Ok((addr.number()?, size.size()?)),
        _ => Err(value.error(format!(
            "expected ADDR,SIZE after `=`, found {}",
            value.text
        ))),
    }
}

fn online_page_callback(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`set` or `restore`")?;
    Ok(Cmd::Hotplug(match sub.text {
        "set" => HotplugCmd::CallbackSet {
            name: a.name("NAME")?,
            keep: a.option("keep").map(addr_size).transpose()?,
        },
        "restore" => HotplugCmd::CallbackRestore {
            name: a.name("NAME")?,
        },
        _ => return Err(sub.unknown("online_page_callback")),
    }))
}

/// The notifiers and callbacks a scenario registered, by name.
#[derive(Default)]
pub(crate) struct HotplugState {
    notifiers: HashMap<String, (NotifierId, Arc<RecordingNotifier>)>,
    callbacks: HashMap<String, Arc<dyn OnlinePageCallback>>,
}

pub(crate) fn run(cmd: &HotplugCmd, w: &mut World) -> CmdResult {
    let m = &w.machine;
    let state = &mut w.hotplug;
    match cmd {
        HotplugCmd::Add { addr, size, node } => {
            m.add_memory(node.unwrap_or(0) as usize, PhysAddr(*addr), *size)?;
            ok()
        }
        HotplugCmd::Remove { addr, size } => {
            m.remove_memory(PhysAddr(*addr), *size)?;
            ok()
        }
        HotplugCmd::OfflineAndRemove {
            addr,
            size,
            signal_after,
        } => {
            let after = signal_after.unwrap_or(DEFAULT_SIGNAL_AFTER);
            with_signal_after(after, |task| {
                m.offline_and_remove_memory(PhysAddr(*addr), *size, task)
            })?;
            ok()
        }
        HotplugCmd::SysfsRead { path } => {
            let s = m.sysfs_read(path)?;
            Ok(Output::Text(s.strip_suffix('\n').unwrap_or(&s).to_string()))
        }
        HotplugCmd::SysfsWrite {
            path,
            value,
            signal_after,
        } => {
            let value = String::from_utf8_lossy(value);
            let after = signal_after.unwrap_or(DEFAULT_SIGNAL_AFTER);
            with_signal_after(after, |task| m.sysfs_write(path, &value, task))?;
            ok()
        }
        HotplugCmd::SysfsLs { path } => Ok(Output::Text(m.sysfs_ls(path)?.join("\n"))),
        HotplugCmd::SysfsExport { dir } => {
            m.sysfs_export(std::path::Path::new(dir))
                .map_err(|e| host_io_errno(&e))?;
            ok()
        }
        HotplugCmd::NotifierAdd {
            name,
            priority,
            going_online,
            going_offline,
            range,
            put,
        } => {
            if state.notifiers.contains_key(name) {
                return Err(Errno::EEXIST.into());
            }
            let ret = |a: &NotifierAction| match a {
                NotifierAction::Ok => NOTIFY_OK,
                NotifierAction::Bad => NOTIFY_BAD,
                NotifierAction::Errno(e) => notifier_from_errno(Some(*e)),
            };
            let mut nb = RecordingNotifier::new(ret(going_online), ret(going_offline));
            if let Some(pfn) = put {
                nb = nb.put_on_going_offline(Pfn(*pfn));
            }
            if let Some((addr, size)) = *range {
                let start = PhysAddr(addr).pfn();
                nb = nb.only(start, PhysAddr(addr.saturating_add(size)).pfn() - start);
            }
            let nb = Arc::new(nb);
            let id = m.hotplug().register_memory_notifier(nb.clone(), *priority);
            state.notifiers.insert(name.clone(), (id, nb));
            ok()
        }
        HotplugCmd::NotifierRemove { name } => {
            let (id, _) = state.notifiers.remove(name).ok_or(Errno::ENOENT)?;
            m.hotplug().unregister_memory_notifier(id);
            ok()
        }
        HotplugCmd::NotifierLog { name } => {
            let (_, nb) = state.notifiers.get(name).ok_or(Errno::ENOENT)?;
            let names: Vec<&str> = nb.events().iter().map(|a| a.name()).collect();
            Ok(Output::Text(names.join(" ")))
        }
        HotplugCmd::CallbackSet { name, keep } => {
            let cb: Arc<dyn OnlinePageCallback> =
                state.callbacks.get(name).cloned().unwrap_or_else(|| {
                    let (start, size) = keep.unwrap_or((0, 0));
                    Arc::new(KeepRangeCallback {
                        keep_start: PhysAddr(start).pfn(),
                        keep_end: PhysAddr(start.saturating_add(size)).pfn(),
                    })
                });
            state.callbacks.insert(name.clone(), cb.clone());
            m.set_online_page_callback(cb)?;
            ok()
        }
        HotplugCmd::CallbackRestore { name } => {
            let cb = state.callbacks.get(name).ok_or(Errno::EINVAL)?;
            m.restore_online_page_callback(cb)?;
            ok()
        }
    }
}
