//! One test per normative statement of reference §2 (VIRTIO 1.4, 5.15),
//! named by its ID. Driver statements test what the device side can check,
//! or — where only the driver can keep the rule — the device behaviour the
//! rule relies on (said so in the test). MAY statements test that the
//! permitted behaviour is handled. `every_normative_id_has_exactly_one_test`
//! keeps the list complete.

mod common;

use common::*;
use virtio_mem::*;

/// Every ID of reference §2, in document order (v1.4: 71 statements).
const IDS: &[&str] = &[
    "D-CFG-1",
    "D-CFG-2",
    "D-CFG-3", //
    "V-CFG-1",
    "V-CFG-2",
    "V-CFG-3",
    "V-CFG-4",
    "V-CFG-5",
    "V-CFG-6",
    "V-CFG-7",
    "V-CFG-8",
    "V-CFG-9",
    "V-CFG-10",
    "V-CFG-11", //
    "D-INIT-1",
    "D-INIT-2", //
    "V-INIT-1",
    "V-INIT-2",
    "V-INIT-3",
    "V-INIT-4", //
    "D-OP-1",
    "D-OP-2",
    "D-OP-3",
    "D-OP-4",
    "D-OP-5",
    "D-OP-6",
    "D-OP-7",
    "D-OP-8",
    "D-OP-9",
    "D-OP-10",
    "D-OP-11", //
    "V-OP-1",
    "V-OP-2",
    "V-OP-3",
    "V-OP-4",
    "V-OP-5",
    "V-OP-6",
    "V-OP-7",
    "V-OP-8", //
    "D-PLUG-1",
    "V-PLUG-1",
    "V-PLUG-2",
    "V-PLUG-3",
    "V-PLUG-4",
    "V-PLUG-5",
    "V-PLUG-6",
    "V-PLUG-7", //
    "D-UNPLUG-1",
    "V-UNPLUG-1",
    "V-UNPLUG-2",
    "V-UNPLUG-3",
    "V-UNPLUG-4",
    "V-UNPLUG-5",
    "V-UNPLUG-6",
    "V-UNPLUG-7", //
    "D-UA-1",
    "V-UA-1",
    "V-UA-2",
    "V-UA-3",
    "V-UA-4",
    "V-UA-5",
    "V-UA-6", //
    "D-STATE-1",
    "D-STATE-2",
    "V-STATE-1",
    "V-STATE-2",
    "V-STATE-3",
    "V-STATE-4",
    "V-STATE-5",
    "V-STATE-6",
    "V-STATE-7",
];

#[test]
fn every_normative_id_has_exactly_one_test() {
    assert_eq!(IDS.len(), 71, "reference §2.8: 71 statements in v1.4");
    let src = include_str!("normative.rs");
    let mut prefixes = Vec::new();
    for id in IDS {
        let prefix = format!("fn {}_", id.to_lowercase().replace('-', "_"));
        let n = src.matches(prefix.as_str()).count();
        assert_eq!(n, 1, "{id}: {n} tests named `{prefix}…`");
        prefixes.push(prefix);
    }
    // And no test claims an ID that is not in the list.
    for line in src.lines() {
        let t = line.trim_start();
        if (t.starts_with("fn d_") || t.starts_with("fn v_")) && t.contains("()") {
            assert!(
                prefixes.iter().any(|p| t.starts_with(p.as_str())),
                "test with an unknown ID: {t}"
            );
        }
    }
}

/// The default device of these tests: 64 blocks, 8 requested, usable 12.
fn dev() -> Device {
    device(64, 8, 4)
}

fn with_tags(backend: &mut MockBackend, dev: &Device) -> Vec<(u64, u64)> {
    let mut tags = Vec::new();
    for (a, len) in dev.plugged_ranges() {
        let mut p = a;
        while p < a + len {
            backend.write_tag(p, p ^ 0x5a5a);
            tags.push((p, p ^ 0x5a5a));
            p += 512 * 1024;
        }
    }
    tags
}

fn assert_tags(backend: &MockBackend, tags: &[(u64, u64)]) {
    for &(p, t) in tags {
        assert_eq!(
            backend.read_tag(p),
            t,
            "plugged memory at {p:#x} was modified"
        );
    }
}

// ---- 5.15.4.1 driver: configuration layout ----

#[test]
fn d_cfg_1_config_writes_are_ignored_and_counted() {
    let mut d = dev();
    let before = d.config();
    let gen = d.config_generation();
    d.write_config(Config::OFFSET_REQUESTED_SIZE, &u64::MAX.to_le_bytes());
    d.write_config(0, &[0xff; 56]);
    assert_eq!(d.config(), before);
    assert_eq!(d.config_generation(), gen);
    assert_eq!(d.ignored_config_writes(), 2);
}

#[test]
fn d_cfg_2_padding_reads_zero_and_parsing_ignores_it() {
    let d = dev();
    let mut b = [0xaau8; 56];
    d.read_config(0, &mut b);
    assert_eq!(&b[10..16], &[0; 6]);
    b[10..16].fill(0xff);
    assert_eq!(Config::from_bytes(&b), d.config());
}

