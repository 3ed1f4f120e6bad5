//! A virtio-mem device (VIRTIO 1.4, section 5.15) for virtual machine
//! monitors, with no dependency beyond rust-vmm's `virtio-queue` and
//! `vm-memory`.
//!
//! # The protocol
//!
//! A virtio-mem device owns a range of guest physical memory, the *region*,
//! cut into equal power-of-two *blocks*. Each block is plugged (backed by
//! host memory the guest may use) or unplugged. The host never plugs
//! anything itself: it sets `requested_size` in the configuration space and
//! raises a configuration-change interrupt; the guest driver then sends
//! requests over the single "guest-request" virtqueue, one at a time:
//!
//! - `PLUG addr nb_blocks` / `UNPLUG addr nb_blocks`: change the state of
//!   consecutive blocks inside the *usable* part of the region, which the
//!   device grows ahead of `requested_size`;
//! - `UNPLUG_ALL`: drop everything (and let the device shrink the usable
//!   part) — what a driver does first when it finds memory still plugged;
//! - `STATE addr nb_blocks`: are these blocks plugged, unplugged or mixed
//!   (used by kdump kernels).
//!
//! Each request gets ACK, NACK (plugging beyond `requested_size`), BUSY
//! (try later; nothing changed) or ERROR (bad range or wrong block state).
//! `plugged_size` in the configuration space follows every ACK, without an
//! interrupt.
//!
//! # Layers
//!
//! - [`wire`]: byte-exact encoding of requests, responses and the
//!   configuration space (`include/uapi/linux/virtio_mem.h`).
//! - [`device`]: the state machine — configuration, features, status,
//!   request semantics in QEMU's order, device and system resets.
//! - [`backend`]: the [`Backend`] trait through which a VMM populates and
//!   discards host memory, and a [`MockBackend`] for tests.
//! - [`queue`]: [`process_queue`], which turns descriptor chains of a
//!   `virtio_queue::Queue` into requests and used entries, and never lets a
//!   malformed chain panic, hang the driver or break the device.
//!
//! # Use from a VMM
//!
//! ```
//! use virtio_mem::{Device, DeviceParams, MockBackend, Request, ResponseType};
//!
//! let mut dev = Device::new(DeviceParams::default()).unwrap();
//! let mut host = MockBackend::new(); // a VMM passes its own Backend
//! dev.set_requested_size(4 << 20).unwrap();
//! assert!(dev.take_config_notification()); // -> inject a config interrupt
//!
//! let base = dev.config().addr;
//! let resp = dev.handle(Request::Plug { addr: base, nb_blocks: 2 }, &mut host);
//! assert_eq!(resp.ty, ResponseType::Ack);
//! assert_eq!(dev.config().plugged_size, 4 << 20);
//! assert_eq!(dev.plugged_ranges(), vec![(base, 4 << 20)]);
//! ```
//!
//! On a queue notification the VMM calls [`process_queue`] and interrupts
//! the driver if [`QueueOutcome::notify`] says so.

#![deny(missing_docs)]

pub mod backend;
mod bitmap;
pub mod device;
pub mod queue;
pub mod wire;

pub use backend::{Backend, BackendCall, BackendError, BackendOp, MockBackend};
pub use device::{
    status, ConfigError, Device, DeviceParams, FeatureError, ResetKind, MAX_BLOCKS, MIN_BLOCK_SIZE,
    QUEUE_MAX_SIZE,
};
pub use queue::{process_queue, ChainError, QueueOutcome};
pub use wire::*;
