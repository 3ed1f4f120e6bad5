//! munmap, mprotect and madvise on ranges from user space: one range check
//! (`vm::vma::UserRange`), holes treated per system call, VMAs split only at
//! page boundaries and only where their flags change.

mod common;

use mmsim::errno::Errno;
use mmsim::page::PAGE_SIZE;
use mmsim::vm::huge::HPAGE_PMD_SIZE;
use mmsim::vm::{VM_HUGEPAGE, VM_READ, VM_WRITE};
use mmsim::{Machine, MachineConfig};

const RW: u32 = VM_READ | VM_WRITE;

fn machine() -> Machine {
    Machine::boot(
        MachineConfig {
            ram: 512 << 20,
            ..Default::default()
        },
        Default::default(),
    )
    .unwrap()
}

// do_madvise(): "if (end == start) return 0" — len 0 succeeds and changes
// nothing; do_mprotect_pkey(): "if (!len) return 0"; do_vmi_munmap():
// "if (end == start) return -EINVAL".
#[test]
fn len_zero_is_success_for_madvise_and_mprotect_and_einval_for_munmap() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m.mmap_anon(&mm, 2 * PAGE_SIZE, RW, false).unwrap();
        m.user_write(&mm, a, &[0xaa; 8192]).unwrap();
        m.madvise_dontneed(&mm, a, 0).unwrap();
        m.mprotect(&mm, a, 0, VM_READ).unwrap();
        assert_eq!(m.munmap(&mm, a, 0), Err(Errno::EINVAL));
        assert_eq!(m.user_read(&mm, a, 2).unwrap(), [0xaa, 0xaa]);
        m.user_write(&mm, a, &[0xbb]).unwrap();
        // An unaligned start is EINVAL even with len 0.
        assert_eq!(m.madvise_dontneed(&mm, a + 1, 0), Err(Errno::EINVAL));
        assert_eq!(m.mprotect(&mm, a + 1, 0, VM_READ), Err(Errno::EINVAL));
    });
}

// do_madvise(): len is PAGE_ALIGN(len_in) — MADV_DONTNEED of one byte at a
// page boundary discards that whole page and nothing else.
#[test]
fn madvise_rounds_len_up_to_whole_pages() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m.mmap_anon(&mm, 3 * PAGE_SIZE, RW, false).unwrap();
        m.user_write(&mm, a, &[0xaa; 3 * 4096]).unwrap();
        m.madvise_dontneed(&mm, a + PAGE_SIZE, 1).unwrap();
        assert_eq!(m.user_read(&mm, a + PAGE_SIZE - 1, 2).unwrap(), [0xaa, 0]);
        assert_eq!(
            m.user_read(&mm, a + 2 * PAGE_SIZE - 1, 2).unwrap(),
            [0, 0xaa]
        );
    });
}

// madvise_walk_vmas(): "If the interval [start,end) covers some unmapped
// address ranges, just ignore them, but return -ENOMEM at the end."
#[test]
fn madvise_over_a_hole_advises_the_mapped_parts_then_fails_enomem() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m.mmap_anon(&mm, 3 * PAGE_SIZE, RW, false).unwrap();
        m.user_write(&mm, a, &[0xaa; 3 * 4096]).unwrap();
        m.munmap(&mm, a + PAGE_SIZE, PAGE_SIZE).unwrap();
        assert_eq!(
            m.madvise_dontneed(&mm, a, 3 * PAGE_SIZE),
            Err(Errno::ENOMEM)
        );
        assert_eq!(m.user_read(&mm, a, 1).unwrap(), [0]);
        assert_eq!(m.user_read(&mm, a + 2 * PAGE_SIZE, 1).unwrap(), [0]);
    });
}

// do_mprotect_pkey(): the start must be mapped (-ENOMEM, nothing changes);
// a later hole stops the walk with -ENOMEM after the VMAs before it changed.
#[test]
fn mprotect_stops_at_the_first_hole() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m.mmap_anon(&mm, 3 * PAGE_SIZE, RW, false).unwrap();
        m.munmap(&mm, a + PAGE_SIZE, PAGE_SIZE).unwrap();
        assert_eq!(
            m.mprotect(&mm, a + PAGE_SIZE, 2 * PAGE_SIZE, VM_READ),
            Err(Errno::ENOMEM)
        );
        m.user_write(&mm, a + 2 * PAGE_SIZE, &[1]).unwrap();
        assert_eq!(
            m.mprotect(&mm, a, 3 * PAGE_SIZE, VM_READ),
            Err(Errno::ENOMEM)
        );
        assert_eq!(m.user_write(&mm, a, &[1]), Err(Errno::EFAULT));
        m.user_write(&mm, a + 2 * PAGE_SIZE, &[2]).unwrap();
    });
}

// do_vmi_munmap(): unmapping holes is fine; an unaligned start is EINVAL.
#[test]
fn munmap_over_holes_succeeds() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m.mmap_anon(&mm, 3 * PAGE_SIZE, RW, false).unwrap();
        m.munmap(&mm, a + PAGE_SIZE, PAGE_SIZE).unwrap();
        assert_eq!(m.munmap(&mm, a + 1, PAGE_SIZE), Err(Errno::EINVAL));
        m.munmap(&mm, a, 3 * PAGE_SIZE).unwrap();
        assert_eq!(m.user_read(&mm, a + 2 * PAGE_SIZE, 1), Err(Errno::EFAULT));
        m.munmap(&mm, a, 3 * PAGE_SIZE).unwrap();
    });
}

// madvise_update_vma(): "if (new_flags == vma->vm_flags ...) return 0" —
// advice that changes no flag splits nothing, so a THP stays PMD-mapped;
// advice that does change them on part of it splits the VMA and, in
// __split_vma(), the PMD first (vma_adjust_trans_huge()).
#[test]
fn flag_advice_splits_a_thp_only_where_flags_change() {
    common::model_test(|| {
        let m = machine();
        let mm = m.mm_alloc().unwrap();
        let a = m
            .mmap_anon(&mm, HPAGE_PMD_SIZE, RW | VM_HUGEPAGE, false)
            .unwrap();
        m.user_write(&mm, a, &[7]).unwrap();
        let thp = |m: &Machine| m.smaps(&mm, a, a + HPAGE_PMD_SIZE).anon_huge;
        assert_eq!(thp(&m), HPAGE_PMD_SIZE);
        m.madvise_hugepage(&mm, a + PAGE_SIZE, PAGE_SIZE, true)
            .unwrap();
        m.mprotect(&mm, a + PAGE_SIZE, PAGE_SIZE, RW).unwrap();
        assert_eq!(thp(&m), HPAGE_PMD_SIZE, "nothing changed, nothing split");
        m.madvise_mergeable(&mm, a + PAGE_SIZE, PAGE_SIZE, true)
            .unwrap();
        assert_eq!(thp(&m), 0, "the PMD was split with the VMA");
        let sub = m.pte_at(&mm, a + PAGE_SIZE).pfn();
        assert_eq!(m.page_mapcount(sub), 1);
        assert!(m.check_all().is_empty(), "{:?}", m.check_all());
    });
}
