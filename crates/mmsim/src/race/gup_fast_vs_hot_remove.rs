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
//! The thread's first case is fsdax: a process maps a file on pmem, the
//! device goes away (the mapping is zapped, the page's last reference
//! drops, `memunmap_pages()` stops waiting and `pageunmap_range()` removes
//! the range, memmap included) while GUP-fast holds a PTE it read before
//! the zap. Its second case is an ordinary hot-added block that
//! `offline_and_remove_memory()` migrates away and removes.
//!
//! Actors, both cases at once: `gup` (GUP-fast FOLL_GET of the process's
//! page in the hot-added block and of its DAX page, dropping what it got,
//! `ROUNDS` times), `remove` (`offline_and_remove_memory()` of the block)
//! and `unbind` (the DAX mapping is zapped, then `memunmap_pages()` of the
//! pmem range). Detector: GUP-fast's use-after-free check
//! ([`Machine::memmap_slot_done`](crate::machine::Machine)), reported as a
//! kernel bug and read by the verdict; and the process's anonymous page
//! keeps its content across the migration.

use super::gup_fast_vs_unmap::GET;
use super::pfn_walker_vs_hot_remove::{boot_with_block, remove_block, BLOCK, BLOCK_START};
use super::{join, MutantInfo, Race, RaceCtx};
use crate::memremap::MemoryType;
use crate::page::{PhysAddr, PAGE_SIZE};
use crate::vm::{VM_READ, VM_WRITE};

/// The table entry.
pub const RACE: Race = Race {
    name: "gup-fast-vs-hot-remove",
    seed_thread: "\"GUP-fast vs memory hot-remove\" (the synchronize_rcu() in pageunmap_range() \
                  and the RCU-freed memmap thread)",
    actors: "gup (gup_fast FOLL_GET of a process page in a hot-added block and of its fsdax \
             page), remove (offline_and_remove_memory of the block: the page migrates away, the \
             memmap is freed), unbind (the DAX mapping is zapped, then memunmap_pages of the pmem)",
    checks: "GUP-fast never takes a reference through a memmap freed after its lookup \
             (memmap use-after-free detector); the process's page keeps its content",
    breaks: &["memmap_free=immediate"],
    holds: &["memmap_free=rcu"],
    mutants: &[MutantInfo {
        name: "gup-outside-rcu",
        removes: "GUP-fast's read-side section (local_irq_save in the kernel): it walks and \
                  takes its reference in a domain no grace period waits for",
    }],
    run,
};

/// How many pages the process may fault before one lands in the block.
const TRIES: u64 = 64;
/// How many times GUP-fast takes and drops its references.
const ROUNDS: u32 = 8;
/// Where the pmem range lies (past the hot-added block) and its size: one
/// subsection, alone in its section, so `pageunmap_range()` frees that
/// section's memmap.
const PMEM_START: u64 = 6 << 30;
const PMEM: u64 = 2 << 20;

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
    let (pmem, dax) = ctx.quiet(|| {
        let pmem = m
            .memremap_pages("pmem0", PhysAddr(PMEM_START), PMEM, MemoryType::FsDax, 0)
            .expect("memremap_pages");
        let file = m.file_create_dax(PAGE_SIZE, "pmem0").expect("DAX file");
        let dax = m
            .mmap_file(&mm, file, PAGE_SIZE, VM_READ | VM_WRITE, true)
            .expect("mmap the DAX file");
        m.user_write(&mm, dax, &[0xdd; 64]).expect("write to pmem");
        (pmem, dax)
    });

    let gup = {
        let (m, mm) = (m.clone(), mm.clone());
        ctx.spawn("gup", move || {
            for _ in 0..ROUNDS {
                for at in [addr, dax] {
                    let got = m.gup_fast(&mm, at, 1, GET);
                    m.release_pages(&got, GET);
                }
            }
        })
    };
    let remove = {
        let (m, blk) = (m.clone(), blk.clone());
        ctx.spawn("remove", move || remove_block(&m, &blk))
    };
    let unbind = {
        let (m, mm) = (m.clone(), mm.clone());
        ctx.spawn("unbind", move || {
            m.munmap(&mm, dax, PAGE_SIZE)?;
            m.memunmap_pages(&pmem)
        })
    };
    join(gup);
    if let Err(e) = join(remove) {
        ctx.violation(format!(
            "offline_and_remove_memory failed with only a transient reference: {e}"
        ));
    }
    if let Err(e) = join(unbind) {
        ctx.violation(format!("unbinding the pmem device failed: {e}"));
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
