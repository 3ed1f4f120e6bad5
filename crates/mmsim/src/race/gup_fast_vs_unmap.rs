//! `gup-fast-vs-unmap`: GUP-fast's grab-reference-and-revalidate.
//!
//! GUP-fast reads a PTE without any lock, then takes a speculative reference
//! on the page it names (`try_grab_folio_fast()`: get_page_unless_zero).
//! Between the read and the reference the page can be unmapped, freed and
//! allocated to someone else; the reference then succeeds on a page that
//! is no longer the one mapped at the address. Mainline re-reads the PTE
//! after taking the reference (`gup_fast_pte_range()`: `pte_val(pte) !=
//! pte_val(ptep_get(ptep))` → drop it and fall back).
//!
//! Actors: `gup` takes a FOLL_GET reference on one page of process A;
//! `munmap` unmaps it; `reuse` faults a page into process B on the same CPU
//! (the allocator hands out the page just freed, from that CPU's pcp list). Detector: a page GUP returned must hold
//! what A wrote there (0xaa) for as long as GUP holds it, and B must not
//! map it.

use super::{join, Race, RaceCtx};
use crate::gup::GupFlags;
use crate::page::PAGE_SIZE;
use crate::vm::{VM_READ, VM_WRITE};

/// The table entry.
pub const RACE: Race = Race {
    name: "gup-fast-vs-unmap",
    seed_thread: "mm/gup.c gup_fast_pte_range(): \"grab reference, then re-check the PTE\" \
                  (the revalidation GUP-fast has had since get_user_pages_fast() went lockless)",
    actors: "gup (gup_fast FOLL_GET of A's page), munmap (A unmaps it), reuse (B faults a page)",
    checks: "a page GUP-fast returns is the one mapped at the address when it took its \
             reference: its content stays A's and B does not map it (race detector)",
    breaks: &["gup_fast_recheck=off"],
    holds: &["gup_fast_recheck=on"],
    mutants: &[],
    run,
};

/// FOLL_GET, read-only (shared with the other GUP-fast races).
pub(super) const GET: GupFlags = GupFlags {
    write: false,
    pin: false,
    longterm: false,
};

fn run(ctx: &RaceCtx) {
    let m = ctx.quiet(|| ctx.boot(RaceCtx::tiny_config()));
    let (a_mm, b_mm, a, b) = ctx.quiet(|| {
        let a_mm = m.mm_alloc().expect("mm_alloc");
        let b_mm = m.mm_alloc().expect("mm_alloc");
        let a = m
            .mmap_anon(&a_mm, PAGE_SIZE, VM_READ | VM_WRITE, false)
            .expect("mmap A");
        let b = m
            .mmap_anon(&b_mm, PAGE_SIZE, VM_READ | VM_WRITE, false)
            .expect("mmap B");
        m.user_write(&a_mm, a, &[0xaa; 64]).expect("A writes");
        (a_mm, b_mm, a, b)
    });

    // The page munmap frees waits on its CPU's pcp list (free_unref_page())
    // and only an allocation on that CPU gets it back (rmqueue_pcplist()):
    // reuse runs on munmap's CPU. The explorer derives a task's CPU from its
    // number (two CPUs), so reuse is spawned two tasks before munmap.
    let reuse = {
        let (m, mm) = (m.clone(), b_mm.clone());
        ctx.spawn("reuse", move || {
            m.user_write(&mm, b, &[0xbb; 64]).expect("B writes")
        })
    };
    let gup = {
        let (m, mm) = (m.clone(), a_mm.clone());
        ctx.spawn("gup", move || m.gup_fast(&mm, a, 1, GET))
    };
    let unmap = {
        let (m, mm) = (m.clone(), a_mm.clone());
        ctx.spawn("munmap", move || {
            m.munmap(&mm, a, PAGE_SIZE).expect("munmap")
        })
    };
    let got = join(gup);
    join(unmap);
    join(reuse);

    let b_pfn = m.pte_at(&b_mm, b).pfn();
    for &pfn in &got {
        let mut head = [0u8; 64];
        m.physmem()
            .read(pfn.phys(), &mut head)
            .expect("read the page GUP holds");
        if pfn == b_pfn || head != [0xaa; 64] {
            ctx.violation(format!(
                "gup_fast returned PFN {:#x} for A's {a:#x}, but the page was freed and reused \
                 under it (B maps PFN {:#x}; the page reads {:#04x})",
                pfn.0, b_pfn.0, head[0]
            ));
        }
    }
    ctx.quiet(|| {
        m.release_pages(&got, GET);
        m.exit_mmap(&a_mm);
        m.exit_mmap(&b_mm);
    });
    ctx.verdict(&m);
}

#[cfg(all(test, not(mmsim_shuttle)))]
mod tests {
    use super::*;

    // Sequentially (the reference after the unmap fails) both designs are clean.
    #[test]
    fn gup_fast_vs_unmap_runs_clean_on_real_threads() {
        for v in ["on", "off"] {
            let mut ctx = RaceCtx::default();
            ctx.variants.set("gup_fast_recheck", v).unwrap();
            for _ in 0..20 {
                run(&ctx);
            }
        }
    }
}
