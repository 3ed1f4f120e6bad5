//! The host side of a scenario: its processes (one driver each), its
//! files (memfds held here), its pins (descriptors copied from the driver
//! that took them, so a pin outlives its process as the model's does) and
//! the /proc readers, which read the drivers' /proc/PID/pagemap and smaps
//! and the host's /proc/kpageflags and /proc/kpagecount from here.

use std::collections::HashMap;
use std::io::BufReader;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mmsim::script::args::ByteRange;
use mmsim::script::cmd::kernel::KernelCmd;
use mmsim::script::cmd::pin::{GupKind, PinCmd};
use mmsim::script::cmd::process::{Advice, Backing, ProcessCmd, Prot, Sharing, WriteData};
use mmsim::script::cmd::readers::ReaderCmd;
use mmsim::script::cmd::Cmd;
use mmsim::script::interp::Observed;
use mmsim::walkers::kpageflags_names;
use mmsim::Errno;

use super::plan::is_hugetlb_meminfo;
use super::proto::{recv, send, Reply, Request};
use super::sys::{self, memfd, pipe_for, PAGE};
use super::uring;

/// How long a driver may take to answer before it is killed (a hung
/// driver is a failed line, never a hung run).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A line's result on the host.
pub enum Outcome {
    /// What the host printed, or the errno.
    Done(Result<Observed, Errno>),
    /// The host side broke (a driver died or hung, a /proc file is
    /// missing): reported as a difference with this message.
    Broken(String),
}

impl From<Result<Observed, Errno>> for Outcome {
    fn from(r: Result<Observed, Errno>) -> Outcome {
        Outcome::Done(r)
    }
}

struct Proc {
    pid: i32,
    chan: UnixStream,
    /// The driver this orchestrator started (forked ones are their
    /// parent driver's children).
    child: Option<Child>,
    maps: HashMap<String, (u64, u64)>,
}

enum PinKind {
    /// vmsplice(): the pipes' read ends (their write ends are closed: the
    /// pages stay in the pipes), in address order.
    Pipes(Vec<OwnedFd>),
    /// An io_uring ring with the range as fixed buffer 0.
    Ring(OwnedFd),
}

struct Pin {
    kind: PinKind,
    /// The pinned range's start in its process.
    addr: u64,
    len: u64,
}

/// Every host object of one scenario file; dropping it kills and reaps
/// every driver.
pub struct HostSide {
    procs: HashMap<String, Proc>,
    files: HashMap<String, OwnedFd>,
    pins: HashMap<String, Pin>,
    /// Every pid ever driven, for the teardown.
    pids: Vec<i32>,
    scratch: std::fs::File,
    /// The table entries the last line's value went through.
    explained: Vec<&'static str>,
}

impl HostSide {
    /// An empty host side.
    pub fn new() -> Result<HostSide, String> {
        let scratch = memfd("mmsim-host-dma", 0, false)
            .map_err(|e| format!("memfd_create: {}", errno_name(e)))?;
        Ok(HostSide {
            procs: HashMap::new(),
            files: HashMap::new(),
            pins: HashMap::new(),
            pids: Vec::new(),
            scratch: scratch.into(),
            explained: Vec::new(),
        })
    }

