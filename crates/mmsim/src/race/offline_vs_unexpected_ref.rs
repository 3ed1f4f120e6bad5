//! `offline-vs-unexpected-ref`: a speculative reference to a fake-offline
//! page while its memory block goes offline (the PG_offline_skippable
//! proposal, May 2025).
//!
//! virtio-mem keeps unplugged sub-blocks of an online block as PageOffline
//! pages it owns (refcount 1). For offlining to get past them, mainline's
//! driver drops that reference in MEM_GOING_OFFLINE (1→0, so the page looks
//! free to `offline_pages()`) and takes it back in MEM_CANCEL_OFFLINE, and
//! WARNs "fake-offline page referenced" if the count does not reach zero.
//! But anyone walking PFNs may hold a speculative reference
//! (get_page_unless_zero after a check that went stale: compaction's
//! scanner, page_idle, hwpoison): the driver's drop then leaves the page at
//! 1, and the walker's `put_page()` frees an unplugged page into the buddy
//! of a zone being offlined. The proposal: PG_offline_skippable pages keep
//! their reference and offlining skips them without the notifier
//! (`offline_skip=skippable`); its comment's future freezes them at 0 so
//! no speculative reference can be taken at all (`offline_skip=frozen`).
//!
//! Set-up (quiet): the virtio-mem rig of [`super::kcore_vs_fake_offline`]
//! with two sub-blocks plugged and online (movable), then the host lowers
//! the request by one block and the driver fake-offlines and unplugs the
//! upper sub-block. Actors: `walker` takes a speculative reference on the
//! first page of that sub-block (`Page::try_get`), holds it across a
//! `cond_resched()` and puts it (`folio_put`); `admin` offlines the memory block (`device_offline()`).
//! Detector: the driver's WARN (a kernel bug the verdict reports), a page
//! of unplugged memory in the buddy (the invariants), or its next user's
//! fatal access.

use super::kcore_vs_fake_offline::{VirtioMemRig, DEV_ADDR, DEV_BLOCK};
use super::{join, Race, RaceCtx};
use crate::hotplug::{OnlineType, Task};
use crate::page::PhysAddr;

/// The table entry.
pub const RACE: Race = Race {
    name: "offline-vs-unexpected-ref",
    seed_thread: "\"mm: introduce PG_offline_skippable\" / virtio-mem \"fake-offline page \
                  referenced\" (May 2025; not merged)",
    actors: "walker (a speculative reference to a fake-offline page, then put_page), admin \
             (offlines its memory block through virtio-mem's memory notifier)",
    checks: "offlining never meets a reference it did not expect on a fake-offline page, and no \
             unplugged page reaches the buddy (driver WARN, invariants, fatal access)",
    breaks: &["offline_skip=refcount"],
    holds: &["offline_skip=skippable", "offline_skip=frozen"],
    mutants: &[],
    run,
};

/// Plugged at set-up: the lower sub-block stays, the upper one is unplugged.
const PLUGGED: u64 = 2 * DEV_BLOCK;

fn run(ctx: &RaceCtx) {
    let rig = ctx.quiet(|| {
        let rig = VirtioMemRig::new(ctx, OnlineType::OnlineMovable, PLUGGED);
        rig.host
            .set_requested_size(PLUGGED - DEV_BLOCK)
            .expect("block-aligned size");
        rig.m.virtio_mem_settle();
        rig
    });
    let m = rig.m.clone();
    let pfn = PhysAddr(DEV_ADDR + PLUGGED - DEV_BLOCK).pfn();
    let block = m
        .hotplug()
        .find_block(DEV_ADDR / m.hotplug().block_size())
        .expect("the device's memory block");

    let walker = {
        let m = m.clone();
        ctx.spawn("walker", move || {
            if m.page(pfn).try_get() {
                // It holds the reference across a cond_resched(), as a
                // scanner may when it drops a contended lock.
                crate::sync::thread::yield_now();
                m.folio_put(pfn);
            }
        })
    };
    let admin = {
        let m = m.clone();
        ctx.spawn("admin", move || m.device_offline(&block, &Task::new()))
    };
    join(walker);
    let offlined = join(admin);
    m.virtio_mem_settle();
    if let Err(e) = offlined {
        ctx.violation(format!(
            "offlining the block of fake-offline PFN {:#x} failed: {e}",
            pfn.0
        ));
    }
    drop(m);
    rig.finish(ctx);
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;

    // On real threads only the frozen design is clean whatever the
    // interleaving: under refcount the driver may WARN, and under skippable
    // a reference taken after the offline's isolation check survives the
    // offline (tests/hotplug.rs, skippable_offline_leaves_a_speculative_
    // reference_behind), which the explorer's budget does not reach.
    #[test]
    fn offline_vs_unexpected_ref_runs_clean_on_real_threads_when_frozen() {
        let mut ctx = RaceCtx::default();
        ctx.variants.set("offline_skip", "frozen").unwrap();
        for _ in 0..3 {
            run(&ctx);
        }
    }
}
