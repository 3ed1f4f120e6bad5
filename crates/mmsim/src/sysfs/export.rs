//! `sysfs export DIR`: a snapshot of the modelled tree as plain files below
//! `DIR/sys`, so that tools with a sysroot option read the model as if it
//! were a machine: `lsmem --sysroot DIR` (util-linux) reads
//! `devices/system/memory/block_size_bytes`, scans `memory<N>` directories,
//! reads their `state`, `removable` and `valid_zones` (the ZONES column,
//! only if `memory0/valid_zones` exists) and takes the NODE column from the
//! name of the `node<K>` entry inside each block directory.
//!
//! Attributes become regular files holding what a read returns, with the
//! attribute's mode; symlinks become real relative symlinks (their targets,
//! `devices/system/node/node<K>`, are exported too, so they resolve).
//! Each attribute is read at its own moment, like `cp -r` of a live /sys.

use super::tree::{Dir, Entry};
use crate::machine::Machine;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// The subtrees the export owns: they are replaced as a whole, so a block
/// removed since an earlier export into the same directory disappears.
const OWNED: [&str; 3] = [
    "devices/system/memory",
    "devices/system/node",
    "kernel/debug/notifier-error-inject",
];

fn io_error(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{}: {e}", path.display()))
}

fn export_dir(m: &Machine, dir: Dir, at: &Path) -> io::Result<()> {
    fs::create_dir_all(at).map_err(|e| io_error(at, e))?;
    for (name, entry) in dir.list(m) {
        let path = at.join(&name);
        match entry {
            Entry::Dir(d) => export_dir(m, d, &path)?,
            Entry::Attr(a) => {
                let text = super::show(m, a).map_err(|e| io_error(&path, e.message()))?;
                fs::write(&path, text).map_err(|e| io_error(&path, e))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(a.mode()))
                    .map_err(|e| io_error(&path, e))?;
            }
            Entry::Link(l) => symlink(l.target_text(), &path).map_err(|e| io_error(&path, e))?,
        }
    }
    Ok(())
}

impl Machine {
    /// Writes the modelled /sys tree below `dir/sys` as plain files and
    /// symlinks (readable by `lsmem --sysroot DIR`). The subtrees the model
    /// owns (`devices/system/memory`, `devices/system/node`,
    /// `kernel/debug/notifier-error-inject`) are deleted first if present;
    /// nothing else below `dir` is touched. Errors name the host path.
    ///
    /// A `dir` that leads into the host's own kernel interfaces (`/`, a link
    /// to `/sys`, ...) is refused before anything is touched
    /// ([`crate::hostfs`]).
    pub fn sysfs_export(&self, dir: &Path) -> io::Result<()> {
        let sys = dir.join("sys");
        for owned in OWNED {
            crate::hostfs::check_write_target(&sys.join(owned))?;
        }
        for owned in OWNED {
            let path = sys.join(owned);
            match fs::remove_dir_all(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        export_dir(self, Dir::Root, &sys)
    }
}
