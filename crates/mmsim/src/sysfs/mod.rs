//! The /sys tree of the model: memory blocks, `auto_online_blocks`, the
//! node links, and the memory notifier error injection of the kernel
//! selftest (debugfs, mounted at `/sys/kernel/debug`). Reference §7, §8.1.
//!
//! # The tree
//!
//! ```text
//! devices/system/memory/block_size_bytes          0444  "%lx\n", no 0x
//! devices/system/memory/auto_online_blocks        0644  offline|online|online_kernel|online_movable
//! devices/system/memory/memoryN/state             0644  online|offline|going-offline
//! devices/system/memory/memoryN/online            0644  1|0
//! devices/system/memory/memoryN/phys_index        0444  "%08lx\n" (memory32: 00000020)
//! devices/system/memory/memoryN/removable         0444  1
//! devices/system/memory/memoryN/valid_zones       0444  Normal Movable, Movable, none, ...
//! devices/system/memory/memoryN/phys_device       0444  0
//! devices/system/memory/memoryN/nodeK             ->    ../../node/nodeK
//! devices/system/node/nodeK/memoryN               ->    ../../memory/memoryN
//! kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error   0600  "%lld\n"
//! kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error  0600  "%lld\n"
//! ```
//!
//! Only these are modelled: a real /sys has many more files beside them
//! (`uevent`, `power/`, `subsystem`, the node's `meminfo`...), and their
//! absence reads as ENOENT here.
//!
//! # Syscall semantics
//!
//! [`Machine::sysfs_read`], [`Machine::sysfs_write`] and
//! [`Machine::sysfs_ls`] behave as `cat`, `echo -n VALUE >` and `ls` run by
//! root; [`Machine::sysfs_stat`], [`Machine::sysfs_lstat`],
//! [`Machine::sysfs_ls_stat`] and [`Machine::sysfs_write_bytes`] (one
//! write(2) of raw bytes, returning the count consumed) are what a file
//! system serving the tree needs (`mmsim mount`), so it holds no tree logic
//! of its own. A path is relative to /sys, with or without a leading `/sys/` or
//! `/`; it is resolved first (`tree`), and errors are the kernel's:
//!
//! | case | errno | where in Linux |
//! |---|---|---|
//! | no such name | ENOENT | path walk |
//! | a file used as a directory, `ls` of a file | ENOTDIR | path walk, opendir |
//! | read or write of a directory (or a link to one) | EISDIR | read(2), open(O_WRONLY) |
//! | write to a 0444 file, read of a write-only file | EACCES | `kernfs_fop_open()`: sysfs roots have `KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK`, so even root (whose CAP_DAC_OVERRIDE passes the VFS check) cannot open a file without write bits for writing; `sysfs_kf_write()`'s -EIO for a missing store is never reached |
//! | the block was removed after the path was resolved | ENODEV | `kernfs_get_active()` on a removed node |
//!
//! A store sees the written bytes as the kernel does: at most PAGE_SIZE of
//! them for sysfs (23 for a debugfs simple_attr), read as a C string up to
//! the first NUL; a zero-length sysfs write succeeds without calling the
//! store (`sysfs_kf_write()`). `VALUE` is the bytes written, so `"online"`
//! and `"online\n"` (what `echo` writes) both work wherever the kernel
//! tolerates one trailing newline.
//!
//! A write is one system call by `task`: the offline loop of a `state` or
//! `online` store ends with -EINTR when the task has a signal pending, and
//! on return to user space the pending signal is delivered (cleared).
//!
//! # Locks
//!
//! Stores of `state` and `online` validate their input, then take
//! `device_hotplug_lock` with `lock_device_hotplug_sysfs()` (trylock, else
//! sleep 5 ms and restart the syscall), then the block's device lock inside
//! `device_online()` / `device_offline()`: the hotplug lock order of
//! `crate::hotplug` (and the machine's [lock order](crate::machine#lock-order)). Reading `online` takes the device lock, so it waits for
//! a running online or offline of that block; every other read is lockless.
//! `auto_online_blocks` and the injection files take no lock.

mod export;
mod inject;
mod kstrtox;
mod memory;
mod tree;

pub use kstrtox::{kstrtobool, kstrtoll};

use crate::errno::{Errno, KResult};
use crate::hotplug::Task;
use crate::machine::Machine;
use std::borrow::Cow;
use tree::{Attr, Entry, Follow, HugetlbAttr};

/// PAGE_SIZE: the most a sysfs store sees of one write.
const SYSFS_WRITE_MAX: usize = 4096;
/// `sizeof(simple_attr.set_buf) - 1`: the most a debugfs simple_attr parses.
const SIMPLE_ATTR_WRITE_MAX: usize = 23;

