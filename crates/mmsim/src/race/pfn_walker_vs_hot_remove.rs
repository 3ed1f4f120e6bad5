//! `pfn-walker-vs-hot-remove`: a PFN walker's memmap freed under it.
//!
//! PFN walkers (/proc/kpageflags, the compaction scanner, ...) take no
//! hotplug lock: `pfn_to_online_page()` says the section is online, and
//! the walker reads the `struct page`. Offlining and removing the block
//! meanwhile ends in `section_deactivate()`, which in mainline frees the
//! memmap at once — the walker reads freed memory. The proposal
//! (reference kernel-hotplug §4, the "pfn_active" / "RCU-freed memmap"
//! threads) has walkers look pages up inside `rcu_read_lock()` and
//! `section_deactivate()` free the memmap only after a grace period.
//!
//! Actors: `kpageflags` reads the /proc/kpageflags entries of the first
//! `WALKED` PFNs of a hot-added block, each in its own read-side section
//! (`kpage_read()`); `remove` offlines and removes the block
//! (`offline_and_remove_memory()`). Detector: the walker's end-of-PFN check
//! ([`Machine::memmap_slot_done`](crate::machine::Machine)): a use after
//! free, or under `pfn_active` a memmap poisoned inside the section that
//! found it active; reported as a kernel bug and read by the verdict.
//!
//! Device memory (`memunmap_pages()` vs a walker) is not raced here: both
//! walker variants filter ZONE_DEVICE pages before they use the slot, so no
//! walker reads a device page's memmap past its lookup.

use super::{join, MutantInfo, Race, RaceCtx};
use crate::errno::KResult;
use crate::hotplug::{MemoryBlock, OnlineType, Task};
use crate::machine::Machine;
use crate::page::PhysAddr;
use crate::sync::Arc;

/// The table entry.
pub const RACE: Race = Race {
    name: "pfn-walker-vs-hot-remove",
    seed_thread: "\"mm/memory_hotplug: pfn_active()\" / \"free the memmap after an RCU grace \
                  period\" proposal threads (kernel-hotplug §4)",
    actors: "kpageflags (reads the entries of the first PFNs of a hot-added block), remove \
             (offline_and_remove_memory of the block)",
    checks: "a walker never reads a memmap that section_deactivate() freed after its lookup, \
             nor (pfn_active) one the offline poisoned inside the section that found it active \
             (memmap_slot_done)",
    breaks: &["memmap_free=immediate"],
    holds: &["memmap_free=rcu pfn_walker=active"],
    mutants: &[
        MutantInfo {
            name: "walker-outside-rcu",
            removes: "the walker's rcu_read_lock(): it reads in a domain no grace period waits for",
        },
        MutantInfo {
            name: "offline-without-gp",
            removes: "offline_pages()'s synchronize_rcu() between clearing pfn_active and \
                      poisoning the memmap: a walker that found the bit set reads poison",
        },
    ],
    run,
};

/// Where the block is hot-added: past the small machine's RAM.
pub(super) const BLOCK_START: u64 = 4 << 30;
/// The memory block size of the race machine.
pub(super) const BLOCK: u64 = 128 << 20;
/// How many PFNs of the block the walker reads.
const WALKED: u64 = 16;

/// Boots the small machine (readers outside RCU if `mutant` runs) with one
/// hot-added ZONE_MOVABLE block at [`BLOCK_START`], online; quietly.
pub(super) fn boot_with_block(ctx: &RaceCtx, mutant: &str) -> (Arc<Machine>, Arc<MemoryBlock>) {
    ctx.quiet(|| {
        let m = ctx.boot(RaceCtx::small_config());
        m.set_mutant_reader_outside_rcu(ctx.mutant_is(mutant));
        m.set_mutant_offline_without_gp(ctx.mutant_is("offline-without-gp"));
        m.add_memory(0, PhysAddr(BLOCK_START), BLOCK)
            .expect("add_memory");
        let blk = m
            .hotplug()
            .find_block(BLOCK_START / BLOCK)
            .expect("the added block");
        m.online_memory_block(&blk, OnlineType::OnlineMovable)
            .expect("online");
        (m, blk)
    })
}

/// `offline_and_remove_memory()` of the block in two steps: the offline
/// (`device_offline()`) runs as one scheduling step, since its half a
/// million accesses (isolation, migration and poisoning of 32768 pages)
/// would leave no schedule budget for the window; `remove_memory()` then
/// runs with every access a scheduling point. Coarsening the offline only
/// drops interleavings: whatever is found is a real one.
pub(super) fn remove_block(m: &Machine, blk: &MemoryBlock) -> KResult<()> {
    crate::sync::unscheduled(|| m.device_offline(blk, &Task::new()))?;
    m.remove_memory(PhysAddr(BLOCK_START), BLOCK)
}

fn run(ctx: &RaceCtx) {
    let (m, blk) = boot_with_block(ctx, "walker-outside-rcu");
    let first = PhysAddr(BLOCK_START).pfn();

    let walker = {
        let m = m.clone();
        ctx.spawn("kpageflags", move || {
            for i in 0..WALKED {
                m.kpageflags(first + i);
            }
        })
    };
    let remove = {
        let (m, blk) = (m.clone(), blk.clone());
        ctx.spawn("remove", move || remove_block(&m, &blk))
    };
    join(walker);
    if let Err(e) = join(remove) {
        ctx.violation(format!(
            "offline_and_remove_memory of a free block failed: {e}"
        ));
    }
    // Scheduled, not quiet: the barrier waits for the rcu_gp task, which
    // must be able to interleave with it.
    m.rcu().barrier();
    ctx.verdict(&m);
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;

    // On real threads the window is a few instructions wide: whatever the
    // interleaving, the holding design and (almost always) mainline run clean;
    // the body must at least set up, race and tear down without a model panic.
    #[test]
    fn pfn_walker_vs_hot_remove_runs_on_real_threads() {
        let mut ctx = RaceCtx::default();
        super::super::apply_settings(&mut ctx.variants, RACE.holds[0]).unwrap();
        for _ in 0..5 {
            run(&ctx);
        }
    }
}
