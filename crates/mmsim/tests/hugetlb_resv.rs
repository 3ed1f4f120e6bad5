//! hugetlb reservations (mm/hugetlb.c; `vm::hugetlb_resv`): who reserves
//! (mmap), who consumes (the first fault), who gives back (munmap, exit),
//! and what a fork child, the owner's COW, a dissolve and a shrinking
//! `nr_hugepages` may and may not take.

use mmsim::vm::huge::HPAGE_PMD_SIZE;
use mmsim::vm::{VM_HUGETLB, VM_READ, VM_WRITE};
use mmsim::{Errno, Machine, MachineConfig};

const HUGE: u32 = VM_READ | VM_WRITE | VM_HUGETLB;
const HPAGE_SIZE: u64 = HPAGE_PMD_SIZE;

fn machine(hugepages: u64) -> Machine {
    Machine::boot(
        MachineConfig {
            ram: 512 << 20,
            hugepages,
            ..Default::default()
        },
        Default::default(),
    )
    .expect("boot")
}

/// (HugePages_Free, HugePages_Rsvd).
fn free_rsvd(m: &Machine) -> (u64, u64) {
    (m.hugetlb_counts().1, m.hugetlb_resv_pages())
}

fn assert_clean(m: &Machine) {
    let v = m.check_all();
    assert!(v.is_empty(), "{v:?}");
}

// hugetlb_reserve_pages() → hugetlb_acct_memory(): a private mapping
// reserves every huge page at mmap, and without overcommit a reservation
// that does not fit in the unreserved free pages is -ENOMEM.
#[test]
fn hugetlb_reserve_pages_reserves_at_mmap_or_fails_enomem() {
    let m = machine(3);
    let mm = m.mm_alloc().unwrap();
    m.mmap_anon(&mm, 2 * HPAGE_SIZE, HUGE, false).unwrap();
    assert_eq!(free_rsvd(&m), (3, 2));
    assert_eq!(
        m.mmap_anon(&mm, 2 * HPAGE_SIZE, HUGE, false),
        Err(Errno::ENOMEM)
    );
    assert_eq!(free_rsvd(&m), (3, 2));
    m.mmap_anon(&mm, HPAGE_SIZE, HUGE, false).unwrap();
    assert_eq!(free_rsvd(&m), (3, 3));
    assert_clean(&m);
    m.exit_mmap(&mm);
    assert_eq!(free_rsvd(&m), (3, 0));
    assert_clean(&m);
}

// alloc_hugetlb_folio(): the first fault consumes the reservation
// (vma_commit_reservation()), a second fault of the page takes nothing, and
// hugetlb_vm_op_close() returns only the reservations never consumed.
#[test]
fn alloc_hugetlb_folio_consumes_and_vm_op_close_returns_the_rest() {
    let m = machine(2);
    let mm = m.mm_alloc().unwrap();
    let a = m.mmap_anon(&mm, 2 * HPAGE_SIZE, HUGE, false).unwrap();
    m.user_write(&mm, a, b"x").unwrap();
    assert_eq!(free_rsvd(&m), (1, 1));
    m.user_write(&mm, a + 4096, b"y").unwrap();
    assert_eq!(free_rsvd(&m), (1, 1));
    assert_clean(&m);
    m.munmap(&mm, a, HPAGE_SIZE).unwrap();
    assert_eq!(free_rsvd(&m), (2, 1));
    m.munmap(&mm, a + HPAGE_SIZE, HPAGE_SIZE).unwrap();
    assert_eq!(free_rsvd(&m), (2, 0));
    m.exit_mmap(&mm);
    assert_clean(&m);
}

// reset_vma_resv_huge_pages() at fork: the child has no reservation, so
// its fault may take only a free page nobody reserved (else SIGBUS: the
// model's EFAULT), while the parent's reservation stays usable.
#[test]
fn fork_child_owns_no_reservation() {
    let m = machine(1);
    let parent = m.mm_alloc().unwrap();
    let a = m.mmap_anon(&parent, HPAGE_SIZE, HUGE, false).unwrap();
    let child = m.dup_mm(&parent).unwrap();
    assert_eq!(m.user_write(&child, a, b"c"), Err(Errno::EFAULT));
    assert_eq!(free_rsvd(&m), (1, 1));
    m.user_write(&parent, a, b"p").unwrap();
    assert_eq!(free_rsvd(&m), (0, 0));
    m.exit_mmap(&child);
    m.exit_mmap(&parent);
    assert_eq!(free_rsvd(&m), (1, 0));
    assert_clean(&m);
}

