//! The virtqueue layer through virtio-queue's MockSplitQueue in a
//! GuestMemoryMmap: every descriptor arrangement of a good request, and
//! every malformed chain (used length 0, device unchanged, the next good
//! request still served). Reference §1.1, §2.9 item 3, §3.5 items 6 and 8.

mod common;

use common::*;
use virtio_mem::*;
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestMemoryMmap;

const REQ: u64 = BUF;
const RESP: u64 = BUF + 0x1000;

fn rd(addr: u64, len: u32) -> Seg {
    Seg {
        addr,
        len,
        write: false,
    }
}

fn wr(addr: u64, len: u32) -> Seg {
    Seg {
        addr,
        len,
        write: true,
    }
}

/// Device with 64 blocks, 8 requested; a 16-entry queue.
fn setup(mem: &GuestMemoryMmap) -> (Device, Driver<'_>, Queue, MockBackend) {
    let (drv, q) = Driver::new(mem, 16);
    (device(64, 8, 4), drv, q, MockBackend::new())
}

/// Serve one published chain; return its used length and the 10 bytes
/// gathered back from `resp_at` (each `(addr, len)` in order).
fn serve(
    dev: &mut Device,
    drv: &mut Driver,
    q: &mut Queue,
    b: &mut MockBackend,
    resp_at: &[(u64, usize)],
) -> (QueueOutcome, u32, Vec<u8>) {
    let out = process_queue(dev, q, drv.mem, b);
    let used = drv.take_used();
    assert_eq!(used.len(), 1, "exactly one used entry: {used:?}");
    let mut bytes = Vec::new();
    for &(a, n) in resp_at {
        bytes.extend(drv.read(a, n));
    }
    (out, used[0].1, bytes)
}

fn expect_ack_plug(dev: &Device, bytes: &[u8]) {
    assert_eq!(&bytes[..RESPONSE_SIZE], &ACK.to_bytes());
    assert_eq!(dev.config().plugged_size, BS);
}

#[test]
fn linux_layout_one_readable_one_writable() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    assert_eq!(
        drv.roundtrip(&mut dev, &mut q, &mut b, plug(0, 1)),
        Some(ACK)
    );
    assert_eq!(
        drv.roundtrip(&mut dev, &mut q, &mut b, state(0, 2)),
        Some(Response::state(BlockState::Mixed))
    );
    assert_eq!(
        drv.roundtrip(&mut dev, &mut q, &mut b, Request::Unknown(9)),
        Some(ERROR)
    );
    assert!(!dev.needs_reset());
}

#[test]
fn request_split_1_plus_23() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    let req = plug(0, 1).to_bytes();
    drv.write(REQ, &req[..1]);
    drv.write(REQ + 0x100, &req[1..]);
    drv.push(&[rd(REQ, 1), rd(REQ + 0x100, 23), wr(RESP, 10)]);
    let (out, len, bytes) = serve(&mut dev, &mut drv, &mut q, &mut b, &[(RESP, 10)]);
    assert_eq!((out.completed, out.malformed, len), (1, 0, 10));
    expect_ack_plug(&dev, &bytes);
}

#[test]
fn request_as_24_one_byte_descriptors_response_as_10() {
    // 34 descriptors do not fit a 16-entry queue: use a 64-entry one.
    let mem = guest_memory();
    let (mut drv, mut q) = Driver::new(&mem, 64);
    let mut dev = device(64, 8, 4);
    let mut b = MockBackend::new();
    let req = plug(0, 1).to_bytes();
    let mut segs = Vec::new();
    for (i, byte) in req.iter().enumerate() {
        let a = REQ + 0x10 * i as u64;
        drv.write(a, &[*byte]);
        segs.push(rd(a, 1));
    }
    let resp_at: Vec<(u64, usize)> = (0..10).map(|i| (RESP + 0x10 * i, 1)).collect();
    segs.extend(resp_at.iter().map(|&(a, _)| wr(a, 1)));
    drv.push(&segs);
    let (out, len, bytes) = serve(&mut dev, &mut drv, &mut q, &mut b, &resp_at);
    assert_eq!((out.completed, len), (1, 10));
    expect_ack_plug(&dev, &bytes);
}