#[test]
fn d_cfg_3_node_id_is_only_an_offer_with_acpi_pxm() {
    // Device side: ACPI_PXM is offered only when configured; a driver
    // acking it otherwise is refused, so node_id cannot become meaningful.
    let mut p = params(8, 0, 0);
    p.node_id = 3;
    let mut d = Device::new(p).unwrap();
    assert_eq!(d.offered_features() & VIRTIO_MEM_F_ACPI_PXM, 0);
    assert!(matches!(
        d.set_driver_features(d.offered_features() | VIRTIO_MEM_F_ACPI_PXM),
        Err(FeatureError::NotOffered {
            extra: VIRTIO_MEM_F_ACPI_PXM,
            ..
        })
    ));
    p.offer_acpi_pxm = true;
    let mut d = Device::new(p).unwrap();
    d.set_driver_features(d.offered_features()).unwrap();
    assert_eq!(
        d.negotiated_features() & VIRTIO_MEM_F_ACPI_PXM,
        VIRTIO_MEM_F_ACPI_PXM
    );
    assert_eq!(d.config().node_id, 3);
}

// ---- 5.15.4.2 device: configuration layout ----

#[test]
fn v_cfg_1_may_change_usable_and_requested_size() {
    let mut d = dev();
    d.set_requested_size(20 * BS).unwrap();
    assert_eq!(d.config().requested_size, 20 * BS);
    assert_eq!(d.config().usable_region_size, 24 * BS);
}

#[test]
fn v_cfg_2_fixed_fields_never_change() {
    let mut d = dev();
    let mut b = MockBackend::new();
    let f = fixed(&d.config());
    d.handle(plug(0, 4), &mut b);
    d.set_requested_size(64 * BS).unwrap();
    d.handle(plug(4, 40), &mut b);
    d.handle(unplug(0, 2), &mut b);
    d.handle(Request::UnplugAll, &mut b);
    d.device_reset();
    d.system_reset(ResetKind::Cold, &mut b);
    d.system_reset(ResetKind::Wakeup, &mut b);
    assert_eq!(fixed(&d.config()), f);
}

#[test]
fn v_cfg_3_plugged_size_reflects_plugged_blocks() {
    let mut d = dev();
    let mut b = MockBackend::new();
    assert_eq!(d.handle(plug(2, 3), &mut b), ACK);
    assert_eq!(d.config().plugged_size, 3 * BS);
    assert_eq!(d.handle(unplug(3, 1), &mut b), ACK);
    assert_eq!(d.config().plugged_size, 2 * BS);
    check_invariants(&d);
}

#[test]
fn v_cfg_4_usable_region_at_least_requested() {
    // Even with no extent and after requested_size went up and down.
    let mut d = device(64, 0, 0);
    for r in [1, 64, 3, 0, 17] {
        d.set_requested_size(r * BS).unwrap();
        let c = d.config();
        assert!(c.usable_region_size >= c.requested_size, "{c:?}");
    }
}

#[test]
fn v_cfg_5_block_size_must_be_a_power_of_two() {
    let mut p = params(8, 0, 0);
    p.block_size = 3 * MIB;
    p.region_size = 24 * MIB;
    assert_eq!(
        Device::new(p).unwrap_err(),
        ConfigError::BlockSizeNotPowerOfTwo(3 * MIB)
    );
    assert!(dev().config().block_size.is_power_of_two());
}

#[test]
fn v_cfg_6_sizes_are_block_multiples() {
    for (field, mut p) in [
        ("addr", params(8, 0, 0)),
        ("region_size", params(8, 0, 0)),
        ("requested_size", params(8, 0, 0)),
    ] {
        match field {
            "addr" => p.addr += MIB,
            "region_size" => p.region_size += MIB,
            _ => p.requested_size = MIB,
        }
        assert!(
            matches!(Device::new(p), Err(ConfigError::Misaligned { field: f, .. }) if f == field),
            "{field}"
        );
    }
    let mut d = dev();
    assert!(d.set_requested_size(BS + 4096).is_err());
    // An extent that is not a block multiple still yields an aligned usable size.
    let mut p = params(64, 1, 0);
    p.usable_extent = 4096;
    assert_eq!(Device::new(p).unwrap().config().usable_region_size, 2 * BS);
    check_invariants(&d);
}

#[test]
fn v_cfg_7_region_size_zero_is_accepted() {
    // "0 or greater" is vacuous for an unsigned field; the only boundary is 0.
    let mut d = device(0, 0, 4);
    let mut b = MockBackend::new();
    assert_eq!(d.config().region_size, 0);
    assert_eq!(d.handle(plug(0, 1), &mut b), ERROR);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    check_invariants(&d);
}

