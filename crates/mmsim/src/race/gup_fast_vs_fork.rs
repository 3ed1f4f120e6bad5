//! `gup-fast-vs-fork`: PG_anon_exclusive and `write_protect_seq`.
//!
//! fork() decides per page whether the child may share it: a page that may
//! be pinned (`folio_maybe_dma_pinned()`) is copied for the child instead,
//! so the pin keeps following the parent. GUP-fast takes no lock fork
//! holds, so it can pin a page after fork checked it and before fork
//! write-protected its PTE: fork shares a pinned page, and the parent's
//! next write copies it away from the pin. Since 5.11 (commit 57efa1fe5957,
//! "mm/gup: prevent gup_fast from racing with COW during fork") fork holds
//! `mm->write_protect_seq` for writing while it copies, and a FOLL_PIN
//! GUP-fast samples it before its walk and drops everything it pinned if it
//! changed.
//!
//! Actors: `pin` (GUP-fast FOLL_PIN|FOLL_WRITE of the parent's page), `fork`
//! (the parent forks). Detector: after both, a page GUP-fast pinned must be
//! the parent's own (not mapped by the child) and stay the parent's across
//! its next write.

use super::{join, Race, RaceCtx};
use crate::gup::GupFlags;
use crate::page::PAGE_SIZE;
use crate::vm::{VM_READ, VM_WRITE};

/// The table entry.
pub const RACE: Race = Race {
    name: "gup-fast-vs-fork",
    seed_thread: "\"mm/gup: prevent gup_fast from racing with COW during fork\" \
                  (57efa1fe5957, 5.11; the write_protect_seq thread)",
    actors: "pin (gup_fast FOLL_PIN|FOLL_WRITE of the parent's page), fork (the parent forks)",
    checks: "a pinned page stays the parent's: the child does not map it and the parent's next \
             write does not copy it away from the pin (race detector)",
    breaks: &["gup_fork_seq=off"],
    holds: &["gup_fork_seq=on"],
    mutants: &[],
    run,
};

const PIN_RW: GupFlags = GupFlags {
    write: true,
    pin: true,
    longterm: false,
};

fn run(ctx: &RaceCtx) {
    let m = ctx.quiet(|| ctx.boot(RaceCtx::tiny_config()));
    let (parent, a) = ctx.quiet(|| {
        let parent = m.mm_alloc().expect("mm_alloc");
        let a = m
            .mmap_anon(&parent, PAGE_SIZE, VM_READ | VM_WRITE, false)
            .expect("mmap");
        m.user_write(&parent, a, &[0xaa; 64])
            .expect("parent writes");
        (parent, a)
    });

    let pin = {
        let (m, mm) = (m.clone(), parent.clone());
        ctx.spawn("pin", move || m.gup_fast(&mm, a, 1, PIN_RW))
    };
    let fork = {
        let (m, mm) = (m.clone(), parent.clone());
        ctx.spawn("fork", move || m.dup_mm(&mm).expect("fork"))
    };
    let pinned = join(pin);
    let child = join(fork);

    for &pfn in &pinned {
        let child_pfn = m.pte_at(&child, a).pfn();
        if child_pfn == pfn {
            ctx.violation(format!(
                "fork shared PFN {:#x} with the child while gup_fast pinned it: the pin leaks \
                 to the child",
                pfn.0
            ));
        }
        m.user_write(&parent, a, &[0xcc; 64])
            .expect("parent writes after fork");
        let now = m.pte_at(&parent, a).pfn();
        if now != pfn {
            ctx.violation(format!(
                "the parent's write after fork copied its page away from the pin (pinned PFN \
                 {:#x}, parent now maps {:#x}): the pin lost coherence",
                pfn.0, now.0
            ));
        }
    }
    ctx.quiet(|| {
        m.release_pages(&pinned, PIN_RW);
        m.exit_mmap(&child);
        m.exit_mmap(&parent);
    });
    ctx.verdict(&m);
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;

    #[test]
    fn gup_fast_vs_fork_runs_clean_on_real_threads_with_the_seqcount() {
        let ctx = RaceCtx::default();
        for _ in 0..20 {
            run(&ctx);
        }
    }
}
