//! The device: configuration space, feature negotiation, virtio status,
//! request semantics and resets.
//!
//! # State
//!
//! The region `[addr, addr + region_size)` is cut into `region_size /
//! block_size` blocks, each plugged or unplugged (a bitmap, set = plugged).
//! Requests may only address the *usable* part `[addr, addr +
//! usable_region_size)`. Of the configuration fields only three move:
//!
//! ```text
//! requested_size      host: set_requested_size()            config notification
//! usable_region_size  grows with requested_size (QEMU       notification with the
//!                     policy below); shrinks only in         requested_size change;
//!                     UNPLUG_ALL and system reset            none in UNPLUG_ALL
//! plugged_size        PLUG / UNPLUG / UNPLUG_ALL ACKs        never a notification
//! ```
//!
//! Usable size policy (QEMU's `virtio_mem_resize_usable_region`):
//! `usable = align_up(min(region_size, requested_size + usable_extent),
//! block_size)`, or 0 when `requested_size` is 0. Linux only adds memory
//! blocks that fit wholly inside the usable region, hence the extent
//! (256 MiB on x86).
//!
//! # Request order (QEMU's, the spec author's)
//!
//! PLUG and UNPLUG: (1) invalid range → ERROR; (2) PLUG beyond
//! `requested_size` → NACK; (3) a block already in the target state →
//! ERROR; (4) backend busy or failing → BUSY with **nothing** changed;
//! (5) commit, ACK. UNPLUG_ALL: if anything is plugged, backend busy or
//! failing → BUSY, else discard the whole region and clear the bitmap; then
//! always recompute the usable size (it may shrink) → ACK. STATE: invalid
//! range → ERROR, else ACK with PLUGGED, UNPLUGGED or MIXED.
//!
//! # Resets
//!
//! A virtio *device* reset (status 0: driver unbind, Linux `freeze`) clears
//! status and negotiated features and never touches blocks (V-INIT-2/3). A
//! *system* reset also unplugs everything (V-OP-7), except a wakeup from
//! suspend-to-RAM when `VIRTIO_MEM_F_PERSISTENT_SUSPEND` was negotiated
//! (V-OP-8).

use thiserror::Error;

use crate::backend::{Backend, BackendError};
use crate::bitmap::BlockBitmap;
use crate::wire::{
    BlockState, Config, Request, Response, ResponseType, CONFIG_SIZE, VIRTIO_F_VERSION_1,
    VIRTIO_MEM_F_ACPI_PXM, VIRTIO_MEM_F_PERSISTENT_SUSPEND, VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE,
};

/// Smallest block size [`Device::new`] accepts: one 4 KiB page.
///
/// The spec only asks for a power of two. A block is the unit the host
/// discards and protects, and hosts do that per page, so a smaller block
/// could not be unplugged on its own. QEMU insists on 1 MiB (and defaults to
/// the THP size) for host performance, not for the protocol; keeping the
/// floor at a page lets small test machines use many blocks.
pub const MIN_BLOCK_SIZE: u64 = 4096;

/// Most blocks a region may have (a 512 MiB bitmap); larger regions are
/// refused by [`Device::new`] rather than allocated.
pub const MAX_BLOCKS: u64 = 1 << 32;

/// Size of the single virtqueue ("guest-request") as QEMU and Cloud
/// Hypervisor offer it.
pub const QUEUE_MAX_SIZE: u16 = 128;

/// Virtio device status bits (VIRTIO 1.x, 2.1).
pub mod status {
    /// The guest found the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The guest has a driver for it.
    pub const DRIVER: u8 = 2;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u8 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u8 = 8;
    /// The device hit an error it can only leave through a reset.
    pub const DEVICE_NEEDS_RESET: u8 = 0x40;
    /// The guest gave up on the device.
    pub const FAILED: u8 = 0x80;
}