#[test]
fn v_cfg_8_usable_region_does_not_shrink_outside_unplug_all() {
    let mut d = device(64, 32, 4);
    let mut b = MockBackend::new();
    assert_eq!(d.config().usable_region_size, 36 * BS);
    d.set_requested_size(2 * BS).unwrap();
    d.handle(plug(0, 2), &mut b);
    d.handle(unplug(0, 1), &mut b);
    d.device_reset();
    assert_eq!(d.config().usable_region_size, 36 * BS);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    assert_eq!(d.config().usable_region_size, 6 * BS);
}

#[test]
fn v_cfg_9_notification_on_requested_change_but_not_in_unplug_all() {
    let mut d = device(64, 32, 4);
    let mut b = MockBackend::new();
    d.set_requested_size(4 * BS).unwrap();
    assert!(d.take_config_notification());
    assert!(!d.take_config_notification(), "taken once");
    let gen = d.config_generation();
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    assert_eq!(d.config().usable_region_size, 8 * BS, "usable shrank");
    assert!(d.config_generation() != gen, "config changed");
    assert!(!d.take_config_notification(), "UNPLUG_ALL raises none");
}

#[test]
fn v_cfg_10_no_notification_for_plugged_size() {
    let mut d = dev();
    let mut b = MockBackend::new();
    let gen = d.config_generation();
    assert_eq!(d.handle(plug(0, 2), &mut b), ACK);
    assert_eq!(d.handle(unplug(0, 1), &mut b), ACK);
    assert!(!d.take_config_notification());
    assert_eq!(
        d.config_generation(),
        gen.wrapping_add(2),
        "generation still moves"
    );
}

#[test]
fn v_cfg_11_notification_even_if_nothing_changed() {
    let mut d = dev();
    let before = d.config();
    d.set_requested_size(before.requested_size).unwrap();
    assert_eq!(d.config(), before);
    assert!(d.take_config_notification());
}

// ---- 5.15.5.1 driver: initialization ----

#[test]
fn d_init_1_accepting_unplugged_inaccessible_succeeds() {
    let mut d = Device::new(params(8, 0, 0)).unwrap();
    let offered = d.offered_features();
    assert_ne!(offered & VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, 0);
    d.set_status(status::ACKNOWLEDGE | status::DRIVER);
    d.set_driver_features(offered).unwrap();
    assert_ne!(d.status() & status::FEATURES_OK, 0);
    assert!(d.unplugged_inaccessible());
}

#[test]
fn d_init_2_unplug_all_until_it_succeeds() {
    // A new driver finds memory plugged (plugged_size > 0) and retries
    // UNPLUG_ALL through BUSY until ACK.
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 4), &mut b);
    d.device_reset();
    assert_eq!(d.config().plugged_size, 4 * BS);
    b.set_busy(true);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), BUSY);
    b.set_busy(false);
    b.fail_nth_call(1);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), BUSY);
    assert_eq!(d.config().plugged_size, 4 * BS);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    assert_eq!(d.config().plugged_size, 0);
}

// ---- 5.15.5.2 device: initialization ----

#[test]
fn v_init_1_features_ok_refused_without_unplugged_inaccessible() {
    let mut d = Device::new(params(8, 0, 0)).unwrap();
    let acked = d.offered_features() & !VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE;
    assert_eq!(
        d.set_driver_features(acked),
        Err(FeatureError::RequiredNotAcked {
            acked,
            name: "VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE",
            bit: VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE,
        })
    );
    assert_eq!(d.status() & status::FEATURES_OK, 0);
    // Not offered: not required.
    let mut p = params(8, 0, 0);
    p.offer_unplugged_inaccessible = false;
    let mut d = Device::new(p).unwrap();
    d.set_driver_features(VIRTIO_F_VERSION_1).unwrap();
    assert!(!d.unplugged_inaccessible());
}

#[test]
fn v_init_2_device_reset_keeps_block_states() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(1, 3), &mut b);
    let runs = d.plugged_ranges();
    d.set_status(status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK);
    d.set_status(0);
    assert_eq!(d.status(), 0);
    assert_eq!(d.plugged_ranges(), runs);
    assert_eq!(d.config().plugged_size, 3 * BS);
}

#[test]
fn v_init_3_device_reset_leaves_plugged_memory_alone() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 4), &mut b);
    let tags = with_tags(&mut b, &d);
    let calls = b.calls().len();
    d.device_reset();
    assert_eq!(b.calls().len(), calls, "no backend call in a device reset");
    assert!(b.is_populated(blk(0), 4 * BS));
    assert_tags(&b, &tags);
}

#[test]
fn v_init_4_persistent_suspend_offered_when_configured() {
    let mut p = params(8, 0, 0);
    assert_eq!(
        Device::new(p).unwrap().offered_features() & VIRTIO_MEM_F_PERSISTENT_SUSPEND,
        0
    );
    p.offer_persistent_suspend = true;
    assert_ne!(
        Device::new(p).unwrap().offered_features() & VIRTIO_MEM_F_PERSISTENT_SUSPEND,
        0
    );
}

// ---- 5.15.6.1 driver: operation ----