/// What a store routine sees of `value`: the kernel copies at most `max`
/// bytes into a NUL-terminated buffer and parses it as a C string. A cut
/// through a multi-byte character leaves a replacement character, which no
/// parser accepts, as the kernel's would not accept the partial bytes.
fn store_buffer(value: &str, max: usize) -> Cow<'_, str> {
    let bytes = &value.as_bytes()[..value.len().min(max)];
    let bytes = bytes.split(|&b| b == 0).next().unwrap_or(bytes);
    String::from_utf8_lossy(bytes)
}

/// The text of an attribute (permission already checked).
fn show(m: &Machine, attr: Attr) -> KResult<String> {
    match attr {
        Attr::Memory(a) => memory::show(m, a),
        Attr::InjectError(which) => Ok(inject::show(m, which)),
        Attr::Hugetlb(a) => {
            let (total, free) = m.hugetlb_counts();
            Ok(format!(
                "{}\n",
                match a {
                    HugetlbAttr::Nr => total,
                    HugetlbAttr::Free => free,
                    HugetlbAttr::Resv => m.hugetlb_resv_pages(),
                    HugetlbAttr::Surplus => 0,
                }
            ))
        }
    }
}

/// `nr_hugepages_store()`: `kstrtoul(buf, 10)` (a trailing newline allowed;
/// -EINVAL for anything else, -ERANGE past 64 bits), then
/// `set_max_huge_pages()`.
fn nr_hugepages_store(m: &Machine, buf: &str) -> KResult<()> {
    let digits = buf.strip_suffix('\n').unwrap_or(buf);
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Errno::EINVAL);
    }
    let count: u64 = digits.parse().map_err(|_| Errno::ERANGE)?;
    m.set_max_huge_pages(count);
    Ok(())
}

/// The file an open(2) with the given access would get, or its errno.
fn open(m: &Machine, path: &str, write: bool) -> KResult<Attr> {
    let attr = match tree::resolve(m, path, Follow::Yes)? {
        Entry::Attr(a) => a,
        Entry::Dir(_) | Entry::Link(_) => return Err(Errno::EISDIR),
    };
    let bits = if write { 0o222 } else { 0o444 };
    if attr.mode() & bits == 0 {
        return Err(Errno::EACCES);
    }
    Ok(attr)
}

/// What kind of entry a path of the tree names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysfsKind {
    /// A directory (kernfs directories are 0755).
    Dir,
    /// An attribute file.
    File,
    /// A symlink (0777, as every symlink).
    Symlink,
}

/// `stat` of a path of the tree: what a file system serving it (`mmsim
/// mount`) reports as the inode's type and permission bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysfsStat {
    /// Directory, attribute or symlink.
    pub kind: SysfsKind,
    /// Permission bits (`0o644` for `state`, `0o600` for the injection
    /// files, `0o755` for directories, `0o777` for symlinks).
    pub mode: u32,
}

impl SysfsStat {
    fn of(entry: Entry) -> SysfsStat {
        match entry {
            Entry::Dir(_) => SysfsStat {
                kind: SysfsKind::Dir,
                mode: 0o755,
            },
            Entry::Attr(a) => SysfsStat {
                kind: SysfsKind::File,
                mode: a.mode(),
            },
            Entry::Link(_) => SysfsStat {
                kind: SysfsKind::Symlink,
                mode: 0o777,
            },
        }
    }
}

impl Machine {
    /// `stat /sys/PATH` (a final symlink followed).
    pub fn sysfs_stat(&self, path: &str) -> KResult<SysfsStat> {
        tree::resolve(self, path, Follow::Yes).map(SysfsStat::of)
    }

    /// `lstat /sys/PATH` (a final symlink is itself).
    pub fn sysfs_lstat(&self, path: &str) -> KResult<SysfsStat> {
        tree::resolve(self, path, Follow::No).map(SysfsStat::of)
    }

    /// `ls -l /sys/PATH`: [`Machine::sysfs_ls`] with each entry's `lstat`,
    /// taken from one look at the tree.
    pub fn sysfs_ls_stat(&self, path: &str) -> KResult<Vec<(String, SysfsStat)>> {
        match tree::resolve(self, path, Follow::Yes)? {
            Entry::Dir(d) => Ok(d
                .list(self)
                .into_iter()
                .map(|(name, e)| (name, SysfsStat::of(e)))
                .collect()),
            Entry::Attr(_) | Entry::Link(_) => Err(Errno::ENOTDIR),
        }
    }