/// How a device is built (QEMU's device properties).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceParams {
    /// Guest physical start of the region; a multiple of `block_size`.
    pub addr: u64,
    /// Size of the region; a multiple of `block_size`.
    pub region_size: u64,
    /// Block size; a power of two, at least [`MIN_BLOCK_SIZE`].
    pub block_size: u64,
    /// NUMA node (ACPI PXM) reported in the config space.
    pub node_id: u16,
    /// Initial `requested_size`; a multiple of `block_size`, at most `region_size`.
    pub requested_size: u64,
    /// Offer `VIRTIO_MEM_F_ACPI_PXM` (QEMU: machine has NUMA and ACPI).
    pub offer_acpi_pxm: bool,
    /// Offer `VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE`; the driver must then
    /// accept it (QEMU, Firecracker).
    pub offer_unplugged_inaccessible: bool,
    /// Offer `VIRTIO_MEM_F_PERSISTENT_SUSPEND` (QEMU: wakeup from S3 enabled).
    pub offer_persistent_suspend: bool,
    /// How far the usable region reaches beyond `requested_size` (QEMU:
    /// 256 MiB on x86 and s390x, 1 GiB on Arm).
    pub usable_extent: u64,
}

impl Default for DeviceParams {
    /// A 1 GiB region of 2 MiB blocks at 4 GiB, nothing requested, QEMU x86
    /// defaults for the features (UNPLUGGED_INACCESSIBLE on) and the extent.
    fn default() -> Self {
        DeviceParams {
            addr: 4 << 30,
            region_size: 1 << 30,
            block_size: 2 << 20,
            node_id: 0,
            requested_size: 0,
            offer_acpi_pxm: false,
            offer_unplugged_inaccessible: true,
            offer_persistent_suspend: false,
            usable_extent: 256 << 20,
        }
    }
}

/// A device parameter or a requested size the device refuses.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `block_size` is not a power of two (V-CFG-5).
    #[error("block_size {0:#x} is not a power of two")]
    BlockSizeNotPowerOfTwo(u64),
    /// `block_size` is below [`MIN_BLOCK_SIZE`].
    #[error("block_size {block_size:#x} is below the minimum {min:#x}")]
    BlockSizeTooSmall {
        /// The value given.
        block_size: u64,
        /// [`MIN_BLOCK_SIZE`].
        min: u64,
    },
    /// A size or address is not a multiple of `block_size` (V-CFG-6).
    #[error("{field} {value:#x} is not a multiple of block_size {block_size:#x}")]
    Misaligned {
        /// `addr`, `region_size` or `requested_size`.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The block size.
        block_size: u64,
    },
    /// `requested_size` is larger than `region_size`.
    #[error("requested_size {requested_size:#x} exceeds region_size {region_size:#x}")]
    RequestedExceedsRegion {
        /// The value given.
        requested_size: u64,
        /// The region size.
        region_size: u64,
    },
    /// `addr + region_size` does not fit in 64 bits.
    #[error("addr {addr:#x} + region_size {region_size:#x} overflows the 64-bit address space")]
    RegionOverflow {
        /// The value given.
        addr: u64,
        /// The value given.
        region_size: u64,
    },
    /// The region has more than [`MAX_BLOCKS`] blocks.
    #[error("region_size / block_size = {blocks} blocks exceeds the maximum {max}")]
    TooManyBlocks {
        /// Blocks the parameters imply.
        blocks: u64,
        /// [`MAX_BLOCKS`].
        max: u64,
    },
}

/// Why the device refused FEATURES_OK.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum FeatureError {
    /// The driver acked bits the device did not offer.
    #[error("driver features {acked:#x} include bits {extra:#x} the device did not offer ({offered:#x})")]
    NotOffered {
        /// What the driver acked.
        acked: u64,
        /// What the device offered.
        offered: u64,
        /// `acked & !offered`.
        extra: u64,
    },
    /// The driver did not ack a feature this device requires.
    #[error("driver features {acked:#x} lack required {name} ({bit:#x})")]
    RequiredNotAcked {
        /// What the driver acked.
        acked: u64,
        /// Name of the missing feature.
        name: &'static str,
        /// Its mask.
        bit: u64,
    },
}

/// The kind of a system (platform) reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetKind {
    /// Power-on or reboot: all blocks are unplugged.
    Cold,
    /// Wakeup from suspend-to-RAM: blocks are kept iff
    /// `VIRTIO_MEM_F_PERSISTENT_SUSPEND` was negotiated.
    Wakeup,
}