#[test]
fn d_op_1_unplugged_memory_may_be_thrown_away() {
    // Driver-only rule. The device relies on it: on UNPLUG it discards the
    // blocks, so anything the driver wrote there afterwards is not kept.
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 1), &mut b);
    b.write_tag(blk(0), 7);
    d.handle(unplug(0, 1), &mut b);
    assert_eq!(b.read_tag(blk(0)), 0);
    assert!(!b.is_populated(blk(0), BS));
}

#[test]
fn d_op_2_nothing_is_populated_beyond_usable() {
    // Driver-only rule. The device never backs memory outside the usable
    // region: such a PLUG is an ERROR and no backend call is made.
    let mut d = dev();
    let mut b = MockBackend::new();
    assert_eq!(d.handle(plug(12, 1), &mut b), ERROR);
    assert!(b.calls().is_empty());
}

#[test]
fn d_op_3_only_plugged_ranges_are_reported_for_dma() {
    // Driver-only rule (DMA). The VMM maps for DMA what plugged_ranges()
    // reports, which is exactly the plugged blocks.
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 2), &mut b);
    d.handle(plug(5, 1), &mut b);
    assert_eq!(d.plugged_ranges(), vec![(blk(0), 2 * BS), (blk(5), BS)]);
}

#[test]
fn d_op_4_unplugged_readable_without_unplugged_inaccessible() {
    // Without the feature the VMM must keep unplugged memory readable; the
    // device says so and discarded memory reads as zeros.
    let mut p = params(64, 8, 4);
    p.offer_unplugged_inaccessible = false;
    let mut d = Device::new(p).unwrap();
    d.set_driver_features(VIRTIO_F_VERSION_1).unwrap();
    assert!(!d.unplugged_inaccessible());
    let mut b = MockBackend::new();
    d.handle(plug(0, 1), &mut b);
    d.handle(unplug(0, 1), &mut b);
    assert_eq!(b.read_tag(blk(0)), 0);
}

#[test]
fn d_op_5_unplugged_inaccessible_negotiated() {
    // Driver-only rule. The device reports the negotiated feature so the
    // VMM can make unplugged memory inaccessible; a device reset forgets it.
    let mut d = dev();
    assert!(d.unplugged_inaccessible());
    d.device_reset();
    assert!(!d.unplugged_inaccessible());
}

#[test]
fn d_op_6_unplug_discards_before_ack() {
    // Driver-only rule. The device discards the memory of every ACKed
    // UNPLUG, so a block still in use would lose its data.
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 2), &mut b);
    b.clear_calls();
    assert_eq!(d.handle(unplug(0, 2), &mut b), ACK);
    assert_eq!(
        b.calls(),
        &[BackendCall {
            op: BackendOp::Discard,
            addr: blk(0),
            len: 2 * BS,
            ok: true
        }]
    );
}

#[test]
fn d_op_7_replugged_block_content_is_undefined() {
    // The device does not preserve or initialise content across
    // unplug/plug: the old data is gone, nothing else is promised.
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 1), &mut b);
    b.write_tag(blk(0), 9);
    d.handle(unplug(0, 1), &mut b);
    d.handle(plug(0, 1), &mut b);
    assert_ne!(b.read_tag(blk(0)), 9);
}

#[test]
fn d_op_8_requested_size_changes_are_announced() {
    let mut d = dev();
    let gen = d.config_generation();
    d.set_requested_size(10 * BS).unwrap();
    assert!(d.take_config_notification());
    assert_ne!(d.config_generation(), gen);
    let mut b = [0; 8];
    d.read_config(Config::OFFSET_REQUESTED_SIZE, &mut b);
    assert_eq!(u64::from_le_bytes(b), 10 * BS);
}

#[test]
fn d_op_9_device_bounds_plugging_by_requested_size() {
    // Driver-side judgement; the device enforces the upper bound with NACK.
    let mut d = dev();
    let mut b = MockBackend::new();
    assert_eq!(d.handle(plug(0, 8), &mut b), ACK);
    assert_eq!(d.handle(plug(8, 1), &mut b), NACK);
}

#[test]
fn d_op_10_may_stay_below_requested_size() {
    let mut d = dev();
    let mut b = MockBackend::new();
    assert_eq!(d.handle(plug(0, 3), &mut b), ACK);
    // Five blocks short, and the device is content: requests keep working.
    assert_eq!(
        d.handle(state(0, 3), &mut b),
        Response::state(BlockState::Plugged)
    );
    assert_eq!(d.handle(unplug(0, 1), &mut b), ACK);
    check_invariants(&d);
}

#[test]
fn d_op_11_wakeup_without_persistent_suspend_unplugs() {
    // Driver-only rule. A driver that suspends without the feature loses
    // its memory: the wakeup reset unplugs everything.
    let mut p = params(64, 8, 4);
    p.offer_persistent_suspend = true;
    let mut d = Device::new(p).unwrap();
    d.set_driver_features(d.offered_features() & !VIRTIO_MEM_F_PERSISTENT_SUSPEND)
        .unwrap();
    let mut b = MockBackend::new();
    d.handle(plug(0, 2), &mut b);
    d.system_reset(ResetKind::Wakeup, &mut b);
    assert_eq!(d.config().plugged_size, 0);
}

