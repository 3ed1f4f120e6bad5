//! Edge cases of reference §5.3 (several were real bugs in Cloud
//! Hypervisor and Firecracker, §3.5), one test each. The descriptor-level
//! ones (9-byte response, long request descriptor, write-only request,
//! read-only response) are in `tests/queue.rs`.

mod common;

use common::*;
use virtio_mem::*;

#[test]
fn addr_below_region_start_is_error_without_underflow() {
    // CH 1dd588f: `addr - config.addr` underflowed in STATE on bad ranges.
    let mut d = device(16, 16, 0);
    let mut b = MockBackend::new();
    for req in [
        Request::Plug {
            addr: BASE - BS,
            nb_blocks: 2,
        },
        Request::Unplug {
            addr: 0,
            nb_blocks: 1,
        },
        Request::State {
            addr: BASE - BS,
            nb_blocks: 1,
        },
    ] {
        assert_eq!(d.handle(req, &mut b), ERROR, "{req:?}");
    }
    assert_eq!(d.block_state(BASE - BS, 1), None);
}

#[test]
fn end_overflowing_u64_is_error() {
    // CH b37e2ed (oss-fuzz): integer overflow computing the range end.
    let mut d = device(16, 16, 0);
    let mut b = MockBackend::new();
    let top = u64::MAX - BS + 1; // aligned, the last block of the address space
    for req in [
        Request::Plug {
            addr: top,
            nb_blocks: 2,
        },
        Request::Unplug {
            addr: top,
            nb_blocks: u16::MAX,
        },
        Request::State {
            addr: top,
            nb_blocks: 1,
        },
    ] {
        assert_eq!(d.handle(req, &mut b), ERROR, "{req:?}");
    }
    // nb_blocks * block_size itself overflowing: 65535 blocks of 2^50 bytes.
    let mut d = Device::new(DeviceParams {
        addr: 0,
        block_size: 1 << 50,
        region_size: 4 << 50,
        requested_size: 4 << 50,
        ..DeviceParams::default()
    })
    .unwrap();
    assert_eq!(
        d.handle(
            Request::Plug {
                addr: 0,
                nb_blocks: u16::MAX
            },
            &mut b
        ),
        ERROR
    );
    assert_eq!(
        d.handle(
            Request::Plug {
                addr: 0,
                nb_blocks: 4
            },
            &mut b
        ),
        ACK
    );
    assert_eq!(d.config().plugged_size, 4 << 50);
    check_invariants(&d);
}

#[test]
fn nb_blocks_zero_is_error_for_every_type() {
    let mut d = device(16, 16, 0);
    let mut b = MockBackend::new();
    d.handle(plug(0, 1), &mut b);
    for req in [plug(1, 0), unplug(0, 0), state(0, 0)] {
        assert_eq!(d.handle(req, &mut b), ERROR, "{req:?}");
    }
}

#[test]
fn nb_blocks_65535_in_one_request() {
    // 128 GiB of 2 MiB blocks is 65536 blocks: the largest request covers
    // all but one.
    let mut d = device(65536, 65536, 0);
    let mut b = MockBackend::new();
    assert_eq!(d.handle(plug(1, u16::MAX), &mut b), ACK);
    assert_eq!(d.config().plugged_size, 65535 * BS);
    assert_eq!(
        d.handle(state(1, u16::MAX), &mut b),
        Response::state(BlockState::Plugged)
    );
    assert_eq!(
        d.handle(state(0, u16::MAX), &mut b),
        Response::state(BlockState::Mixed)
    );
    assert_eq!(d.handle(unplug(1, u16::MAX), &mut b), ACK);
    assert_eq!(d.config().plugged_size, 0);
}

#[test]
fn range_ending_exactly_at_usable_end() {
    let mut d = device(64, 8, 4); // usable = 12 blocks
    let mut b = MockBackend::new();
    assert_eq!(d.handle(state(10, 2), &mut b).ty, ResponseType::Ack);
    assert_eq!(d.handle(plug(4, 8), &mut b), ACK);
    assert_eq!(d.handle(unplug(4, 8), &mut b), ACK);
    assert_eq!(d.handle(state(10, 3), &mut b), ERROR);
    assert_eq!(d.handle(plug(11, 2), &mut b), ERROR);
}