/// A virtio-mem device (see the module doc).
#[derive(Clone, Debug)]
pub struct Device {
    block_size: u64,
    node_id: u16,
    addr: u64,
    region_size: u64,
    usable_region_size: u64,
    requested_size: u64,
    usable_extent: u64,
    bitmap: BlockBitmap,
    offered: u64,
    negotiated: u64,
    status: u8,
    config_generation: u32,
    config_notification: bool,
    ignored_config_writes: u64,
    last_backend_error: Option<BackendError>,
}

/// The request range as block indexes, once it passed every V-*-3 check.
#[derive(Clone, Copy, Debug)]
struct BlockRange {
    first: u64,
    n: u64,
    addr: u64,
    len: u64,
}

impl Device {
    /// Build a device, with QEMU's realize checks on the parameters. All
    /// blocks start unplugged; the usable size follows the policy of the
    /// module doc.
    pub fn new(p: DeviceParams) -> Result<Device, ConfigError> {
        let bs = p.block_size;
        if !bs.is_power_of_two() {
            return Err(ConfigError::BlockSizeNotPowerOfTwo(bs));
        }
        if bs < MIN_BLOCK_SIZE {
            return Err(ConfigError::BlockSizeTooSmall {
                block_size: bs,
                min: MIN_BLOCK_SIZE,
            });
        }
        for (field, value) in [
            ("addr", p.addr),
            ("region_size", p.region_size),
            ("requested_size", p.requested_size),
        ] {
            if value % bs != 0 {
                return Err(ConfigError::Misaligned {
                    field,
                    value,
                    block_size: bs,
                });
            }
        }
        if p.requested_size > p.region_size {
            return Err(ConfigError::RequestedExceedsRegion {
                requested_size: p.requested_size,
                region_size: p.region_size,
            });
        }
        if p.addr.checked_add(p.region_size).is_none() {
            return Err(ConfigError::RegionOverflow {
                addr: p.addr,
                region_size: p.region_size,
            });
        }
        let blocks = p.region_size / bs;
        if blocks > MAX_BLOCKS {
            return Err(ConfigError::TooManyBlocks {
                blocks,
                max: MAX_BLOCKS,
            });
        }
        let offered = VIRTIO_F_VERSION_1
            | if p.offer_acpi_pxm {
                VIRTIO_MEM_F_ACPI_PXM
            } else {
                0
            }
            | if p.offer_unplugged_inaccessible {
                VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE
            } else {
                0
            }
            | if p.offer_persistent_suspend {
                VIRTIO_MEM_F_PERSISTENT_SUSPEND
            } else {
                0
            };
        let mut dev = Device {
            block_size: bs,
            node_id: p.node_id,
            addr: p.addr,
            region_size: p.region_size,
            usable_region_size: 0,
            requested_size: p.requested_size,
            usable_extent: p.usable_extent,
            bitmap: BlockBitmap::new(blocks),
            offered,
            negotiated: 0,
            status: 0,
            config_generation: 0,
            config_notification: false,
            ignored_config_writes: 0,
            last_backend_error: None,
        };
        dev.usable_region_size = dev.usable_size_for(p.requested_size);
        Ok(dev)
    }

    /// The configuration space as the driver sees it now.
    pub fn config(&self) -> Config {
        Config {
            block_size: self.block_size,
            node_id: self.node_id,
            addr: self.addr,
            region_size: self.region_size,
            usable_region_size: self.usable_region_size,
            plugged_size: self.plugged_size(),
            requested_size: self.requested_size,
        }
    }

    /// `plugged_size`: plugged blocks times the block size.
    pub fn plugged_size(&self) -> u64 {
        self.bitmap.count() * self.block_size
    }

    /// A driver read of the configuration space: `data.len()` bytes from
    /// `offset`; bytes past the 56-byte structure read as 0.
    pub fn read_config(&self, offset: u64, data: &mut [u8]) {
        let bytes = self.config().to_bytes();
        for (i, out) in data.iter_mut().enumerate() {
            *out = offset
                .checked_add(i as u64)
                .filter(|&o| o < CONFIG_SIZE as u64)
                .map_or(0, |o| bytes[o as usize]);
        }
    }

