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
//! Only `frozen` holds. Under `skippable` the unexpected reference no longer
//! sends an unplugged page to the buddy, but a reference held across the
//! offline trips the proposal's own `WARN_ON_ONCE(page_count(page) != 1)`
//! in `__offline_isolated_pages()`, and the walker later puts a page whose
//! memmap the offline left stale (the cover letter's "less worse things
//! will happen than would currently"). The model reports that WARN, as
//! `tests/hotplug.rs::skippable_offline_leaves_a_speculative_reference_behind`
//! shows without any race.
//!
//! Set-up (quiet): the virtio-mem rig of [`super::kcore_vs_fake_offline`]
//! with two sub-blocks plugged and online (movable), then the host lowers
//! the request by one block and the driver fake-offlines and unplugs the
//! upper sub-block. Actors: `walker` takes a speculative reference on the
//! first page of that sub-block (`Page::try_get`), holds it across
//! `HOLD_RESCHEDS` `cond_resched()`s and puts it (`folio_put`); `admin`
//! offlines the memory block (`device_offline()`). Detector: the driver's
//! or `__offline_isolated_pages()`'s WARN (kernel bugs the verdict
//! reports), a failed offline, a page of unplugged memory in the buddy (the
//! invariants), or its next user's fatal access.

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
             unplugged page reaches the buddy (driver and __offline_isolated_pages WARNs, \
             invariants, fatal access); skippable only WARNs, frozen admits no reference",
    breaks: &["offline_skip=refcount", "offline_skip=skippable"],
    holds: &["offline_skip=frozen"],
    mutants: &[],
    run,
};

/// How many `cond_resched()`s the walker holds its reference across: with
/// one, the explorer almost never keeps it past `__offline_isolated_pages()`
/// (no find under `skippable` in 300 PCT schedules); with four it does at
/// once. Either is an interleaving a preemptible kernel allows.
const HOLD_RESCHEDS: u32 = 4;

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
                // It holds the reference across cond_resched()s, as a
                // scanner may while it works through its batch.
                for _ in 0..HOLD_RESCHEDS {
                    crate::sync::thread::yield_now();
                }
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
    drop(m);
    // The verdict first: a WARN says more than the failed offline it
    // caused (mainline's scan_movable_pages() fails a referenced
    // PageOffline page with -EBUSY).
    rig.finish(ctx);
    if let Err(e) = offlined {
        ctx.violation(format!(
            "offlining the block of fake-offline PFN {:#x} failed: {e}",
            pfn.0
        ));
    }
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;

    // On real threads only the frozen design is clean whatever the
    // interleaving: under refcount the driver may WARN, and under skippable
    // a reference held across the offline trips __offline_isolated_pages'
    // WARN (the module doc).
    #[test]
    fn offline_vs_unexpected_ref_runs_clean_on_real_threads_when_frozen() {
        let mut ctx = RaceCtx::default();
        ctx.variants.set("offline_skip", "frozen").unwrap();
        for _ in 0..3 {
            run(&ctx);
        }
    }
}
