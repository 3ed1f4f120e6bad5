//! Where the model may write on the host.
//!
//! Two commands write host files: `sysfs export DIR` (a tree of plain files
//! below `DIR/sys`) and `kpageflags dump FILE`. Both take a path from a
//! scenario, so a careless or hostile one could point them at the host's own
//! kernel interfaces — `sysfs export /` would write the model's block states
//! into the real `/sys/devices/system/memory/memoryN/state` and offline the
//! host's memory, `kpageflags dump /dev/sda` would overwrite a disk. The model
//! never writes there: before writing, [`check_write_target`] finds what the
//! path resolves to on the host and refuses (EPERM) a target on a kernel
//! pseudo file system (sysfs, procfs, debugfs, tracefs, securityfs, configfs,
//! cgroup) and a target that exists but is neither a regular file nor a
//! directory (a device, a pipe, a socket).

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// `f_type` of the pseudo file systems the kernel exports itself through.
const KERNEL_FS_MAGICS: [(u64, &str); 8] = [
    (0x6265_6572, "sysfs"),
    (0x9fa0, "procfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0x6265_6570, "configfs"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
];

/// Refuses (EPERM, with the reason) to write at `path`: see the module doc.
/// A path that does not exist yet is judged by its nearest existing
/// ancestor, after symlinks are resolved.
pub fn check_write_target(path: &Path) -> io::Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        let ty = meta.file_type();
        if ty.is_block_device() || ty.is_char_device() || ty.is_fifo() || ty.is_socket() {
            return Err(refused(path, "it is a device, a pipe or a socket"));
        }
    }
    let existing = nearest_existing(path);
    let resolved = existing.canonicalize().unwrap_or(existing);
    let stat = rustix::fs::statfs(&resolved).map_err(io::Error::from)?;
    // f_type's width and sign differ between architectures.
    #[allow(clippy::unnecessary_cast)]
    let magic = stat.f_type as u64 & 0xffff_ffff;
    if let Some((_, name)) = KERNEL_FS_MAGICS.iter().find(|(m, _)| *m == magic) {
        return Err(refused(
            path,
            &format!(
                "{} is on the host's {name}, and mmsim never writes into the host's kernel",
                resolved.display()
            ),
        ));
    }
    Ok(())
}

/// `path`, or the closest of its ancestors that exists.
fn nearest_existing(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut at = absolute.as_path();
    loop {
        if std::fs::symlink_metadata(at).is_ok() {
            return at.to_path_buf();
        }
        match at.parent() {
            Some(parent) => at = parent,
            None => return PathBuf::from("/"),
        }
    }
}

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{}: refused: {why}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Only checks: none of these writes anything.
    #[test]
    fn the_hosts_kernel_interfaces_are_refused() {
        for path in [
            "/sys/devices/system/memory",
            "/sys/devices/system/memory/memory0/state",
            "/sys/kernel/debug/notifier-error-inject",
            "/proc/self/status",
            "/proc/kpageflags",
            "/dev/null",
        ] {
            let e = check_write_target(Path::new(path)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{path}: {e}");
        }
    }

    #[test]
    fn ordinary_directories_and_new_paths_are_fine() {
        let dir = std::env::temp_dir().join(format!("mmsim-hostfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        check_write_target(&dir).unwrap();
        check_write_target(&dir.join("not/there/yet/sys")).unwrap();
        // A symlink into /sys is judged by where it leads.
        let link = dir.join("sysroot");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/sys", &link).unwrap();
        assert!(check_write_target(&link.join("devices/system/memory")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
