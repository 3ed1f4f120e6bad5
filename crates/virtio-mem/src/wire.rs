//! The virtio-mem wire format of `include/uapi/linux/virtio_mem.h`.
//!
//! Everything on the wire is little-endian and is parsed from, or written to,
//! byte arrays with `from_le_bytes`/`to_le_bytes`: guest memory is never
//! transmuted into a struct, so alignment and endianness of the host do not
//! matter.
//!
//! Three structures cross the device boundary:
//!
//! ```text
//! request  (24 bytes, driver -> device)      response (10 bytes, device -> driver)
//!   0  le16 type                                0  le16 type
//!   2  le16 padding[3]                          2  le16 padding[3]
//!   8  le64 addr        \  PLUG, UNPLUG,        8  le16 state (STATE + ACK only)
//!  16  le16 nb_blocks    > STATE only
//!  18  le16 padding[3]  /
//!
//! configuration space (56 bytes, read-only for the driver)
//!   0  le64 block_size      16 le64 addr            40 le64 plugged_size
//!   8  le16 node_id         24 le64 region_size     48 le64 requested_size
//!  10  u8   padding[6]      32 le64 usable_region_size
//! ```
//!
//! `tests/c_layout.rs` checks every offset and constant here against the C
//! header the host has installed.

use thiserror::Error;

/// Device ID of virtio-mem (`VIRTIO_ID_MEM`).
pub const VIRTIO_ID_MEM: u32 = 24;
/// `VIRTIO_F_VERSION_1` (feature bit 32): virtio-mem is a virtio 1.x-only device.
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;
/// Feature mask of `VIRTIO_MEM_F_ACPI_PXM` (bit 0): `node_id` is an ACPI PXM.
pub const VIRTIO_MEM_F_ACPI_PXM: u64 = 1 << 0;
/// Feature mask of `VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE` (bit 1): the driver
/// must not access unplugged memory at all.
pub const VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE: u64 = 1 << 1;
/// Feature mask of `VIRTIO_MEM_F_PERSISTENT_SUSPEND` (bit 2, VIRTIO 1.4):
/// plugged blocks survive suspend-to-RAM.
pub const VIRTIO_MEM_F_PERSISTENT_SUSPEND: u64 = 1 << 2;

/// Request type `VIRTIO_MEM_REQ_PLUG`.
pub const VIRTIO_MEM_REQ_PLUG: u16 = 0;
/// Request type `VIRTIO_MEM_REQ_UNPLUG`.
pub const VIRTIO_MEM_REQ_UNPLUG: u16 = 1;
/// Request type `VIRTIO_MEM_REQ_UNPLUG_ALL`.
pub const VIRTIO_MEM_REQ_UNPLUG_ALL: u16 = 2;
/// Request type `VIRTIO_MEM_REQ_STATE`.
pub const VIRTIO_MEM_REQ_STATE: u16 = 3;

/// Size of `struct virtio_mem_config`.
pub const CONFIG_SIZE: usize = 56;
/// Size of `struct virtio_mem_req`.
pub const REQUEST_SIZE: usize = 24;
/// Size of `struct virtio_mem_resp`.
pub const RESPONSE_SIZE: usize = 10;

/// A malformed device answer, seen by a driver parsing a response.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum WireError {
    /// `virtio_mem_resp.type` is not one of ACK, NACK, BUSY, ERROR.
    #[error("virtio_mem_resp.type {0} is not a response type (0 ACK, 1 NACK, 2 BUSY, 3 ERROR)")]
    UnknownResponseType(u16),
    /// `virtio_mem_resp.u.state.state` of a STATE ACK is not a block state.
    #[error(
        "virtio_mem_resp.u.state.state {0} is not a block state (0 PLUGGED, 1 UNPLUGGED, 2 MIXED)"
    )]
    UnknownBlockState(u16),
}