#[test]
fn addr_unaligned_by_one_byte() {
    let mut d = device(16, 16, 0);
    let mut b = MockBackend::new();
    d.handle(plug(2, 1), &mut b);
    for req in [
        Request::Plug {
            addr: blk(0) + 1,
            nb_blocks: 1,
        },
        Request::Unplug {
            addr: blk(2) + 1,
            nb_blocks: 1,
        },
        Request::State {
            addr: blk(2) - 1,
            nb_blocks: 1,
        },
    ] {
        assert_eq!(d.handle(req, &mut b), ERROR, "{req:?}");
    }
    assert_eq!(d.block_state(blk(2) + 1, 1), None);
}

#[test]
fn unplug_all_clears_regions_over_128_gib() {
    // CH dfee31a: an `as u16` made UNPLUG_ALL a no-op for > 65535 blocks.
    let blocks = 131_072 + 3; // 256 GiB + 6 MiB
    let mut d = device(blocks, blocks, 0);
    let mut b = MockBackend::new();
    let mut i = 0;
    while i < blocks {
        let n = (blocks - i).min(u64::from(u16::MAX)) as u16;
        assert_eq!(d.handle(plug(i, n), &mut b), ACK);
        i += u64::from(n);
    }
    assert_eq!(d.config().plugged_size, blocks * BS);
    assert_eq!(d.plugged_ranges(), vec![(BASE, blocks * BS)]);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    assert_eq!(d.config().plugged_size, 0);
    assert_eq!(d.block_state(BASE, blocks), Some(BlockState::Unplugged));
    assert_eq!(
        d.handle(state(blocks - 1, 1), &mut b),
        Response::state(BlockState::Unplugged)
    );
}

#[test]
fn unplug_all_with_nothing_plugged_acks_and_recomputes_usable() {
    let mut d = device(64, 40, 4);
    let mut b = MockBackend::new();
    d.set_requested_size(BS).unwrap();
    assert_eq!(d.config().usable_region_size, 44 * BS);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    assert_eq!(d.config().usable_region_size, 5 * BS);
    assert!(b.calls().is_empty(), "nothing to discard");
    // Busy does not matter when nothing is plugged (QEMU checks it only then).
    b.set_busy(true);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
}

#[test]
fn unplug_all_keeps_usable_at_least_requested() {
    // FC: UNPLUG_ALL set usable_region_size to 0 with requested_size > 0.
    let mut d = device(64, 8, 0);
    let mut b = MockBackend::new();
    d.handle(plug(0, 8), &mut b);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    let c = d.config();
    assert_eq!(c.usable_region_size, 8 * BS);
    assert_eq!(
        d.handle(plug(0, 8), &mut b),
        ACK,
        "the guest can plug again"
    );
}

#[test]
fn plug_after_requested_lowered_is_nack_not_error() {
    // FC answered ERROR here, which Linux treats as "device broken".
    let mut d = device(64, 8, 4);
    let mut b = MockBackend::new();
    d.handle(plug(0, 4), &mut b);
    d.set_requested_size(4 * BS).unwrap();
    assert_eq!(d.handle(plug(4, 1), &mut b), NACK);
    assert_eq!(d.handle(unplug(3, 1), &mut b), ACK);
    assert_eq!(d.handle(plug(3, 1), &mut b), ACK);
    d.set_requested_size(0).unwrap();
    assert_eq!(d.handle(plug(4, 1), &mut b), NACK);
}