    /// A driver write to the configuration space. Every field is read-only
    /// (D-CFG-1), so the write is dropped; it is only counted.
    pub fn write_config(&mut self, _offset: u64, _data: &[u8]) {
        self.ignored_config_writes += 1;
    }

    /// How many configuration-space writes were ignored.
    pub fn ignored_config_writes(&self) -> u64 {
        self.ignored_config_writes
    }

    /// Device features: `VIRTIO_F_VERSION_1` and the chosen virtio-mem bits.
    pub fn offered_features(&self) -> u64 {
        self.offered
    }

    /// The driver's feature choice, i.e. its attempt to set FEATURES_OK.
    ///
    /// Refused (FEATURES_OK stays clear, nothing negotiated) when the driver
    /// acks a bit that was not offered, does not ack `VIRTIO_F_VERSION_1`
    /// (there is no legacy virtio-mem), or does not ack an offered
    /// `VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE` (V-INIT-1, as QEMU's
    /// `validate_features` and Firecracker do).
    pub fn set_driver_features(&mut self, acked: u64) -> Result<(), FeatureError> {
        let extra = acked & !self.offered;
        if extra != 0 {
            return Err(FeatureError::NotOffered {
                acked,
                offered: self.offered,
                extra,
            });
        }
        for (name, bit) in [
            ("VIRTIO_F_VERSION_1", VIRTIO_F_VERSION_1),
            (
                "VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE",
                VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE,
            ),
        ] {
            if self.offered & bit != 0 && acked & bit == 0 {
                return Err(FeatureError::RequiredNotAcked { acked, name, bit });
            }
        }
        self.negotiated = acked;
        self.status |= status::FEATURES_OK;
        Ok(())
    }

    /// The negotiated features (0 before negotiation and after a reset).
    pub fn negotiated_features(&self) -> u64 {
        self.negotiated
    }

    /// Whether `VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE` was negotiated: the VMM
    /// may then make unplugged memory inaccessible.
    pub fn unplugged_inaccessible(&self) -> bool {
        self.negotiated & VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE != 0
    }

    /// The virtio device status.
    pub fn status(&self) -> u8 {
        self.status
    }

    /// A driver write of the status register. 0 is a device reset;
    /// FEATURES_OK is kept only if [`Device::set_driver_features`] succeeded;
    /// DEVICE_NEEDS_RESET belongs to the device and is kept as it is.
    pub fn set_status(&mut self, value: u8) {
        if value == 0 {
            self.device_reset();
            return;
        }
        let device_owned = status::DEVICE_NEEDS_RESET | status::FEATURES_OK;
        let features_ok = value & self.status & status::FEATURES_OK;
        let needs_reset = self.status & status::DEVICE_NEEDS_RESET;
        self.status = (value & !device_owned) | features_ok | needs_reset;
    }

    /// Whether DEVICE_NEEDS_RESET is set.
    pub fn needs_reset(&self) -> bool {
        self.status & status::DEVICE_NEEDS_RESET != 0
    }

    /// Enter the error state (DEVICE_NEEDS_RESET plus a configuration-change
    /// notification, as virtio 2.1.2 requires), QEMU's `virtio_error`. Only a
    /// device reset leaves it. [`crate::process_queue`] does this when the
    /// virtqueue itself is unusable.
    pub fn set_needs_reset(&mut self) {
        self.status |= status::DEVICE_NEEDS_RESET;
        self.config_notification = true;
    }