// ---- 5.15.6.2 device: operation ----

#[test]
fn v_op_1_plugged_memory_is_backed_like_ram() {
    let mut d = dev();
    let mut b = MockBackend::new();
    assert_eq!(d.handle(plug(3, 2), &mut b), ACK);
    assert_eq!(
        b.calls(),
        &[BackendCall {
            op: BackendOp::Populate,
            addr: blk(3),
            len: 2 * BS,
            ok: true
        }]
    );
    b.write_tag(blk(4), 11);
    assert_eq!(b.read_tag(blk(4)), 11);
}

#[test]
fn v_op_2_unplugged_memory_may_be_discarded() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 1), &mut b);
    b.clear_calls();
    d.handle(Request::UnplugAll, &mut b);
    assert_eq!(
        b.calls(),
        &[BackendCall {
            op: BackendOp::Discard,
            addr: BASE,
            len: 64 * BS,
            ok: true
        }]
    );
}

#[test]
fn v_op_3_plugged_memory_never_modified() {
    let mut d = device(64, 64, 0);
    let mut b = MockBackend::new();
    d.handle(plug(0, 4), &mut b);
    d.handle(plug(10, 2), &mut b);
    let tags = with_tags(&mut b, &d);
    // Everything that must not touch them: other blocks, failing and
    // erroneous requests, STATE, resets of the virtio device.
    d.handle(plug(20, 3), &mut b);
    d.handle(unplug(20, 3), &mut b);
    d.handle(plug(2, 4), &mut b); // ERROR: partly plugged
    d.handle(unplug(4, 7), &mut b); // ERROR: mixed
    b.fail_nth_call(1);
    d.handle(plug(30, 1), &mut b); // BUSY, rollback discards only block 30
    b.set_busy(true);
    d.handle(Request::UnplugAll, &mut b); // BUSY
    b.set_busy(false);
    b.fail_nth_call(1);
    d.handle(Request::UnplugAll, &mut b); // BUSY
    d.handle(state(0, 64), &mut b);
    d.device_reset();
    assert_tags(&b, &tags);
    assert_eq!(d.config().plugged_size, 6 * BS);
}

#[test]
fn v_op_4_plugged_memory_is_accessible() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 5), &mut b);
    d.handle(unplug(1, 1), &mut b);
    for (a, len) in d.plugged_ranges() {
        assert!(b.is_populated(a, len), "{a:#x}+{len:#x}");
    }
}

#[test]
fn v_op_5_unplugged_usable_memory_stays_readable_without_feature() {
    // The device never asks the backend to protect memory — discard keeps
    // it readable (as zeros) — and it reports the feature as not
    // negotiated, so the VMM leaves unplugged memory readable.
    let mut p = params(64, 8, 4);
    p.offer_unplugged_inaccessible = false;
    let mut d = Device::new(p).unwrap();
    d.set_driver_features(VIRTIO_F_VERSION_1).unwrap();
    let mut b = MockBackend::new();
    d.handle(plug(0, 1), &mut b);
    d.handle(unplug(0, 1), &mut b);
    assert!(b
        .calls()
        .iter()
        .all(|c| c.op != BackendOp::Populate || c.addr == blk(0)));
    assert!(!d.unplugged_inaccessible());
    assert_eq!(b.read_tag(blk(5)), 0);
}

#[test]
fn v_op_6_system_reset_may_change_block_state() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 2), &mut b);
    d.system_reset(ResetKind::Cold, &mut b);
    assert_eq!(d.block_state(blk(0), 2), Some(BlockState::Unplugged));
}

#[test]
fn v_op_7_system_reset_unplugs_all() {
    let mut d = device(64, 32, 4);
    let mut b = MockBackend::new();
    d.handle(plug(0, 20), &mut b);
    d.set_requested_size(2 * BS).unwrap();
    d.system_reset(ResetKind::Cold, &mut b);
    let c = d.config();
    assert_eq!(c.plugged_size, 0);
    assert_eq!(c.usable_region_size, 6 * BS, "recomputed, shrunk");
    assert_eq!(c.requested_size, 2 * BS, "the host's target survives");
    assert_eq!(b.calls().last().unwrap().op, BackendOp::Discard);
    assert_eq!(d.status(), 0);
}

#[test]
fn v_op_8_wakeup_keeps_blocks_with_persistent_suspend() {
    let mut p = params(64, 8, 4);
    p.offer_persistent_suspend = true;
    let mut d = Device::new(p).unwrap();
    d.set_driver_features(d.offered_features()).unwrap();
    let mut b = MockBackend::new();
    d.handle(plug(0, 3), &mut b);
    let tags = with_tags(&mut b, &d);
    let calls = b.calls().len();
    d.system_reset(ResetKind::Wakeup, &mut b);
    assert_eq!(d.config().plugged_size, 3 * BS);
    assert_eq!(b.calls().len(), calls);
    assert_tags(&b, &tags);
    // A cold reset still unplugs.
    d.system_reset(ResetKind::Cold, &mut b);
    assert_eq!(d.config().plugged_size, 0);
}