/// A request as the device understands it: the type and its request-specific
/// data, nothing else (padding is dropped here, V-*-1/V-*-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `VIRTIO_MEM_REQ_PLUG`: plug `nb_blocks` blocks starting at guest
    /// physical address `addr`.
    Plug {
        /// Guest physical address of the first block.
        addr: u64,
        /// Number of consecutive blocks.
        nb_blocks: u16,
    },
    /// `VIRTIO_MEM_REQ_UNPLUG`: unplug `nb_blocks` blocks starting at `addr`.
    Unplug {
        /// Guest physical address of the first block.
        addr: u64,
        /// Number of consecutive blocks.
        nb_blocks: u16,
    },
    /// `VIRTIO_MEM_REQ_UNPLUG_ALL`: unplug every block and possibly shrink the
    /// usable region. Bytes 8..24 of the request are ignored.
    UnplugAll,
    /// `VIRTIO_MEM_REQ_STATE`: report whether the blocks are plugged,
    /// unplugged or mixed.
    State {
        /// Guest physical address of the first block.
        addr: u64,
        /// Number of consecutive blocks.
        nb_blocks: u16,
    },
    /// A request type this device does not know; the raw `type` value.
    Unknown(u16),
}

impl Request {
    /// Decode a request. Every 24-byte pattern decodes: unknown types become
    /// [`Request::Unknown`], all padding is ignored.
    pub fn parse(bytes: &[u8; REQUEST_SIZE]) -> Request {
        let ty = u16::from_le_bytes([bytes[0], bytes[1]]);
        let addr = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let nb_blocks = u16::from_le_bytes([bytes[16], bytes[17]]);
        match ty {
            VIRTIO_MEM_REQ_PLUG => Request::Plug { addr, nb_blocks },
            VIRTIO_MEM_REQ_UNPLUG => Request::Unplug { addr, nb_blocks },
            VIRTIO_MEM_REQ_UNPLUG_ALL => Request::UnplugAll,
            VIRTIO_MEM_REQ_STATE => Request::State { addr, nb_blocks },
            other => Request::Unknown(other),
        }
    }

    /// Encode a request as a driver sends it, all padding zero.
    pub fn to_bytes(&self) -> [u8; REQUEST_SIZE] {
        let mut b = [0u8; REQUEST_SIZE];
        let (ty, range) = match *self {
            Request::Plug { addr, nb_blocks } => (VIRTIO_MEM_REQ_PLUG, Some((addr, nb_blocks))),
            Request::Unplug { addr, nb_blocks } => (VIRTIO_MEM_REQ_UNPLUG, Some((addr, nb_blocks))),
            Request::UnplugAll => (VIRTIO_MEM_REQ_UNPLUG_ALL, None),
            Request::State { addr, nb_blocks } => (VIRTIO_MEM_REQ_STATE, Some((addr, nb_blocks))),
            Request::Unknown(ty) => (ty, None),
        };
        b[0..2].copy_from_slice(&ty.to_le_bytes());
        if let Some((addr, nb_blocks)) = range {
            b[8..16].copy_from_slice(&addr.to_le_bytes());
            b[16..18].copy_from_slice(&nb_blocks.to_le_bytes());
        }
        b
    }

    /// The `(addr, nb_blocks)` range of PLUG, UNPLUG and STATE.
    pub fn range(&self) -> Option<(u64, u16)> {
        match *self {
            Request::Plug { addr, nb_blocks }
            | Request::Unplug { addr, nb_blocks }
            | Request::State { addr, nb_blocks } => Some((addr, nb_blocks)),
            Request::UnplugAll | Request::Unknown(_) => None,
        }
    }
}

/// `virtio_mem_resp.type`.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    /// `VIRTIO_MEM_RESP_ACK`: the request was processed.
    Ack = 0,
    /// `VIRTIO_MEM_RESP_NACK`: denied, e.g. plugging more than requested.
    Nack = 1,
    /// `VIRTIO_MEM_RESP_BUSY`: cannot be processed now, try again later.
    Busy = 2,
    /// `VIRTIO_MEM_RESP_ERROR`: error in the request (address, alignment, state).
    Error = 3,
}

impl TryFrom<u16> for ResponseType {
    type Error = WireError;
    fn try_from(v: u16) -> Result<Self, WireError> {
        Ok(match v {
            0 => ResponseType::Ack,
            1 => ResponseType::Nack,
            2 => ResponseType::Busy,
            3 => ResponseType::Error,
            other => return Err(WireError::UnknownResponseType(other)),
        })
    }
}