#[test]
fn check_order_is_range_then_nack_then_state_then_busy() {
    // QEMU's order (reference §2.9 item 2).
    let mut d = device(64, 2, 4); // usable 6 blocks
    let mut b = MockBackend::new();
    d.handle(plug(0, 2), &mut b);
    b.set_busy(true);
    // Out of range and beyond requested: the range wins.
    assert_eq!(d.handle(plug(6, 1), &mut b), ERROR);
    // Wrong state (already plugged) and beyond requested: NACK wins.
    assert_eq!(d.handle(plug(0, 1), &mut b), NACK);
    // Wrong state and busy: ERROR wins.
    assert_eq!(d.handle(unplug(2, 1), &mut b), ERROR);
    // Only busy: BUSY.
    assert_eq!(d.handle(unplug(0, 1), &mut b), BUSY);
    assert!(b.calls().iter().all(|c| c.op == BackendOp::Populate));
    // STATE never consults the backend.
    assert_eq!(
        d.handle(state(0, 2), &mut b),
        Response::state(BlockState::Plugged)
    );
}

#[test]
fn unknown_request_type_is_error_and_device_keeps_working() {
    let mut d = device(64, 8, 4);
    let mut b = MockBackend::new();
    d.handle(plug(0, 1), &mut b);
    let before = (d.config(), d.config_generation());
    for ty in [4, 0x100, u16::MAX] {
        let mut raw = plug(1, 1).to_bytes();
        raw[0..2].copy_from_slice(&u16::to_le_bytes(ty));
        assert_eq!(Request::parse(&raw), Request::Unknown(ty));
        assert_eq!(d.handle(Request::parse(&raw), &mut b), ERROR);
    }
    assert_eq!((d.config(), d.config_generation()), before);
    assert!(!d.needs_reset());
    assert_eq!(d.handle(plug(1, 1), &mut b), ACK);
}

#[test]
fn device_reset_with_plugged_memory_keeps_state_and_sizes() {
    let mut d = device(64, 8, 4);
    let mut b = MockBackend::new();
    d.handle(plug(0, 5), &mut b);
    d.set_needs_reset();
    let cfg = d.config();
    d.device_reset();
    assert_eq!(d.config(), cfg);
    assert!(!d.needs_reset());
    assert_eq!(d.negotiated_features(), 0);
}

#[test]
fn cold_reset_unplugs_all_and_shrinks_usable() {
    let mut d = device(64, 30, 4);
    let mut b = MockBackend::new();
    d.handle(plug(0, 30), &mut b);
    d.set_requested_size(0).unwrap();
    d.system_reset(ResetKind::Cold, &mut b);
    let c = d.config();
    assert_eq!((c.plugged_size, c.usable_region_size), (0, 0));
    check_invariants(&d);
}

#[test]
fn cold_reset_with_failing_backend_leaves_blocks_for_the_driver() {
    // QEMU: "not possible in all scenarios. Then, the guest has to deal
    // with this manually (UNPLUG_ALL)" — reference §2.2 "corner cases".
    let mut d = device(64, 8, 4);
    let mut b = MockBackend::new();
    d.handle(plug(0, 3), &mut b);
    b.set_failing(true);
    d.system_reset(ResetKind::Cold, &mut b);
    assert_eq!(d.config().plugged_size, 3 * BS);
    assert_eq!(d.status(), 0, "the virtio device was reset all the same");
    b.set_failing(false);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    assert_eq!(d.config().plugged_size, 0);
}

#[test]
fn wakeup_with_persistent_suspend_keeps_state_and_usable() {
    let mut p = params(64, 8, 4);
    p.offer_persistent_suspend = true;
    let mut d = Device::new(p).unwrap();
    d.set_driver_features(d.offered_features()).unwrap();
    let mut b = MockBackend::new();
    d.handle(plug(0, 8), &mut b);
    d.set_requested_size(0).unwrap();
    let cfg = d.config();
    d.system_reset(ResetKind::Wakeup, &mut b);
    assert_eq!(d.config(), cfg);
    // The reset forgot the features; a second wakeup without renegotiation
    // unplugs.
    d.system_reset(ResetKind::Wakeup, &mut b);
    assert_eq!(d.config().plugged_size, 0);
}