    /// The table entries the last line's value went through.
    pub fn take_explained(&mut self) -> Vec<&'static str> {
        std::mem::take(&mut self.explained)
    }

    /// Runs one expressible command.
    pub fn run(&mut self, cmd: &Cmd, model: Option<&str>) -> Outcome {
        match cmd {
            Cmd::Process(c) => self.process(c),
            Cmd::Pin(c) => self.pin(c),
            Cmd::Reader(c) => self.reader(c, model),
            Cmd::Kernel(KernelCmd::Meminfo { field: Some(f) }) if is_hugetlb_meminfo(f) => {
                match meminfo_field(f) {
                    Some(v) => Ok(Observed::Text(v)).into(),
                    None => Outcome::Broken(format!("/proc/meminfo has no {f}")),
                }
            }
            _ => Outcome::Broken(format!("`{}` is not a host command", cmd.name())),
        }
    }

    fn process(&mut self, cmd: &ProcessCmd) -> Outcome {
        match cmd {
            ProcessCmd::Spawn { proc } => {
                if self.procs.contains_key(proc) {
                    return Err(Errno::EEXIST).into();
                }
                match self.spawn() {
                    Ok(p) => {
                        self.pids.push(p.pid);
                        self.procs.insert(proc.clone(), p);
                        ok()
                    }
                    Err(e) => Outcome::Broken(e),
                }
            }
            ProcessCmd::File {
                name,
                size,
                hugetlb,
                ..
            } => {
                if self.files.contains_key(name) {
                    return Err(Errno::EEXIST).into();
                }
                match memfd(name, *size, *hugetlb) {
                    Ok(fd) => {
                        self.files.insert(name.clone(), fd);
                        ok()
                    }
                    Err(e) => errno(e),
                }
            }
            ProcessCmd::Mmap {
                proc,
                name,
                size,
                backing,
                sharing,
                prot,
                thp,
                hugetlb,
                populate,
            } => {
                let Some(p) = self.procs.get(proc) else {
                    return Err(Errno::ESRCH).into();
                };
                if p.maps.contains_key(name) {
                    return Err(Errno::EEXIST).into();
                }
                let file = match backing {
                    Backing::Anon => None,
                    Backing::File(f) => match self.files.get(f) {
                        Some(fd) => Some(format!(
                            "/proc/{}/fd/{}",
                            std::process::id(),
                            fd.as_raw_fd()
                        )),
                        None => return Err(Errno::EBADF).into(),
                    },
                };
                let req = Request::Mmap {
                    len: *size,
                    prot: prot_bits(*prot),
                    shared: *sharing == Sharing::Shared,
                    file,
                    thp: *thp,
                    hugetlb: *hugetlb,
                    populate: *populate,
                };
                let (proc, name, size) = (proc.clone(), name.clone(), *size);
                self.ask(&proc.clone(), req, move |side, reply| match reply {
                    Reply::Addr(a) => {
                        if let Some(p) = side.procs.get_mut(&proc) {
                            p.maps.insert(name, (a, size.next_multiple_of(PAGE)));
                        }
                        Ok(Observed::Text(format!("{a:#x}")))
                    }
                    other => unexpected(other),
                })
            }
            ProcessCmd::Munmap { proc, name, range } => {
                let (addr, len) = match self.range(proc, name, range.map(|r| (r.off, r.len))) {
                    Ok(r) => r,
                    Err(e) => return Err(e).into(),
                };
                let whole = range.is_none();
                let (proc, name) = (proc.clone(), name.clone());
                self.ask(
                    &proc.clone(),
                    Request::Munmap { addr, len },
                    move |side, reply| {
                        if whole {
                            if let Some(p) = side.procs.get_mut(&proc) {
                                p.maps.remove(&name);
                            }
                        }
                        expect_ok(reply)
                    },
                )
            }
            ProcessCmd::Mremap {
                proc,
                name,
                new_size,
                range,
                to,
            } => {
                let (addr, len) = match self.range(proc, name, range.map(|r| (r.off, r.len))) {
                    Ok(r) => r,
                    Err(e) => return Err(e).into(),
                };
                let fixed = match to {
                    Some(dest) => match self.mapping(proc, dest) {
                        Ok((a, size)) => {
                            if new_size.next_multiple_of(PAGE) != size {
                                return Err(Errno::EINVAL).into();
                            }
                            Some(a)
                        }
                        Err(e) => return Err(e).into(),
                    },
                    None => None,
                };
                let req = Request::Mremap {
                    addr,
                    old_len: len,
                    new_len: *new_size,
                    fixed,
                };
                let (proc, key, size) = (
                    proc.clone(),
                    to.clone().unwrap_or_else(|| name.clone()),
                    new_size.next_multiple_of(PAGE),
                );
                self.ask(&proc.clone(), req, move |side, reply| match reply {
                    Reply::Addr(a) => {
                        if let Some(p) = side.procs.get_mut(&proc) {
                            p.maps.insert(key, (a, size));
                        }
                        Ok(Observed::Text(format!("{a:#x}")))
                    }
                    other => unexpected(other),
                })
            }
            ProcessCmd::Mprotect {
                proc,
                name,
                prot,
                range,
            } => self.ranged(proc, name, *range, |addr, len| Request::Mprotect {
                addr,
                len,
                prot: prot_bits(*prot),
            }),
            ProcessCmd::Madvise {
                proc,
                name,
                advice,
                range,
            } => self.ranged(proc, name, *range, |addr, len| Request::Madvise {
                addr,
                len,
                advice: advice_bits(*advice),
            }),
            ProcessCmd::Touch { proc, name, range } => {
                self.ranged(proc, name, *range, |addr, len| Request::Touch { addr, len })
            }
            ProcessCmd::Write { proc, place, data } => {
                let (len, byte, text) = match data {
                    WriteData::Fill { len, byte } => (*len, *byte, None),
                    WriteData::Text(t) => (t.len() as u64, 0, Some(t.clone())),
                };
                let addr = match self.place(proc, &place.mapping, place.off, len) {
                    Ok(a) => a,
                    Err(e) => return Err(e).into(),
                };
                let req = Request::Write {
                    addr,
                    len,
                    byte,
                    text,
                };
                self.ask(proc, req, |_, r| expect_ok(r))
            }
            ProcessCmd::Read { proc, place, len } => {
                let addr = match self.place(proc, &place.mapping, place.off, *len) {
                    Ok(a) => a,
                    Err(e) => return Err(e).into(),
                };
                self.ask(proc, Request::Read { addr, len: *len }, |_, r| match r {
                    Reply::Bytes(b) => Ok(Observed::Bytes(b)),
                    other => unexpected(other),
                })
            }
            ProcessCmd::Fork { proc, child } => {
                if self.procs.contains_key(child) {
                    return Err(Errno::EEXIST).into();
                }
                let (proc, child) = (proc.clone(), child.clone());
                self.ask(
                    &proc.clone(),
                    Request::Fork,
                    move |side, reply| match reply {
                        Reply::Forked { pid, fd } => side.adopt(&proc, &child, pid, fd),
                        other => unexpected(other),
                    },
                )
            }
            ProcessCmd::Exit { proc } => match self.procs.remove(proc) {
                None => Err(Errno::ESRCH).into(),
                Some(mut p) => match exit(&mut p) {
                    Ok(()) => ok(),
                    Err(e) => Outcome::Broken(format!("{proc}: {e}")),
                },
            },
            ProcessCmd::ClearRefs { proc } => {
                self.ask(proc, Request::ClearRefs, |_, r| expect_ok(r))
            }
            ProcessCmd::KsmRun => Outcome::Broken("ksm run is not a host command".to_owned()),
        }
    }

    fn pin(&mut self, cmd: &PinCmd) -> Outcome {
        match cmd {
            PinCmd::Gup {
                proc,
                pin,
                place,
                len,
                kind,
                ..
            } => {
                if self.pins.contains_key(pin) {
                    return Err(Errno::EEXIST).into();
                }
                let addr = match self.place(proc, &place.mapping, place.off, *len) {
                    Ok(a) => a,
                    Err(e) => return Err(e).into(),
                };
                let (req, ring) = match kind {
                    GupKind::Get => (Request::Vmsplice { addr, len: *len }, false),
                    GupKind::Pin => (Request::UringPin { addr, len: *len }, true),
                };
                let (proc, pin, len) = (proc.clone(), pin.clone(), *len);
                self.ask(&proc.clone(), req, move |side, reply| match reply {
                    Reply::Fds(fds) => side.take_pin(&proc, &pin, addr, len, &fds, ring),
                    other => unexpected(other),
                })
            }
            PinCmd::Read { pin, off, len } => {
                let Some(p) = self.pins.get(pin) else {
                    return Err(Errno::ENOENT).into();
                };
                match off.checked_add(*len) {
                    Some(end) if end <= p.len => {}
                    _ => return Err(Errno::EINVAL).into(),
                }
                match pin_read(p, &self.scratch, *off, *len) {
                    Ok(b) => Ok(Observed::Bytes(b)).into(),
                    Err(e) => errno(e),
                }
            }
            PinCmd::Write {
                pin,
                off,
                len,
                byte,
            } => {
                let Some(p) = self.pins.get(pin) else {
                    return Err(Errno::ENOENT).into();
                };
                let PinKind::Ring(ring) = &p.kind else {
                    return Err(Errno::EPERM).into();
                };
                let r = self
                    .scratch
                    .write_all_at(&vec![*byte; *len as usize], 0)
                    .map_err(io_errno)
                    .and_then(|()| {
                        uring::dma(ring, false, &self.scratch, p.addr + off, *len as u32)
                    });
                match r {
                    Ok(_) => ok(),
                    Err(e) => errno(e),
                }
            }
            PinCmd::Release { pin } => match self.pins.remove(pin) {
                None => Err(Errno::ENOENT).into(),
                Some(p) => {
                    if let PinKind::Ring(ring) = &p.kind {
                        if let Err(e) = uring::unregister(ring) {
                            return errno(e);
                        }
                    }
                    ok()
                }
            },
        }
    }

    fn reader(&mut self, cmd: &ReaderCmd, model: Option<&str>) -> Outcome {
        match cmd {
            ReaderCmd::Kpageflags { pfn } => match sys::proc_u64("/proc/kpageflags", *pfn) {
                Ok(flags) => {
                    let flags = match model {
                        Some(m) => {
                            let (flags, used) =
                                super::table::adjust_kpageflags(flags, super::table::kpf_bits(m));
                            self.explained = used;
                            flags
                        }
                        None => flags,
                    };
                    Ok(Observed::Text(kpageflags_names(flags))).into()
                }
                Err(e) => errno(e),
            },
            ReaderCmd::Kpagecount { pfn } => match sys::proc_u64("/proc/kpagecount", *pfn) {
                Ok(n) => Ok(Observed::Text(n.to_string())).into(),
                Err(e) => errno(e),
            },
            ReaderCmd::Pagemap { proc, place }
            | ReaderCmd::Pte { proc, place }
            | ReaderCmd::Pfn { proc, place } => {
                let addr = match self.place(proc, &place.mapping, place.off, 1) {
                    Ok(a) => a,
                    Err(e) => return Err(e).into(),
                };
                let pid = self.procs[proc].pid;
                let entry = match sys::proc_u64(&format!("/proc/{pid}/pagemap"), addr / PAGE) {
                    Ok(e) => e,
                    Err(e) => return errno(e),
                };
                let present = entry >> 63 & 1 == 1;
                let frame = entry & ((1 << 55) - 1);
                Ok(Observed::Text(match cmd {
                    ReaderCmd::Pfn { .. } if !present => return Err(Errno::EFAULT).into(),
                    ReaderCmd::Pfn { .. } => format!("{frame:#x}"),
                    ReaderCmd::Pte { .. } => {
                        let pfn = if present { frame } else { 0 };
                        match super::table::pte_with_hidden_fields(present, pfn, model) {
                            Some(s) => {
                                self.explained = vec!["pte-hidden"];
                                s
                            }
                            // The model printed none (it failed): what the
                            // host can read, the rest unknown.
                            None => format!(
                                "present={} writable=? anon_exclusive=? pfn={pfn:#x}",
                                u8::from(present)
                            ),
                        }
                    }
                    _ => {
                        let host = format!(
                            "present={} swapped={} exclusive={} pfn={frame:#x}",
                            u8::from(present),
                            entry >> 62 & 1,
                            entry >> 56 & 1
                        );
                        match super::table::pagemap_with_model_slot(&host, model) {
                            Some(s) => {
                                self.explained = vec!["swap-slot"];
                                s
                            }
                            None => host,
                        }
                    }
                }))
                .into()
            }
            ReaderCmd::Smaps { proc, name } => {
                let (addr, size) = match self.mapping(proc, name) {
                    Ok(m) => m,
                    Err(e) => return Err(e).into(),
                };
                let pid = self.procs[proc].pid;
                match std::fs::read_to_string(format!("/proc/{pid}/smaps")) {
                    Ok(text) => Ok(Observed::Text(smaps(&text, addr, addr + size))).into(),
                    Err(e) => errno(io_errno(e)),
                }
            }
            _ => Outcome::Broken("not a host reader".to_owned()),
        }
    }

    /// Starts a driver: this binary's hidden `__host-driver` subcommand,
    /// its socket as standard input.
    fn spawn(&self) -> Result<Proc, String> {
        let (ours, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let child = Command::new(exe)
            .arg("__host-driver")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the driver: {e}"))?;
        ours.set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(|e| format!("socket timeout: {e}"))?;
        Ok(Proc {
            pid: child.id() as i32,
            chan: ours,
            child: Some(child),
            maps: HashMap::new(),
        })
    }

    /// Sends `req` to `proc`'s driver and turns its reply into the line's
    /// result with `then`; an errno reply is the line's errno, a driver
    /// that dies or hangs is killed and the line broken.
    fn ask(
        &mut self,
        proc: &str,
        req: Request,
        then: impl FnOnce(&mut HostSide, Reply) -> Result<Observed, Errno>,
    ) -> Outcome {
        let Some(p) = self.procs.get_mut(proc) else {
            return Err(Errno::ESRCH).into();
        };
        let reply =
            send(&mut p.chan, &req).and_then(|()| recv::<Reply, _>(&mut BufReader::new(&p.chan)));
        match reply {
            Ok(Some(Reply::Errno(e))) => errno(e),
            Ok(Some(r)) => then(self, r).into(),
            Ok(None) => self.lost(proc, "its driver died"),
            Err(e) => self.lost(proc, &format!("its driver did not answer ({e})")),
        }
    }

    fn lost(&mut self, proc: &str, what: &str) -> Outcome {
        if let Some(mut p) = self.procs.remove(proc) {
            kill(&mut p);
        }
        Outcome::Broken(format!("{proc}: {what}"))
    }

    /// Takes over the socket of a driver's forked child.
    fn adopt(&mut self, parent: &str, child: &str, pid: i32, fd: i32) -> Result<Observed, Errno> {
        self.pids.push(pid);
        let Some(p) = self.procs.get(parent) else {
            return Err(Errno::ESRCH);
        };
        let stolen = sys::steal_fd(p.pid, fd).map_err(to_errno);
        let maps = p.maps.clone();
        let forget = self.ask(parent, Request::Forget { fds: vec![fd] }, |_, r| {
            expect_ok(r)
        });
        let chan = UnixStream::from(stolen?);
        if let Outcome::Broken(_) | Outcome::Done(Err(_)) = forget {
            return Err(Errno::EIO);
        }
        chan.set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(|_| Errno::EIO)?;
        self.procs.insert(
            child.to_owned(),
            Proc {
                pid,
                chan,
                child: None,
                maps,
            },
        );
        Ok(Observed::Text(String::new()))
    }

    /// Copies a pin's descriptors from its driver, which then closes its
    /// own, so the pin lives exactly until `release`.
    fn take_pin(
        &mut self,
        proc: &str,
        pin: &str,
        addr: u64,
        len: u64,
        fds: &[i32],
        ring: bool,
    ) -> Result<Observed, Errno> {
        // What the model prints: the pages the range touches.
        let pages = ((addr + len).next_multiple_of(PAGE) - addr / PAGE * PAGE) / PAGE;
        let pid = self.procs.get(proc).ok_or(Errno::ESRCH)?.pid;
        let stolen: Result<Vec<OwnedFd>, Errno> = fds
            .iter()
            .map(|&fd| sys::steal_fd(pid, fd).map_err(to_errno))
            .collect();
        let forget = self.ask(proc, Request::Forget { fds: fds.to_vec() }, |_, r| {
            expect_ok(r)
        });
        let mut stolen = stolen?;
        if let Outcome::Broken(_) | Outcome::Done(Err(_)) = forget {
            return Err(Errno::EIO);
        }
        let kind = if ring {
            PinKind::Ring(stolen.pop().ok_or(Errno::EIO)?)
        } else {
            // Keep the read ends; the write ends close here.
            PinKind::Pipes(stolen.into_iter().step_by(2).collect())
        };
        self.pins.insert(pin.to_owned(), Pin { kind, addr, len });
        Ok(Observed::Text(pages.to_string()))
    }

    /// Asks `proc` to do `make(addr, len)` on part of a mapping (all of it
    /// by default), an action with no value.
    fn ranged(
        &mut self,
        proc: &str,
        name: &str,
        range: Option<ByteRange>,
        make: impl FnOnce(u64, u64) -> Request,
    ) -> Outcome {
        match self.range(proc, name, range.map(|r| (r.off, r.len))) {
            Ok((addr, len)) => self.ask(proc, make(addr, len), |_, r| expect_ok(r)),
            Err(e) => Err(e).into(),
        }
    }

    fn mapping(&self, proc: &str, name: &str) -> Result<(u64, u64), Errno> {
        let p = self.procs.get(proc).ok_or(Errno::ESRCH)?;
        p.maps.get(name).copied().ok_or(Errno::EFAULT)
    }

    /// `[off, off+len)` of a mapping (all of it by default), as addresses;
    /// EINVAL beyond its end (the scenario's bookkeeping, as the model's).
    fn range(&self, proc: &str, name: &str, r: Option<(u64, u64)>) -> Result<(u64, u64), Errno> {
        let (addr, size) = self.mapping(proc, name)?;
        let (off, len) = r.unwrap_or((0, size));
        match off.checked_add(len) {
            Some(end) if end <= size => Ok((addr + off, len)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The address of `len` bytes at NAME+OFF (EFAULT beyond the mapping).
    fn place(&self, proc: &str, name: &str, off: u64, len: u64) -> Result<u64, Errno> {
        let (addr, size) = self.mapping(proc, name)?;
        match off.checked_add(len) {
            Some(end) if end <= size => Ok(addr + off),
            _ => Err(Errno::EFAULT),
        }
    }
}

impl Drop for HostSide {
    fn drop(&mut self) {
        self.pins.clear();
        for (_, mut p) in self.procs.drain() {
            kill(&mut p);
        }
        // Forked drivers are their parent driver's children (reaped there,
        // SIGCHLD ignored) or, once that parent is gone, ours (we are a
        // child subreaper): kill any left and reap those that are ours.
        for &pid in &self.pids {
            // SAFETY: plain system calls on pids this run started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
    }
}

/// Ends a driver: `Exit`, then its socket's end of file, which comes after
/// the kernel tore its address space down (exit_mm() before exit_files()).
fn exit(p: &mut Proc) -> Result<(), String> {
    send(&mut p.chan, &Request::Exit).map_err(|e| format!("exit: {e}"))?;
    let end = recv::<Reply, _>(&mut BufReader::new(&p.chan));
    let result = match end {
        Ok(None) => Ok(()),
        Ok(Some(r)) => Err(format!("exit answered {r:?}")),
        Err(e) => Err(format!("exit: {e}")),
    };
    if result.is_err() {
        kill(p);
    } else if let Some(c) = &mut p.child {
        let _ = c.wait();
    }
    result
}

/// The value of one /proc/meminfo line (the host's, machine-wide).
fn meminfo_field(field: &str) -> Option<String> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')
                .map(|v| v.trim().to_owned())
        })
}

fn kill(p: &mut Proc) {
    match &mut p.child {
        Some(c) => {
            let _ = c.kill();
            let _ = c.wait();
        }
        None => {
            // SAFETY: a pid this run started; it is reaped by its parent
            // driver or by the teardown.
            unsafe { libc::kill(p.pid, libc::SIGKILL) };
        }
    }
}

/// A pin's current bytes `[off, off+len)` (a DMA read): for a pipe, a
/// `tee()` of its buffers into a scratch pipe, read (the pin's pipe keeps
/// them); for a ring, a WRITE_FIXED into the scratch memfd.
fn pin_read(p: &Pin, scratch: &std::fs::File, off: u64, len: u64) -> Result<Vec<u8>, i32> {
    match &p.kind {
        PinKind::Pipes(pipes) => {
            let mut all = Vec::with_capacity(p.len as usize);
            for r in pipes {
                all.extend(tee(r)?);
            }
            let end = (off + len).min(all.len() as u64) as usize;
            Ok(all.get(off as usize..end).unwrap_or_default().to_vec())
        }
        PinKind::Ring(ring) => {
            let n = uring::dma(ring, true, scratch, p.addr + off, len as u32)?;
            let mut buf = vec![0u8; n as usize];
            scratch.read_exact_at(&mut buf, 0).map_err(io_errno)?;
            Ok(buf)
        }
    }
}

/// The bytes in a pipe, left in it: one `tee()` of all of them into a
/// scratch pipe of the same size, read from there.
fn tee(r: &OwnedFd) -> Result<Vec<u8>, i32> {
    // SAFETY: plain fcntl on a descriptor we own.
    let size = sys::check(unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETPIPE_SZ) }.into())? as u64;
    let (sr, sw) = pipe_for(size)?;
    // SAFETY: plain system call on descriptors we own. One call: tee()
    // never consumes, so a second would copy the same bytes again.
    let n = sys::check(unsafe {
        libc::tee(
            r.as_raw_fd(),
            sw.as_raw_fd(),
            size as usize,
            libc::SPLICE_F_NONBLOCK,
        )
    } as libc::c_long);
    match n {
        Ok(_) | Err(libc::EAGAIN) => {}
        Err(e) => return Err(e),
    }
    drop(sw);
    let mut all = Vec::with_capacity(size as usize);
    std::io::Read::read_to_end(&mut std::fs::File::from(sr), &mut all).map_err(io_errno)?;
    Ok(all)
}

