//! Benchmarks of the process model (issue 3): first-touch faults, COW faults
//! after fork, fork of a populated 1 GiB mapping, and GUP pin+unpin — each
//! on base pages (`thp = false`) and on THPs (`thp = true`) — plus a PMD
//! split and MADV_COLLAPSE of one THP.
//!
//! Run with `cargo bench -p mmsim --bench vm`. Divan reports the time of one
//! iteration; the per-page figure is that divided by the pages it touches
//! (`PAGES`, or 262144 for the 1 GiB fork).

// Set-up shared between benchmark iterations, outside the model.
#![allow(clippy::disallowed_types)]

use mmsim::gup::GupFlags;
use mmsim::page::PAGE_SIZE;
use mmsim::vm::huge::HPAGE_PMD_SIZE;
use mmsim::vm::{VM_HUGEPAGE, VM_READ, VM_WRITE};
use mmsim::{Machine, MachineConfig};

fn main() {
    divan::main();
}

/// Pages touched per iteration in the fault and GUP benchmarks (4 MiB).
const PAGES: u64 = 1024;

fn machine() -> Machine {
    Machine::boot(
        MachineConfig {
            ram: 4 << 30,
            ..Default::default()
        },
        Default::default(),
    )
    .expect("boot")
}

/// mmap flags: read-write, THP-enabled (MADV_HUGEPAGE) if `thp`.
fn flags(thp: bool) -> u32 {
    VM_READ | VM_WRITE | if thp { VM_HUGEPAGE } else { 0 }
}

/// 1024 first-touch writes, then munmap: 1024 `do_anonymous_page` faults on
/// base pages; on THPs two faults allocate and zero two THPs and the other
/// writes hit their PMDs.
#[divan::bench(args = [false, true], sample_count = 50)]
fn first_touch_write_faults_4m(bencher: divan::Bencher, thp: bool) {
    let m = machine();
    let mm = m.mm_alloc().unwrap();
    bencher.bench_local(|| {
        let a = m
            .mmap_anon(&mm, PAGES * PAGE_SIZE, flags(thp), false)
            .unwrap();
        for i in 0..PAGES {
            m.user_write(&mm, a + i * PAGE_SIZE, &[1]).unwrap();
        }
        m.munmap(&mm, a, PAGES * PAGE_SIZE).unwrap();
    });
}

/// After fork, 1024 write faults in the parent that copy (wp_page_copy),
/// including fork, child exit and munmap. On THPs the first write to each
/// shared PMD splits it, then every page is copied.
#[divan::bench(args = [false, true], sample_count = 50)]
fn cow_faults_after_fork_4m(bencher: divan::Bencher, thp: bool) {
    let m = machine();
    let mm = m.mm_alloc().unwrap();
    bencher.bench_local(|| {
        let a = m
            .mmap_anon(&mm, PAGES * PAGE_SIZE, flags(thp), true)
            .unwrap();
        let child = m.dup_mm(&mm).unwrap();
        for i in 0..PAGES {
            m.user_write(&mm, a + i * PAGE_SIZE, &[2]).unwrap();
        }
        m.exit_mmap(&child);
        m.munmap(&mm, a, PAGES * PAGE_SIZE).unwrap();
    });
}

/// fork() of a process with a populated 1 GiB anonymous mapping (262144
/// PTEs, or 512 huge PMDs, shared and write-protected), then the child's
/// exit.
#[divan::bench(args = [false, true], sample_count = 10)]
fn fork_1g(bencher: divan::Bencher, thp: bool) {
    let m = machine();
    let mm = m.mm_alloc().unwrap();
    m.mmap_anon(&mm, 1 << 30, flags(thp), true).unwrap();
    bencher.bench_local(|| {
        let child = m.dup_mm(&mm).unwrap();
        m.exit_mmap(&child);
    });
}

/// Pins 1024 populated pages and unpins them, by the slow path or GUP-fast.
fn pin_unpin(bencher: divan::Bencher, thp: bool, fast: bool) {
    let m = machine();
    let mm = m.mm_alloc().unwrap();
    let a = m
        .mmap_anon(&mm, PAGES * PAGE_SIZE, flags(thp), true)
        .unwrap();
    let gup = GupFlags {
        write: true,
        pin: true,
        longterm: false,
    };
    bencher.bench_local(|| {
        let p = if fast {
            m.get_user_pages_fast(&mm, a, PAGES, gup)
        } else {
            m.get_user_pages(&mm, a, PAGES, gup)
        };
        m.unpin_user_pages(p.unwrap());
    });
}

/// pin_user_pages() of 1024 populated pages and unpin_user_pages() (a pin
/// of a large folio adds 1 ref and 1 pincount, of a small one 1024 refs).
#[divan::bench(args = [false, true], sample_count = 100)]
fn gup_pin_unpin_4m(bencher: divan::Bencher, thp: bool) {
    pin_unpin(bencher, thp, false);
}

/// pin_user_pages_fast() of 1024 populated pages (all taken by GUP-fast) and
/// unpin_user_pages().
#[divan::bench(args = [false, true], sample_count = 100)]
fn gup_fast_pin_unpin_4m(bencher: divan::Bencher, thp: bool) {
    pin_unpin(bencher, thp, true);
}

/// A THP split into PTEs by mprotect() of one page, then MADV_COLLAPSE back
/// into a new PMD-mapped THP (copying 2 MiB).
#[divan::bench(sample_count = 50)]
fn split_and_collapse_2m(bencher: divan::Bencher) {
    let m = machine();
    let mm = m.mm_alloc().unwrap();
    let a = m.mmap_anon(&mm, HPAGE_PMD_SIZE, flags(true), true).unwrap();
    bencher.bench_local(|| {
        m.mprotect(&mm, a + PAGE_SIZE, PAGE_SIZE, VM_READ).unwrap();
        m.mprotect(&mm, a + PAGE_SIZE, PAGE_SIZE, VM_READ | VM_WRITE)
            .unwrap();
        m.madvise_collapse(&mm, a, HPAGE_PMD_SIZE).unwrap();
    });
}
