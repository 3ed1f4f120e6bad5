//! Fuzzing with proptest, run by CI: raw 24-byte requests, and random
//! descriptor tables and available rings (random addresses, lengths, flags
//! and next indexes, inside and outside guest memory, loops, indirect
//! tables). Nothing may panic, every chain gets exactly one used entry of
//! length 0 or 10, and the §5.2 invariants hold after every pass.
//!
//! `VIRTIO_MEM_FUZZ_CASES` sets the number of cases (default 20 000 each, about a second in release).

mod common;

use common::*;
use proptest::prelude::*;
use virtio_mem::*;
use virtio_queue::QueueT;
use vm_memory::{Bytes, GuestAddress};

fn cases() -> u32 {
    std::env::var("VIRTIO_MEM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

const QSIZE: u16 = 16;
/// Request slots the descriptors like to point at.
const SLOTS: u64 = 6;
const TABLE: u64 = BUF + 0x8000;

#[derive(Clone, Debug)]
struct RawDesc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => (0..SLOTS, 0u64..32).prop_map(|(s, off)| BUF + 0x100 * s + off),
        1 => Just(TABLE),
        1 => (MEM_END - 64)..MEM_END + 64,
        1 => any::<u64>(),
    ]
}

fn len() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(24u32),
        3 => Just(10u32),
        3 => 0u32..40,
        1 => prop::sample::select(vec![16u32, 32, 48, 17]),
        1 => any::<u32>(),
    ]
}

fn desc() -> impl Strategy<Value = RawDesc> {
    (
        addr(),
        len(),
        prop_oneof![
            8 => prop::sample::select(vec![0u16, F_NEXT, F_WRITE, F_NEXT | F_WRITE]),
            1 => Just(F_INDIRECT),
            1 => any::<u16>(),
        ],
        prop_oneof![4 => 0u16..QSIZE, 1 => any::<u16>()],
    )
        .prop_map(|(addr, len, flags, next)| RawDesc {
            addr,
            len,
            flags,
            next,
        })
}

/// A descriptor table of well-formed two-descriptor chains (request at
/// index 2k, response at 2k + 1), a few of them then replaced by random
/// descriptors, so both the request path and every malformation are hit.
fn table() -> impl Strategy<Value = Vec<RawDesc>> {
    let pairs: Vec<RawDesc> = (0..QSIZE)
        .map(|i| {
            let k = u64::from(i / 2);
            if i % 2 == 0 {
                RawDesc {
                    addr: BUF + 0x100 * (k % SLOTS),
                    len: 24,
                    flags: F_NEXT,
                    next: i + 1,
                }
            } else {
                RawDesc {
                    addr: BUF + 0x4000 + 0x40 * k,
                    len: 10,
                    flags: F_WRITE,
                    next: 0,
                }
            }
        })
        .collect();
    prop_oneof![
        3 => prop::collection::vec((0..QSIZE as usize, desc()), 0..4).prop_map(move |muts| {
            let mut t = pairs.clone();
            for (i, d) in muts {
                t[i] = d;
            }
            t
        }),
        1 => prop::collection::vec(desc(), QSIZE as usize),
    ]
}

/// A request that has a fair chance of meaning something to the device.
fn request_bytes() -> impl Strategy<Value = [u8; 24]> {
    prop_oneof![
        3 => (0u8..5, 0u64..20, 0u16..6).prop_map(|(ty, b, n)| {
            let addr = blk(b);
            match ty {
                0 => Request::Plug { addr, nb_blocks: n },
                1 => Request::Unplug { addr, nb_blocks: n },
                2 => Request::UnplugAll,
                3 => Request::State { addr, nb_blocks: n },
                _ => Request::Unknown(n + 4),
            }
            .to_bytes()
        }),
        1 => any::<[u8; 24]>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn raw_requests_never_panic_and_keep_invariants(
        reqs in prop::collection::vec((request_bytes(), any::<bool>(), any::<bool>()), 1..40),
        requested in 0u64..=16,
    ) {
        let mut dev = device(16, requested, 2);
        let mut b = MockBackend::new();
        for (bytes, busy, failing) in reqs {
            b.set_busy(busy && failing);
            b.set_failing(failing && !busy);
            let before = dev.config();
            let resp = dev.handle(Request::parse(&bytes), &mut b);
            if resp.ty != ResponseType::Ack {
                prop_assert_eq!(dev.config(), before);
            }
            check_invariants(&dev);
        }
    }

    #[test]
    fn random_descriptor_chains_never_panic(
        table in table(),
        indirect in prop::collection::vec(desc(), 4),
        heads in prop::collection::vec(
            prop_oneof![8 => (0..QSIZE / 2).prop_map(|k| 2 * k), 4 => 0u16..QSIZE, 1 => any::<u16>()],
            1..8,
        ),
        reqs in prop::collection::vec(request_bytes(), SLOTS as usize),
        event_idx in any::<bool>(),
    ) {
        let mem = guest_memory();
        let (mut drv, mut q) = Driver::new(&mem, QSIZE);
        q.set_event_idx(event_idx);
        let mut dev = device(32, 8, 4);
        let mut b = MockBackend::new();
        for (s, r) in reqs.iter().enumerate() {
            drv.write(BUF + 0x100 * s as u64, r);
        }
        for (i, d) in indirect.iter().enumerate() {
            let raw = [
                d.addr.to_le_bytes().as_slice(),
                &d.len.to_le_bytes(),
                &d.flags.to_le_bytes(),
                &d.next.to_le_bytes(),
            ]
            .concat();
            mem.write_slice(&raw, GuestAddress(TABLE + 16 * i as u64)).unwrap();
        }
        for (i, d) in table.iter().enumerate() {
            drv.store(i as u16, d.addr, d.len, d.flags, d.next);
        }
        for &h in &heads {
            drv.publish(h);
        }
        let out = process_queue(&mut dev, &mut q, &mem, &mut b);
        let used = drv.take_used();
        let good_heads = heads.iter().filter(|&&h| h < QSIZE).count();
        prop_assert!(!dev.needs_reset(), "a well-formed ring never needs a reset");
        prop_assert_eq!((out.completed + out.malformed) as usize, heads.len());
        prop_assert_eq!(used.len(), good_heads, "one used entry per real chain");
        prop_assert_eq!(used.iter().filter(|u| u.1 == 10).count(), out.completed as usize);
        for (u, &h) in used.iter().zip(heads.iter().filter(|&&h| h < QSIZE)) {
            prop_assert_eq!(u.0, u32::from(h));
            prop_assert!(u.1 == 0 || u.1 == 10, "used len {}", u.1);
        }
        check_invariants(&dev);
        // And the device still serves a well-formed request afterwards.
        let resp = drv.roundtrip(&mut dev, &mut q, &mut b, Request::State { addr: blk(0), nb_blocks: 1 });
        prop_assert_eq!(resp.map(|r| r.ty), Some(ResponseType::Ack));
    }
}
