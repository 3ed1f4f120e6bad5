//! Benchmarks of virtio-mem through the guest driver (issue 9): plugging and
//! unplugging 64 GiB in SBM (2 MiB device blocks in 128 MiB memory blocks)
//! and in BBM (128 MiB device blocks), with the memory onlined to
//! ZONE_MOVABLE as it is added; raw device requests through the model's
//! virtqueue path; and the physical floor of plugging: a memset of the
//! 32-byte memmap slot of every 4 KiB page of 64 GiB.
//!
//! Run with `cargo bench -p mmsim --bench virtio_mem`.

// Set-up shared between benchmark iterations, outside the model.
#![allow(clippy::disallowed_types)]

use mmsim::drivers::virtio_mem::DriverParams;
use mmsim::hotplug::OnlineType;
use mmsim::sync::Arc;
use mmsim::vmm::virtio_mem::HostVirtioMem;
use mmsim::{Machine, MachineConfig};

const GIB: u64 = 1 << 30;

fn main() {
    divan::main();
}

fn setup(block: u64) -> (Arc<Machine>, Arc<HostVirtioMem>) {
    let (m, host) = device(block, 0);
    m.virtio_mem_probe("vm0", host.clone(), DriverParams::default())
        .expect("probe");
    m.virtio_mem_settle();
    (m, host)
}

fn device(block: u64, requested: u64) -> (Arc<Machine>, Arc<HostVirtioMem>) {
    let m = Arc::new(
        Machine::boot(
            MachineConfig {
                auto_online: OnlineType::OnlineMovable,
                ..Default::default()
            },
            Default::default(),
        )
        .expect("boot"),
    );
    let params = virtio_mem::DeviceParams {
        addr: 4 * GIB,
        region_size: 64 * GIB,
        block_size: block,
        requested_size: requested,
        ..Default::default()
    };
    let host = Arc::new(HostVirtioMem::new(&m, "vm0", params).expect("device"));
    (m, host)
}

fn plug_unplug(bencher: divan::Bencher, block: u64) {
    let (m, host) = setup(block);
    bencher.bench_local(|| {
        host.set_requested_size(64 * GIB).expect("resize");
        m.virtio_mem_settle();
        assert_eq!(host.config().plugged_size, 64 * GIB);
        host.set_requested_size(0).expect("resize");
        m.virtio_mem_settle();
        assert_eq!(host.config().plugged_size, 0);
    });
    m.virtio_mem_shutdown();
}

/// One iteration: resize 0 -> 64 GiB -> 0 with 2 MiB device blocks (SBM).
#[divan::bench(sample_count = 3, sample_size = 1)]
fn plug_unplug_64g_sbm(bencher: divan::Bencher) {
    plug_unplug(bencher, 2 << 20);
}

/// One iteration: resize 0 -> 64 GiB -> 0 with 128 MiB device blocks (BBM).
#[divan::bench(sample_count = 3, sample_size = 1)]
fn plug_unplug_64g_bbm(bencher: divan::Bencher) {
    plug_unplug(bencher, 128 << 20);
}

/// The floor: initialising a 32-byte memmap slot for every 4 KiB page of
/// 64 GiB (16 Mi slots, 512 MiB of memset).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn memmap_init_floor_64g(bencher: divan::Bencher) {
    let mut memmap = vec![0u8; (64 * GIB / 4096 * 32) as usize];
    let mut v = 0u8;
    bencher.bench_local(|| {
        v = v.wrapping_add(1);
        memmap.fill(divan::black_box(v));
        divan::black_box(&memmap);
    });
}

/// One PLUG and one UNPLUG of a 2 MiB block as raw device requests to a
/// device without a driver (the host's request handling and its
/// physical-memory backend: the fence and MADV_DONTNEED).
#[divan::bench]
fn device_request_pair(bencher: divan::Bencher) {
    let (m, host) = device(2 << 20, 2 << 20);
    let addr = 4 * GIB + (2 << 20) * 100;
    bencher.bench_local(|| {
        let r = host.handle(&m, virtio_mem::Request::Plug { addr, nb_blocks: 1 });
        divan::black_box(r);
        let r = host.handle(&m, virtio_mem::Request::Unplug { addr, nb_blocks: 1 });
        divan::black_box(r);
    });
}

/// One PLUG and one UNPLUG of a 2 MiB block through the driver's split
/// virtqueue in guest memory (descriptors and rings written through
/// physical memory, the doorbell, the device's queue processing over its
/// `vm-memory` view, the used ring read back).
#[divan::bench]
fn virtqueue_request_pair(bencher: divan::Bencher) {
    let (m, host) = device(2 << 20, 2 << 20);
    let vm = m
        .virtio_mem_probe("vm0", host.clone(), DriverParams::default())
        .expect("probe");
    m.virtio_mem_settle();
    // The driver plugged the 2 MiB it was asked for, the first block; the
    // bench unplugs and plugs it back, behind the idle driver's back.
    let addr = 4 * GIB;
    let plug = mmsim::drivers::virtio_mem::uapi::req(0, addr, 1);
    let unplug = mmsim::drivers::virtio_mem::uapi::req(1, addr, 1);
    bencher.bench_local(|| {
        assert_eq!(vm.request_through_queue(&m, &unplug), Some(0));
        assert_eq!(vm.request_through_queue(&m, &plug), Some(0));
    });
    m.virtio_mem_shutdown();
}
