//! `mmsim mount DIR [FILE.mms]`: the live model as a FUSE file system.
//!
//! # What is served
//!
//! ```text
//! DIR/.mmsim                       0444  "mmsim\nscenario: NAME\n": the marker (only this tree has it)
//! DIR/devices/system/memory/...    the model's /sys tree, as Machine::sysfs_* serve it
//! DIR/devices/system/node/...
//! DIR/kernel/debug/notifier-error-inject/memory/actions/*/error
//! DIR/kernel/mm/hugepages/...
//! DIR/proc/kpageflags              0400  size 0, as procfs
//! DIR/proc/kpagecount              0400  size 0
//! DIR/proc/kcore                   0400  size get_kcore_size()
//! ```
//!
//! The mount is `fuse.mmsim` with source `mmsim` in /proc/self/mountinfo,
//! so a test can prove a path is the model's before it writes anything.
//! Attributes are 4096 bytes in `stat`, as sysfs shows them; directories
//! 0755, symlinks 0777 with their relative targets. Nothing is cached by
//! the kernel: entries and attributes have a zero TTL (blocks come and go)
//! and every file is opened with FOPEN_DIRECT_IO, so each read(2) and each
//! write(2) reaches the model as one request.
//!
//! # The protocol: request → model call → errno
//!
//! | FUSE request | model call | errors |
//! |---|---|---|
//! | LOOKUP, GETATTR | `Machine::sysfs_lstat` | ENOENT, ENOTDIR |
//! | READDIR | `Machine::sysfs_ls_stat` | ENOTDIR |
//! | READLINK | `Machine::sysfs_readlink` | EINVAL |
//! | OPEN | the mode bits: writing a file without write bits, or reading one without read bits | EACCES (as `kernfs_fop_open()` refuses even root), EISDIR |
//! | READ of an attribute | `Machine::sysfs_read`, sliced at the offset | the model's |
//! | WRITE of an attribute | `Machine::sysfs_write_bytes` on a `hotplug::Task`: one write(2) is one store | the model's errno, unchanged; the count it consumed (at most 4096 for sysfs) |
//! | READ of kpageflags, kpagecount | `Machine::kpageflags_read`, `kpagecount_read` | EINVAL unless offset and size are multiples of 8; EOF past the last PFN |
//! | READ of kcore | `Machine::kcore_file_read` (any offset) | EOF past the file size |
//! | SETATTR | a size change (O_TRUNC of `echo >`) is accepted and ignored, as sysfs does; anything else | EPERM |
//!
//! A write that offlines a block runs the model's offline path, whose loop
//! retries until the task has a signal pending. fuser does not hand the
//! file system FUSE_INTERRUPT, so the writer's Ctrl-C cannot reach the
//! model: instead the task is signalled after `--signal-after` (default
//! 2s, the interpreter's `signal_after`), and such a write ends with EINTR
//! as an interrupted one would. Requests are served by several threads, so
//! a long write never holds up reads.
//!
//! SIGINT or SIGTERM unmounts the file system and ends the server (exit 0);
//! so does `umount DIR`.
//!
//! # Test-only mutants
//!
//! `MMSIM_MOUNT_MUTANT` (read once at start) breaks the server on purpose,
//! so tests can show that the harness notices a wrong errno: `succeed`
//! makes every failing attribute write report success; `errno=NAME` makes
//! every attribute write fail with NAME after the store ran (a successful
//! online then reports an error, a failed one the wrong error). Never set
//! it outside tests.

use mmsim::sync::Arc;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use clap::Args;
use fuser::{
    Config, Errno as FuseErrno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEntry,
    ReplyOpen, ReplyWrite, Request, WriteFlags,
};
use mmsim::errno::{Errno, KResult};
use mmsim::hotplug::with_signal_after;
use mmsim::script::args::parse_duration;
use mmsim::script::cmd::hotplug::DEFAULT_SIGNAL_AFTER;
use mmsim::script::interp::{run_script_live, LiveWorld};
use mmsim::script::parse::parse;
use mmsim::script::source::read_scenario;
use mmsim::sysfs::{SysfsKind, SysfsStat};
use mmsim::Machine;

