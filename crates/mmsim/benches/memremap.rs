//! Benchmark of ZONE_DEVICE (issue 10): `memremap_pages()` + `memunmap_pages()`
//! of 64 GiB of device memory, beside the floor any model must pay — a
//! memset of the 32-byte memmap slot of every 4 KiB page of 64 GiB (512 MiB).
//!
//! Run with `cargo bench -p mmsim --bench memremap`.

// Set-up shared between benchmark iterations, outside the model.
#![allow(clippy::disallowed_types)]

use mmsim::memremap::MemoryType;
use mmsim::page::PhysAddr;
use mmsim::{Machine, MachineConfig};

fn main() {
    divan::main();
}

const DEVICE: u64 = 64 << 30;

/// memremap_pages() + memunmap_pages() of 64 GiB of fsdax memory (the
/// memmap is mapped, poisoned, initialised twice, poisoned and freed).
#[divan::bench(sample_count = 5)]
fn memremap_memunmap_64g(bencher: divan::Bencher) {
    let m = Machine::boot(
        MachineConfig {
            ram: 1 << 30,
            ..Default::default()
        },
        Default::default(),
    )
    .expect("boot");
    bencher.bench_local(|| {
        let pm = m
            .memremap_pages("pm", PhysAddr(4 << 30), DEVICE, MemoryType::FsDax, 0)
            .expect("memremap");
        m.memunmap_pages(&pm).expect("memunmap");
    });
}

/// The floor: writing every 32-byte memmap slot of 64 GiB once.
#[divan::bench(sample_count = 5)]
fn memmap_memset_floor_64g(bencher: divan::Bencher) {
    let mut memmap = vec![0u8; (DEVICE >> 12) as usize * 32];
    bencher.bench_local(|| {
        memmap.fill(0xff);
        divan::black_box(&memmap);
    });
}