// ---- 5.15.6.3 PLUG ----

#[test]
fn d_plug_1_response_carries_only_a_type() {
    let mut d = dev();
    let mut b = MockBackend::new();
    let req = plug(0, 1);
    let bytes = d.handle(req, &mut b).to_bytes();
    assert_eq!(&bytes[2..], &[0; 8], "padding and state field zero");
    let mut noisy = bytes;
    noisy[2..].fill(0x3c);
    assert_eq!(Response::parse_for(&req, &noisy), Ok(ACK));
}

#[test]
fn v_plug_1_header_padding_ignored() {
    let mut b = MockBackend::new();
    let mut raw = plug(0, 2).to_bytes();
    raw[2..8].fill(0xff);
    let mut d = dev();
    assert_eq!(d.handle(Request::parse(&raw), &mut b), ACK);
    assert_eq!(d.config().plugged_size, 2 * BS);
}

#[test]
fn v_plug_2_request_padding_ignored() {
    let mut b = MockBackend::new();
    let mut raw = plug(0, 2).to_bytes();
    raw[18..24].fill(0xff);
    let mut d = dev();
    assert_eq!(d.handle(Request::parse(&raw), &mut b), ACK);
    assert_eq!(d.block_state(blk(0), 2), Some(BlockState::Plugged));
}

#[test]
fn v_plug_3_error_on_misaligned_zero_or_outside_usable() {
    let mut d = dev();
    let mut b = MockBackend::new();
    for req in [
        Request::Plug {
            addr: blk(0) + 4096,
            nb_blocks: 1,
        },
        Request::Plug {
            addr: blk(0),
            nb_blocks: 0,
        },
        Request::Plug {
            addr: blk(11),
            nb_blocks: 2,
        }, // crosses the usable end
        Request::Plug {
            addr: blk(12),
            nb_blocks: 1,
        }, // in region, beyond usable
        Request::Plug {
            addr: BASE - BS,
            nb_blocks: 1,
        },
        Request::Plug {
            addr: u64::MAX - BS + 1,
            nb_blocks: 2,
        },
    ] {
        assert_eq!(d.handle(req, &mut b), ERROR, "{req:?}");
    }
    assert!(b.calls().is_empty());
    assert_eq!(d.config().plugged_size, 0);
}

#[test]
fn v_plug_4_error_if_any_block_already_plugged() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(3, 1), &mut b);
    assert_eq!(d.handle(plug(0, 4), &mut b), ERROR);
    assert_eq!(d.handle(plug(3, 1), &mut b), ERROR);
    assert_eq!(d.config().plugged_size, BS);
}

#[test]
fn v_plug_5_busy_leaves_everything_unchanged() {
    let mut d = dev();
    let mut b = MockBackend::new();
    let before = (d.config(), d.config_generation());
    b.set_busy(true);
    assert_eq!(d.handle(plug(0, 1), &mut b), BUSY);
    b.set_busy(false);
    b.fail_nth_call(1);
    assert_eq!(d.handle(plug(0, 1), &mut b), BUSY);
    assert!(matches!(
        d.last_backend_error(),
        Some(BackendError::Populate { .. })
    ));
    assert_eq!((d.config(), d.config_generation()), before);
    assert_eq!(d.handle(plug(0, 1), &mut b), ACK, "retry works");
}

#[test]
fn v_plug_6_ack_when_all_blocks_plugged() {
    let mut d = dev();
    let mut b = MockBackend::new();
    assert_eq!(d.handle(plug(0, 8), &mut b), ACK);
    assert_eq!(d.block_state(blk(0), 8), Some(BlockState::Plugged));
}

#[test]
fn v_plug_7_plugged_size_grows_by_the_request() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 2), &mut b);
    d.handle(plug(5, 3), &mut b);
    assert_eq!(d.config().plugged_size, 5 * BS);
    let mut raw = [0; 8];
    d.read_config(Config::OFFSET_PLUGGED_SIZE, &mut raw);
    assert_eq!(u64::from_le_bytes(raw), 5 * BS);
}

// ---- 5.15.6.4 UNPLUG ----

#[test]
fn d_unplug_1_response_carries_only_a_type() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 1), &mut b);
    let req = unplug(0, 1);
    let bytes = d.handle(req, &mut b).to_bytes();
    assert_eq!(&bytes[2..], &[0; 8]);
    let mut noisy = bytes;
    noisy[8] = 0x99;
    assert_eq!(Response::parse_for(&req, &noisy), Ok(ACK));
}

#[test]
fn v_unplug_1_header_padding_ignored() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 2), &mut b);
    let mut raw = unplug(0, 2).to_bytes();
    raw[2..8].fill(0x81);
    assert_eq!(d.handle(Request::parse(&raw), &mut b), ACK);
    assert_eq!(d.config().plugged_size, 0);
}