// hugetlb_wp() of the owner with no unreserved page free: the copy may not
// take the other page's reservation, so unmap_ref_private() unmaps the
// shared page from the child (HPAGE_RESV_UNMAPPED: its next fault there is
// SIGBUS) and the owner writes the page in place.
#[test]
fn owner_cow_without_free_page_unmaps_the_child() {
    let m = machine(2);
    let parent = m.mm_alloc().unwrap();
    let a = m.mmap_anon(&parent, 2 * HPAGE_SIZE, HUGE, false).unwrap();
    m.user_write(&parent, a, b"before").unwrap();
    let child = m.dup_mm(&parent).unwrap();
    m.user_write(&parent, a, b"after!").unwrap();
    assert_eq!(free_rsvd(&m), (1, 1));
    assert_eq!(m.user_read(&parent, a, 6).unwrap(), b"after!");
    assert_eq!(m.user_read(&child, a, 6), Err(Errno::EFAULT));
    // The whole VMA is marked, not just the page.
    assert_eq!(m.user_read(&child, a + HPAGE_SIZE, 1), Err(Errno::EFAULT));
    assert_clean(&m);
    m.exit_mmap(&child);
    m.exit_mmap(&parent);
    assert_eq!(free_rsvd(&m), (2, 0));
    assert_clean(&m);
}

// dissolve_free_hugetlb_folio(): a free folio may not be dissolved while
// every free folio is reserved (-EBUSY), and set_max_huge_pages() never
// shrinks the pool below resv_huge_pages + the pages in use.
#[test]
fn dissolve_and_nr_hugepages_keep_reserved_pages() {
    let m = machine(2);
    let mm = m.mm_alloc().unwrap();
    m.mmap_anon(&mm, HPAGE_SIZE, HUGE, false).unwrap();
    m.set_max_huge_pages(0);
    assert_eq!(m.hugetlb_counts(), (1, 1));
    assert_eq!(
        m.dissolve_free_hugetlb_folios(mmsim::page::Pfn(0), mmsim::page::Pfn(u64::MAX / 2)),
        Err(Errno::EBUSY)
    );
    assert_eq!(m.hugetlb_counts(), (1, 1));
    assert_eq!(m.hugetlb_resv_pages(), 1);
    assert_clean(&m);
    m.exit_mmap(&mm);
    m.set_max_huge_pages(0);
    assert_eq!(m.hugetlb_counts(), (0, 0));
    assert_clean(&m);
}

// hugetlb_reserve_pages() of a shared mapping: region_chg() finds the
// inode's range reserved by the first mapper, so a second mapper adds
// nothing; the fault instantiates the page and spends the reservation.
#[test]
fn shared_file_range_is_reserved_once() {
    let m = machine(2);
    let f = m.file_create(2 * HPAGE_SIZE, true).unwrap();
    let (p, q) = (m.mm_alloc().unwrap(), m.mm_alloc().unwrap());
    let pa = m
        .mmap_file(&p, f, 2 * HPAGE_SIZE, VM_READ | VM_WRITE, true)
        .unwrap();
    assert_eq!(free_rsvd(&m), (2, 2));
    let qa = m
        .mmap_file(&q, f, 2 * HPAGE_SIZE, VM_READ | VM_WRITE, true)
        .unwrap();
    assert_eq!(free_rsvd(&m), (2, 2));
    m.user_write(&q, qa, b"shared").unwrap();
    assert_eq!(free_rsvd(&m), (1, 1));
    assert_eq!(m.user_read(&p, pa, 6).unwrap(), b"shared");
    assert_eq!(free_rsvd(&m), (1, 1));
    m.exit_mmap(&p);
    m.exit_mmap(&q);
    // The file lives on (the model never unlinks): so does its reservation.
    assert_eq!(free_rsvd(&m), (1, 1));
    assert_clean(&m);
}

// mremap() of part of a private hugetlb mapping: move_vma() gives the moved
// VMA the same reservation map and clear_vma_resv_huge_pages() keeps the
// old part's unmap from returning it; each part's hugetlb_vm_op_close()
// then returns its own unconsumed pages, and the map goes with the last.
#[test]
fn mremap_moves_the_reservation_map_with_the_vma() {
    let m = machine(4);
    let mm = m.mm_alloc().unwrap();
    let a = m.mmap_anon(&mm, 2 * HPAGE_SIZE, HUGE, false).unwrap();
    let dst = m.mmap_anon(&mm, HPAGE_SIZE, HUGE, false).unwrap();
    m.user_write(&mm, a + HPAGE_SIZE, b"moved").unwrap();
    assert_eq!(free_rsvd(&m), (3, 2));
    let flags = mmsim::vm::mremap::MremapFlags {
        maymove: true,
        fixed: Some(dst),
    };
    m.mremap(&mm, a + HPAGE_SIZE, HPAGE_SIZE, HPAGE_SIZE, flags)
        .unwrap();
    // dst's own mapping went (its reservation with it); the moved page
    // keeps its consumed reservation, the first half its unconsumed one.
    assert_eq!(free_rsvd(&m), (3, 1));
    assert_eq!(m.user_read(&mm, dst, 5).unwrap(), b"moved");
    assert_clean(&m);
    m.munmap(&mm, dst, HPAGE_SIZE).unwrap();
    assert_eq!(free_rsvd(&m), (4, 1));
    m.exit_mmap(&mm);
    assert_eq!(free_rsvd(&m), (4, 0));
    assert_clean(&m);
}
