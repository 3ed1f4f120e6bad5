//! GUP details a scenario cannot set up (reference kernel-gup-cow.md §4).

mod common;

use mmsim::gup::GupFlags;
use mmsim::page::PAGE_SIZE;
use mmsim::vm::rmap::GUP_PIN_COUNTING_BIAS;
use mmsim::vm::{VM_READ, VM_WRITE};
use mmsim::{Machine, MachineConfig};

const PIN_RW: GupFlags = GupFlags {
    write: true,
    pin: true,
    longterm: false,
};

fn machine() -> Machine {
    Machine::boot(MachineConfig::default(), Default::default()).unwrap()
}

// gup_fast_fallback(): with FOLL_PIN, a write_protect_seq caught odd (fork is
// write-protecting the mm) makes GUP-fast take nothing.
#[test]
fn gup_fast_pin_backs_off_while_fork_holds_write_protect_seq() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m
            .mmap_anon(&mm, 4 * PAGE_SIZE, VM_READ | VM_WRITE, true)
            .unwrap();
        mm.write_protect_seq.write_begin();
        assert!(m.gup_fast(&mm, a, 4, PIN_RW).is_empty());
        mm.write_protect_seq.write_end();
        let pages = m.gup_fast(&mm, a, 4, PIN_RW);
        assert_eq!(pages.len(), 4);
        for &p in &pages {
            assert_eq!(m.page(p).ref_count(), 1 + GUP_PIN_COUNTING_BIAS);
        }
        assert!(mm.has_pinned(), "MMF_HAS_PINNED is set before the walk");
        for &p in &pages {
            assert!(!m.page(p).ref_sub_and_test(GUP_PIN_COUNTING_BIAS));
        }
        assert!(m.check_all().is_empty());
    });
}

// gup_fast_pte_range(): special PTEs (the shared zero page) and missing PTEs
// stop the lockless walk; the slow path finishes.
#[test]
fn gup_fast_stops_at_zero_page_and_holes() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m
            .mmap_anon(&mm, 4 * PAGE_SIZE, VM_READ | VM_WRITE, false)
            .unwrap();
        m.user_write(&mm, a, &[1]).unwrap();
        m.user_read(&mm, a + PAGE_SIZE, 1).unwrap();
        let get = GupFlags {
            write: false,
            pin: false,
            longterm: false,
        };
        let fast = m.gup_fast(&mm, a, 4, get);
        assert_eq!(fast.len(), 1, "stops at the zero page");
        m.page(fast[0]).ref_dec();
        let all = m.get_user_pages_fast(&mm, a, 4, get).unwrap();
        assert_eq!(all.pages.len(), 4);
        assert_eq!(all.pages[1], m.zero_pfn());
        m.unpin_user_pages(all);
        assert!(m.check_all().is_empty());
    });
}

// gup_must_unshare() in GUP-fast: a R/O pin of a page that is not
// PG_anon_exclusive backs off; the slow path unshares it.
#[test]
fn gup_fast_ro_pin_of_shared_page_falls_back_and_unshares() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m
            .mmap_anon(&mm, PAGE_SIZE, VM_READ | VM_WRITE, true)
            .unwrap();
        let child = m.dup_mm(&mm).unwrap();
        let ro = GupFlags {
            write: false,
            pin: true,
            longterm: false,
        };
        assert!(m.gup_fast(&mm, a, 1, ro).is_empty());
        let pinned = m.get_user_pages_fast(&mm, a, 1, ro).unwrap();
        let child_pfn = m.pte_at(&child, a).pfn();
        assert_ne!(
            pinned.pages[0], child_pfn,
            "the pin got the parent's own copy"
        );
        m.unpin_user_pages(pinned);
        m.exit_mmap(&child);
        assert!(m.check_all().is_empty());
    });
}
