//! Property tests of reference §5.2 over random sequences of requests,
//! requested-size changes, device and system resets and feature
//! negotiation, with a busy or failing backend, checked step by step
//! against a deliberately naive model (a `Vec<bool>` and the spec's rules
//! written out plainly).

mod common;

use common::check_invariants;
use proptest::prelude::*;
use virtio_mem::*;

#[derive(Clone, Debug)]
enum Op {
    /// PLUG (0), UNPLUG (1) or STATE (2) of `nb` blocks from block `first`,
    /// the address moved by `skew` bytes.
    Range {
        ty: u8,
        first: u64,
        nb: u16,
        skew: u64,
    },
    /// An address far from the region.
    Wild {
        ty: u8,
        addr: u64,
        nb: u16,
    },
    UnplugAll,
    /// Any 24 bytes.
    Raw([u8; 24]),
    /// set_requested_size(blocks * block_size + skew).
    SetRequested {
        blocks: u64,
        skew: u64,
    },
    DeviceReset,
    SystemReset {
        wakeup: bool,
    },
    Negotiate {
        persistent_suspend: bool,
    },
}

#[derive(Clone, Debug)]
struct Step {
    op: Op,
    busy: bool,
    failing: bool,
}

fn op(region_blocks: u64) -> impl Strategy<Value = Op> {
    let nb_max = region_blocks as u16 + 3;
    prop_oneof![
        8 => (0u8..3, 0..region_blocks + 3, 0..=nb_max, prop_oneof![9 => Just(0u64), 1 => 1u64..8192])
            .prop_map(|(ty, first, nb, skew)| Op::Range { ty, first, nb, skew }),
        1 => (0u8..3, any::<u64>(), any::<u16>()).prop_map(|(ty, addr, nb)| Op::Wild { ty, addr, nb }),
        2 => Just(Op::UnplugAll),
        1 => any::<[u8; 24]>().prop_map(Op::Raw),
        2 => (0..region_blocks + 2, prop_oneof![9 => Just(0u64), 1 => 1u64..8192])
            .prop_map(|(blocks, skew)| Op::SetRequested { blocks, skew }),
        1 => Just(Op::DeviceReset),
        1 => any::<bool>().prop_map(|wakeup| Op::SystemReset { wakeup }),
        1 => any::<bool>().prop_map(|persistent_suspend| Op::Negotiate { persistent_suspend }),
    ]
}

fn steps(region_blocks: u64) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            op(region_blocks),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(op, busy, failing)| Step { op, busy, failing }),
        1..60,
    )
}

fn params() -> impl Strategy<Value = DeviceParams> {
    (
        prop_oneof![Just(4096u64), Just(2 << 20)],
        0u64..80,
        0u64..1 << 12,
        0u64..10 * 4096,
        any::<bool>(),
        1u64..1 << 20,
    )
        .prop_flat_map(|(bs, blocks, addr_blocks, extent, ps, node)| {
            (0..=blocks).prop_map(move |req| DeviceParams {
                addr: (addr_blocks + 1) * bs,
                region_size: blocks * bs,
                block_size: bs,
                node_id: node as u16,
                requested_size: req * bs,
                offer_acpi_pxm: node % 2 == 0,
                offer_unplugged_inaccessible: true,
                offer_persistent_suspend: ps,
                usable_extent: extent * (bs / 4096),
            })
        })
}

/// The naive model: the spec's rules, block by block.
struct Model {
    p: DeviceParams,
    plugged: Vec<bool>,
    usable: u64,
    requested: u64,
    persistent_suspend: bool,
}

impl Model {
    fn new(p: DeviceParams) -> Model {
        let mut m = Model {
            p,
            plugged: vec![false; (p.region_size / p.block_size) as usize],
            usable: 0,
            requested: p.requested_size,
            persistent_suspend: false,
        };
        m.usable = m.usable_for_requested();
        m
    }

    fn usable_for_requested(&self) -> u64 {
        if self.requested == 0 {
            return 0;
        }
        let want = self
            .p
            .region_size
            .min(self.requested + self.p.usable_extent);
        want.div_ceil(self.p.block_size) * self.p.block_size
    }

    fn plugged_size(&self) -> u64 {
        self.plugged.iter().filter(|&&b| b).count() as u64 * self.p.block_size
    }

    /// Block indexes of a valid range, or None (V-*-3). u128: no overflow here.
    fn blocks(&self, addr: u64, nb: u16) -> Option<std::ops::Range<usize>> {
        let (bs, start) = (self.p.block_size as u128, self.p.addr as u128);
        let (a, end) = (addr as u128, addr as u128 + nb as u128 * bs);
        let ok = nb > 0 && a % bs == 0 && a >= start && end <= start + self.usable as u128;
        ok.then(|| ((a - start) / bs) as usize..((end - start) / bs) as usize)
    }

