//! The admin: a person at the sysfs memory tree, adding, onlining,
//! offlining and removing the hot blocks above boot RAM, and offlining and
//! onlining the boot ZONE_MOVABLE block under the processes (whose pages
//! migrate away, or hold the offline until its signal).
//!
//! Writes race the virtio-mem driver, the balloon and the processes, so
//! they may fail as the kernel's do: EINVAL (the block is not in the state
//! the write expects, or a zone does not fit), EBUSY (isolation failed, an
//! unmovable page, a block still online at removal) or EINTR (the signal).
//! Anything else is a violation.

use super::{Actor, Ctx, Layout, Rng, BLOCK};
use crate::errno::{Errno, KResult};
use crate::page::PhysAddr;

/// The admin actor.
pub struct Admin {
    /// Blocks it offlines and onlines: the hot ones first, then the boot
    /// ZONE_MOVABLE block.
    blocks: Vec<u64>,
    hot_blocks: usize,
    /// Numbers the operations for the main thread's signal.
    seq: u64,
}

impl Admin {
    pub(crate) fn new(layout: &Layout) -> Admin {
        let first = layout.hot_base / BLOCK;
        let mut blocks: Vec<u64> = (first..first + layout.hot_blocks).collect();
        blocks.push(first - 1);
        Admin {
            blocks,
            hot_blocks: layout.hot_blocks as usize,
            seq: 0,
        }
    }
}

/// The errors a racing hotplug write may return.
fn expected(r: KResult<()>, what: &str) -> Result<(), String> {
    match r {
        Ok(()) | Err(Errno::EINVAL | Errno::EBUSY | Errno::EINTR) => Ok(()),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

impl Actor for Admin {
    fn step(&mut self, ctx: &Ctx, rng: &mut Rng) -> Result<(), String> {
        let m = &*ctx.m;
        let i = rng.below(self.blocks.len() as u64) as usize;
        let id = self.blocks[i];
        let hot = i < self.hot_blocks;
        let addr = PhysAddr(id * BLOCK);
        self.seq += 1;
        if hot && m.hotplug().find_block(id).is_none() {
            // Added blocks come online in ZONE_MOVABLE (auto_online_blocks).
            return expected(m.add_memory(0, addr, BLOCK), &format!("add memory{id}"));
        }
        let state = format!("devices/system/memory/memory{id}/state");
        // Only hot blocks are removed.
        match rng.below(if hot { 8 } else { 6 }) {
            0..=2 => {
                let r = ctx.with_watched_task(self.seq, |t| m.sysfs_write(&state, "offline", t));
                expected(r, &format!("offline memory{id}"))
            }
            3..=5 => {
                let to = if hot && rng.one_in(4) {
                    "online_kernel"
                } else {
                    "online_movable"
                };
                let r = ctx.with_watched_task(self.seq, |t| m.sysfs_write(&state, to, t));
                expected(r, &format!("{to} memory{id}"))
            }
            _ => {
                let r = ctx
                    .with_watched_task(self.seq, |t| m.offline_and_remove_memory(addr, BLOCK, t));
                expected(r, &format!("offline_and_remove_memory memory{id}"))
            }
        }
    }
}
