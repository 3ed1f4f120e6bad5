//! The memory subsystem's attributes: `drivers/base/memory.c` (the root
//! files and `memoryN/{state,phys_index,removable,valid_zones,phys_device}`)
//! and the generic `online` attribute of `drivers/base/core.c`.
//!
//! Stores validate their input first (`mhp_online_type_from_str()`,
//! `kstrtobool()`: -EINVAL without taking any lock), then take
//! `device_hotplug_lock` the sysfs way (`lock_device_hotplug_sysfs()`) and
//! call `device_online()` / `device_offline()`, which take the block's
//! device lock. `state` turns "already in that state" (the kernel's return
//! value 1) into -EINVAL; `online` calls it success.

use super::kstrtox::kstrtobool;
use super::tree::{BlockAttr, MemoryAttr};
use crate::errno::{Errno, KResult};
use crate::hotplug::{MemoryBlock, OnlineType, Task};
use crate::machine::Machine;
use crate::sync::{Arc, MutexGuard};
use std::time::Duration;

/// The block behind an open attribute. A block unregistered since the path
/// was resolved is gone for the open file too: kernfs refuses with -ENODEV
/// (`kernfs_get_active()` fails on a removed node).
fn block(m: &Machine, id: u64) -> KResult<Arc<MemoryBlock>> {
    m.hotplug().find_block(id).ok_or(Errno::ENODEV)
}

/// `lock_device_hotplug_sysfs()`: a trylock; on contention the kernel sleeps
/// 5 ms and restarts the syscall (`restart_syscall()`), which is invisible
/// to user space except that the way out and back delivers any pending
/// signal. The restarted write runs on the same open file, so a block that
/// was removed meanwhile gives -ENODEV.
fn lock_device_hotplug_sysfs<'a>(
    m: &'a Machine,
    mem: &Arc<MemoryBlock>,
    task: &Task,
) -> KResult<MutexGuard<'a, ()>> {
    loop {
        if let Some(guard) = m.hotplug().device_hotplug_lock.try_lock() {
            let registered = m
                .hotplug()
                .find_block(mem.id)
                .is_some_and(|b| Arc::ptr_eq(&b, mem));
            return if registered {
                Ok(guard)
            } else {
                Err(Errno::ENODEV)
            };
        }
        task.clear_signal();
        task.msleep(Duration::from_millis(5));
    }
}

/// The text of a memory attribute, newline included.
pub(super) fn show(m: &Machine, attr: MemoryAttr) -> KResult<String> {
    let hp = m.hotplug();
    let text = match attr {
        MemoryAttr::BlockSizeBytes => format!("{:x}", hp.block_size()),
        MemoryAttr::AutoOnlineBlocks => hp.default_online_type().as_str().to_string(),
        MemoryAttr::Block(id, a) => {
            let mem = block(m, id)?;
            match a {
                BlockAttr::State => mem.state().as_str().to_string(),
                BlockAttr::Online => {
                    // online_show() reads dev->offline under device_lock, so
                    // it waits for an online/offline of this block to end.
                    let _dev = mem.device_lock();
                    u8::from(mem.dev_online()).to_string()
                }
                BlockAttr::PhysIndex => format!("{:08x}", mem.id),
                // CONFIG_MEMORY_HOTREMOVE=y: always 1, no heuristic.
                BlockAttr::Removable => "1".to_string(),
                BlockAttr::ValidZones => m.valid_zones(&mem),
                // arch_get_memory_phys_device() is 0 except on s390.
                BlockAttr::PhysDevice => "0".to_string(),
            }
        }
    };
    Ok(text + "\n")
}

/// Stores `buf` (the written bytes as the kernel's C string) into a memory
/// attribute. Read-only attributes never get here (the open fails); the
/// kernel's `dev_attr_store()` answers -EIO for them.
pub(super) fn store(m: &Machine, attr: MemoryAttr, buf: &str, task: &Task) -> KResult<()> {
    match attr {
        MemoryAttr::AutoOnlineBlocks => {
            // auto_online_blocks_store(): no lock, affects later adds only.
            let t = OnlineType::from_sysfs(buf).ok_or(Errno::EINVAL)?;
            m.hotplug().set_default_online_type(t);
            Ok(())
        }
        MemoryAttr::Block(id, BlockAttr::State) => state_store(m, id, buf, task),
        MemoryAttr::Block(id, BlockAttr::Online) => online_store(m, id, buf, task),
        _ => Err(Errno::EIO),
    }
}

/// `state_store()`.
fn state_store(m: &Machine, id: u64, buf: &str, task: &Task) -> KResult<()> {
    let t = OnlineType::from_sysfs(buf).ok_or(Errno::EINVAL)?;
    let mem = block(m, id)?;
    let _lock = lock_device_hotplug_sysfs(m, &mem, task)?;
    let changed = match t {
        OnlineType::Offline => m.device_offline(&mem, task)?,
        // mem->online_type is protected by device_hotplug_lock.
        t => m.online_memory_block(&mem, t)?,
    };
    if changed {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

/// `online_store()`: onlining uses the default zone policy (MMOP_ONLINE,
/// since `mem->online_type` is reset after every online).
fn online_store(m: &Machine, id: u64, buf: &str, task: &Task) -> KResult<()> {
    let online = kstrtobool(buf)?;
    let mem = block(m, id)?;
    let _lock = lock_device_hotplug_sysfs(m, &mem, task)?;
    if online {
        m.device_online(&mem)?;
    } else {
        m.device_offline(&mem, task)?;
    }
    Ok(())
}