    fn handle(&mut self, req: Request, busy: bool, failing: bool) -> Response {
        let bs = self.p.block_size;
        match req {
            Request::Plug { addr, nb_blocks } | Request::Unplug { addr, nb_blocks } => {
                let plug = matches!(req, Request::Plug { .. });
                let Some(r) = self.blocks(addr, nb_blocks) else {
                    return Response::new(ResponseType::Error);
                };
                if plug && self.plugged_size() + r.len() as u64 * bs > self.requested {
                    return Response::new(ResponseType::Nack);
                }
                if self.plugged[r.clone()].contains(&plug) {
                    return Response::new(ResponseType::Error);
                }
                if busy || failing {
                    return Response::new(ResponseType::Busy);
                }
                self.plugged[r].fill(plug);
                Response::new(ResponseType::Ack)
            }
            Request::State { addr, nb_blocks } => match self.blocks(addr, nb_blocks) {
                None => Response::new(ResponseType::Error),
                Some(r) => {
                    let n = self.plugged[r.clone()].iter().filter(|&&b| b).count();
                    Response::state(match n {
                        0 => BlockState::Unplugged,
                        n if n == r.len() => BlockState::Plugged,
                        _ => BlockState::Mixed,
                    })
                }
            },
            Request::UnplugAll => {
                if self.plugged.contains(&true) {
                    if busy || failing {
                        return Response::new(ResponseType::Busy);
                    }
                    self.plugged.fill(false);
                }
                self.usable = self.usable_for_requested();
                Response::new(ResponseType::Ack)
            }
            Request::Unknown(_) => Response::new(ResponseType::Error),
        }
    }
}

fn request(ty: u8, addr: u64, nb_blocks: u16) -> Request {
    match ty {
        0 => Request::Plug { addr, nb_blocks },
        1 => Request::Unplug { addr, nb_blocks },
        _ => Request::State { addr, nb_blocks },
    }
}

/// Tag the first page of every plugged block; V-OP-3 says they survive.
fn tag_plugged(dev: &Device, b: &mut MockBackend, tags: &mut Vec<u64>) {
    for (a, len) in dev.plugged_ranges() {
        let mut blk = a;
        while blk < a + len {
            if b.read_tag(blk) == 0 {
                b.write_tag(blk, blk | 1);
                tags.push(blk);
            }
            blk += dev.config().block_size;
        }
    }
}