use crate::run_options;

/// The environment variable of the test-only mutants (module doc).
pub const MUTANT_ENV: &str = "MMSIM_MOUNT_MUTANT";

/// `mmsim mount`'s options.
#[derive(Args)]
pub(crate) struct MountArgs {
    /// An empty directory to mount on.
    dir: PathBuf,
    /// The scenario (.mms) whose machine to serve after it ran; `-` reads
    /// standard input. Without it, a machine of --ram/--block/--movable.
    file: Option<PathBuf>,
    /// Boot RAM without a scenario (`machine ram=`).
    #[arg(long, default_value = "1G", conflicts_with = "file")]
    ram: String,
    /// Memory block size without a scenario (`machine block=`).
    #[arg(long, default_value = "128M", conflicts_with = "file")]
    block: String,
    /// The top of boot RAM to put in ZONE_MOVABLE without a scenario
    /// (`machine movable=`).
    #[arg(long, default_value = "0", conflicts_with = "file")]
    movable: String,
    /// A protocol variant KEY=VALUE (overrides the scenario's); repeatable.
    #[arg(long = "variant", value_name = "KEY=VALUE")]
    variants: Vec<String>,
    /// Keep N process actors (default 2, at most 64) faulting, forking and
    /// pinning in the background, so offlines have real work.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "2",
          value_parser = clap::value_parser!(u8).range(1..=64))]
    stress: Option<u8>,
    /// Seeds the --stress actors.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A write still retrying (an offline that cannot finish) is signalled
    /// after this long and fails with EINTR (`500ms`; default 2s, as a
    /// scenario's `sysfs write`).
    #[arg(long, value_name = "DURATION")]
    signal_after: Option<String>,
}

/// What the server breaks on purpose (test-only, [`MUTANT_ENV`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutant {
    /// Serve the model faithfully.
    None,
    /// Failing attribute writes report success.
    Succeed,
    /// Attribute writes fail with this errno, whatever the store did.
    Errno(Errno),
}

impl Mutant {
    fn from_env() -> Result<Mutant, String> {
        let Some(v) = std::env::var_os(MUTANT_ENV) else {
            return Ok(Mutant::None);
        };
        let v = v.to_string_lossy();
        if v == "succeed" {
            return Ok(Mutant::Succeed);
        }
        v.strip_prefix("errno=")
            .and_then(Errno::from_name)
            .map(Mutant::Errno)
            .ok_or_else(|| format!("{MUTANT_ENV}={v}: expected `succeed` or `errno=NAME`"))
    }

    fn apply(self, ret: KResult<usize>, len: usize) -> KResult<usize> {
        match (self, ret) {
            (Mutant::Succeed, Err(_)) => Ok(len),
            (Mutant::Errno(e), _) => Err(e),
            (_, ret) => ret,
        }
    }
}

/// A /proc file of the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProcFile {
    Kpageflags,
    Kpagecount,
    Kcore,
}

const PROC_FILES: [(&str, ProcFile); 3] = [
    ("kcore", ProcFile::Kcore),
    ("kpagecount", ProcFile::Kpagecount),
    ("kpageflags", ProcFile::Kpageflags),
];

/// What a path below DIR is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Root,
    Marker,
    ProcDir,
    Proc(ProcFile),
    /// A path of the model's /sys tree.
    Sysfs(String),
    /// A name below `proc` that is not served.
    Missing,
}