/// `virtio_mem_resp.u.state.state`: the answer to a STATE request.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockState {
    /// `VIRTIO_MEM_STATE_PLUGGED`: every block of the range is plugged.
    Plugged = 0,
    /// `VIRTIO_MEM_STATE_UNPLUGGED`: every block of the range is unplugged.
    Unplugged = 1,
    /// `VIRTIO_MEM_STATE_MIXED`: some blocks are plugged, some are not.
    Mixed = 2,
}

impl TryFrom<u16> for BlockState {
    type Error = WireError;
    fn try_from(v: u16) -> Result<Self, WireError> {
        Ok(match v {
            0 => BlockState::Plugged,
            1 => BlockState::Unplugged,
            2 => BlockState::Mixed,
            other => return Err(WireError::UnknownBlockState(other)),
        })
    }
}

/// A response: its type, and the block state only for an ACK to STATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// `virtio_mem_resp.type`.
    pub ty: ResponseType,
    /// `virtio_mem_resp.u.state.state`; `Some` only in the ACK to a STATE request.
    pub state: Option<BlockState>,
}

impl Response {
    /// A response of type `ty` without request-specific data.
    pub const fn new(ty: ResponseType) -> Response {
        Response { ty, state: None }
    }

    /// The ACK to a STATE request.
    pub const fn state(state: BlockState) -> Response {
        Response {
            ty: ResponseType::Ack,
            state: Some(state),
        }
    }

    /// Encode as the device writes it: padding zero, the state field zero
    /// unless `state` is set.
    pub fn to_bytes(&self) -> [u8; RESPONSE_SIZE] {
        let mut b = [0u8; RESPONSE_SIZE];
        b[0..2].copy_from_slice(&(self.ty as u16).to_le_bytes());
        if let Some(state) = self.state {
            b[8..10].copy_from_slice(&(state as u16).to_le_bytes());
        }
        b
    }

    /// Decode a response without knowing which request it answers.
    ///
    /// The wire does not say whether an ACK carries a state (a PLUG ACK and a
    /// STATE ACK of PLUGGED are the same ten bytes when the device zeroes the
    /// field), so an ACK gets `state = Some(..)` whenever bytes 8..10 hold a
    /// known state, and `None` otherwise. A driver that knows what it sent
    /// should use [`Response::parse_for`], which is exact. Padding is ignored.
    pub fn parse(bytes: &[u8; RESPONSE_SIZE]) -> Result<Response, WireError> {
        let ty = ResponseType::try_from(u16::from_le_bytes([bytes[0], bytes[1]]))?;
        let state = match ty {
            ResponseType::Ack => {
                BlockState::try_from(u16::from_le_bytes([bytes[8], bytes[9]])).ok()
            }
            _ => None,
        };
        Ok(Response { ty, state })
    }

    /// Decode the answer to `req` as a conforming driver does: only the type
    /// matters (D-PLUG-1, D-UNPLUG-1, D-UA-1), except that an ACK to STATE
    /// carries a state, which must be a known one (D-STATE-1, D-STATE-2).
    pub fn parse_for(req: &Request, bytes: &[u8; RESPONSE_SIZE]) -> Result<Response, WireError> {
        let ty = ResponseType::try_from(u16::from_le_bytes([bytes[0], bytes[1]]))?;
        let state = match (req, ty) {
            (Request::State { .. }, ResponseType::Ack) => {
                Some(BlockState::try_from(u16::from_le_bytes([
                    bytes[8], bytes[9],
                ]))?)
            }
            _ => None,
        };
        Ok(Response { ty, state })
    }
}

/// `struct virtio_mem_config`, the device configuration space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Size and alignment of a memory block; a power of two. Fixed.
    pub block_size: u64,
    /// NUMA node (an ACPI PXM); meaningful only with `VIRTIO_MEM_F_ACPI_PXM`. Fixed.
    pub node_id: u16,
    /// Guest physical start address of the device region. Fixed.
    pub addr: u64,
    /// Size of the device region, the most that can ever be plugged. Fixed.
    pub region_size: u64,
    /// Part of the region, from its start, that requests may address.
    pub usable_region_size: u64,
    /// Total size of the plugged blocks.
    pub plugged_size: u64,
    /// The size the host wants plugged.
    pub requested_size: u64,
}

