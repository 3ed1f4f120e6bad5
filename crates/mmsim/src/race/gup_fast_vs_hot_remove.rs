//! `gup-fast-vs-hot-remove`: GUP-fast's memmap freed under it.
//!
//! GUP-fast reads a PTE without any lock, looks up the `struct page` of the
//! PFN it names and takes a speculative reference on it. Meanwhile the
//! memory block holding the page can be offlined (the page migrates away,
//! so the PTE GUP-fast read is stale) and removed: `section_deactivate()`
//! frees the memmap, and in mainline nothing waits for GUP-fast, which then
//! increments a refcount in freed memory. GUP-fast runs with interrupts off
//! (an RCU read-side section); the thread's proposal (the synchronize_rcu in
//! `pageunmap_range()`, and the memmap freed after a grace period by
//! `section_deactivate()`) makes the free wait for it.
//!
//! Actors: `gup` (GUP-fast FOLL_GET of a process page that lies in a
//! hot-added block, then drops what it got), `remove`
//! (`offline_and_remove_memory()` of the block). Detector: GUP-fast's
//! use-after-free check ([`Machine::memmap_slot_done`](crate::machine::Machine)),
//! reported as a kernel bug and read by the verdict; and the process's page
//! keeps its content across the migration.
//!
//! The fsdax half of the thread (GUP-fast of a DAX mapping vs
//! `memunmap_pages()`) is not raced here.

use super::gup_fast_vs_unmap::GET;
use super::pfn_walker_vs_hot_remove::{boot_with_block, remove_block, BLOCK, BLOCK_START};
use super::{join, Race, RaceCtx};
use crate::page::{PhysAddr, PAGE_SIZE};
use crate::vm::{VM_READ, VM_WRITE};

/// The table entry.
pub const RACE: Race = Race {
    name: "gup-fast-vs-hot-remove",
    seed_thread: "\"GUP-fast vs memory hot-remove\" (the synchronize_rcu() in pageunmap_range() \
                  and the RCU-freed memmap thread)",
    actors: "gup (gup_fast FOLL_GET of a process page in a hot-added block), remove \
             (offline_and_remove_memory of the block: the page migrates away, the memmap is freed)",
    checks: "GUP-fast never takes a reference through a memmap freed after its lookup \
             (memmap use-after-free detector); the process's page keeps its content",
    breaks: &["memmap_free=immediate"],
    holds: &["memmap_free=rcu"],
    // GUP-fast outside its read-side section (the `gup-outside-rcu` knob
    // below) is not found within the acceptance budget: its window is a few
    // steps against a grace period on the rcu_gp thread. Not listed until
    // it is.
    mutants: &[],
    run,
};

/// How many pages the process may fault before one lands in the block.
const TRIES: u64 = 64;
/// How many times GUP-fast takes and drops its reference.
const ROUNDS: u32 = 8;

fn run(ctx: &RaceCtx) {
    let (m, blk) = boot_with_block(ctx, "gup-outside-rcu");
    let block = PhysAddr(BLOCK_START).pfn()..PhysAddr(BLOCK_START + BLOCK).pfn();
    let (mm, addr) = ctx.quiet(|| {
        let mm = m.mm_alloc().expect("mm_alloc");
        let a = m
            .mmap_anon(&mm, TRIES * PAGE_SIZE, VM_READ | VM_WRITE, false)
            .expect("mmap");
        let addr = (0..TRIES).map(|i| a + i * PAGE_SIZE).find(|&at| {
            m.user_write(&mm, at, &[0xaa; 64]).expect("write");
            block.contains(&m.pte_at(&mm, at).pfn())
        });
        (mm, addr.expect("user memory comes from ZONE_MOVABLE first"))
    });

    let gup = {
        let (m, mm) = (m.clone(), mm.clone());
        ctx.spawn("gup", move || {
            for _ in 0..ROUNDS {
                let got = m.gup_fast(&mm, addr, 1, GET);
                m.release_pages(&got, GET);
            }
        })
    };
    let remove = {
        let (m, blk) = (m.clone(), blk.clone());
        ctx.spawn("remove", move || remove_block(&m, &blk))
    };
    join(gup);
    if let Err(e) = join(remove) {
        ctx.violation(format!(
            "offline_and_remove_memory failed with only a transient reference: {e}"
        ));
    }

    let now = ctx.quiet(|| m.user_read(&mm, addr, 64).expect("read back"));
    if now != [0xaa; 64] {
        ctx.violation(format!(
            "the process's page at {addr:#x} lost its content across the migration \
             (reads {:#04x})",
            now[0]
        ));
    }
    ctx.quiet(|| m.exit_mmap(&mm));
    // Scheduled, not quiet: the barrier waits for the rcu_gp task.
    m.rcu().barrier();
    ctx.verdict(&m);
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;

    // On real threads the window is a few instructions wide: the body sets
    // up, races and tears down without a finding under either design.
    #[test]
    fn gup_fast_vs_hot_remove_runs_on_real_threads() {
        let mut ctx = RaceCtx::default();
        super::super::apply_settings(&mut ctx.variants, RACE.holds[0]).unwrap();
        for _ in 0..5 {
            run(&ctx);
        }
    }
}