/// `rss_kb= anon_huge_kb= swap_kb= hugetlb_kb=` summed over the VMAs of
/// /proc/PID/smaps that overlap `[start, end)` (a mapping sits between
/// PROT_NONE guards, so no VMA holds another mapping's pages).
fn smaps(text: &str, start: u64, end: u64) -> String {
    let (mut rss, mut huge, mut swap, mut hugetlb) = (0u64, 0u64, 0u64, 0u64);
    let mut inside = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
                inside = a < end && start < b;
                continue;
            }
        }
        if !inside {
            continue;
        }
        let kb: u64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        match first {
            "Rss:" => rss += kb,
            "AnonHugePages:" => huge += kb,
            "Swap:" => swap += kb,
            "Shared_Hugetlb:" | "Private_Hugetlb:" => hugetlb += kb,
            _ => {}
        }
    }
    format!("rss_kb={rss} anon_huge_kb={huge} swap_kb={swap} hugetlb_kb={hugetlb}")
}

fn prot_bits(p: Prot) -> i32 {
    match p {
        Prot::None => libc::PROT_NONE,
        Prot::ReadOnly => libc::PROT_READ,
        Prot::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
    }
}

fn advice_bits(a: Advice) -> i32 {
    match a {
        Advice::DontNeed => libc::MADV_DONTNEED,
        Advice::PageOut => libc::MADV_PAGEOUT,
        Advice::Mergeable => libc::MADV_MERGEABLE,
        Advice::Unmergeable => libc::MADV_UNMERGEABLE,
        Advice::HugePage => libc::MADV_HUGEPAGE,
        Advice::NoHugePage => libc::MADV_NOHUGEPAGE,
        Advice::Collapse => libc::MADV_COLLAPSE,
        Advice::DontFork => libc::MADV_DONTFORK,
        Advice::DoFork => libc::MADV_DOFORK,
    }
}

