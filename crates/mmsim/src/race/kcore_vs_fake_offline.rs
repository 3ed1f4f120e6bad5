//! `kcore-vs-fake-offline`: /proc/kcore against virtio-mem's unplug, and
//! `page_offline_freeze()`/`page_offline_thaw()`.
//!
//! A /proc/kcore reader checks each page (online, not PageOffline, not
//! hwpoisoned) and then copies it. The virtio-mem driver unplugs a
//! sub-block of online memory by taking its pages from the buddy
//! (`alloc_contig_range()`), making them PageOffline
//! (`virtio_mem_set_fake_offline()`) and asking the device to unplug them;
//! a device with `VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE` then makes the
//! memory inaccessible, and any touch of it is fatal. Without
//! synchronisation a reader that checked a page before it became
//! PageOffline copies it after the unplug. Since 6.1 ("fs/proc/kcore:
//! synchronize with PageOffline"... the `page_offline_freeze()` series) the
//! reader holds `page_offline_freeze()` (a read lock) from its check to its
//! copy, and the driver sets PageOffline only under `page_offline_begin()`
//! (the write lock).
//!
//! Set-up (quiet): a 256 MiB machine that onlines added memory movable, a
//! 128 MiB virtio-mem device (2 MiB blocks, UNPLUGGED_INACCESSIBLE) at
//! 4 GiB, probed, with two sub-blocks (`PLUGGED`) plugged and their
//! memory block online. Actors: `kcore` reads the upper 2 MiB sub-block
//! (512 pages, each a check then a copy) through /proc/kcore
//! ([`Machine::kcore_read`]); `host` lowers the requested size
//! by one block, which interrupts the driver, whose own thread
//! (`virtio_mem/vm0`) unplugs that sub-block; the body waits for the driver
//! to settle. Detector: a fatal access (the reader copying unplugged,
//! inaccessible memory).

use super::{join, Race, RaceCtx};
use crate::drivers::virtio_mem::DriverParams;
use crate::hotplug::OnlineType;
use crate::machine::Machine;
use crate::page::PhysAddr;
use crate::sync::Arc;
use crate::vmm::virtio_mem::HostVirtioMem;

/// The table entry.
pub const RACE: Race = Race {
    name: "kcore-vs-fake-offline",
    seed_thread: "\"fs/proc/kcore: synchronize with PageOffline\" (the page_offline_freeze/thaw \
                  series, 6.1; virtio-mem with UNPLUGGED_INACCESSIBLE)",
    actors: "kcore (read_kcore_iter over a virtio-mem sub-block), host (lowers requested_size; \
             the driver thread fake-offlines and unplugs the sub-block)",
    checks: "/proc/kcore never copies a page the device unplugged: no fatal access (physmem \
             fence)",
    breaks: &["kcore_sync=none"],
    holds: &["kcore_sync=rwsem"],
    mutants: &[],
    run,
};

const MIB: u64 = 1 << 20;
/// Where the device's region starts.
pub(super) const DEV_ADDR: u64 = 4 << 30;
/// The device's region (one memory block of the race machine).
pub(super) const DEV_SIZE: u64 = 128 * MIB;
/// The device block (and, on this machine, sub-block) size.
pub(super) const DEV_BLOCK: u64 = 2 * MIB;
/// Plugged at set-up: two sub-blocks, so the set-up costs few steps of
/// the driver's thread (which quiet does not cover).
const PLUGGED: u64 = 2 * DEV_BLOCK;

/// A race machine with one probed virtio-mem device (`vm0`, UNPLUGGED_INACCESSIBLE)
/// that has `plugged` bytes plugged. Dropping it stops the driver's
/// thread, which holds the machine.
pub(super) struct VirtioMemRig {
    /// The machine.
    pub(super) m: Arc<Machine>,
    /// The device (the host's side).
    pub(super) host: Arc<HostVirtioMem>,
}

impl VirtioMemRig {
    /// Boots the machine (added memory onlined as `auto_online`), adds and
    /// probes the device and waits for the driver to plug `plugged` bytes.
    /// Run it inside [`RaceCtx::quiet`].
    pub(super) fn new(ctx: &RaceCtx, auto_online: OnlineType, plugged: u64) -> VirtioMemRig {
        let m = ctx.boot(crate::machine::MachineConfig {
            auto_online,
            ..RaceCtx::small_config()
        });
        let params = virtio_mem::DeviceParams {
            addr: DEV_ADDR,
            region_size: DEV_SIZE,
            block_size: DEV_BLOCK,
            requested_size: plugged,
            offer_unplugged_inaccessible: true,
            ..Default::default()
        };
        let host = Arc::new(HostVirtioMem::new(&m, "vm0", params).expect("virtio-mem device"));
        m.virtio_mem_probe("vm0", host.clone(), DriverParams::default())
            .expect("virtio_mem_probe");
        m.virtio_mem_settle();
        VirtioMemRig { m, host }
    }

    /// The end of a race on the rig: stops the driver's thread, asks the
    /// detectors for their verdict, and lets the machine go.
    pub(super) fn finish(self, ctx: &RaceCtx) {
        ctx.quiet(|| self.shutdown());
        ctx.verdict(&self.m);
    }

    /// Stops the driver's thread (`virtio_mem_shutdown()`), as a script's
    /// world does when it goes.
    pub(super) fn shutdown(&self) {
        self.m.virtio_mem_shutdown();
    }
}

impl Drop for VirtioMemRig {
    fn drop(&mut self) {
        // After a violation the execution is over: shuttle drops the tasks.
        if !std::thread::panicking() {
            self.shutdown();
        }
    }
}

fn run(ctx: &RaceCtx) {
    let rig = ctx.quiet(|| VirtioMemRig::new(ctx, OnlineType::OnlineMovable, PLUGGED));
    let m = rig.m.clone();
    // The driver unplugs the highest plugged sub-block first.
    let sb = PhysAddr(DEV_ADDR + PLUGGED - DEV_BLOCK);

    let kcore = {
        let m = m.clone();
        ctx.spawn("kcore", move || m.kcore_read(sb, DEV_BLOCK))
    };
    let host = {
        let host = rig.host.clone();
        ctx.spawn("host", move || {
            host.set_requested_size(PLUGGED - DEV_BLOCK)
                .expect("block-aligned size")
        })
    };
    join(kcore);
    join(host);
    m.virtio_mem_settle();

    let plugged = rig.host.config().plugged_size;
    if plugged != PLUGGED - DEV_BLOCK {
        ctx.violation(format!(
            "the driver did not unplug the sub-block at {:#x} (device plugged size {plugged:#x})",
            sb.0
        ));
    }
    drop(m);
    rig.finish(ctx);
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;

    // On real threads the window (between the reader's PageOffline check
    // and its copy) is rarely hit; under rwsem it cannot be.
    #[test]
    fn kcore_vs_fake_offline_runs_clean_on_real_threads_with_the_rwsem() {
        let ctx = RaceCtx::default();
        for _ in 0..5 {
            run(&ctx);
        }
    }
}
