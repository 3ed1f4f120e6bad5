//! The hypervisor's side: a virtio-mem host resizing its device (the
//! guest driver plugs and unplugs in its own thread, onlining and
//! offlining memory and fake-offlining sub-blocks), and a balloon host
//! inflating and deflating.

use super::{Actor, Ctx, Layout, Rng};
use crate::drivers::virtio_mem::DriverParams;
use crate::machine::Machine;
use crate::page::PAGE_SIZE;
use crate::sync::{thread, Arc};
use crate::vmm::virtio_mem::HostVirtioMem;
use std::time::Duration;

/// virtio-mem's device block size.
const DEV_BLOCK: u64 = 2 << 20;
/// The most the balloon holds, in pages (64 MiB).
const BALLOON_MAX: u64 = 16384;

/// Adds the device (with VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, so a touch
/// of unplugged memory is a fatal access), probes the driver and lets it
/// plug its first request.
pub(crate) fn virtio_mem_setup(m: &Arc<Machine>, l: &Layout) -> Result<Arc<HostVirtioMem>, String> {
    let params = virtio_mem::DeviceParams {
        addr: l.dev_addr,
        region_size: l.dev_size,
        block_size: DEV_BLOCK,
        requested_size: l.dev_max / 2,
        offer_unplugged_inaccessible: true,
        ..Default::default()
    };
    let host = Arc::new(HostVirtioMem::new(m, "vm0", params)?);
    m.virtio_mem_probe("vm0", host.clone(), DriverParams::default())
        .map_err(|e| format!("probe: {e}"))?;
    m.virtio_mem_settle();
    Ok(host)
}

/// The virtio-mem host: a new `requested_size` every few milliseconds, as a
/// management layer resizing a guest; the driver chases it.
pub struct VirtioMemHost;

impl Actor for VirtioMemHost {
    fn step(&mut self, ctx: &Ctx, rng: &mut Rng) -> Result<(), String> {
        let Some(host) = &ctx.host else {
            return Ok(());
        };
        let max = ctx.layout.dev_max;
        let size = rng.below(max / DEV_BLOCK + 1) * DEV_BLOCK;
        host.set_requested_size(size)
            .map_err(|e| format!("requested_size {size}: {e}"))?;
        thread::sleep(Duration::from_millis(5));
        Ok(())
    }
}

/// The balloon host: inflate or deflate by up to 2 MiB, never beyond
/// 64 MiB.
pub struct Balloon;

impl Actor for Balloon {
    fn step(&mut self, ctx: &Ctx, rng: &mut Rng) -> Result<(), String> {
        let b = ctx.m.balloon();
        let pages = 1 + rng.below(512);
        let bytes = pages * PAGE_SIZE;
        if rng.one_in(2) && b.stats().pages + pages <= BALLOON_MAX {
            // Short when memory runs out (fill_balloon() stops at the first
            // failed allocation), never long.
            let got = b.inflate(bytes).map_err(|e| format!("inflate: {e}"))?;
            if got > bytes {
                return Err(format!("inflate of {bytes} bytes inflated {got}"));
            }
        } else {
            // Pages isolated for migration cannot be dequeued now: short,
            // never long.
            let got = b.deflate(bytes).map_err(|e| format!("deflate: {e}"))?;
            if got > bytes {
                return Err(format!("deflate of {bytes} bytes deflated {got}"));
            }
        }
        Ok(())
    }
}