fn ok() -> Outcome {
    Outcome::Done(Ok(Observed::Text(String::new())))
}

fn expect_ok(r: Reply) -> Result<Observed, Errno> {
    match r {
        Reply::Ok => Ok(Observed::Text(String::new())),
        other => unexpected(other),
    }
}

fn unexpected(_: Reply) -> Result<Observed, Errno> {
    Err(Errno::EIO)
}

fn to_errno(e: i32) -> Errno {
    Errno::from_number(e).unwrap_or(Errno::EIO)
}

fn errno(e: i32) -> Outcome {
    Outcome::Done(Err(to_errno(e)))
}

fn io_errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// An errno's name, for messages.
pub fn errno_name(e: i32) -> &'static str {
    to_errno(e).name()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsim::script::ast::StmtKind;
    use mmsim::script::parse::parse;

    fn cmds(text: &str) -> Vec<Cmd> {
        let script = parse("t.mms", &format!("machine ram=1G\n{text}")).expect("parses");
        script
            .stmts
            .into_iter()
            .filter_map(|s| match s.kind {
                StmtKind::Command(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_driver_that_dies_breaks_its_line_instead_of_hanging() {
        // In a unit test the driver binary is this test harness, which takes
        // `__host-driver` as a test filter, runs nothing and exits: a driver
        // that dies before its first answer.
        let mut side = HostSide::new().expect("memfd");
        let c = cmds("spawn P\nP mmap m 4K\nP read m 4K\n");
        assert!(matches!(side.run(&c[0], None), Outcome::Done(Ok(_))));
        match side.run(&c[1], None) {
            Outcome::Broken(why) => assert!(why.starts_with("P: its driver"), "{why}"),
            Outcome::Done(r) => panic!("a dead driver answered {r:?}"),
        }
        // The process is gone on the host side from then on.
        assert!(matches!(
            side.run(&c[2], None),
            Outcome::Done(Err(Errno::ESRCH))
        ));
    }
}