#[test]
fn response_split_3_plus_7_and_extra_writable_space() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    drv.write(REQ, &plug(0, 1).to_bytes());
    drv.write(RESP + 0x200, &[0xee; 64]);
    drv.push(&[
        rd(REQ, 24),
        wr(RESP, 3),
        wr(RESP + 0x100, 7),
        wr(RESP + 0x200, 64),
    ]);
    let (_, len, bytes) = serve(
        &mut dev,
        &mut drv,
        &mut q,
        &mut b,
        &[(RESP, 3), (RESP + 0x100, 7)],
    );
    assert_eq!(len, 10, "used length is what was written");
    expect_ack_plug(&dev, &bytes);
    assert_eq!(
        drv.read(RESP + 0x200, 64),
        vec![0xee; 64],
        "nothing past 10 bytes"
    );
}

#[test]
fn request_descriptor_longer_than_24_bytes() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    drv.write(REQ, &plug(0, 1).to_bytes());
    drv.write(REQ + 24, &[0xff; 100]);
    drv.push(&[rd(REQ, 4096), wr(RESP, 16)]);
    let (_, len, bytes) = serve(&mut dev, &mut drv, &mut q, &mut b, &[(RESP, 10)]);
    assert_eq!(len, 10);
    expect_ack_plug(&dev, &bytes);
}

#[test]
fn zero_length_descriptors_are_skipped() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    drv.write(REQ, &plug(0, 1).to_bytes());
    drv.push(&[
        rd(0xdead_0000_0000, 0),
        rd(REQ, 24),
        wr(RESP, 0),
        wr(RESP, 10),
    ]);
    let (out, _, bytes) = serve(&mut dev, &mut drv, &mut q, &mut b, &[(RESP, 10)]);
    assert_eq!(out.completed, 1);
    expect_ack_plug(&dev, &bytes);
}

#[test]
fn indirect_descriptor_table() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    let req = plug(0, 1).to_bytes();
    drv.write(REQ, &req[..10]);
    drv.write(REQ + 0x40, &req[10..]);
    drv.push_indirect(
        BUF + 0x8000,
        &[
            rd(REQ, 10),
            rd(REQ + 0x40, 14),
            wr(RESP, 4),
            wr(RESP + 0x40, 6),
        ],
    );
    let (out, len, bytes) = serve(
        &mut dev,
        &mut drv,
        &mut q,
        &mut b,
        &[(RESP, 4), (RESP + 0x40, 6)],
    );
    assert_eq!((out.completed, len), (1, 10));
    expect_ack_plug(&dev, &bytes);
}

#[test]
fn several_chains_in_one_pass_and_ring_wraparound() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    // 3 requests at once, 40 rounds: the 16-entry rings wrap several times.
    for round in 0..40u64 {
        for k in 0..3u64 {
            let slot = REQ + 0x100 * k;
            let req = if round % 2 == 0 {
                plug(k, 1)
            } else {
                unplug(k, 1)
            };
            drv.write(slot, &req.to_bytes());
            drv.push(&[rd(slot, 24), wr(slot + 0x40, 10)]);
        }
        let out = process_queue(&mut dev, &mut q, &mem, &mut b);
        assert_eq!((out.completed, out.malformed), (3, 0));
        assert!(out.notify);
        let used = drv.take_used();
        assert_eq!(used.len(), 3);
        for k in 0..3u64 {
            assert_eq!(
                drv.read(REQ + 0x100 * k + 0x40, 10),
                ACK.to_bytes().to_vec()
            );
        }
        let expect = if round % 2 == 0 { 3 * BS } else { 0 };
        assert_eq!(dev.config().plugged_size, expect);
    }
}