#[test]
fn v_unplug_2_request_padding_ignored() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 2), &mut b);
    let mut raw = unplug(1, 1).to_bytes();
    raw[18..24].fill(0x81);
    assert_eq!(d.handle(Request::parse(&raw), &mut b), ACK);
    assert_eq!(d.plugged_ranges(), vec![(blk(0), BS)]);
}

#[test]
fn v_unplug_3_error_on_misaligned_zero_or_outside_usable() {
    let mut d = device(64, 64, 0);
    let mut b = MockBackend::new();
    d.handle(plug(0, 64), &mut b);
    d.set_requested_size(0).unwrap(); // usable stays 64 blocks
    b.clear_calls();
    for req in [
        Request::Unplug {
            addr: blk(1) + 512,
            nb_blocks: 1,
        },
        Request::Unplug {
            addr: blk(1),
            nb_blocks: 0,
        },
        Request::Unplug {
            addr: blk(63),
            nb_blocks: 2,
        },
        Request::Unplug {
            addr: blk(64),
            nb_blocks: 1,
        },
        Request::Unplug {
            addr: 0,
            nb_blocks: 1,
        },
    ] {
        assert_eq!(d.handle(req, &mut b), ERROR, "{req:?}");
    }
    assert!(b.calls().is_empty());
    assert_eq!(d.config().plugged_size, 64 * BS);
}

#[test]
fn v_unplug_4_error_if_any_block_already_unplugged() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 2), &mut b);
    assert_eq!(d.handle(unplug(1, 2), &mut b), ERROR);
    assert_eq!(d.handle(unplug(5, 1), &mut b), ERROR);
    assert_eq!(d.config().plugged_size, 2 * BS);
}

#[test]
fn v_unplug_5_busy_leaves_everything_unchanged() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 2), &mut b);
    let before = (d.config(), d.config_generation(), d.plugged_ranges());
    b.set_busy(true);
    assert_eq!(d.handle(unplug(0, 2), &mut b), BUSY);
    b.set_busy(false);
    b.fail_nth_call(1);
    assert_eq!(d.handle(unplug(0, 2), &mut b), BUSY);
    assert!(matches!(
        d.last_backend_error(),
        Some(BackendError::Discard { .. })
    ));
    assert_eq!(
        (d.config(), d.config_generation(), d.plugged_ranges()),
        before
    );
}

#[test]
fn v_unplug_6_ack_when_all_blocks_unplugged() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 4), &mut b);
    assert_eq!(d.handle(unplug(1, 2), &mut b), ACK);
    assert_eq!(d.block_state(blk(1), 2), Some(BlockState::Unplugged));
    assert_eq!(d.block_state(blk(0), 4), Some(BlockState::Mixed));
}

#[test]
fn v_unplug_7_plugged_size_shrinks_by_the_request() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 6), &mut b);
    d.handle(unplug(2, 3), &mut b);
    assert_eq!(d.config().plugged_size, 3 * BS);
}

// ---- 5.15.6.5 UNPLUG ALL ----

#[test]
fn d_ua_1_response_carries_only_a_type() {
    let mut d = dev();
    let mut b = MockBackend::new();
    let bytes = d.handle(Request::UnplugAll, &mut b).to_bytes();
    assert_eq!(&bytes[2..], &[0; 8]);
    let mut noisy = bytes;
    noisy[2..].fill(0x17);
    assert_eq!(Response::parse_for(&Request::UnplugAll, &noisy), Ok(ACK));
}

#[test]
fn v_ua_1_request_data_ignored() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 3), &mut b);
    let mut raw = Request::UnplugAll.to_bytes();
    raw[2..8].fill(0x42);
    raw[8..18].copy_from_slice(&plug(5, 1).to_bytes()[8..18]);
    assert_eq!(Request::parse(&raw), Request::UnplugAll);
    assert_eq!(d.handle(Request::parse(&raw), &mut b), ACK);
    assert_eq!(d.config().plugged_size, 0);
}

#[test]
fn v_ua_2_request_padding_ignored() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 3), &mut b);
    let mut raw = Request::UnplugAll.to_bytes();
    raw[18..24].fill(0xff);
    assert_eq!(d.handle(Request::parse(&raw), &mut b), ACK);
    assert_eq!(d.config().plugged_size, 0);
}

#[test]
fn v_ua_3_busy_leaves_everything_unchanged() {
    let mut d = device(64, 32, 4);
    let mut b = MockBackend::new();
    d.handle(plug(0, 3), &mut b);
    d.set_requested_size(0).unwrap();
    let before = (d.config(), d.config_generation());
    b.set_busy(true);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), BUSY);
    b.set_busy(false);
    b.fail_nth_call(1);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), BUSY);
    assert_eq!(
        (d.config(), d.config_generation()),
        before,
        "usable not shrunk either"
    );
}