impl Config {
    /// Byte offset of `block_size`.
    pub const OFFSET_BLOCK_SIZE: u64 = 0;
    /// Byte offset of `node_id`.
    pub const OFFSET_NODE_ID: u64 = 8;
    /// Byte offset of `padding[6]`.
    pub const OFFSET_PADDING: u64 = 10;
    /// Byte offset of `addr`.
    pub const OFFSET_ADDR: u64 = 16;
    /// Byte offset of `region_size`.
    pub const OFFSET_REGION_SIZE: u64 = 24;
    /// Byte offset of `usable_region_size`.
    pub const OFFSET_USABLE_REGION_SIZE: u64 = 32;
    /// Byte offset of `plugged_size`.
    pub const OFFSET_PLUGGED_SIZE: u64 = 40;
    /// Byte offset of `requested_size`.
    pub const OFFSET_REQUESTED_SIZE: u64 = 48;

    /// Encode the configuration space, padding zero.
    pub fn to_bytes(&self) -> [u8; CONFIG_SIZE] {
        let mut b = [0u8; CONFIG_SIZE];
        let le64 = |b: &mut [u8; CONFIG_SIZE], off: u64, v: u64| {
            b[off as usize..off as usize + 8].copy_from_slice(&v.to_le_bytes())
        };
        le64(&mut b, Self::OFFSET_BLOCK_SIZE, self.block_size);
        b[8..10].copy_from_slice(&self.node_id.to_le_bytes());
        le64(&mut b, Self::OFFSET_ADDR, self.addr);
        le64(&mut b, Self::OFFSET_REGION_SIZE, self.region_size);
        le64(
            &mut b,
            Self::OFFSET_USABLE_REGION_SIZE,
            self.usable_region_size,
        );
        le64(&mut b, Self::OFFSET_PLUGGED_SIZE, self.plugged_size);
        le64(&mut b, Self::OFFSET_REQUESTED_SIZE, self.requested_size);
        b
    }

    /// Decode the configuration space as a driver reads it; padding is
    /// ignored (D-CFG-2).
    pub fn from_bytes(b: &[u8; CONFIG_SIZE]) -> Config {
        let le64 = |off: u64| {
            u64::from_le_bytes(
                b[off as usize..off as usize + 8]
                    .try_into()
                    .expect("8 bytes"),
            )
        };
        Config {
            block_size: le64(Self::OFFSET_BLOCK_SIZE),
            node_id: u16::from_le_bytes([b[8], b[9]]),
            addr: le64(Self::OFFSET_ADDR),
            region_size: le64(Self::OFFSET_REGION_SIZE),
            usable_region_size: le64(Self::OFFSET_USABLE_REGION_SIZE),
            plugged_size: le64(Self::OFFSET_PLUGGED_SIZE),
            requested_size: le64(Self::OFFSET_REQUESTED_SIZE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_and_ignores_padding() {
        let req = Request::Unplug {
            addr: 0x1234_5678_9abc_d000,
            nb_blocks: 0xbeef,
        };
        let mut b = req.to_bytes();
        assert_eq!(Request::parse(&b), req);
        b[2..8].fill(0xff);
        b[18..24].fill(0xff);
        assert_eq!(Request::parse(&b), req);
    }

    #[test]
    fn unplug_all_ignores_request_specific_bytes() {
        let mut b = Request::UnplugAll.to_bytes();
        b[8..24].fill(0xa5);
        assert_eq!(Request::parse(&b), Request::UnplugAll);
    }

    #[test]
    fn response_parse_for_plug_ignores_state_bytes() {
        let mut b = Response::new(ResponseType::Ack).to_bytes();
        b[8] = 0x77;
        let plug = Request::Plug {
            addr: 0,
            nb_blocks: 1,
        };
        assert_eq!(
            Response::parse_for(&plug, &b),
            Ok(Response::new(ResponseType::Ack))
        );
        let state = Request::State {
            addr: 0,
            nb_blocks: 1,
        };
        assert_eq!(
            Response::parse_for(&state, &b),
            Err(WireError::UnknownBlockState(0x77))
        );
    }
}
