//! The /sys tree: file contents, accepted values and errno results of
//! `drivers/base/memory.c`, the generic `online` attribute, the memory
//! notifier error injection, and the export read by util-linux `lsmem`.
//! Reference: shared/reference/kernel-hotplug.md §2.5–2.7, §7, §8.1, §10.

mod common;

use mmsim::errno::Errno;
use mmsim::hotplug::owner::Mark;
use mmsim::hotplug::{OnlineType, Task};
use mmsim::page::PhysAddr;
use mmsim::sync::atomic::{AtomicBool, Ordering};
use mmsim::sync::{thread, Arc};
use mmsim::{Machine, MachineConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MEM: &str = "devices/system/memory";
const INJECT: &str = "kernel/debug/notifier-error-inject/memory/actions";
const G: u64 = 1 << 30;
const M: u64 = 1 << 20;

fn boot() -> Machine {
    Machine::boot(
        MachineConfig {
            ram: 2 * G,
            ..Default::default()
        },
        Default::default(),
    )
    .unwrap()
}

/// A 2G machine with `size` of offline memory added at 4G (memory32...).
fn boot_with_hotplugged(size: u64) -> Machine {
    let m = boot();
    m.add_memory(0, PhysAddr(4 * G), size).unwrap();
    m
}

fn blk(id: u64, attr: &str) -> String {
    format!("{MEM}/memory{id}/{attr}")
}

fn read(m: &Machine, path: &str) -> String {
    m.sysfs_read(path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn write(m: &Machine, path: &str, value: &str) -> Result<(), Errno> {
    m.sysfs_write(path, value, &Task::new())
}

/// Polls `cond` for at least five seconds (5000 polls, 1 ms apart).
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..5000 {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// A fresh directory below the target's scratch space.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// block_size_bytes_show(): "%lx\n", no 0x prefix.
#[test]
fn block_size_bytes_is_hex_without_prefix() {
    common::model_test(|| {
        assert_eq!(
            read(&boot(), &format!("{MEM}/block_size_bytes")),
            "8000000\n"
        );
        let big = Machine::boot(
            MachineConfig {
                ram: 2 * G,
                block_size: 256 * M,
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap();
        assert_eq!(read(&big, &format!("{MEM}/block_size_bytes")), "10000000\n");
    });
}

// phys_index_show() "%08lx\n"; removable_show() with CONFIG_MEMORY_HOTREMOVE;
// phys_device_show() (arch_get_memory_phys_device() is 0 on x86).
#[test]
fn phys_index_removable_phys_device() {
    common::model_test(|| {
        let m = boot_with_hotplugged(256 * M);
        assert_eq!(read(&m, &blk(32, "phys_index")), "00000020\n");
        assert_eq!(read(&m, &blk(33, "phys_index")), "00000021\n");
        assert_eq!(read(&m, &blk(0, "phys_index")), "00000000\n");
        assert_eq!(read(&m, &blk(15, "phys_index")), "0000000f\n");
        for id in [0, 15, 32, 33] {
            assert_eq!(read(&m, &blk(id, "removable")), "1\n");
            assert_eq!(read(&m, &blk(id, "phys_device")), "0\n");
        }
    });
}

// §10 case 4: three blocks added with auto_online_blocks=offline are
// offline, online == 0, and valid_zones starts with the default zone.
#[test]
fn case4_added_blocks_are_offline() {
    common::model_test(|| {
        let m = boot();
        assert_eq!(read(&m, &format!("{MEM}/auto_online_blocks")), "offline\n");
        m.add_memory(0, PhysAddr(4 * G), 384 * M).unwrap();
        for id in 32..35 {
            assert_eq!(read(&m, &blk(id, "state")), "offline\n");
            assert_eq!(read(&m, &blk(id, "online")), "0\n");
            // valid_zones_show(): default zone (Normal above 4G), then Movable.
            assert_eq!(read(&m, &blk(id, "valid_zones")), "Normal Movable\n");
        }
        assert_eq!(m.sysfs_read(&blk(35, "state")), Err(Errno::ENOENT));
    });
}

// §10 case 5: with auto_online_blocks=online_movable new blocks come up
// online in ZONE_MOVABLE; changing the policy leaves them alone.
#[test]
fn case5_auto_online_movable_applies_to_later_adds_only() {
    common::model_test(|| {
        let m = boot();
        let policy = format!("{MEM}/auto_online_blocks");
        write(&m, &policy, "online_movable\n").unwrap();
        assert_eq!(read(&m, &policy), "online_movable\n");
        m.add_memory(0, PhysAddr(4 * G), 256 * M).unwrap();
        for id in [32, 33] {
            assert_eq!(read(&m, &blk(id, "state")), "online\n");
            assert_eq!(read(&m, &blk(id, "valid_zones")), "Movable\n");
        }
        write(&m, &policy, "offline").unwrap();
        assert_eq!(read(&m, &policy), "offline\n");
        for id in [32, 33] {
            assert_eq!(read(&m, &blk(id, "state")), "online\n");
            assert_eq!(read(&m, &blk(id, "valid_zones")), "Movable\n");
        }
        m.add_memory(0, PhysAddr(8 * G), 128 * M).unwrap();
        assert_eq!(read(&m, &blk(64, "state")), "offline\n");
    });
}

// auto_online_blocks_store(): mhp_online_type_from_str() is sysfs_streq()
// against the four strings (one trailing newline tolerated), else -EINVAL.
#[test]
fn auto_online_blocks_rejects_other_strings() {
    common::model_test(|| {
        let m = boot();
        let policy = format!("{MEM}/auto_online_blocks");
        for bad in [
            "foo",
            "Online",
            "online\n\n",
            " online",
            "online ",
            "online_",
            "\n",
        ] {
            assert_eq!(write(&m, &policy, bad), Err(Errno::EINVAL), "{bad:?}");
            assert_eq!(read(&m, &policy), "offline\n");
        }
        for good in ["online", "online_kernel\n", "online_movable", "offline\n"] {
            write(&m, &policy, good).unwrap();
            assert_eq!(read(&m, &policy), format!("{}\n", good.trim_end()));
        }
        assert_eq!(m.hotplug().default_online_type(), OnlineType::Offline);
    });
}

// §10 case 11: `echo online > state` on an online block is -EINVAL
// (device_online() returns 1, state_store() maps it); `echo 1 > online`
// succeeds.
#[test]
fn case11_online_an_online_block() {
    common::model_test(|| {
        let m = boot();
        for value in ["online", "online\n", "online_kernel", "online_movable"] {
            assert_eq!(
                write(&m, &blk(1, "state"), value),
                Err(Errno::EINVAL),
                "{value:?}"
            );
        }
        write(&m, &blk(1, "online"), "1\n").unwrap();
        assert_eq!(read(&m, &blk(1, "state")), "online\n");
        assert_eq!(read(&m, &blk(1, "online")), "1\n");
    });
}

// §10 case 30: `echo offline > state` on an offline block is -EINVAL;
// `echo 0 > online` succeeds.
#[test]
fn case30_offline_an_offline_block() {
    common::model_test(|| {
        let m = boot_with_hotplugged(128 * M);
        assert_eq!(
            write(&m, &blk(32, "state"), "offline\n"),
            Err(Errno::EINVAL)
        );
        write(&m, &blk(32, "online"), "0\n").unwrap();
        assert_eq!(read(&m, &blk(32, "state")), "offline\n");
        assert_eq!(read(&m, &blk(32, "online")), "0\n");
    });
}

// §10 case 12: an invalid string is -EINVAL and the state is unchanged;
// state_store() refuses it before lock_device_hotplug_sysfs(), so it
// returns even while another thread holds device_hotplug_lock.
#[test]
fn case12_invalid_state_string_fails_before_locking() {
    common::model_test(|| {
        let m = Arc::new(boot_with_hotplugged(128 * M));
        let locked = m.hotplug().device_hotplug_lock.lock();
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let (m, done) = (Arc::clone(&m), Arc::clone(&done));
            thread::spawn(move || {
                let ret = [
                    "foo",
                    "ONLINE",
                    "online\n\n",
                    "going-offline",
                    "online_kernelx",
                ]
                .map(|v| write(&m, &blk(32, "state"), v));
                done.store(true, Ordering::Release);
                ret
            })
        };
        let returned_while_locked = wait_for(|| done.load(Ordering::Acquire));
        drop(locked);
        assert!(
            returned_while_locked,
            "an invalid state write waited for device_hotplug_lock"
        );
        for ret in writer.join().unwrap() {
            assert_eq!(ret, Err(Errno::EINVAL));
        }
        assert_eq!(read(&m, &blk(32, "state")), "offline\n");
    });
}

// lock_device_hotplug_sysfs(): a valid write waits (trylock, msleep(5),
// restart_syscall()) while device_hotplug_lock is held, then succeeds.
#[test]
fn state_write_waits_for_device_hotplug_lock() {
    common::model_test(|| {
        let m = Arc::new(boot_with_hotplugged(128 * M));
        let locked = m.hotplug().device_hotplug_lock.lock();
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let (m, done) = (Arc::clone(&m), Arc::clone(&done));
            thread::spawn(move || {
                let r = write(&m, &blk(32, "state"), "online");
                done.store(true, Ordering::Release); // pairs with the Acquire below
                r
            })
        };
        thread::sleep(Duration::from_millis(30));
        assert!(!done.load(Ordering::Acquire));
        assert_eq!(read(&m, &blk(32, "state")), "offline\n");
        drop(locked);
        writer.join().unwrap().unwrap();
        assert_eq!(read(&m, &blk(32, "state")), "online\n");
    });
}

// state_store(): online_kernel/online_movable pick the zone (§10 case 19),
// offline takes the block down, and each success shows in state/online.
#[test]
fn state_write_onlines_into_the_requested_zone() {
    common::model_test(|| {
        let m = boot_with_hotplugged(128 * M);
        write(&m, &blk(32, "state"), "online_movable").unwrap();
        assert_eq!(read(&m, &blk(32, "state")), "online\n");
        assert_eq!(read(&m, &blk(32, "online")), "1\n");
        assert_eq!(read(&m, &blk(32, "valid_zones")), "Movable\n");
        write(&m, &blk(32, "state"), "offline").unwrap();
        assert_eq!(read(&m, &blk(32, "state")), "offline\n");
        assert_eq!(read(&m, &blk(32, "online")), "0\n");
        write(&m, &blk(32, "state"), "online_kernel\n").unwrap();
        assert_eq!(read(&m, &blk(32, "valid_zones")), "Normal\n");
    });
}

// online_store(): kstrtobool() looks at the first characters only; online
// uses MMOP_ONLINE (the default zone).
#[test]
fn online_file_parses_with_kstrtobool() {
    common::model_test(|| {
        let m = boot_with_hotplugged(128 * M);
        let online = blk(32, "online");
        for (value, expect) in [
            ("on", "1\n"),
            ("off", "0\n"),
            ("yes\n", "1\n"),
            ("n", "0\n"),
            ("T", "1\n"),
            ("0", "0\n"),
        ] {
            write(&m, &online, value).unwrap();
            assert_eq!(read(&m, &online), expect, "after {value:?}");
        }
        for bad in ["2", "o", "x", " 1", "\n"] {
            assert_eq!(write(&m, &online, bad), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(read(&m, &online), "0\n");
        write(&m, &online, "1").unwrap();
        assert_eq!(read(&m, &blk(32, "valid_zones")), "Normal\n");
    });
}

// sysfs_kf_write(): a zero-length write returns 0 without calling the store.
#[test]
fn zero_length_write_is_a_no_op() {
    common::model_test(|| {
        let m = boot_with_hotplugged(128 * M);
        write(&m, &blk(32, "state"), "").unwrap();
        write(&m, &blk(32, "online"), "").unwrap();
        write(&m, &format!("{MEM}/auto_online_blocks"), "").unwrap();
        assert_eq!(read(&m, &blk(32, "state")), "offline\n");
    });
}

// kernfs_fop_open(): sysfs has KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK, so
// opening a file without write bits for writing is -EACCES even for root.
#[test]
fn read_only_files_reject_writes_with_eacces() {
    common::model_test(|| {
        let m = boot_with_hotplugged(128 * M);
        let mut ro = vec![format!("{MEM}/block_size_bytes")];
        for attr in ["phys_index", "removable", "valid_zones", "phys_device"] {
            ro.push(blk(32, attr));
        }
        for path in &ro {
            let before = read(&m, path);
            assert_eq!(write(&m, path, "1"), Err(Errno::EACCES), "{path}");
            assert_eq!(read(&m, path), before);
        }
    });
}

// VFS errors: ENOENT for a missing name, ENOTDIR for a file used as a
// directory, EISDIR for reading or writing a directory.
#[test]
fn path_errors_are_the_vfs_errors() {
    common::model_test(|| {
        let m = boot_with_hotplugged(128 * M);
        for path in [
            blk(99, "state"),
            format!("{MEM}/memory032/state"),
            format!("{MEM}/memory+32/state"),
            blk(32, "uevent"),
            blk(32, "node1"),
            format!("{MEM}/probe"),
            "devices/system/cpu".to_string(),
            "sys/devices".to_string(),
        ] {
            assert_eq!(m.sysfs_read(&path), Err(Errno::ENOENT), "{path}");
            assert_eq!(write(&m, &path, "1"), Err(Errno::ENOENT), "{path}");
            assert_eq!(m.sysfs_ls(&path), Err(Errno::ENOENT), "{path}");
        }
        let bsb = format!("{MEM}/block_size_bytes");
        assert_eq!(m.sysfs_read(&format!("{bsb}/x")), Err(Errno::ENOTDIR));
        assert_eq!(m.sysfs_read(&format!("{bsb}/")), Err(Errno::ENOTDIR));
        assert_eq!(m.sysfs_ls(&bsb), Err(Errno::ENOTDIR));
        for dir in [
            MEM.to_string(),
            format!("{MEM}/memory32"),
            blk(32, "node0"),
            String::new(),
        ] {
            assert_eq!(m.sysfs_read(&dir), Err(Errno::EISDIR), "{dir:?}");
            assert_eq!(write(&m, &dir, "online"), Err(Errno::EISDIR), "{dir:?}");
        }
        assert_eq!(m.sysfs_readlink(&bsb), Err(Errno::EINVAL));
        assert_eq!(m.sysfs_readlink(MEM), Err(Errno::EINVAL));
    });
}

// PATH is below /sys, with or without a leading /sys/ or /; `.`, `..` and
// repeated slashes resolve as in a path walk.
#[test]
fn paths_may_start_with_sys_or_slash() {
    common::model_test(|| {
        let m = boot_with_hotplugged(128 * M);
        for path in [
            "devices/system/memory/memory32/phys_index",
            "/devices/system/memory/memory32/phys_index",
            "/sys/devices/system/memory/memory32/phys_index",
            "/sys//devices/system/./memory/memory0/../memory32/phys_index",
            "devices/system/memory/memory32/node0/memory32/phys_index",
            "devices/system/node/node0/memory32/../../memory/memory32/phys_index",
        ] {
            assert_eq!(read(&m, path), "00000020\n", "{path}");
        }
        assert_eq!(m.sysfs_ls("/sys").unwrap(), ["devices", "kernel"]);
        assert_eq!(m.sysfs_ls("/").unwrap(), ["devices", "kernel"]);
        assert_eq!(m.sysfs_ls("").unwrap(), ["devices", "kernel"]);
    });
}

// `ls` of the memory root, of a block (its nodeK link listed) and of the
// node directory with its reverse memoryN links
// (do_register_memory_block_under_node()).
#[test]
fn ls_lists_attributes_and_node_links() {
    common::model_test(|| {
        let m = boot_with_hotplugged(256 * M);
        let root = m.sysfs_ls(MEM).unwrap();
        let mut sorted = root.clone();
        sorted.sort();
        assert_eq!(root, sorted);
        assert_eq!(
            &root[..3],
            ["auto_online_blocks", "block_size_bytes", "memory0"]
        );
        assert_eq!(root.len(), 2 + 16 + 2);
        assert!(root.contains(&"memory32".to_string()) && root.contains(&"memory33".to_string()));
        assert_eq!(
            m.sysfs_ls(&format!("{MEM}/memory32")).unwrap(),
            [
                "node0",
                "online",
                "phys_device",
                "phys_index",
                "removable",
                "state",
                "valid_zones"
            ]
        );
        assert_eq!(
            m.sysfs_readlink(&blk(32, "node0")).unwrap(),
            "../../node/node0"
        );
        assert_eq!(m.sysfs_ls("devices/system/node").unwrap(), ["node0"]);
        let node0 = m.sysfs_ls("devices/system/node/node0").unwrap();
        assert_eq!(node0.len(), 18);
        assert_eq!(m.sysfs_ls(&blk(32, "node0")).unwrap(), node0);
        assert_eq!(
            m.sysfs_readlink("devices/system/node/node0/memory32")
                .unwrap(),
            "../../memory/memory32"
        );
        assert_eq!(
            m.sysfs_ls("kernel/debug/notifier-error-inject/memory/actions")
                .unwrap(),
            ["MEM_GOING_OFFLINE", "MEM_GOING_ONLINE"]
        );
    });
}

// §10 case 9: after remove_memory() the memoryN directories and their node
// links are gone.
#[test]
fn removed_blocks_disappear() {
    common::model_test(|| {
        let m = boot_with_hotplugged(256 * M);
        m.remove_memory(PhysAddr(4 * G), 256 * M).unwrap();
        assert_eq!(m.sysfs_ls(&format!("{MEM}/memory32")), Err(Errno::ENOENT));
        assert_eq!(m.sysfs_read(&blk(33, "state")), Err(Errno::ENOENT));
        assert!(!m.sysfs_ls(MEM).unwrap().contains(&"memory32".to_string()));
        assert_eq!(m.sysfs_ls("devices/system/node/node0").unwrap().len(), 16);
    });
}

// lib/notifier-error-inject.c fops_errno: "%lld\n" reads; writes parsed by
// kstrtoll(buf, 0) (-EINVAL/-ERANGE) and clamped by debugfs_errno_set() to
// [-MAX_ERRNO, 0], never refused. §10 case 14 (selftest step 7) and case 27
// (step 9): the injected errno comes back from the state write.
#[test]
fn inject_error_round_trip_and_clamping() {
    common::model_test(|| {
        let m = boot_with_hotplugged(128 * M);
        let online_err = format!("{INJECT}/MEM_GOING_ONLINE/error");
        let offline_err = format!("{INJECT}/MEM_GOING_OFFLINE/error");
        assert_eq!(read(&m, &online_err), "0\n");
        assert_eq!(read(&m, &offline_err), "0\n");

        write(&m, &online_err, "-12\n").unwrap();
        assert_eq!(read(&m, &online_err), "-12\n");
        assert_eq!(write(&m, &blk(32, "state"), "online"), Err(Errno::ENOMEM));
        assert_eq!(read(&m, &blk(32, "state")), "offline\n");
        write(&m, &online_err, "0").unwrap();
        write(&m, &blk(32, "state"), "online").unwrap();

        write(&m, &offline_err, "-12").unwrap();
        assert_eq!(write(&m, &blk(32, "state"), "offline"), Err(Errno::ENOMEM));
        assert_eq!(read(&m, &blk(32, "state")), "online\n");
        write(&m, &offline_err, "0").unwrap();
        write(&m, &blk(32, "state"), "offline").unwrap();

        for (value, stored) in [
            ("5", "0\n"),
            ("-5000", "-4095\n"),
            ("-4095", "-4095\n"),
            ("-0x10", "-16\n"),
            ("-010", "-8\n"),
            ("4294967284", "-12\n"),
        ] {
            write(&m, &online_err, value).unwrap();
            assert_eq!(read(&m, &online_err), stored, "after {value:?}");
        }
        for (bad, err) in [
            ("abc", Errno::EINVAL),
            ("", Errno::EINVAL),
            ("-12 ", Errno::EINVAL),
            ("99999999999999999999", Errno::ERANGE),
        ] {
            assert_eq!(write(&m, &online_err, bad), Err(err), "{bad:?}");
            assert_eq!(read(&m, &online_err), "-12\n");
        }
    });
}

// §10 case 26 and 31: a slab page in a ZONE_MOVABLE block passes isolation
// but never migrates, so offline_pages() retries forever; meanwhile `state`
// reads going-offline. A signal to the writer ends it with -EINTR and the
// block is online again. The signal is delivered on return (cleared).
#[test]
fn case26_signal_ends_an_endless_offline_with_eintr() {
    common::model_test(|| {
        let m = Arc::new(boot_with_hotplugged(128 * M));
        m.online_memory_block(
            &m.hotplug().find_block(32).unwrap(),
            OnlineType::OnlineMovable,
        )
        .unwrap();
        let pfn = PhysAddr(4 * G + 64 * M).pfn();
        m.owner_alloc_contig("slab", pfn, 1).unwrap();
        m.owner_mark("slab", Mark::Slab).unwrap();

        let task = Arc::new(Task::new());
        let signaller = {
            let (m, task) = (Arc::clone(&m), Arc::clone(&task));
            thread::spawn(move || {
                let seen = wait_for(|| read(&m, &blk(32, "state")) == "going-offline\n");
                thread::sleep(Duration::from_millis(20));
                task.send_signal();
                seen
            })
        };
        let ret = m.sysfs_write(&blk(32, "state"), "offline", &task);
        assert!(signaller.join().unwrap(), "state never read going-offline");
        assert_eq!(ret, Err(Errno::EINTR));
        assert!(!task.signal_pending());
        assert_eq!(read(&m, &blk(32, "state")), "online\n");
        assert_eq!(read(&m, &blk(32, "online")), "1\n");
        assert_eq!(read(&m, &blk(32, "valid_zones")), "Movable\n");
    });
}

/// The machine the export tests look at: 2G of boot memory, 256M added at
/// 4G, its first block onlined movable.
fn lsmem_machine() -> Machine {
    let m = boot_with_hotplugged(256 * M);
    m.online_memory_block(
        &m.hotplug().find_block(32).unwrap(),
        OnlineType::OnlineMovable,
    )
    .unwrap();
    m
}

// sysfs_export(): plain files with the read text and the attribute mode,
// real relative symlinks; a second export replaces the first.
#[test]
fn export_writes_plain_files_and_links() {
    common::model_test(|| {
        use std::os::unix::fs::PermissionsExt;
        let m = lsmem_machine();
        let dir = scratch_dir("sysfs-export");
        m.sysfs_export(&dir).unwrap();
        let mem = dir.join("sys").join(MEM);
        let text = |p: &str| std::fs::read_to_string(mem.join(p)).unwrap();
        assert_eq!(text("block_size_bytes"), "8000000\n");
        assert_eq!(text("memory32/state"), "online\n");
        assert_eq!(text("memory32/valid_zones"), "Movable\n");
        assert_eq!(text("memory33/valid_zones"), "Normal Movable\n");
        assert_eq!(text("memory0/valid_zones"), "none\n");
        assert_eq!(
            std::fs::read_link(mem.join("memory32/node0")).unwrap(),
            Path::new("../../node/node0")
        );
        assert_eq!(text("memory32/node0/memory32/phys_index"), "00000020\n");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&mem.join("block_size_bytes")), 0o444);
        assert_eq!(mode(&mem.join("memory32/state")), 0o644);
        let inject = dir.join("sys").join(INJECT).join("MEM_GOING_ONLINE/error");
        assert_eq!(std::fs::read_to_string(&inject).unwrap(), "0\n");
        assert_eq!(mode(&inject), 0o600);

        m.remove_memory(PhysAddr(4 * G + 128 * M), 128 * M).unwrap();
        m.sysfs_export(&dir).unwrap();
        assert!(!mem.join("memory33").exists());
        assert!(mem.join("memory32").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

fn lsmem(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("lsmem")
        .arg("--sysroot")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lsmem {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// util-linux lsmem --sysroot reads the export (read_basic_info(),
// memory_block_read_attrs(), memory_block_get_node()): ranges merge by
// state, node and zones; the summary adds up online and offline blocks.
#[test]
fn lsmem_reads_the_export() {
    common::model_test(|| {
        if Command::new("lsmem").arg("--version").output().is_err() {
            eprintln!("skipped: lsmem not found (Debian package util-linux)");
            return;
        }
        let m = lsmem_machine();
        let dir = scratch_dir("sysfs-lsmem");
        m.sysfs_export(&dir).unwrap();
        let columns = "RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES";
        eprintln!("{}", lsmem(&dir, &["-o", columns]));

        let json: serde_json::Value =
            serde_json::from_str(&lsmem(&dir, &["-J", "-b", "-o", columns])).unwrap();
        let rows: Vec<(String, u64, String, String, i64, String)> = json["memory"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["range"].as_str().unwrap().to_string(),
                    r["size"].as_u64().unwrap(),
                    r["state"].as_str().unwrap().to_string(),
                    r["block"].as_str().unwrap().to_string(),
                    r["node"].as_i64().unwrap(),
                    r["zones"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let row = |range: &str, size: u64, state: &str, block: &str, zones: &str| {
            (
                range.to_string(),
                size,
                state.to_string(),
                block.to_string(),
                0,
                zones.to_string(),
            )
        };
        assert_eq!(
            rows,
            [
                row(
                    "0x0000000000000000-0x0000000007ffffff",
                    128 * M,
                    "online",
                    "0",
                    "None"
                ),
                row(
                    "0x0000000008000000-0x000000007fffffff",
                    15 * 128 * M,
                    "online",
                    "1-15",
                    "DMA32"
                ),
                row(
                    "0x0000000100000000-0x0000000107ffffff",
                    128 * M,
                    "online",
                    "32",
                    "Movable"
                ),
                row(
                    "0x0000000108000000-0x000000010fffffff",
                    128 * M,
                    "offline",
                    "33",
                    "Normal/Movable"
                ),
            ]
        );
        let removable: Vec<_> = json["memory"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["removable"].clone())
            .collect();
        assert_eq!(removable[..3], [true, true, true]);

        let summary = lsmem(&dir, &["--summary=only", "-b"]);
        eprintln!("{summary}");
        let field = |name: &str| -> u64 {
            let line = summary.lines().find(|l| l.starts_with(name)).unwrap();
            line[name.len()..].trim().parse().unwrap()
        };
        assert_eq!(field("Memory block size:"), 128 * M);
        assert_eq!(field("Total online memory:"), 2 * G + 128 * M);
        assert_eq!(field("Total offline memory:"), 128 * M);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

// stat as a file system serving the tree shows it (`mmsim mount`): kernfs
// directories 0755, symlinks 0777, attributes with their declared modes
// (DEVICE_ATTR_RO/RW, the injection files S_IRUSR | S_IWUSR); lstat keeps a
// final symlink, stat follows it.
#[test]
fn stat_shows_kinds_and_modes() {
    common::model_test(|| {
        use mmsim::sysfs::{SysfsKind, SysfsStat};
        let m = boot();
        let st = |kind, mode| SysfsStat { kind, mode };
        assert_eq!(
            m.sysfs_stat(&blk(8, "state")),
            Ok(st(SysfsKind::File, 0o644))
        );
        assert_eq!(
            m.sysfs_stat(&blk(8, "removable")),
            Ok(st(SysfsKind::File, 0o444))
        );
        assert_eq!(
            m.sysfs_stat(&format!("{MEM}/memory8")),
            Ok(st(SysfsKind::Dir, 0o755))
        );
        assert_eq!(
            m.sysfs_lstat(&blk(8, "node0")),
            Ok(st(SysfsKind::Symlink, 0o777))
        );
        assert_eq!(
            m.sysfs_stat(&blk(8, "node0")),
            Ok(st(SysfsKind::Dir, 0o755))
        );
        assert_eq!(
            m.sysfs_stat(&format!("{INJECT}/MEM_GOING_ONLINE/error")),
            Ok(st(SysfsKind::File, 0o600))
        );
        assert_eq!(m.sysfs_stat(&blk(99, "state")), Err(Errno::ENOENT));
        assert_eq!(
            m.sysfs_stat(&format!("{}/x", blk(8, "state"))),
            Err(Errno::ENOTDIR)
        );
        // ls -l: the same names as ls, each with its lstat.
        let listed = m.sysfs_ls_stat(&format!("{MEM}/memory8")).unwrap();
        let names: Vec<String> = listed.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, m.sysfs_ls(&format!("{MEM}/memory8")).unwrap());
        for (name, s) in &listed {
            assert_eq!(
                Ok(*s),
                m.sysfs_lstat(&format!("{MEM}/memory8/{name}")),
                "{name}"
            );
        }
        assert_eq!(m.sysfs_ls_stat(&blk(8, "state")), Err(Errno::ENOTDIR));
    });
}

// One write(2): sysfs stores see at most PAGE_SIZE bytes as a C string and
// write(2) returns what kernfs_fop_write_iter() consumed (short for a big
// write); a debugfs simple_attr consumes all and parses 23 bytes
// (reference §7, §8.1).
#[test]
fn write_bytes_is_one_syscall() {
    common::model_test(|| {
        let m = boot_with_hotplugged(128 * M);
        let state = blk(32, "state");
        let task = Task::new();
        let mut big = b"online".to_vec();
        big.resize(1 << 20, 0);
        assert_eq!(m.sysfs_write_bytes(&state, &big, &task), Ok(4096));
        assert_eq!(read(&m, &state), "online\n");
        assert_eq!(
            m.sysfs_write_bytes(&state, &[b'x'; 8192], &task),
            Err(Errno::EINVAL)
        );
        assert_eq!(m.sysfs_write_bytes(&state, b"offline\0x", &task), Ok(9));
        assert_eq!(read(&m, &state), "offline\n");
        // Bytes that are not UTF-8 reach no parser as valid text.
        assert_eq!(
            m.sysfs_write_bytes(&state, b"onl\xffine", &task),
            Err(Errno::EINVAL)
        );
        // "online" padded past PAGE_SIZE with blanks: the store sees 4096
        // bytes of which the blanks are not a trailing newline.
        let mut padded = b"online".to_vec();
        padded.resize(5000, b' ');
        assert_eq!(
            m.sysfs_write_bytes(&state, &padded, &task),
            Err(Errno::EINVAL)
        );
        let error = format!("{INJECT}/MEM_GOING_ONLINE/error");
        let mut long = b"-12".to_vec();
        long.resize(100, 0);
        assert_eq!(m.sysfs_write_bytes(&error, &long, &task), Ok(100));
        assert_eq!(read(&m, &error), "-12\n");
        assert_eq!(
            m.sysfs_write_bytes(&format!("{MEM}/block_size_bytes"), b"1", &task),
            Err(Errno::EACCES)
        );
        assert_eq!(
            m.sysfs_write_bytes(&blk(99, "state"), b"1", &task),
            Err(Errno::ENOENT)
        );
    });
}