#[test]
fn features_without_unplugged_inaccessible_when_offered_are_refused() {
    let mut d = Device::new(params(8, 0, 0)).unwrap();
    let err = d.set_driver_features(VIRTIO_F_VERSION_1).unwrap_err();
    assert!(
        err.to_string()
            .contains("VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE"),
        "{err}"
    );
    let err = d
        .set_driver_features(VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE)
        .unwrap_err();
    assert!(err.to_string().contains("VIRTIO_F_VERSION_1"), "{err}");
    assert_eq!(d.negotiated_features(), 0);
    d.set_driver_features(d.offered_features()).unwrap();
}

#[test]
fn new_refuses_bad_parameters_naming_the_field() {
    let base = params(8, 0, 0);
    let cases: [(DeviceParams, &str); 5] = [
        (
            DeviceParams {
                block_size: 2048,
                region_size: 8 * 2048,
                addr: 0,
                ..base
            },
            "block_size 0x800 is below the minimum 0x1000",
        ),
        (
            DeviceParams {
                region_size: 8 * BS + 4096,
                ..base
            },
            "region_size 0x1001000 is not a multiple",
        ),
        (
            DeviceParams {
                requested_size: 9 * BS,
                ..base
            },
            "requested_size 0x1200000 exceeds region_size 0x1000000",
        ),
        (
            DeviceParams {
                addr: u64::MAX - BS + 1,
                ..base
            },
            "overflows",
        ),
        (
            DeviceParams {
                block_size: 4096,
                region_size: 1 << 46,
                addr: 0,
                ..base
            },
            "exceeds the maximum",
        ),
    ];
    for (p, msg) in cases {
        let err = Device::new(p).unwrap_err().to_string();
        assert!(err.contains(msg), "{err:?} should contain {msg:?}");
    }
    // 4 KiB blocks are the floor, and fine.
    let p = DeviceParams {
        block_size: 4096,
        region_size: 1 << 20,
        addr: 0,
        ..base
    };
    assert_eq!(Device::new(p).unwrap().config().block_size, 4096);
}

#[test]
fn set_requested_size_refusals_change_nothing() {
    let mut d = device(8, 2, 0);
    let cfg = d.config();
    assert!(matches!(
        d.set_requested_size(9 * BS),
        Err(ConfigError::RequestedExceedsRegion { .. })
    ));
    assert!(matches!(
        d.set_requested_size(BS / 2),
        Err(ConfigError::Misaligned {
            field: "requested_size",
            ..
        })
    ));
    assert_eq!(d.config(), cfg);
    assert!(!d.take_config_notification());
}

#[test]
fn config_reads_at_any_offset_and_length() {
    let d = device(64, 8, 4);
    let all = d.config().to_bytes();
    let mut b = [0xffu8; 80];
    d.read_config(0, &mut b);
    assert_eq!(&b[..56], &all);
    assert_eq!(&b[56..], &[0; 24]);
    let mut b = [0xffu8; 5];
    d.read_config(53, &mut b);
    assert_eq!(b, [all[53], all[54], all[55], 0, 0]);
    d.read_config(u64::MAX - 1, &mut b);
    assert_eq!(b, [0; 5]);
}

#[test]
fn status_register_keeps_device_owned_bits() {
    let mut d = Device::new(params(8, 0, 0)).unwrap();
    // FEATURES_OK cannot be set by the driver without a successful negotiation.
    d.set_status(status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
    assert_eq!(d.status(), status::ACKNOWLEDGE | status::DRIVER);
    d.set_driver_features(d.offered_features()).unwrap();
    d.set_status(status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK);
    assert_eq!(d.status(), 0x0f);
    d.set_needs_reset();
    assert!(
        d.take_config_notification(),
        "virtio 2.1.2: notify on NEEDS_RESET"
    );
    d.set_status(0x0f);
    assert!(d.needs_reset(), "the driver cannot clear it but by a reset");
    d.set_status(0);
    assert_eq!(d.status(), 0);
}