/// A malformed chain gets used length 0, changes nothing, and the next
/// good request works.
fn assert_malformed(build: impl FnOnce(&mut Driver), want: impl Fn(&ChainError) -> bool) {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    drv.write(REQ, &plug(0, 1).to_bytes());
    drv.write(RESP, &[0xee; 16]);
    let before = (dev.config(), dev.config_generation());
    build(&mut drv);
    let out = process_queue(&mut dev, &mut q, &mem, &mut b);
    assert_eq!((out.completed, out.malformed), (0, 1), "{out:?}");
    let e = out.last_malformed.expect("a reason");
    assert!(want(&e), "unexpected reason {e:?}");
    let used = drv.take_used();
    assert_eq!(used.len(), 1, "returned, not dropped");
    assert_eq!(used[0].1, 0, "used length 0");
    assert!(out.notify, "the driver is woken to see it");
    assert_eq!((dev.config(), dev.config_generation()), before, "{e}");
    assert!(b.calls().is_empty());
    assert!(!dev.needs_reset());
    assert_eq!(drv.read(RESP, 16), vec![0xee; 16], "nothing written");
    assert_eq!(
        drv.roundtrip(&mut dev, &mut q, &mut b, plug(0, 1)),
        Some(ACK)
    );
}

#[test]
fn malformed_short_request() {
    assert_malformed(
        |d| {
            d.push(&[rd(REQ, 23), wr(RESP, 10)]);
        },
        |e| *e == ChainError::ShortRequest(23),
    );
}

#[test]
fn malformed_nine_byte_response() {
    assert_malformed(
        |d| {
            d.push(&[rd(REQ, 24), wr(RESP, 4), wr(RESP + 8, 5)]);
        },
        |e| *e == ChainError::ShortResponse(9),
    );
}

#[test]
fn malformed_no_response_at_all() {
    assert_malformed(
        |d| {
            d.push(&[rd(REQ, 24)]);
        },
        |e| *e == ChainError::ShortResponse(0),
    );
}

#[test]
fn malformed_write_only_request() {
    // Request in a device-writable descriptor: no readable bytes at all.
    assert_malformed(
        |d| {
            d.push(&[wr(REQ, 24), wr(RESP, 10)]);
        },
        |e| *e == ChainError::ShortRequest(0),
    );
}

#[test]
fn malformed_read_only_response() {
    assert_malformed(
        |d| {
            d.push(&[rd(REQ, 24), rd(RESP, 10)]);
        },
        |e| *e == ChainError::ShortResponse(0),
    );
}

#[test]
fn malformed_writable_before_readable() {
    assert_malformed(
        |d| {
            d.push(&[rd(REQ, 12), wr(RESP, 10), rd(REQ + 12, 12)]);
        },
        |e| *e == ChainError::ReadableAfterWritable { index: 2 },
    );
}

#[test]
fn malformed_request_outside_guest_memory() {
    assert_malformed(
        |d| {
            d.push(&[rd(MEM_END - 8, 24), wr(RESP, 10)]);
        },
        |e| matches!(e, ChainError::OutsideMemory { index: 0, .. }),
    );
}

#[test]
fn malformed_response_outside_guest_memory() {
    assert_malformed(
        |d| {
            d.push(&[rd(REQ, 24), wr(u64::MAX - 4, 10)]);
        },
        |e| matches!(e, ChainError::OutsideMemory { index: 1, .. }),
    );
}

#[test]
fn malformed_tail_outside_guest_memory() {
    // Even bytes the device would not touch must be guest memory.
    assert_malformed(
        |d| {
            d.push(&[rd(REQ, 24), wr(RESP, 10), wr(MEM_END, 10)]);
        },
        |e| matches!(e, ChainError::OutsideMemory { index: 2, .. }),
    );
}

#[test]
fn malformed_loop() {
    assert_malformed(
        |d| {
            d.store(0, REQ, 12, F_NEXT, 1);
            d.store(1, REQ + 12, 12, F_NEXT, 0);
            d.publish(0);
        },
        |e| matches!(e, ChainError::Truncated { .. }),
    );
}

#[test]
fn malformed_next_index_past_the_table() {
    assert_malformed(
        |d| {
            d.store(0, REQ, 24, F_NEXT, 200);
            d.publish(0);
        },
        |e| *e == ChainError::Truncated { index: 0 },
    );
}

