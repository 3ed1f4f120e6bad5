//! Requests per second: a PLUG + UNPLUG pair of one block, through
//! `Device::handle` directly and through the virtqueue (descriptor chains
//! in guest memory, used entries written back), with a backend that does
//! nothing so the device's own cost is measured.
//!
//! Run with `cargo bench -p virtio-mem --bench requests`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use divan::counter::ItemsCount;
use divan::Bencher;
use virtio_mem::*;

fn main() {
    divan::main();
}

/// The host side of a VMM whose discard and populate are free.
struct NopBackend;

impl Backend for NopBackend {
    fn discard(&mut self, _addr: u64, _len: u64) -> Result<(), BackendError> {
        Ok(())
    }
    fn populate(&mut self, _addr: u64, _len: u64) -> Result<(), BackendError> {
        Ok(())
    }
}

/// One iteration = PLUG then UNPLUG of one 2 MiB block in a 1 GiB region.
#[divan::bench]
fn handle_plug_unplug_pair(bencher: Bencher) {
    let mut dev = device(512, 512, 0);
    let mut b = NopBackend;
    bencher.counter(ItemsCount::new(2usize)).bench_local(|| {
        let p = dev.handle(divan::black_box(plug(300, 1)), &mut b);
        let u = dev.handle(divan::black_box(unplug(300, 1)), &mut b);
        assert_eq!((p.ty, u.ty), (ResponseType::Ack, ResponseType::Ack));
    });
}

/// One iteration = the same pair through the virtqueue, one request in
/// flight as Linux does it: publish the chain, process the queue, take the
/// used entry.
#[divan::bench]
fn virtqueue_plug_unplug_pair(bencher: Bencher) {
    let mem = guest_memory();
    let (mut drv, mut q) = Driver::new(&mem, 128);
    let mut dev = device(512, 512, 0);
    let mut b = NopBackend;
    drv.write(BUF, &plug(300, 1).to_bytes());
    drv.write(BUF + 0x100, &unplug(300, 1).to_bytes());
    // Chains (0, 1) and (2, 3), published again and again.
    drv.store(0, BUF, REQUEST_SIZE as u32, F_NEXT, 1);
    drv.store(1, BUF + 0x40, RESPONSE_SIZE as u32, F_WRITE, 0);
    drv.store(2, BUF + 0x100, REQUEST_SIZE as u32, F_NEXT, 3);
    drv.store(3, BUF + 0x140, RESPONSE_SIZE as u32, F_WRITE, 0);
    bencher.counter(ItemsCount::new(2usize)).bench_local(|| {
        for head in [0, 2] {
            drv.publish(head);
            let out = process_queue(&mut dev, &mut q, &mem, &mut b);
            assert_eq!(out.completed, 1);
        }
    });
    assert_eq!(dev.config().plugged_size, 0);
}