#[test]
fn v_ua_4_ack_when_all_unplugged() {
    let mut d = device(64, 64, 0);
    let mut b = MockBackend::new();
    d.handle(plug(0, 10), &mut b);
    d.handle(plug(40, 7), &mut b);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    assert_eq!(d.block_state(BASE, 64), Some(BlockState::Unplugged));
    assert!(d.plugged_ranges().is_empty());
}

#[test]
fn v_ua_5_plugged_size_zero_after_ack() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 8), &mut b);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    let mut raw = [0xff; 8];
    d.read_config(Config::OFFSET_PLUGGED_SIZE, &mut raw);
    assert_eq!(raw, [0; 8]);
}

#[test]
fn v_ua_6_may_shrink_usable_region_without_notification() {
    let mut d = device(64, 40, 4);
    let mut b = MockBackend::new();
    d.set_requested_size(8 * BS).unwrap();
    d.take_config_notification();
    assert_eq!(d.config().usable_region_size, 44 * BS);
    assert_eq!(d.handle(Request::UnplugAll, &mut b), ACK);
    assert_eq!(d.config().usable_region_size, 12 * BS);
    assert!(!d.take_config_notification());
    check_invariants(&d);
}

// ---- 5.15.6.6 STATE ----

#[test]
fn d_state_1_state_response_has_only_type_and_state() {
    let mut d = dev();
    let mut b = MockBackend::new();
    let req = state(0, 1);
    let bytes = d.handle(req, &mut b).to_bytes();
    assert_eq!(&bytes[2..8], &[0; 6], "padding zero");
    let mut noisy = bytes;
    noisy[2..8].fill(0xcc);
    assert_eq!(
        Response::parse_for(&req, &noisy),
        Ok(Response::state(BlockState::Unplugged))
    );
}

#[test]
fn d_state_2_state_field_only_meaningful_with_ack() {
    let mut d = dev();
    let mut b = MockBackend::new();
    let req = state(12, 1);
    let resp = d.handle(req, &mut b);
    assert_eq!(resp, ERROR);
    let mut noisy = resp.to_bytes();
    noisy[8..10].copy_from_slice(&9u16.to_le_bytes());
    assert_eq!(Response::parse_for(&req, &noisy), Ok(ERROR));
}

#[test]
fn v_state_1_header_padding_ignored() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(0, 1), &mut b);
    let mut raw = state(0, 1).to_bytes();
    raw[2..8].fill(0xee);
    assert_eq!(
        d.handle(Request::parse(&raw), &mut b),
        Response::state(BlockState::Plugged)
    );
}

#[test]
fn v_state_2_request_padding_ignored() {
    let mut d = dev();
    let mut b = MockBackend::new();
    let mut raw = state(0, 1).to_bytes();
    raw[18..24].fill(0xee);
    assert_eq!(
        d.handle(Request::parse(&raw), &mut b),
        Response::state(BlockState::Unplugged)
    );
}

#[test]
fn v_state_3_error_on_misaligned_zero_or_outside_usable() {
    let mut d = dev();
    let mut b = MockBackend::new();
    for req in [
        Request::State {
            addr: blk(0) + 1,
            nb_blocks: 1,
        },
        Request::State {
            addr: blk(0),
            nb_blocks: 0,
        },
        Request::State {
            addr: blk(10),
            nb_blocks: 3,
        },
        Request::State {
            addr: BASE - BS,
            nb_blocks: 2,
        },
        Request::State {
            addr: !(BS - 1),
            nb_blocks: 1,
        },
    ] {
        assert_eq!(d.handle(req, &mut b), ERROR, "{req:?}");
    }
}

#[test]
fn v_state_4_ack_with_state() {
    let mut d = dev();
    let mut b = MockBackend::new();
    let r = d.handle(state(0, 12), &mut b);
    assert_eq!(r.ty, ResponseType::Ack);
    assert!(r.state.is_some());
}

#[test]
fn v_state_5_plugged_if_all_plugged() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(2, 4), &mut b);
    assert_eq!(
        d.handle(state(2, 4), &mut b),
        Response::state(BlockState::Plugged)
    );
    assert_eq!(
        d.handle(state(5, 1), &mut b),
        Response::state(BlockState::Plugged)
    );
}

#[test]
fn v_state_6_unplugged_if_all_unplugged() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(2, 4), &mut b);
    assert_eq!(
        d.handle(state(0, 2), &mut b),
        Response::state(BlockState::Unplugged)
    );
    assert_eq!(
        d.handle(state(6, 6), &mut b),
        Response::state(BlockState::Unplugged)
    );
}

#[test]
fn v_state_7_mixed_otherwise() {
    let mut d = dev();
    let mut b = MockBackend::new();
    d.handle(plug(2, 4), &mut b);
    assert_eq!(
        d.handle(state(1, 2), &mut b),
        Response::state(BlockState::Mixed)
    );
    assert_eq!(
        d.handle(state(5, 2), &mut b),
        Response::state(BlockState::Mixed)
    );
    assert_eq!(
        d.handle(state(0, 12), &mut b),
        Response::state(BlockState::Mixed)
    );
}
