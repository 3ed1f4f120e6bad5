//! `mmsim mount` against the tools mm developers use, as root with
//! /dev/fuse: the kernel's own memory-hotplug selftest (reference §8.1),
//! util-linux `chmem`/`lsmem` and `page-types` (reference §8.2), plus the
//! file system's own rules (pread of /proc files, hostile writes, clean
//! unmount).
//!
//! SAFETY OF THE HOST. CI machines are real Linux with their own memory
//! hotplug sysfs. Nothing here may write below the host's
//! /sys/devices/system/memory or /sys/kernel/debug, or load a module. So
//! every test proves, before it lets anything write, that the paths it
//! uses are the model's: /proc/self/mountinfo shows `fuse.mmsim` mounted
//! at exactly that path (checked again inside each mount namespace), and
//! `DIR/.mmsim`, which only the model's tree serves, names the scenario.
//! The selftest runs in its own mount namespace (`unshare -m`, everything
//! made private first) with a `mount` shim that names DIR as sysfs and as
//! debugfs and a no-op shim bind-mounted over /sbin/modprobe; chmem runs
//! in its own namespace with DIR's memory tree bind-mounted over
//! /sys/devices/system/memory.
//!
//! Without root or /dev/fuse (or the kernel source tarball, chmem,
//! page-types) a test prints why it is skipped, and fails under `CI=true`.

// A test harness outside the model: the rule keeping std::sync inside sync/ is
// for model code.
#![allow(clippy::disallowed_types)]

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where the kernel source comes from (.ci/install-page-types installs it).
const TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
const SELFTEST: &str =
    "linux-source-6.12/tools/testing/selftests/memory-hotplug/mem-on-off-test.sh";

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scenarios/mount")
        .join(name)
}

/// Skips the test (returns false) with a printed reason, or fails it under
/// CI=true.
fn can_run(test: &str, missing: Option<String>) -> bool {
    let Some(why) = missing else { return true };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but {test} cannot run: {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
    false
}

/// Why FUSE mounts cannot be made here, if they cannot.
fn fuse_missing() -> Option<String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (mount(2) of a FUSE file system needs it)".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    None
}

fn temp_dir(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mmsim-mount-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The mount entries of this process: (mount point, fstype, source).
fn mounts() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            let (fstype, source) = (r.next()?, r.next()?);
            Some((unescape(point), fstype.to_owned(), source.to_owned()))
        })
        .collect()
}