    /// Handle one request and say what to answer (see the module doc for the
    /// order of checks). Every non-ACK answer leaves blocks and config as
    /// they were. An unknown request type is answered ERROR.
    pub fn handle(&mut self, req: Request, backend: &mut dyn Backend) -> Response {
        match req {
            Request::Plug { addr, nb_blocks } => self.state_change(addr, nb_blocks, true, backend),
            Request::Unplug { addr, nb_blocks } => {
                self.state_change(addr, nb_blocks, false, backend)
            }
            Request::UnplugAll => match self.unplug_all(backend) {
                Ok(()) => Response::new(ResponseType::Ack),
                Err(()) => Response::new(ResponseType::Busy),
            },
            Request::State { addr, nb_blocks } => match self.valid_range(addr, nb_blocks) {
                Some(r) => Response::state(self.range_state(r)),
                None => Response::new(ResponseType::Error),
            },
            // QEMU marks the device broken (virtio_error); Linux would then
            // lose every later request. A request type from a newer spec is
            // the driver's mistake about our features, not a corrupt ring, so
            // like Cloud Hypervisor we answer ERROR and keep working.
            Request::Unknown(_) => Response::new(ResponseType::Error),
        }
    }

    /// The host's new target size. Must be block-aligned and at most
    /// `region_size`. Grows the usable region (never shrinks it here,
    /// V-CFG-8) and always raises a configuration-change notification, even
    /// when nothing changed (V-CFG-11, as QEMU does).
    pub fn set_requested_size(&mut self, size: u64) -> Result<(), ConfigError> {
        if size % self.block_size != 0 {
            return Err(ConfigError::Misaligned {
                field: "requested_size",
                value: size,
                block_size: self.block_size,
            });
        }
        if size > self.region_size {
            return Err(ConfigError::RequestedExceedsRegion {
                requested_size: size,
                region_size: self.region_size,
            });
        }
        if size != self.requested_size {
            self.requested_size = size;
            self.config_generation = self.config_generation.wrapping_add(1);
        }
        self.resize_usable(false);
        self.config_notification = true;
        Ok(())
    }

    /// Whether a configuration-change interrupt was raised since the last
    /// call; clears it.
    pub fn take_config_notification(&mut self) -> bool {
        std::mem::take(&mut self.config_notification)
    }

    /// The virtio `config_generation`: changes whenever any configuration
    /// field does (plugged_size included).
    pub fn config_generation(&self) -> u32 {
        self.config_generation
    }

    /// The state of `nb_blocks` blocks from `addr` (which need not be inside
    /// the usable region), or `None` if the range is misaligned, empty or
    /// not inside the region.
    pub fn block_state(&self, addr: u64, nb_blocks: u64) -> Option<BlockState> {
        let r = self.range_in(addr, nb_blocks, self.region_size)?;
        Some(self.range_state(r))
    }

    /// The plugged memory as `(addr, len)` runs, ascending — what a VMM maps
    /// for DMA or migrates.
    pub fn plugged_ranges(&self) -> Vec<(u64, u64)> {
        self.bitmap
            .runs()
            .into_iter()
            .map(|(first, n)| (self.addr + first * self.block_size, n * self.block_size))
            .collect()
    }

    /// The last error a backend reported (answered BUSY), for the VMM's log.
    pub fn last_backend_error(&self) -> Option<&BackendError> {
        self.last_backend_error.as_ref()
    }

    /// Virtio device reset: status, negotiated features and a pending
    /// notification are cleared; blocks, their memory and the sizes are
    /// untouched (V-INIT-2, V-INIT-3). The VMM resets its queue itself.
    pub fn device_reset(&mut self) {
        self.status = 0;
        self.negotiated = 0;
        self.config_notification = false;
    }

    /// System reset. `Cold`, and `Wakeup` without a negotiated
    /// PERSISTENT_SUSPEND, unplug every block as UNPLUG_ALL does (discard,
    /// clear, usable size recomputed — V-OP-7); like QEMU, if the backend is
    /// busy or fails, the blocks stay plugged and the next driver unplugs
    /// them itself (D-INIT-2). A `Wakeup` with PERSISTENT_SUSPEND keeps every
    /// block (V-OP-8). Both end with a device reset.
    ///
    /// QEMU keeps blocks on every wakeup, negotiated or not; this device
    /// honours the feature: a driver that suspended without it broke D-OP-11
    /// (older Linux drivers refuse to suspend at all).
    pub fn system_reset(&mut self, kind: ResetKind, backend: &mut dyn Backend) {
        let keep =
            kind == ResetKind::Wakeup && self.negotiated & VIRTIO_MEM_F_PERSISTENT_SUSPEND != 0;
        if !keep {
            // A failure leaves the blocks plugged, as documented above.
            let _ = self.unplug_all(backend);
        }
        self.device_reset();
    }

