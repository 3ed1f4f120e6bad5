//! The leak check (check/leak.rs): once no address space is alive and no
//! GUP reference is outstanding, every page is free or held by a long-lived
//! owner; and a swap slot's use count always equals the swap PTEs referring
//! to it. Each test builds a clean state, breaks one rule by hand and
//! expects the rule's name.

use mmsim::gup::GupFlags;
use mmsim::page::PAGE_SIZE;
use mmsim::vm::pte::Pte;
use mmsim::vm::{VM_READ, VM_WRITE};
use mmsim::Machine;

mod common;

const RW: u32 = VM_READ | VM_WRITE;

fn machine(swap: u64) -> Machine {
    common::small_machine(swap)
}

fn rules(m: &Machine) -> Vec<&'static str> {
    m.check_all().iter().map(|v| v.rule).collect()
}

// exit_mmap() returns every anonymous page and page table; a reference that
// nobody holds any more keeps a page allocated after the last process went.
#[test]
fn page_with_a_stray_reference_after_exit_is_a_leak() {
    let m = machine(0);
    let mm = m.mm_alloc().unwrap();
    let a = m.mmap_anon(&mm, 2 * PAGE_SIZE, RW, true).unwrap();
    let pfn = m.pte_at(&mm, a).pfn();
    m.folio_get(pfn);
    assert!(m.check_all().is_empty(), "{:?}", m.check_all());
    m.exit_mmap(&mm);
    let v = m.check_all();
    assert_eq!(rules(&m), ["leak"], "{v:?}");
    assert!(v[0]
        .detail
        .contains(&format!("anonymous order-0 folio {pfn}")));
    m.folio_put(pfn);
    assert!(m.check_all().is_empty(), "{:?}", m.check_all());
}

// A page held by a GUP reference outlives its process (the pin owns it):
// the leak check waits until every GUP reference is released.
#[test]
fn pinned_page_is_no_leak_until_the_pin_is_released() {
    let m = machine(0);
    let mm = m.mm_alloc().unwrap();
    let a = m.mmap_anon(&mm, PAGE_SIZE, RW, true).unwrap();
    let flags = GupFlags {
        pin: true,
        ..Default::default()
    };
    let pinned = m.get_user_pages(&mm, a, 1, flags).unwrap();
    m.exit_mmap(&mm);
    assert_eq!(m.gup_refs_outstanding(), 1);
    assert!(m.check_all().is_empty(), "{:?}", m.check_all());
    m.unpin_user_pages(pinned);
    assert_eq!(m.gup_refs_outstanding(), 0);
    assert!(m.check_all().is_empty(), "{:?}", m.check_all());
}

// An mm_struct never goes without exit_mmap(): one dropped without it is not
// alive, and its page tables are reported.
#[test]
fn mm_dropped_without_exit_leaks_its_page_tables() {
    let m = machine(0);
    let mm = m.mm_alloc().unwrap();
    assert_eq!(m.nr_live_mms(), 1);
    drop(mm);
    assert_eq!(m.nr_live_mms(), 0);
    let v = m.check_all();
    assert_eq!(rules(&m), ["leak"], "{v:?}");
    assert!(v[0].detail.contains("page table"), "{v:?}");
}

// swap_free() of the last swap PTE's reference frees the slot: a slot whose
// swap PTE vanished without it is a leak even while the process lives.
#[test]
fn swap_slot_without_its_swap_pte_is_a_leak() {
    let m = machine(16 << 20);
    let mm = m.mm_alloc().unwrap();
    let a = m.mmap_anon(&mm, PAGE_SIZE, RW, true).unwrap();
    m.madvise_pageout(&mm, a, PAGE_SIZE).unwrap();
    assert!(m.pte_at(&mm, a).swap_entry().is_some(), "swapped out");
    assert!(m.check_all().is_empty(), "{:?}", m.check_all());
    let (t, i) = m.walk(&mm, a, false).unwrap().unwrap();
    m.write_entry(t, i, Pte::NONE);
    assert_eq!(rules(&m), ["swap-leak"]);
}
