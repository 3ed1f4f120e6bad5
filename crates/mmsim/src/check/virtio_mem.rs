//! virtio-mem invariants (reference kernel-hotplug §9, the virtio-mem
//! items), checked for every settled driver that is not broken:
//!
//! * `virtio-mem-plugged`: the driver's plugged size is the device's.
//! * `virtio-mem-count`: it is the sub-block size times the plugged
//!   sub-blocks (SBM), or the big-block size times the big blocks that are
//!   plugged (ADDED, FAKE_OFFLINE or PLUGGED; BBM).
//! * `virtio-mem-state`: a block's state agrees with its sub-blocks (UNUSED:
//!   none plugged; OFFLINE/KERNEL/MOVABLE: all; *_PARTIAL: some, or none while
//!   the driver still has to remove it) and with Linux's memory block (none
//!   for UNUSED and PLUGGED; offline for OFFLINE*; online in a kernel zone
//!   or ZONE_MOVABLE for KERNEL* and MOVABLE*).
//! * `virtio-mem-pages`: in an online block, every page of an unplugged
//!   sub-block is PageOffline (PG_dirty exactly when it was never onlined is
//!   not checkable afterwards), and no page of a plugged one is (but for
//!   the balloon's).

use super::Report;
use crate::drivers::balloon::is_balloon_page;
use crate::drivers::virtio_mem::{BbState, MbState, Mode, VirtioMem};
use crate::hotplug::MemoryBlockState;
use crate::machine::Machine;
use crate::page::{PageType, Pfn, ZoneType, PAGE_SHIFT};

impl Machine {
    pub(super) fn check_virtio_mem(&self, r: &mut Report) {
        for vm in self.virtio_mem().devices() {
            if vm.is_broken() || !vm.is_idle() {
                continue;
            }
            self.check_virtio_mem_device(&vm, r);
        }
    }

    fn check_virtio_mem_device(&self, vm: &VirtioMem, r: &mut Report) {
        let plugged = vm.plugged_size();
        let device = vm.device_plugged_size(self);
        if plugged != device {
            r.fail(
                "virtio-mem-plugged",
                format!(
                    "{}: the driver counts {plugged:#x} plugged, the device {device:#x}",
                    vm.name
                ),
            );
        }
        match vm.mode {
            Mode::Sbm {
                sb_size,
                sbs_per_mb,
            } => {
                let blocks = vm.sbm_blocks();
                let count: u64 = blocks.iter().map(|(_, _, n)| n * sb_size).sum();
                if count != plugged {
                    r.fail(
                        "virtio-mem-count",
                        format!(
                            "{}: {count:#x} bytes of plugged sub-blocks, plugged_size {plugged:#x}",
                            vm.name
                        ),
                    );
                }
                let pending = vm.sbm_have_unplugged_mb();
                for (id, s, n) in blocks {
                    self.check_sbm_block(vm, id, s, n, sbs_per_mb, sb_size, pending, r);
                }
            }
            Mode::Bbm { bb_size } => {
                let blocks = vm.bbm_blocks();
                let n = blocks.iter().filter(|(_, s)| *s != BbState::Unused).count() as u64;
                if n * bb_size != plugged {
                    r.fail(
                        "virtio-mem-count",
                        format!(
                            "{}: {n} big blocks plugged, plugged_size {plugged:#x}",
                            vm.name
                        ),
                    );
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_sbm_block(
        &self,
        vm: &VirtioMem,
        id: u64,
        s: MbState,
        n: u64,
        per: u64,
        sb_size: u64,
        pending: bool,
        r: &mut Report,
    ) {
        let name = &vm.name;
        let mut fail = |what: String| {
            r.fail(
                "virtio-mem-state",
                format!("{name}: memory{id} {}: {what}", s.name()),
            )
        };
        let sbs_ok = match s {
            MbState::Unused => n == 0,
            MbState::Offline | MbState::Kernel | MbState::Movable => n == per,
            MbState::Plugged => n > 0,
            _ => n < per && (n > 0 || pending),
        };
        if !sbs_ok {
            fail(format!("{n} of {per} sub-blocks plugged"));
        }
        let block = self.hotplug().find_block(id);
        let linux = block.as_ref().map(|b| (b.state(), b.zone()));
        let ok = match (s, linux) {
            (MbState::Unused | MbState::Plugged, None) => true,
            (MbState::Offline | MbState::OfflinePartial, Some((MemoryBlockState::Offline, _))) => {
                true
            }
            (
                MbState::Kernel | MbState::KernelPartial,
                Some((MemoryBlockState::Online, Some((_, z)))),
            ) => z != ZoneType::Movable,
            (
                MbState::Movable | MbState::MovablePartial,
                Some((MemoryBlockState::Online, Some((_, z)))),
            ) => z == ZoneType::Movable,
            _ => false,
        };
        if !ok {
            fail(format!("Linux's memory block is {linux:?}"));
        }
        if !matches!(linux, Some((MemoryBlockState::Online, _))) {
            return;
        }
        let pages = sb_size >> PAGE_SHIFT;
        for sb in 0..per {
            let start = Pfn((id * per * sb_size + sb * sb_size) >> PAGE_SHIFT);
            let plugged = vm.sbm_sb_plugged(id, sb);
            for pfn in crate::page::pfn_range(start, start + pages) {
                // A plugged sub-block is ordinary memory: other drivers may
                // own PageOffline pages there (the balloon's).
                let p = self.page(pfn);
                let vmem_offline = p.is_type(PageType::Offline) && !is_balloon_page(p);
                if vmem_offline == plugged {
                    r.fail(
                        "virtio-mem-pages",
                        format!(
                            "{name}: pfn {pfn} in a{} sub-block of online memory{id} is {}PageOffline",
                            if plugged { " plugged" } else { "n unplugged" },
                            if plugged { "" } else { "not " }
                        ),
                    );
                    return;
                }
            }
        }
    }
}
