//! Benchmarks of the machine core (issue 2): booting 64 GiB, onlining and
//! offlining a free 128 MiB block, and order-0 page allocation and free.
//!
//! Run with `cargo bench -p mmsim --bench machine`.

// Set-up shared between benchmark iterations, outside the model.
#![allow(clippy::disallowed_types)]

use mmsim::hotplug::{OnlineType, Task};
use mmsim::page::PhysAddr;
use mmsim::zone::alloc::Gfp;
use mmsim::{Machine, MachineConfig};

fn main() {
    divan::main();
}

/// Boots a 64 GiB machine (memmap init, buddy set-up, memory blocks).
#[divan::bench(sample_count = 10)]
fn boot_64g() -> Machine {
    Machine::boot(
        MachineConfig {
            ram: 64 << 30,
            ..Default::default()
        },
        Default::default(),
    )
    .expect("boot")
}

/// Onlines a hot-added, free 128 MiB block to ZONE_MOVABLE and offlines it
/// again (one iteration = one online + one offline).
#[divan::bench(sample_count = 200)]
fn online_offline_128m(bencher: divan::Bencher) {
    let m = Machine::boot(MachineConfig::default(), Default::default()).expect("boot");
    m.add_memory(0, PhysAddr(4 << 30), 128 << 20).expect("add");
    let block = m.hotplug().find_block(32).expect("block");
    let task = Task::new();
    bencher.bench_local(|| {
        m.online_memory_block(&block, OnlineType::OnlineMovable)
            .expect("online");
        m.device_offline(&block, &task).expect("offline");
    });
}

/// alloc_pages(GFP_KERNEL, 0) followed by __free_pages().
#[divan::bench]
fn alloc_free_order0(bencher: divan::Bencher) {
    let m = Machine::boot(MachineConfig::default(), Default::default()).expect("boot");
    bencher.bench_local(|| {
        let pfn = m.alloc_pages(Gfp::KERNEL, 0, 0).expect("alloc");
        m.put_pages(divan::black_box(pfn), 0);
    });
}

/// 64 order-0 allocations, then 64 frees (exercises splitting and merging).
#[divan::bench]
fn alloc_free_64_order0(bencher: divan::Bencher) {
    let m = Machine::boot(MachineConfig::default(), Default::default()).expect("boot");
    let mut pfns = Vec::with_capacity(64);
    bencher.bench_local(|| {
        for _ in 0..64 {
            pfns.push(m.alloc_pages(Gfp::KERNEL, 0, 0).expect("alloc"));
        }
        for pfn in pfns.drain(..) {
            m.put_pages(pfn, 0);
        }
    });
}