impl Node {
    /// The node of a path relative to DIR (no leading `/`, physical: every
    /// component is a name the tree listed).
    fn of(path: &str) -> Node {
        match path {
            "" => Node::Root,
            ".mmsim" => Node::Marker,
            "proc" => Node::ProcDir,
            _ => match path.strip_prefix("proc/") {
                Some(name) => PROC_FILES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(Node::Missing, |(_, f)| Node::Proc(*f)),
                None => Node::Sysfs(path.to_owned()),
            },
        }
    }
}

/// A path's type, permission bits and size.
struct Stat {
    kind: FileType,
    perm: u16,
    size: u64,
}

impl Stat {
    fn dir(perm: u16) -> Stat {
        Stat {
            kind: FileType::Directory,
            perm,
            size: 0,
        }
    }

    fn file(perm: u16, size: u64) -> Stat {
        Stat {
            kind: FileType::RegularFile,
            perm,
            size,
        }
    }
}

/// Inode numbers: one per path ever looked up, never reused (paths of
/// removed blocks stay numbered and answer ENOENT).
#[derive(Default)]
struct Inodes {
    by_path: HashMap<String, u64>,
    paths: Vec<String>,
}

impl Inodes {
    fn new() -> Inodes {
        let mut i = Inodes::default();
        i.intern("");
        i
    }

    fn intern(&mut self, path: &str) -> u64 {
        if let Some(&ino) = self.by_path.get(path) {
            return ino;
        }
        self.paths.push(path.to_owned());
        let ino = self.paths.len() as u64; // the root is 1
        self.by_path.insert(path.to_owned(), ino);
        ino
    }

    fn path(&self, ino: u64) -> Option<String> {
        let i = usize::try_from(ino.checked_sub(1)?).ok()?;
        self.paths.get(i).cloned()
    }
}

/// The file system: the machine and the inode numbers given out.
struct MountFs {
    m: Arc<Machine>,
    marker: String,
    inodes: Mutex<Inodes>,
    signal_after: Duration,
    mutant: Mutant,
    started: SystemTime,
}