fn run(p: DeviceParams, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut dev = Device::new(p).expect("generated params are valid");
    let mut model = Model::new(p);
    let mut b = MockBackend::new();
    let mut tags: Vec<u64> = Vec::new();
    let bs = p.block_size;
    check_invariants(&dev);
    for step in steps {
        let before = dev.config();
        let before_runs = dev.plugged_ranges();
        let before_gen = dev.config_generation();
        b.set_busy(step.busy);
        b.set_failing(step.failing);
        let mut resp = None;
        let mut shrink_allowed = false;
        let mut notify_expected = false;
        match step.op {
            Op::Range {
                ty,
                first,
                nb,
                skew,
            } => {
                let req = request(ty, p.addr + first * bs + skew, nb);
                resp = Some((
                    req,
                    dev.handle(req, &mut b),
                    model.handle(req, step.busy, step.failing),
                ));
            }
            Op::Wild { ty, addr, nb } => {
                let req = request(ty, addr, nb);
                resp = Some((
                    req,
                    dev.handle(req, &mut b),
                    model.handle(req, step.busy, step.failing),
                ));
            }
            Op::UnplugAll => {
                shrink_allowed = true;
                let req = Request::UnplugAll;
                resp = Some((
                    req,
                    dev.handle(req, &mut b),
                    model.handle(req, step.busy, step.failing),
                ));
            }
            Op::Raw(bytes) => {
                let req = Request::parse(&bytes);
                shrink_allowed = req == Request::UnplugAll;
                resp = Some((
                    req,
                    dev.handle(req, &mut b),
                    model.handle(req, step.busy, step.failing),
                ));
            }
            Op::SetRequested { blocks, skew } => {
                let size = blocks * bs + skew;
                let ok = dev.set_requested_size(size).is_ok();
                prop_assert_eq!(ok, skew == 0 && size <= p.region_size);
                if ok {
                    notify_expected = true;
                    model.requested = size;
                    model.usable = model.usable.max(model.usable_for_requested());
                }
            }
            Op::DeviceReset => {
                dev.device_reset();
                model.persistent_suspend = false;
            }
            Op::SystemReset { wakeup } => {
                shrink_allowed = true;
                let kind = if wakeup {
                    ResetKind::Wakeup
                } else {
                    ResetKind::Cold
                };
                dev.system_reset(kind, &mut b);
                if !(wakeup && model.persistent_suspend) {
                    model.handle(Request::UnplugAll, step.busy, step.failing);
                }
                model.persistent_suspend = false;
            }
            Op::Negotiate { persistent_suspend } => {
                let mut acked = dev.offered_features();
                if !persistent_suspend {
                    acked &= !VIRTIO_MEM_F_PERSISTENT_SUSPEND;
                }
                dev.set_driver_features(acked).expect("offered features");
                model.persistent_suspend = acked & VIRTIO_MEM_F_PERSISTENT_SUSPEND != 0;
            }
        }
        b.set_busy(false);
        b.set_failing(false);
        let after = dev.config();

        // Model equality: responses, every block, every config field.
        if let Some((req, got, want)) = resp {
            prop_assert_eq!(got, want, "{:?}", req);
            // 7: a non-ACK answer changes nothing, not even the generation.
            if got.ty != ResponseType::Ack {
                prop_assert_eq!(after, before);
                prop_assert_eq!(dev.plugged_ranges(), before_runs.clone());
                prop_assert_eq!(dev.config_generation(), before_gen);
            }
            // 10: PLUG never takes plugged_size past requested_size.
            if matches!(req, Request::Plug { .. }) && got.ty == ResponseType::Ack {
                prop_assert!(after.plugged_size <= after.requested_size);
            }
            // The wire round trip of what a driver would read.
            prop_assert_eq!(Response::parse_for(&req, &got.to_bytes()), Ok(got));
        }
        prop_assert_eq!(after.plugged_size, model.plugged_size());
        prop_assert_eq!(after.usable_region_size, model.usable);
        prop_assert_eq!(after.requested_size, model.requested);
        for (i, &on) in model.plugged.iter().enumerate() {
            let want = if on {
                BlockState::Plugged
            } else {
                BlockState::Unplugged
            };
            prop_assert_eq!(dev.block_state(p.addr + i as u64 * bs, 1), Some(want));
        }
        // 1-4.
        check_invariants(&dev);
        // 5: usable shrinks only in UNPLUG_ALL or a system reset.
        if !shrink_allowed {
            prop_assert!(after.usable_region_size >= before.usable_region_size);
        }
        // 6: fixed fields.
        prop_assert_eq!(common::fixed(&after), common::fixed(&before));
        // 9: a notification iff requested_size was set; never for
        // plugged_size or UNPLUG_ALL (V-CFG-9/10), spurious allowed (11).
        let changed_host_fields = after.requested_size != before.requested_size
            || after.usable_region_size != before.usable_region_size;
        let notified = dev.take_config_notification();
        prop_assert_eq!(notified, notify_expected);
        if changed_host_fields && !shrink_allowed {
            prop_assert!(notified);
        }
        // Any config change moves the generation.
        if after != before {
            prop_assert_ne!(dev.config_generation(), before_gen);
        }
        // V-OP-3: tags of plugged blocks survive everything but their own
        // unplug.
        let plugged_now: Vec<u64> = tags
            .iter()
            .copied()
            .filter(|&t| dev.block_state(t, 1) == Some(BlockState::Plugged))
            .collect();
        for &t in &plugged_now {
            prop_assert_eq!(b.read_tag(t), t | 1, "plugged block {:#x} modified", t);
        }
        tags = plugged_now;
        tag_plugged(&dev, &mut b, &mut tags);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn invariants_and_model_agree_over_random_histories(
        (p, s) in params().prop_flat_map(|p| (Just(p), steps(p.region_size / p.block_size)))
    ) {
        run(p, s)?;
    }

    #[test]
    fn wire_request_round_trip(bytes in any::<[u8; 24]>()) {
        let req = Request::parse(&bytes);
        let again = req.to_bytes();
        prop_assert_eq!(Request::parse(&again), req);
        // Only type and request-specific data survive: padding is ignored.
        prop_assert_eq!(&again[0..2], &bytes[0..2]);
        if req.range().is_some() {
            prop_assert_eq!(&again[8..18], &bytes[8..18]);
        }
    }

    #[test]
    fn wire_config_round_trip(
        v in any::<(u64, u16, u64, u64, u64, u64, u64)>(),
        pad in any::<[u8; 6]>(),
    ) {
        let c = Config {
            block_size: v.0, node_id: v.1, addr: v.2, region_size: v.3,
            usable_region_size: v.4, plugged_size: v.5, requested_size: v.6,
        };
        let mut b = c.to_bytes();
        b[10..16].copy_from_slice(&pad);
        prop_assert_eq!(Config::from_bytes(&b), c);
    }
}
