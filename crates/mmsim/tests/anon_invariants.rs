//! The checker catches broken anonymous-memory state a correct model never
//! reaches: each test builds a legal state, checks it is clean, breaks one
//! rule by hand and expects the rule's name.

mod common;

use mmsim::page::{PAGE_SIZE, PG_ANON_EXCLUSIVE};
use mmsim::vm::huge::HPAGE_PMD_SIZE;
use mmsim::vm::{VM_HUGEPAGE, VM_READ, VM_WRITE};
use mmsim::{Machine, MachineConfig};

fn machine() -> Machine {
    Machine::boot(MachineConfig::default(), Default::default()).unwrap()
}

fn rules(m: &Machine) -> Vec<&'static str> {
    m.check_all().iter().map(|v| v.rule).collect()
}

// Reference kernel-gup-cow.md §10.1: a PG_anon_exclusive page is mapped by at
// most one PTE. After fork both processes map the page and fork cleared the
// bit (folio_try_dup_anon_rmap_pte()); setting it again must be reported.
#[test]
fn exclusive_page_mapped_by_two_ptes_is_reported() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m
            .mmap_anon(&mm, PAGE_SIZE, VM_READ | VM_WRITE, true)
            .unwrap();
        let _child = m.dup_mm(&mm).unwrap();
        assert!(m.check_all().is_empty());
        let pfn = m.pte_at(&mm, a).pfn();
        m.page(pfn).set(PG_ANON_EXCLUSIVE);
        assert!(rules(&m).contains(&"anon-exclusive-mapped-once"));
    });
}

// §10.1 for a PMD-mapped THP: copy_huge_pmd() clears the head's bit when the
// child shares the PMD.
#[test]
fn exclusive_thp_mapped_by_two_pmds_is_reported() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m
            .mmap_anon(&mm, HPAGE_PMD_SIZE, VM_READ | VM_WRITE | VM_HUGEPAGE, false)
            .unwrap();
        m.user_write(&mm, a, &[7]).unwrap();
        let head = m.pte_at(&mm, a).pfn();
        assert!(m.folio_test_large(head), "the write fault mapped a THP");
        let _child = m.dup_mm(&mm).unwrap();
        assert!(m.check_all().is_empty());
        m.page(head).set(PG_ANON_EXCLUSIVE);
        assert!(rules(&m).contains(&"anon-exclusive-mapped-once"));
    });
}

// folio_get() requires a reference already held (the kernel's
// VM_BUG_ON_FOLIO(folio_ref_zero_or_close_to_overflow())): taking one on a
// freed page is how a reference raced with a split or a migration shows.
#[test]
fn folio_get_of_a_free_page_is_reported() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m
            .mmap_anon(&mm, PAGE_SIZE, VM_READ | VM_WRITE, true)
            .unwrap();
        let pfn = m.pte_at(&mm, a).pfn();
        m.munmap(&mm, a, PAGE_SIZE).unwrap();
        assert_eq!(
            m.page(pfn).ref_count(),
            0,
            "the page went back to the buddy"
        );
        m.folio_get(pfn);
        let v = m.check_cheap();
        assert!(
            v.iter()
                .any(|v| v.rule == "kernel-bug" && v.detail.contains("folio_get")),
            "{v:#?}"
        );
    });
}

// CONFIG_MM_ID (rmap.h folio_add_large_mapcount()): once a second mm maps a
// large folio it is "maybe mapped shared" until one mm holds every mapping
// again; a write fault trusts a clear bit to reuse the folio, so a clear bit
// while two mms map it must be reported. (The bit lives in the folio's
// eighth tail page, `vm::mm_id`.)
#[test]
fn large_folio_mapped_by_two_mms_but_not_shared_is_reported() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m
            .mmap_anon(&mm, HPAGE_PMD_SIZE, VM_READ | VM_WRITE | VM_HUGEPAGE, false)
            .unwrap();
        m.user_write(&mm, a, &[7]).unwrap();
        m.mprotect(&mm, a + PAGE_SIZE, PAGE_SIZE, VM_READ).unwrap();
        let head = m.pte_at(&mm, a).pfn();
        assert_eq!(
            m.folio_mm_ids(head).unwrap().slots,
            [Some((mm.id, 512)), None]
        );
        let child = m.dup_mm(&mm).unwrap();
        let ids = m.folio_mm_ids(head).unwrap();
        assert_eq!(ids.slots, [Some((mm.id, 512)), Some((child.id, 512))]);
        assert!(ids.maybe_mapped_shared);
        assert!(m.check_all().is_empty(), "{:?}", m.check_all());
        m.page(head + 8).set_tail_word(0);
        assert!(rules(&m).contains(&"folio-mm-ids"));
    });
}
