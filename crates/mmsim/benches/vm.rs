//! Benchmarks of the process model (issue 3): first-touch faults, COW faults
//! after fork, fork of a populated 1 GiB mapping, and GUP pin+unpin.
//!
//! Run with `cargo bench -p mmsim --bench vm`. Divan reports the time of one
//! iteration; the per-page figure is that divided by the pages it touches
//! (`PAGES`, or 262144 for the 1 GiB fork).

use mmsim::gup::GupFlags;
use mmsim::page::PAGE_SIZE;
use mmsim::vm::{VM_READ, VM_WRITE};
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

/// 1024 write faults on fresh anonymous memory (do_anonymous_page), then
/// munmap.
#[divan::bench(sample_count = 50)]
fn first_touch_write_faults_4m(bencher: divan::Bencher) {
    let m = machine();
    let mm = m.mm_alloc().unwrap();
    bencher.bench_local(|| {
        let a = m
            .mmap_anon(&mm, PAGES * PAGE_SIZE, VM_READ | VM_WRITE, false)
            .unwrap();
        for i in 0..PAGES {
            m.user_write(&mm, a + i * PAGE_SIZE, &[1]).unwrap();
        }
        m.munmap(&mm, a, PAGES * PAGE_SIZE).unwrap();
    });
}

/// After fork, 1024 write faults in the parent that copy (wp_page_copy),
/// including fork, child exit and munmap.
#[divan::bench(sample_count = 50)]
fn cow_faults_after_fork_4m(bencher: divan::Bencher) {
    let m = machine();
    let mm = m.mm_alloc().unwrap();
    bencher.bench_local(|| {
        let a = m
            .mmap_anon(&mm, PAGES * PAGE_SIZE, VM_READ | VM_WRITE, true)
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
/// PTEs shared and write-protected), then the child's exit.
#[divan::bench(sample_count = 10)]
fn fork_1g(bencher: divan::Bencher) {
    let m = machine();
    let mm = m.mm_alloc().unwrap();
    m.mmap_anon(&mm, 1 << 30, VM_READ | VM_WRITE, true).unwrap();
    bencher.bench_local(|| {
        let child = m.dup_mm(&mm).unwrap();
        m.exit_mmap(&child);
    });
}

/// pin_user_pages() of 1024 populated pages and unpin_user_pages().
#[divan::bench(sample_count = 100)]
fn gup_pin_unpin_4m(bencher: divan::Bencher) {
    let m = machine();
    let mm = m.mm_alloc().unwrap();
    let a = m
        .mmap_anon(&mm, PAGES * PAGE_SIZE, VM_READ | VM_WRITE, true)
        .unwrap();
    let flags = GupFlags {
        write: true,
        pin: true,
        longterm: false,
    };
    bencher.bench_local(|| {
        let p = m.get_user_pages(&mm, a, PAGES, flags).unwrap();
        m.unpin_user_pages(p);
    });
}

/// pin_user_pages_fast() of 1024 populated pages (all taken by GUP-fast) and
/// unpin_user_pages().
#[divan::bench(sample_count = 100)]
fn gup_fast_pin_unpin_4m(bencher: divan::Bencher) {
    let m = machine();
    let mm = m.mm_alloc().unwrap();
    let a = m
        .mmap_anon(&mm, PAGES * PAGE_SIZE, VM_READ | VM_WRITE, true)
        .unwrap();
    let flags = GupFlags {
        write: true,
        pin: true,
        longterm: false,
    };
    bencher.bench_local(|| {
        let p = m.get_user_pages_fast(&mm, a, PAGES, flags).unwrap();
        m.unpin_user_pages(p);
    });
}