    fn usable_size_for(&self, requested: u64) -> u64 {
        if requested == 0 {
            return 0;
        }
        let want = self
            .region_size
            .min(requested.saturating_add(self.usable_extent));
        // `want` <= region_size, a multiple of block_size, so this cannot
        // pass region_size nor overflow.
        want.div_ceil(self.block_size) * self.block_size
    }

    fn resize_usable(&mut self, can_shrink: bool) {
        let new = self.usable_size_for(self.requested_size);
        if new == self.usable_region_size || (new < self.usable_region_size && !can_shrink) {
            return;
        }
        self.usable_region_size = new;
        self.config_generation = self.config_generation.wrapping_add(1);
    }

    /// V-PLUG-3 / V-UNPLUG-3 / V-STATE-3: aligned, at least one block, no
    /// overflow, inside the usable region.
    fn valid_range(&self, addr: u64, nb_blocks: u16) -> Option<BlockRange> {
        self.range_in(addr, u64::from(nb_blocks), self.usable_region_size)
    }

    fn range_in(&self, addr: u64, nb_blocks: u64, limit: u64) -> Option<BlockRange> {
        if nb_blocks == 0 || addr % self.block_size != 0 || addr < self.addr {
            return None;
        }
        let len = nb_blocks.checked_mul(self.block_size)?;
        let end = addr.checked_add(len)?;
        // addr + limit cannot overflow: limit <= region_size, checked in new().
        if end > self.addr + limit {
            return None;
        }
        Some(BlockRange {
            first: (addr - self.addr) / self.block_size,
            n: nb_blocks,
            addr,
            len,
        })
    }

    fn range_state(&self, r: BlockRange) -> BlockState {
        match self.bitmap.count_range(r.first, r.n) {
            0 => BlockState::Unplugged,
            c if c == r.n => BlockState::Plugged,
            _ => BlockState::Mixed,
        }
    }

    fn state_change(
        &mut self,
        addr: u64,
        nb_blocks: u16,
        plug: bool,
        backend: &mut dyn Backend,
    ) -> Response {
        let Some(r) = self.valid_range(addr, nb_blocks) else {
            return Response::new(ResponseType::Error);
        };
        if plug && self.plugged_size().saturating_add(r.len) > self.requested_size {
            return Response::new(ResponseType::Nack);
        }
        let from = if plug {
            BlockState::Unplugged
        } else {
            BlockState::Plugged
        };
        if self.range_state(r) != from {
            return Response::new(ResponseType::Error);
        }
        if backend.is_busy() {
            return Response::new(ResponseType::Busy);
        }
        let done = if plug {
            backend.populate(r.addr, r.len).inspect_err(|_| {
                // Undo whatever half of the populate happened (QEMU
                // discards the range again); the blocks are unplugged, so
                // their memory is ours to drop (V-OP-2).
                let _ = backend.discard(r.addr, r.len);
            })
        } else {
            backend.discard(r.addr, r.len)
        };
        if let Err(e) = done {
            self.last_backend_error = Some(e);
            return Response::new(ResponseType::Busy);
        }
        self.bitmap.set_range(r.first, r.n, plug);
        self.config_generation = self.config_generation.wrapping_add(1);
        Response::new(ResponseType::Ack)
    }

    /// UNPLUG_ALL, also the body of a system reset. `Err` = BUSY, nothing
    /// changed.
    fn unplug_all(&mut self, backend: &mut dyn Backend) -> Result<(), ()> {
        if self.bitmap.count() > 0 {
            if backend.is_busy() {
                return Err(());
            }
            if let Err(e) = backend.discard(self.addr, self.region_size) {
                self.last_backend_error = Some(e);
                return Err(());
            }
            self.bitmap.clear();
            self.config_generation = self.config_generation.wrapping_add(1);
        }
        // No notification: the driver re-reads the config after the ACK
        // (V-CFG-9's exception, V-UA-6).
        self.resize_usable(true);
        Ok(())
    }
}