    /// `write(fd, bytes, len)` on `/sys/PATH` opened for writing, by `task`:
    /// the bytes as the store sees them (a C string of at most PAGE_SIZE
    /// bytes for sysfs, 23 for a debugfs simple_attr; bytes that are not
    /// UTF-8 reach the parser as replacement characters, which no parser
    /// accepts, as the kernel's would not), and the count write(2) returns:
    /// sysfs consumes at most PAGE_SIZE bytes a call (`kernfs_fop_write_iter()`
    /// caps the length, so a bigger write is short), a simple_attr all of
    /// them. Empty bytes behave as [`Machine::sysfs_write`] of `""`.
    pub fn sysfs_write_bytes(&self, path: &str, bytes: &[u8], task: &Task) -> KResult<usize> {
        let ret = self.sysfs_write_bytes_syscall(path, bytes, task);
        task.clear_signal();
        ret
    }

    fn sysfs_write_bytes_syscall(&self, path: &str, bytes: &[u8], task: &Task) -> KResult<usize> {
        let attr = open(self, path, true)?;
        let max = match attr {
            Attr::InjectError(_) => SIMPLE_ATTR_WRITE_MAX,
            Attr::Memory(_) | Attr::Hugetlb(_) => SYSFS_WRITE_MAX,
        };
        let consumed = match attr {
            Attr::InjectError(_) => bytes.len(),
            Attr::Memory(_) | Attr::Hugetlb(_) => bytes.len().min(SYSFS_WRITE_MAX),
        };
        let seen = &bytes[..bytes.len().min(max)];
        let value = String::from_utf8_lossy(seen);
        self.store(attr, &value, task).map(|()| consumed)
    }

    /// `cat /sys/PATH`: the file's full text, trailing newline included.
    pub fn sysfs_read(&self, path: &str) -> KResult<String> {
        let attr = open(self, path, false)?;
        show(self, attr)
    }

    /// `echo -n VALUE > /sys/PATH` by `task` (see the module doc for what
    /// the store sees, the errors and signals).
    pub fn sysfs_write(&self, path: &str, value: &str, task: &Task) -> KResult<()> {
        let ret = self.sysfs_write_syscall(path, value, task);
        task.clear_signal();
        ret
    }

    fn sysfs_write_syscall(&self, path: &str, value: &str, task: &Task) -> KResult<()> {
        let attr = open(self, path, true)?;
        self.store(attr, value, task)
    }

    /// The store routine of `attr` on the written `value`.
    fn store(&self, attr: Attr, value: &str, task: &Task) -> KResult<()> {
        match attr {
            Attr::Memory(a) => {
                if value.is_empty() {
                    return Ok(());
                }
                memory::store(self, a, &store_buffer(value, SYSFS_WRITE_MAX), task)
            }
            Attr::InjectError(which) => {
                inject::store(self, which, &store_buffer(value, SIMPLE_ATTR_WRITE_MAX))
            }
            Attr::Hugetlb(HugetlbAttr::Nr) => {
                nr_hugepages_store(self, &store_buffer(value, SYSFS_WRITE_MAX))
            }
            Attr::Hugetlb(HugetlbAttr::Free | HugetlbAttr::Resv | HugetlbAttr::Surplus) => {
                Err(Errno::EIO)
            }
        }
    }

    /// `ls /sys/PATH`: the entry names, sorted (links included, e.g. a
    /// block's `nodeK`). A link to a directory lists the directory.
    pub fn sysfs_ls(&self, path: &str) -> KResult<Vec<String>> {
        match tree::resolve(self, path, Follow::Yes)? {
            Entry::Dir(d) => Ok(d.list(self).into_iter().map(|(name, _)| name).collect()),
            Entry::Attr(_) | Entry::Link(_) => Err(Errno::ENOTDIR),
        }
    }

    /// `readlink /sys/PATH`: a symlink's relative target
    /// (`../../node/node0`); -EINVAL if PATH is not a symlink.
    pub fn sysfs_readlink(&self, path: &str) -> KResult<String> {
        match tree::resolve(self, path, Follow::No)? {
            Entry::Link(l) => Ok(l.target_text()),
            Entry::Dir(_) | Entry::Attr(_) => Err(Errno::EINVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_buffer_is_a_bounded_c_string() {
        assert_eq!(store_buffer("online\n", 4096), "online\n");
        assert_eq!(store_buffer("online\0junk", 4096), "online");
        assert_eq!(store_buffer("-12345", 3), "-12");
        assert_eq!(store_buffer("1é", 2), "1\u{fffd}");
    }
}
