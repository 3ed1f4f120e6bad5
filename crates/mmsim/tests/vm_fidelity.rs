//! User-visible behaviour of the process model checked against Linux 7.2,
//! one test per kernel rule (most of them are scenarios under
//! `tests/scenarios/processes/`; these are the ones that need a return value
//! or a state a scenario cannot name).

use mmsim::page::PAGE_SIZE;
use mmsim::vm::{VM_READ, VM_WRITE};
use mmsim::Machine;

mod common;

const RW: u32 = VM_READ | VM_WRITE;

fn machine(swap: u64) -> Machine {
    common::small_machine(swap)
}

// madvise_pageout() -> shrink_folio_list(): without swap space add_to_swap()
// fails and the page stays; the advice itself returns 0.
#[test]
fn pageout_without_swap_returns_0_and_keeps_the_page() {
    common::model_test(|| {
        let m = machine(0);
        let mm = m.mm_alloc().unwrap();
        let a = m.mmap_anon(&mm, PAGE_SIZE, RW, true).unwrap();
        let pfn = m.pte_at(&mm, a).pfn();
        assert_eq!(m.madvise_pageout(&mm, a, PAGE_SIZE), Ok(()));
        let pte = m.pte_at(&mm, a);
        assert!(pte.present() && pte.pfn() == pfn);
        m.exit_mmap(&mm);
        assert!(m.check_all().is_empty(), "{:?}", m.check_all());
    });
}