#[test]
fn malformed_indirect_table_with_bad_length() {
    assert_malformed(
        |d| {
            d.store(0, BUF + 0x8000, 17, F_INDIRECT, 0);
            d.publish(0);
        },
        |e| *e == ChainError::Empty,
    );
}

#[test]
fn malformed_nested_indirect() {
    assert_malformed(
        |d| {
            let inner = Seg {
                addr: BUF + 0x9000,
                len: 16,
                write: false,
            };
            // push_indirect writes plain descriptors; make the one inside
            // the table indirect itself.
            d.push_indirect(BUF + 0x8000, &[inner]);
            d.write(BUF + 0x8000 + 12, &F_INDIRECT.to_le_bytes());
        },
        |e| *e == ChainError::Empty,
    );
}

#[test]
fn avail_entry_past_queue_size_is_counted_and_skipped() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    drv.publish(99);
    let out = process_queue(&mut dev, &mut q, &mem, &mut b);
    assert_eq!(out.malformed, 1);
    assert_eq!(
        out.last_malformed,
        Some(ChainError::BadHead { head: 99, size: 16 })
    );
    assert!(drv.take_used().is_empty(), "no used entry can name it");
    assert!(!out.notify);
    assert!(!dev.needs_reset());
    assert_eq!(
        drv.roundtrip(&mut dev, &mut q, &mut b, plug(0, 1)),
        Some(ACK)
    );
}

#[test]
fn avail_index_too_far_ahead_needs_reset() {
    let mem = guest_memory();
    let (mut dev, drv, mut q, mut b) = setup(&mem);
    drv.avail.idx().store(u16::to_le(40));
    let out = process_queue(&mut dev, &mut q, &mem, &mut b);
    assert_eq!(out.completed + out.malformed, 0);
    assert!(dev.needs_reset());
    assert_ne!(dev.status() & status::DEVICE_NEEDS_RESET, 0);
    assert!(dev.take_config_notification());
    // Nothing more is served until a reset.
    assert_eq!(
        process_queue(&mut dev, &mut q, &mem, &mut b),
        QueueOutcome::default()
    );
    dev.device_reset();
    assert!(!dev.needs_reset());
}

#[test]
fn queue_not_ready_is_left_alone() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    drv.write(REQ, &plug(0, 1).to_bytes());
    drv.push(&[rd(REQ, 24), wr(RESP, 10)]);
    q.set_ready(false);
    assert_eq!(
        process_queue(&mut dev, &mut q, &mem, &mut b),
        QueueOutcome::default()
    );
    assert!(!dev.needs_reset());
    q.set_ready(true);
    assert_eq!(process_queue(&mut dev, &mut q, &mem, &mut b).completed, 1);
}

#[test]
fn no_interrupt_flag_suppresses_notify() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    drv.write(REQ, &state(0, 1).to_bytes());
    drv.push(&[rd(REQ, 24), wr(RESP, 10)]);
    // VRING_AVAIL_F_NO_INTERRUPT in the available ring's flags.
    drv.write(AVAIL_RING, &1u16.to_le_bytes());
    let out = process_queue(&mut dev, &mut q, &mem, &mut b);
    assert_eq!(out.completed, 1);
    assert!(!out.notify);
}

#[test]
fn event_idx_decides_notify() {
    let mem = guest_memory();
    let (mut dev, mut drv, mut q, mut b) = setup(&mem);
    q.set_event_idx(true);
    // used_event lives after the avail ring: flags, idx, ring[16].
    let used_event = AVAIL_RING + 4 + 2 * 16;
    // The driver wants an interrupt once used idx passes 1 (the 2nd entry).
    drv.write(used_event, &1u16.to_le_bytes());
    drv.write(REQ, &state(0, 1).to_bytes());
    drv.push(&[rd(REQ, 24), wr(RESP, 10)]);
    assert!(!process_queue(&mut dev, &mut q, &mem, &mut b).notify);
    drv.push(&[rd(REQ, 24), wr(RESP, 10)]);
    assert!(process_queue(&mut dev, &mut q, &mem, &mut b).notify);
    assert_eq!(drv.take_used().len(), 2);
}