fn fuse_errno(e: Errno) -> FuseErrno {
    FuseErrno::from_i32(e.number())
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// The FUSE file type of a sysfs entry.
fn file_type(kind: SysfsKind) -> FileType {
    match kind {
        SysfsKind::Dir => FileType::Directory,
        SysfsKind::File => FileType::RegularFile,
        SysfsKind::Symlink => FileType::Symlink,
    }
}

fn sysfs_stat_of(m: &Machine, path: &str, s: SysfsStat) -> Stat {
    let perm = s.mode as u16;
    match s.kind {
        SysfsKind::Dir => Stat::dir(perm),
        // Every sysfs attribute claims PAGE_SIZE bytes.
        SysfsKind::File => Stat::file(perm, 4096),
        SysfsKind::Symlink => Stat {
            kind: file_type(s.kind),
            perm,
            size: m.sysfs_readlink(path).map_or(0, |t| t.len() as u64),
        },
    }
}

impl MountFs {
    fn lock_inodes(&self) -> std::sync::MutexGuard<'_, Inodes> {
        // A panic while the table was held leaves it whole (each insert
        // is one push and one map insert of the same path).
        self.inodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn path(&self, ino: INodeNo) -> KResult<String> {
        self.lock_inodes().path(ino.0).ok_or(Errno::ENOENT)
    }

    fn stat(&self, path: &str) -> KResult<Stat> {
        Ok(match Node::of(path) {
            Node::Root => Stat::dir(0o755),
            Node::ProcDir => Stat::dir(0o555),
            Node::Marker => Stat::file(0o444, self.marker.len() as u64),
            Node::Proc(ProcFile::Kcore) => Stat::file(0o400, self.m.kcore_file_size()),
            Node::Proc(_) => Stat::file(0o400, 0),
            Node::Sysfs(p) => sysfs_stat_of(&self.m, &p, self.m.sysfs_lstat(&p)?),
            Node::Missing => return Err(Errno::ENOENT),
        })
    }

    fn attr(&self, ino: u64, st: &Stat) -> FileAttr {
        FileAttr {
            ino: INodeNo(ino),
            size: st.size,
            blocks: 0,
            atime: self.started,
            mtime: self.started,
            ctime: self.started,
            crtime: self.started,
            kind: st.kind,
            perm: st.perm,
            nlink: if st.kind == FileType::Directory { 2 } else { 1 },
            uid: 0,
            gid: 0,
            rdev: 0,
            flags: 0,
            blksize: 4096,
        }
    }

    /// A directory's entries: name, type.
    fn list(&self, path: &str) -> KResult<Vec<(String, FileType)>> {
        let sysfs = |p: &str| -> KResult<Vec<(String, FileType)>> {
            Ok(self
                .m
                .sysfs_ls_stat(p)?
                .into_iter()
                .map(|(name, s)| (name, file_type(s.kind)))
                .collect())
        };
        match Node::of(path) {
            Node::Root => {
                let mut v = sysfs("")?;
                v.push((".mmsim".into(), FileType::RegularFile));
                v.push(("proc".into(), FileType::Directory));
                v.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(v)
            }
            Node::ProcDir => Ok(PROC_FILES
                .iter()
                .map(|(n, _)| (n.to_string(), FileType::RegularFile))
                .collect()),
            Node::Marker | Node::Proc(_) => Err(Errno::ENOTDIR),
            Node::Sysfs(p) => sysfs(&p),
            Node::Missing => Err(Errno::ENOENT),
        }
    }

    fn read(&self, path: &str, offset: u64, size: u32) -> KResult<Vec<u8>> {
        let slice = |text: &[u8]| {
            let from = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(text.len());
            let to = from.saturating_add(size as usize).min(text.len());
            text[from..to].to_vec()
        };
        match Node::of(path) {
            Node::Marker => Ok(slice(self.marker.as_bytes())),
            Node::Proc(ProcFile::Kpageflags) => self.m.kpageflags_read(offset, u64::from(size)),
            Node::Proc(ProcFile::Kpagecount) => self.m.kpagecount_read(offset, u64::from(size)),
            Node::Proc(ProcFile::Kcore) => Ok(self.m.kcore_file_read(offset, u64::from(size))),
            Node::Sysfs(p) => Ok(slice(self.m.sysfs_read(&p)?.as_bytes())),
            Node::Root | Node::ProcDir => Err(Errno::EISDIR),
            Node::Missing => Err(Errno::ENOENT),
        }
    }

    fn write(&self, path: &str, data: &[u8]) -> KResult<usize> {
        match Node::of(path) {
            Node::Sysfs(p) => {
                let ret = with_signal_after(self.signal_after, |task| {
                    self.m.sysfs_write_bytes(&p, data, task)
                });
                self.mutant.apply(ret, data.len())
            }
            Node::Root | Node::ProcDir => Err(Errno::EISDIR),
            Node::Marker | Node::Proc(_) => Err(Errno::EACCES),
            Node::Missing => Err(Errno::ENOENT),
        }
    }
}

impl Filesystem for MountFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = (|| {
            let name = name.to_str().ok_or(Errno::ENOENT)?;
            let path = join(&self.path(parent)?, name);
            let st = self.stat(&path)?;
            let ino = self.lock_inodes().intern(&path);
            Ok(self.attr(ino, &st))
        })();
        match found {
            Ok(attr) => reply.entry(&Duration::ZERO, &attr, Generation(0)),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.path(ino).and_then(|p| self.stat(&p)) {
            Ok(st) => reply.attr(&Duration::ZERO, &self.attr(ino.0, &st)),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if mode.is_some() || uid.is_some() || gid.is_some() {
            return reply.error(FuseErrno::EPERM);
        }
        // The truncation of `echo > FILE` (O_TRUNC): sysfs ignores it.
        self.getattr(req, ino, None, reply);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let target = self.path(ino).and_then(|p| match Node::of(&p) {
            Node::Sysfs(p) => self.m.sysfs_readlink(&p),
            _ => Err(Errno::EINVAL),
        });
        match target {
            Ok(t) => reply.data(t.as_bytes()),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let opened = self.path(ino).and_then(|p| self.stat(&p)).and_then(|st| {
            if st.kind == FileType::Directory {
                return Err(Errno::EISDIR);
            }
            let (read, write) = match flags.acc_mode() {
                OpenAccMode::O_RDONLY => (true, false),
                OpenAccMode::O_WRONLY => (false, true),
                OpenAccMode::O_RDWR => (true, true),
            };
            // kernfs_fop_open(): even root needs the bits.
            if (write && st.perm & 0o222 == 0) || (read && st.perm & 0o444 == 0) {
                return Err(Errno::EACCES);
            }
            Ok(())
        });
        match opened {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.path(ino).and_then(|p| self.read(&p, offset, size)) {
            Ok(bytes) => reply.data(&bytes),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.path(ino).and_then(|p| self.write(&p, data)) {
            Ok(n) => reply.written(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let listed = self.path(ino).and_then(|p| Ok((self.list(&p)?, p)));
        let (entries, path) = match listed {
            Ok(l) => l,
            Err(e) => return reply.error(fuse_errno(e)),
        };
        let parent = match path.rsplit_once('/') {
            Some((parent, _)) => parent.to_owned(),
            None => String::new(),
        };
        let mut all = vec![
            (ino.0, FileType::Directory, ".".to_owned()),
            (
                self.lock_inodes().intern(&parent),
                FileType::Directory,
                "..".to_owned(),
            ),
        ];
        {
            let mut inodes = self.lock_inodes();
            for (name, kind) in entries {
                all.push((inodes.intern(&join(&path, &name)), kind, name));
            }
        }
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (ino, kind, name)) in all.into_iter().enumerate().skip(skip) {
            // The offset of an entry is that of the next one.
            if reply.add(INodeNo(ino), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it
/// starts after, so that one thread can take them with sigwait().
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise the set we own before
    // pthread_sigmask reads it; a null old set is allowed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Opens /dev/fuse and mounts it at `dir` with mount(2) as type
/// `fuse.mmsim`, source `mmsim` (what mountinfo shows); returns the
/// channel's descriptor. fuser's own mount names the type plain `fuse`
/// without fusermount, which a test could not tell from another FUSE file
/// system.
fn fuse_mount(dir: &std::path::Path) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .map_err(|e| std::io::Error::new(e.kind(), format!("/dev/fuse: {e}")))?;
    let fd = std::os::fd::OwnedFd::from(dev);
    let target = CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let data = CString::new(format!(
        "fd={},rootmode=40000,user_id={uid},group_id={gid}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: every pointer is a NUL-terminated string that outlives the
    // call.
    let ret = unsafe {
        libc::mount(
            c"mmsim".as_ptr(),
            target.as_ptr(),
            c"fuse.mmsim".as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if ret != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// Detaches the mount at `dir` (umount2 MNT_DETACH): the server's reads
/// then end with ENODEV and it returns.
fn unmount(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The scenario's name and text: the file, or a `machine` line of the size
/// options.
fn scenario(args: &MountArgs) -> Result<(String, String), String> {
    match &args.file {
        Some(f) => read_scenario(f).map_err(|e| e.to_string()),
        None => Ok((
            "<command line>".to_owned(),
            format!(
                "machine ram={} block={} movable={}\n",
                args.ram, args.block, args.movable
            ),
        )),
    }
}

/// `mmsim mount`.
pub(crate) fn mount(args: &MountArgs) -> ExitCode {
    if cfg!(mmsim_shuttle) {
        eprintln!(
            "mmsim: this is the explorer build (--cfg mmsim_shuttle): mount with the normal build"
        );
        return ExitCode::from(2);
    }
    // Never over the host's own kernel interfaces (/sys, /proc, debugfs...):
    // host tools would then write into the model, and the host's tree would
    // be hidden.
    if let Err(e) = mmsim::hostfs::check_write_target(&args.dir) {
        eprintln!("mmsim: cannot mount on {e}");
        return ExitCode::from(2);
    }
    // A mount point that is not a directory is bad input, found before the
    // scenario runs (mount(2) would fail with the same errno only after).
    match std::fs::metadata(&args.dir) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => {
            eprintln!(
                "mmsim: cannot mount on {}: Not a directory",
                args.dir.display()
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("mmsim: cannot mount on {}: {e}", args.dir.display());
            return ExitCode::from(2);
        }
    }
    let signals = block_stop_signals();
    let mutant = match Mutant::from_env() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mmsim: {e}");
            return ExitCode::from(2);
        }
    };
    let signal_after = match args.signal_after.as_deref().map(parse_duration) {
        None => DEFAULT_SIGNAL_AFTER,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            eprintln!("mmsim: --signal-after: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = match run_options(false, &args.variants, false) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let (name, text) = match scenario(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let script = match parse(&name, &text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let (report, error, world) = run_script_live(&script, &text, &opts);
    if let Some(e) = error {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    if !report.failures.is_empty() {
        for f in &report.failures {
            eprintln!("{}", f.text);
        }
        eprintln!(
            "mmsim: {name} did not hold ({} failed): not mounting",
            report.failures.len()
        );
        return ExitCode::from(1);
    }
    let Some(world) = world else {
        eprintln!("mmsim: {name} boots no machine");
        return ExitCode::from(2);
    };
    serve(args, &name, world, signal_after, mutant, signals)
}

fn serve(
    args: &MountArgs,
    name: &str,
    world: LiveWorld,
    signal_after: Duration,
    mutant: Mutant,
    signals: libc::sigset_t,
) -> ExitCode {
    let m = world.machine().clone();
    let background = match args.stress {
        Some(n) => match mmsim::stress::Background::spawn(&m, usize::from(n), args.seed) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("mmsim: --stress: cannot start the process actors: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let fs = MountFs {
        m,
        marker: format!("mmsim\nscenario: {name}\n"),
        inodes: Mutex::new(Inodes::new()),
        signal_after,
        mutant,
        started: SystemTime::now(),
    };
    let mut config = Config::default();
    config.n_threads = Some(4);
    let session = fuse_mount(&args.dir).and_then(|fd| {
        fuser::Session::from_fd(fs, fd, fuser::SessionACL::Owner, config).inspect_err(|_| {
            let _ = unmount(&args.dir);
        })
    });
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mmsim: cannot mount on {}: {e}", args.dir.display());
            return ExitCode::from(1);
        }
    };
    let dir = args.dir.clone();
    std::thread::spawn(move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: `signals` is an initialised set and `sig` a valid out
        // pointer; SIGINT and SIGTERM are blocked in every thread.
        if unsafe { libc::sigwait(&signals, &mut sig) } == 0 {
            if let Err(e) = unmount(&dir) {
                eprintln!("mmsim: cannot unmount {}: {e}", dir.display());
            }
        }
    });
    let ready = writeln!(
        std::io::stdout().lock(),
        "mmsim: serving {name} at {} (fuse.mmsim; `umount {}` or Ctrl-C ends it)",
        args.dir.display(),
        args.dir.display()
    )
    .and_then(|()| std::io::stdout().flush());
    drop(ready);
    let served = session.run();
    let mut code = 0;
    if let Err(e) = served {
        eprintln!("mmsim: serving {} ended: {e}", args.dir.display());
        code = 1;
    }
    if let Some(b) = background {
        for v in b.stop() {
            eprintln!("mmsim: --stress: {v}");
            code = 1;
        }
    }
    drop(world);
    ExitCode::from(code)
}