/// mountinfo's octal escapes (`\040` for a blank).
fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = u8::from_str_radix(&s[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Panics unless `dir` is, right now, the model's tree: the last mount at
/// exactly that path is `fuse.mmsim` from `mmsim`, and its `.mmsim` marker
/// names `scenario`. Nothing may write below `dir` before this held.
fn assert_model(dir: &Path, scenario: &str) {
    let dir = dir.canonicalize().expect("mount point");
    let dir = dir.to_str().expect("UTF-8 path");
    let last = mounts().into_iter().rfind(|m| m.0 == dir);
    match last {
        Some((_, fstype, source)) if fstype == "fuse.mmsim" && source == "mmsim" => {}
        other => panic!("refusing: {dir} is not the model's tree (mount: {other:?})"),
    }
    let marker = std::fs::read_to_string(Path::new(dir).join(".mmsim")).expect("marker");
    assert_eq!(
        marker,
        format!("mmsim\nscenario: {scenario}\n"),
        "refusing: {dir}/.mmsim"
    );
}

/// A running `mmsim mount`, unmounted (SIGTERM) when dropped.
struct Mounted {
    dir: PathBuf,
    child: Option<Child>,
}

impl Mounted {
    /// Mounts `file` (or a machine of the command line's flags) with extra
    /// `args` and environment `env`, waits for the ready line and proves
    /// the tree is the model's.
    fn start(file: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Mounted {
        let dir = temp_dir("dir");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mmsim"));
        cmd.arg("mount").arg(&dir);
        if let Some(f) = file {
            cmd.arg(f);
        }
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn mmsim mount");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ready line");
        if !line.starts_with("mmsim: serving") {
            let out = child.wait_with_output().expect("mmsim mount ended");
            panic!("mmsim mount did not get ready: {line:?} {out:?}");
        }
        let name = file.map_or("<command line>".to_owned(), |f| f.display().to_string());
        assert_model(&dir, &name);
        Mounted {
            dir,
            child: Some(child),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn block(&self, n: u32, attr: &str) -> PathBuf {
        self.path(&format!("devices/system/memory/memory{n}/{attr}"))
    }

    /// SIGTERM, then the server's exit status and standard error.
    fn stop(mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill() on the pid of our own child, which has not been
        // waited for yet.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let status = child.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: as in stop().
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The unmodified selftest, unpacked from Debian's linux-source-6.12 into
/// cargo's target tmpdir once (unpacking reads the whole tarball, about
/// 20 s), or `MEM_ON_OFF_TEST`, a path to the same file already unpacked.
fn selftest_script() -> Result<PathBuf, String> {
    static SCRIPT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SCRIPT
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("MEM_ON_OFF_TEST") {
                return Ok(PathBuf::from(p));
            }
            if !Path::new(TARBALL).is_file() {
                return Err(format!(
                    "{TARBALL} missing (apt-get install linux-source-6.12)"
                ));
            }
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mem-on-off-test");
            if dir.join(SELFTEST).is_file() {
                return Ok(dir.join(SELFTEST));
            }
            // Unpacked beside, then renamed: a cut-short run leaves no
            // partial script to be taken for the real one.
            let partial = dir.with_extension(format!("partial-{}", std::process::id()));
            std::fs::create_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
            let out = Command::new("tar")
                .arg("-xJf")
                .arg(TARBALL)
                .arg("-C")
                .arg(&partial)
                .arg(SELFTEST)
                .output()
                .map_err(|e| format!("tar: {e}"))?;
            if !out.status.success() {
                return Err(format!("tar: {}", String::from_utf8_lossy(&out.stderr)));
            }
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&partial, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            Ok(dir.join(SELFTEST))
        })
        .clone()
}

fn selftest_missing() -> Option<String> {
    fuse_missing()
        .or_else(|| selftest_script().err())
        .or_else(|| {
            ["bc", "unshare", "bash"]
                .into_iter()
                .find(|t| !on_path(t))
                .map(|t| format!("{t} not installed"))
        })
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The first lines of every namespace's script: all mounts private, so
/// nothing done in it propagates back to the host.
const PRIVATE: &str = "set -e\nmount --make-rprivate /\n";

/// Shell lines that stop the namespace's script (status 99) unless the last
/// mount at `point` is the model's `fuse.mmsim` from `mmsim`.
fn refuse_unless_model(point: &Path) -> String {
    format!(
        "last=$(awk -v p='{p}' '$5 == p {{ for (i = 7; i <= NF; i++) if ($i == \"-\") {{ t = $(i + 1); s = $(i + 2) }} }} END {{ print t, s }}' /proc/self/mountinfo)\n\
         if [ \"$last\" != 'fuse.mmsim mmsim' ]; then echo \"refusing: {p} is $last\" >&2; exit 99; fi\n",
        p = point.display()
    )
}

/// Runs the kernel's mem-on-off-test.sh with `args` against the mount,
/// in its own mount namespace with the `mount` and `modprobe` shims.
fn run_selftest(m: &Mounted, args: &[&str]) -> Output {
    let script = selftest_script().expect("checked by selftest_missing");
    let shims = temp_dir("shims");
    let dir = m.dir.canonicalize().expect("mount point");
    // Reference §8.1: the script finds sysfs and debugfs with `mount -t`.
    std::fs::write(
        shims.join("mount"),
        format!(
            "#!/bin/sh\n\
             case \"$*\" in\n\
             \"-t sysfs\") echo 'sysfs on {d} type sysfs (rw)' ;;\n\
             \"-t debugfs\") echo 'debugfs on {d}/kernel/debug type debugfs (rw)' ;;\n\
             *) echo \"mount shim: refusing $*\" >&2; exit 1 ;;\n\
             esac\n",
            d = dir.display()
        ),
    )
    .expect("mount shim");
    // `/sbin/modprobe -q memory-notifier-error-inject` must load nothing.
    std::fs::write(shims.join("modprobe"), "#!/bin/sh\nexit 0\n").expect("modprobe shim");
    for shim in ["mount", "modprobe"] {
        let p = shims.join(shim);
        let mut perm = std::fs::metadata(&p).expect("shim").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&p, perm).expect("chmod shim");
    }
    let body = format!(
        "{PRIVATE}{check}\
         if [ -e /sbin/modprobe ]; then mount --bind '{s}/modprobe' /sbin/modprobe; fi\n\
         set +e\n\
         PATH='{s}':\"$PATH\" exec bash '{script}' \"$@\"\n",
        check = refuse_unless_model(&dir),
        s = shims.display(),
        script = script.display()
    );
    let out = Command::new("unshare")
        .arg("-m")
        .arg("sh")
        .arg("-c")
        .arg(body)
        .arg("sh")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    let _ = std::fs::remove_dir_all(&shims);
    assert_ne!(out.status.code(), Some(99), "{out:?}");
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// mem-on-off-test.sh, default options (-e -12, -r 2), exits 0 with the
// lines of every step, the notifier error injection steps included
// (reference §8.1, steps 1-10).
#[test]
fn selftest_passes_every_step() {
    if !can_run("selftest_passes_every_step", selftest_missing()) {
        return;
    }
    let file = scenario("selftest.mms");
    let m = Mounted::start(Some(&file), &[], &[]);
    let out = run_selftest(&m, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for line in [
        "Test scope: 2% hotplug memory",
        "\t online all hot-pluggable memory in offline state:",
        "offline->online memory32",
        "offline->online memory33",
        "\t offline 2% hot-pluggable memory in online state",
        "\t trying to offline 1 out of 10 memory block(s):",
        "-> Success",
        "\t Test with memory notifier error injection",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} in\n{stdout}");
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
    // No step complained, and the injection steps ran (no "skip").
    assert!(!stderr.contains("unexpected"), "{stderr}");
    assert!(!stderr.contains("skip"), "{stderr}");
    // The script reset the injection and left every block online.
    let inject = "kernel/debug/notifier-error-inject/memory/actions";
    assert_eq!(m.read(&format!("{inject}/MEM_GOING_ONLINE/error")), "0\n");
    assert_eq!(m.read(&format!("{inject}/MEM_GOING_OFFLINE/error")), "0\n");
    for n in [1, 7, 32, 33] {
        assert_eq!(
            m.read(&format!("devices/system/memory/memory{n}/state")),
            "online\n"
        );
    }
    let (code, err) = m.stop();
    assert_eq!(code, Some(0), "{err}");
}

// With `-r 100` and a pinned page in block 7, offline_pages() of block 7
// retries until the writer's signal: the selftest prints "-> Failure" for
// it and the FAILED line, and exits 1 (reference §8.1 step 3; §10 case 26).
#[test]
fn selftest_reports_the_block_a_pin_keeps_online() {
    if !can_run(
        "selftest_reports_the_block_a_pin_keeps_online",
        selftest_missing(),
    ) {
        return;
    }
    let file = scenario("selftest-pinned.mms");
    let m = Mounted::start(Some(&file), &["--signal-after", "200ms"], &[]);
    let out = run_selftest(&m, &["-r", "100"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("online->offline memory7\n-> Failure\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\t\t FAILED - unable to offline some memory blocks, device busy?\n"),
        "{stdout}"
    );
    // Block 6 has nothing pinned: it went offline (and back online).
    assert!(
        stdout.contains("online->offline memory6\n-> Success\n"),
        "{stdout}"
    );
    assert_eq!(m.read("devices/system/memory/memory7/state"), "online\n");
}

// The acceptance mutant: a server that answers every state write with the
// wrong errno (EIO even where the online worked) makes the selftest fail.
#[test]
fn selftest_fails_against_a_wrong_errno() {
    if !can_run("selftest_fails_against_a_wrong_errno", selftest_missing()) {
        return;
    }
    let file = scenario("selftest.mms");
    let m = Mounted::start(Some(&file), &[], &[("MMSIM_MOUNT_MUTANT", "errno=EIO")]);
    let out = run_selftest(&m, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("online_memory_expect_success 32: unexpected fail"),
        "{out:?}"
    );
}

/// `bash -c 'echo VALUE > PATH'`, as the selftest writes (bash's echo
/// names the errno; dash's says "I/O error" for any): the shell's error
/// message, if any.
fn echo_into(path: &Path, value: &str) -> Option<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("echo {value} > '{}'", path.display()))
        .output()
        .expect("sh");
    (!out.status.success()).then(|| text(&out.stderr))
}

/// The errno messages a shell prints for the selftest's writes: the
/// injected error itself for a vetoed online (memory_notify() returns the
/// notifier's errno), EINVAL for an online block or a bad word.
fn check_errno_messages(m: &Mounted) -> Result<(), String> {
    let inject = m.path("kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error");
    let cases = [
        ("-12", "Cannot allocate memory"),
        ("-16", "Device or resource busy"),
        ("-1", "Operation not permitted"),
    ];
    for (error, message) in cases {
        if let Some(e) = echo_into(&inject, error) {
            return Err(format!("setting {error}: {e}"));
        }
        match echo_into(&m.block(32, "state"), "online") {
            Some(e) if e.contains(message) => {}
            other => return Err(format!("online with {error} injected: {other:?}")),
        }
    }
    echo_into(&inject, "0").map_or(Ok(()), Err)?;
    for (value, message) in [
        ("online", "Invalid argument"),
        ("bogus", "Invalid argument"),
    ] {
        match echo_into(&m.block(1, "state"), value) {
            Some(e) if e.contains(message) => {}
            other => return Err(format!("{value} > memory1/state: {other:?}")),
        }
    }
    Ok(())
}

// Each write's errno reaches the writer unchanged (the table in the module
// doc of src/mount.rs), and the check notices a server that lies.
#[test]
fn writes_fail_with_the_models_errno() {
    if !can_run("writes_fail_with_the_models_errno", fuse_missing()) {
        return;
    }
    let file = scenario("selftest.mms");
    let m = Mounted::start(Some(&file), &[], &[]);
    check_errno_messages(&m).unwrap();
    assert_eq!(m.read("devices/system/memory/memory32/state"), "offline\n");
    drop(m);
    let lying = Mounted::start(Some(&file), &[], &[("MMSIM_MOUNT_MUTANT", "succeed")]);
    assert!(check_errno_messages(&lying).is_err());
}

fn raw_errno(r: std::io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

// Hostile writes: one write(2) is one store of at most PAGE_SIZE bytes
// (kernfs_fop_write_iter() makes a bigger one short), read as a C string;
// a simple_attr takes all of it; writes to files without write bits and
// to unknown names fail as sysfs's do (reference §7).
#[test]
fn hostile_writes_get_the_kernels_answers() {
    if !can_run("hostile_writes_get_the_kernels_answers", fuse_missing()) {
        return;
    }
    let m = Mounted::start(None, &["--ram", "1G", "--movable", "512M"], &[]);
    let open_w = |p: &Path| OpenOptions::new().write(true).open(p);
    let state = m.block(7, "state");

    // A 1 MiB write: the store sees its first 4096 bytes, junk: EINVAL.
    let mut f = open_w(&state).unwrap();
    assert_eq!(raw_errno(f.write(&vec![b'x'; 1 << 20])), Some(libc::EINVAL));
    // "offline" then NULs: the C string is "offline"; 4096 bytes consumed.
    let mut big = b"offline".to_vec();
    big.resize(1 << 20, 0);
    assert_eq!(f.write(&big).unwrap(), 4096);
    assert_eq!(m.read("devices/system/memory/memory7/state"), "offline\n");
    // NUL bytes inside a short write end the string there.
    assert_eq!(f.write(b"online\0garbage").unwrap(), 14);
    assert_eq!(m.read("devices/system/memory/memory7/state"), "online\n");
    // Zero bytes: nothing happens.
    assert_eq!(f.write(&[]).unwrap(), 0);
    // Not UTF-8.
    assert_eq!(raw_errno(f.write(b"\xffonline")), Some(libc::EINVAL));
    drop(f);

    // The injection file consumes everything and parses 23 bytes.
    let inject =
        m.path("kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error");
    let mut long = b"-16".to_vec();
    long.resize(64 << 10, b'\n');
    assert_eq!(
        raw_errno(open_w(&inject).unwrap().write(&long)),
        Some(libc::EINVAL)
    );
    assert_eq!(open_w(&inject).unwrap().write(b"-16\0\0").unwrap(), 5);
    assert_eq!(
        m.read("kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error"),
        "-16\n"
    );

    // No write bits: EACCES at open, for root too (kernfs_fop_open()).
    for ro in [
        "devices/system/memory/block_size_bytes",
        "devices/system/memory/memory7/removable",
        "devices/system/memory/memory7/valid_zones",
        "proc/kpageflags",
        "proc/kcore",
        ".mmsim",
    ] {
        assert_eq!(raw_errno(open_w(&m.path(ro))), Some(libc::EACCES), "{ro}");
    }
    // Unknown names: ENOENT; a directory: EISDIR.
    for missing in [
        "devices/system/memory/memory999/state",
        "devices/system/memory/memory7/uevent",
        "proc/meminfo",
        "sys",
    ] {
        assert_eq!(
            raw_errno(std::fs::metadata(m.path(missing))),
            Some(libc::ENOENT),
            "{missing}"
        );
        assert_eq!(
            raw_errno(open_w(&m.path(missing))),
            Some(libc::ENOENT),
            "{missing}"
        );
    }
    assert_eq!(
        raw_errno(std::fs::read(m.path("devices/system/memory/memory7"))),
        Some(libc::EISDIR)
    );
    // stat as sysfs and procfs show them.
    let meta = std::fs::metadata(&state).unwrap();
    assert_eq!(
        (
            meta.len(),
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777
        ),
        (4096, 0o644)
    );
    let meta = std::fs::metadata(m.path("proc/kpageflags")).unwrap();
    assert_eq!(
        (
            meta.len(),
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777
        ),
        (0, 0o400)
    );
    assert_eq!(
        std::fs::read_link(m.block(7, "node0")).unwrap(),
        Path::new("../../node/node0")
    );
    assert_eq!(
        m.read("devices/system/node/node0/memory7/state"),
        "online\n"
    );
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

// pread of /proc/kpageflags and /proc/kpagecount: offsets and sizes must be
// multiples of 8 (EINVAL), EOF at max_pfn (fs/proc/page.c, 7.2); /proc/kcore
// at any offset, its PT_LOADs at vaddr - PAGE_OFFSET + data_offset
// (fs/proc/kcore.c).
#[test]
fn proc_files_pread_as_the_kernels() {
    if !can_run("proc_files_pread_as_the_kernels", fuse_missing()) {
        return;
    }
    let file = scenario("kpageflags.mms");
    let m = Mounted::start(Some(&file), &[], &[]);
    let flags = std::fs::File::open(m.path("proc/kpageflags")).unwrap();
    let mut e = [0u8; 8];
    assert_eq!(flags.read_at(&mut e, 0x100800 * 8).unwrap(), 8);
    assert_eq!(u64::from_ne_bytes(e), 1 << 26, "KPF_PGTABLE");
    let mut two = [0u8; 16];
    assert_eq!(flags.read_at(&mut two, 0x100c00 * 8).unwrap(), 16);
    assert_eq!(le64(&two, 0), 1 << 23, "KPF_OFFLINE");
    for (off, len) in [(4u64, 8usize), (8, 12), (3, 5), (0x100800 * 8 + 1, 8)] {
        let mut buf = vec![0; len];
        assert_eq!(
            raw_errno(flags.read_at(&mut buf, off)),
            Some(libc::EINVAL),
            "{off} {len}"
        );
    }
    // 1G of boot RAM and a block at 4G: max_pfn is 0x108000.
    assert_eq!(flags.read_at(&mut e, 0x108000 * 8).unwrap(), 0);
    assert_eq!(flags.read_at(&mut e, 0x107fff * 8).unwrap(), 8);
    let count = std::fs::File::open(m.path("proc/kpagecount")).unwrap();
    assert_eq!(count.read_at(&mut e, 0x100c00 * 8).unwrap(), 8);
    assert_eq!(u64::from_ne_bytes(e), 0);
    assert_eq!(raw_errno(count.read_at(&mut e, 7)), Some(libc::EINVAL));

    let kcore = std::fs::File::open(m.path("proc/kcore")).unwrap();
    let size = kcore.metadata().unwrap().len();
    let mut head = vec![0u8; 4096];
    assert_eq!(kcore.read_at(&mut head, 0).unwrap(), 4096);
    assert_eq!(&head[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([head[16], head[17]]), 4, "ET_CORE");
    let phnum = u16::from_le_bytes([head[56], head[57]]) as usize;
    // Any offset and size reads the same bytes.
    for (off, len) in [(1usize, 3usize), (61, 7), (63, 130), (100, 1)] {
        let mut buf = vec![0; len];
        assert_eq!(kcore.read_at(&mut buf, off as u64).unwrap(), len);
        assert_eq!(buf, head[off..off + len]);
    }
    // The PT_LOAD holding 4G: the page-table page at PFN 0x100800 (zeroed
    // by its allocation) and the rest of the hot block; EOF at the size.
    let load = (1..phnum)
        .map(|i| &head[64 + 56 * i..64 + 56 * (i + 1)])
        .find(|p| le64(p, 24) == 0x1_0000_0000)
        .expect("a PT_LOAD for the hot block");
    let (offset, vaddr) = (le64(load, 8), le64(load, 16));
    assert_eq!(vaddr, 0xffff_8880_0000_0000 + 0x1_0000_0000);
    assert_eq!(le64(load, 32), 128 << 20);
    assert_eq!(offset + (128 << 20), size);
    let mut tail = [0xffu8; 8];
    assert_eq!(kcore.read_at(&mut tail, size - 3).unwrap(), 3);
    assert_eq!(kcore.read_at(&mut tail, size).unwrap(), 0);
}

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

// util-linux chmem -d/-e and lsmem, which hard-code /sys/devices/system/
// memory, in a mount namespace where that path is the model's tree.
#[test]
fn chmem_and_lsmem_drive_the_model() {
    let missing = fuse_missing().or_else(|| {
        ["chmem", "lsmem", "unshare"]
            .into_iter()
            .find(|t| tool(t).is_none())
            .map(|t| format!("{t} not installed (util-linux)"))
    });
    if !can_run("chmem_and_lsmem_drive_the_model", missing) {
        return;
    }
    let m = Mounted::start(None, &["--ram", "1G", "--movable", "512M"], &[]);
    let memory = m.path("devices/system/memory").canonicalize().unwrap();
    let target = Path::new("/sys/devices/system/memory");
    let body = format!(
        "{PRIVATE}\
         mount --bind '{memory}' {target}\n\
         {check}\
         set +e\n\
         chmem -d -b 6-7; echo \"chmem -d: $?\"\n\
         lsmem -o RANGE,STATE,BLOCK,ZONES\n\
         chmem -e -b 7; echo \"chmem -e: $?\"\n\
         lsmem --summary=never -o BLOCK,STATE\n",
        memory = memory.display(),
        target = target.display(),
        check = refuse_unless_model(target),
    );
    let out = Command::new("unshare")
        .arg("-m")
        .arg("sh")
        .arg("-c")
        .arg(body)
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    let stdout = text(&out.stdout);
    assert_ne!(out.status.code(), Some(99), "{out:?}");
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("chmem -d: 0\n"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("chmem -e: 0\n"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    // lsmem after chmem -d: blocks 6-7 offline, as one range.
    let range = stdout
        .lines()
        .find(|l| l.contains("0x0000000030000000-0x000000003fffffff"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        range.contains("offline") && range.contains("6-7"),
        "{range}"
    );
    // The model changed, as read back through DIR.
    assert_eq!(m.read("devices/system/memory/memory6/state"), "offline\n");
    assert_eq!(m.read("devices/system/memory/memory7/state"), "online\n");
    let last: Vec<&str> = stdout.lines().rev().take(3).collect();
    assert!(
        last.iter()
            .any(|l| l.split_whitespace().eq(["7", "online"])),
        "{stdout}"
    );
}

// page-types -F DIR/proc/kpageflags (tools/mm/page-types.c) finds exactly
// the flags the scenario's `kpageflags` lines expect (reference §8.2).
#[test]
fn page_types_agrees_with_the_scenario() {
    let page_types = std::env::var_os("MMSIM_PAGE_TYPES")
        .map(PathBuf::from)
        .or_else(|| tool("page-types"));
    let missing = fuse_missing().or_else(|| {
        page_types
            .is_none()
            .then(|| "page-types not installed (.ci/install-page-types builds it)".to_owned())
    });
    if !can_run("page_types_agrees_with_the_scenario", missing) {
        return;
    }
    let page_types = page_types.unwrap();
    let file = scenario("kpageflags.mms");
    let m = Mounted::start(Some(&file), &[], &[]);
    let text_of = std::fs::read_to_string(&file).unwrap();
    let mut seen = 0;
    for line in text_of.lines() {
        let Some(rest) = line.strip_prefix("expect kpageflags ") else {
            continue;
        };
        let (pfn, names) = rest.split_once(" == ").expect("PFN == NAMES");
        let out = Command::new(&page_types)
            .arg("-F")
            .arg(m.path("proc/kpageflags"))
            .args(["-r", "-a", pfn])
            .output()
            .expect("page-types");
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        // The summary row: flags, count 1, MB, symbolic, long names.
        let row = stdout
            .lines()
            .find(|l| l.starts_with("0x"))
            .unwrap_or_else(|| panic!("{pfn}: {stdout}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1], "1", "{pfn}: {row}");
        assert_eq!(cols.last().copied(), Some(names.trim()), "{pfn}: {row}");
        seen += 1;
    }
    assert_eq!(seen, 5);
}

// SIGTERM unmounts the tree and ends the server with status 0; so does
// `umount DIR` (mount.rs module doc).
#[test]
fn sigterm_and_umount_end_the_server_cleanly() {
    if !can_run("sigterm_and_umount_end_the_server_cleanly", fuse_missing()) {
        return;
    }
    let m = Mounted::start(None, &["--ram", "512M"], &[]);
    let dir = m.dir.canonicalize().unwrap();
    let (code, err) = m.stop();
    assert_eq!(code, Some(0), "{err}");
    let dir = dir.to_str().unwrap();
    assert!(mounts().iter().all(|p| p.0 != dir), "still mounted");

    let mut m = Mounted::start(None, &["--ram", "512M", "--stress", "2"], &[]);
    let status = Command::new("umount").arg(&m.dir).status().expect("umount");
    assert!(status.success());
    let out = m.child.take().unwrap().wait_with_output().expect("server");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

// Bad input is refused before anything is mounted (exit 2), and a scenario
// that does not hold is not served (exit 1): no root needed to get there.
#[test]
fn bad_input_and_failing_scenarios_mount_nothing() {
    let dir = temp_dir("refused");
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mmsim"))
            .arg("mount")
            .arg(&dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mmsim");
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes());
        // Should it mount after all, end it rather than hang the test.
        for _ in 0..600 {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if child.try_wait().expect("wait").is_none() {
            // SAFETY: kill() on our own child, not yet waited for.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        }
        let out = child.wait_with_output().expect("mmsim");
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, out, err) = run(&["--signal-after", "soon"], "");
    assert_eq!((code, out.as_str()), (Some(2), ""), "{err}");
    assert!(err.contains("--signal-after"), "{err}");
    let (code, _, err) = run(&["--ram", "1X"], "");
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run(
        &["-"],
        "machine ram=1G\nexpect sysfs read devices/system/memory/memory1/state == offline\n",
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not mounting"), "{err}");
    let (code, _, err) = run(&["-"], "# no machine\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("must start with `machine`"), "{err}");
    let dir = dir.to_str().expect("UTF-8");
    assert!(mounts().iter().all(|m| m.0 != dir));
    // Over the host's sysfs: refused before anything. Tried in a private
    // mount namespace, so that even a server that failed to refuse would
    // hide nothing of the host's.
    if fuse_missing().is_none() {
        let out = Command::new("unshare")
            .args(["-m", "sh", "-c"])
            .arg(format!(
                "{PRIVATE}exec timeout -s TERM 30 '{}' mount /sys/devices/system/memory",
                env!("CARGO_BIN_EXE_mmsim")
            ))
            .stdin(Stdio::null())
            .output()
            .expect("unshare");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(text(&out.stderr).contains("refused"), "{out:?}");
    }
    let _ = std::fs::remove_dir(dir);
}
