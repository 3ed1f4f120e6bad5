//! The "guest-request" virtqueue: descriptor chains in, used entries out.
//!
//! A request is the first 24 device-readable bytes of a chain, gathered in
//! order across however many readable descriptors the driver used (1 + 23,
//! 24 × 1, one 4 KiB buffer: all the same); the 10-byte response is scattered
//! across the device-writable descriptors that follow. The virtio rule "the
//! device MUST NOT make assumptions about the particular arrangement of
//! descriptors" is QEMU's behaviour; Cloud Hypervisor and Firecracker insist
//! on exactly two descriptors.
//!
//! # Malformed chains
//!
//! A chain is checked completely before the request is acted on, so a bad
//! chain never changes device state. It is malformed ([`ChainError`]) if it
//! has no descriptor, ends in a descriptor whose NEXT leads nowhere (a loop
//! cut off by virtio-queue's length guard, an index past the table, a bad
//! indirect table), has a device-readable descriptor after a device-writable
//! one, names memory outside the guest, carries fewer than 24 readable or
//! 10 writable bytes. Such a chain is returned with used length 0 and
//! counted; the device keeps working and the next chain is served normally.
//!
//! Never dropping a chain matters: Linux waits for its one request with
//! `wait_event`, so a chain without a used entry (Firecracker's behaviour)
//! hangs the guest driver forever. QEMU instead marks the whole device
//! broken (`virtio_error`), which also ends all hotplug for the guest. The
//! one thing that cannot be returned is an available-ring entry naming a
//! descriptor index past the queue size: there is no buffer, and a used
//! entry with that id would make Linux mark the whole ring broken. It is
//! counted as malformed and skipped.
//!
//! Only a failure of the ring itself (available index more than a queue
//! size ahead, rings outside guest memory) sets DEVICE_NEEDS_RESET, because
//! no further used entry could be delivered.

use thiserror::Error;
use virtio_queue::{DescriptorChain, Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemory, Permissions};

use crate::backend::Backend;
use crate::device::Device;
use crate::wire::{Request, REQUEST_SIZE, RESPONSE_SIZE};

/// `VRING_AVAIL_F_NO_INTERRUPT`: the driver asks not to be interrupted.
const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Why a chain was returned unserved (see the module doc).
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ChainError {
    /// The available ring names descriptor `head`, past the queue size.
    #[error("available ring entry names descriptor {head}, but the queue size is {size}")]
    BadHead {
        /// The head index read from the available ring.
        head: u16,
        /// The queue size.
        size: u16,
    },
    /// No descriptor could be read at all.
    #[error("the chain has no readable descriptor (bad head or indirect table)")]
    Empty,
    /// The last descriptor read has NEXT set but the chain ended there.
    #[error("descriptor {index} has NEXT but the chain ends there (loop, bad index or bad indirect table)")]
    Truncated {
        /// Position of that descriptor in the chain.
        index: u32,
    },
    /// A device-readable descriptor follows a device-writable one.
    #[error("descriptor {index} is device-readable but follows a device-writable one")]
    ReadableAfterWritable {
        /// Position of the descriptor in the chain.
        index: u32,
    },
    /// A descriptor names memory the guest does not have.
    #[error("descriptor {index} ({len:#x} bytes at {addr:#x}) is outside guest memory")]
    OutsideMemory {
        /// Position of the descriptor in the chain.
        index: u32,
        /// Its address.
        addr: u64,
        /// Its length.
        len: u32,
    },
    /// Fewer than 24 device-readable bytes.
    #[error("the request has {0} device-readable bytes; virtio_mem_req needs 24")]
    ShortRequest(usize),
    /// Fewer than 10 device-writable bytes.
    #[error("the response space has {0} device-writable bytes; virtio_mem_resp needs 10")]
    ShortResponse(u64),
}

/// What one [`process_queue`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueOutcome {
    /// Chains answered with a response (used length 10).
    pub completed: u32,
    /// Chains returned unserved (used length 0) or skipped ([`ChainError::BadHead`]).
    pub malformed: u32,
    /// Whether the VMM should interrupt the driver now (used entries were
    /// added and neither `VRING_AVAIL_F_NO_INTERRUPT` nor the event index
    /// suppresses it).
    pub notify: bool,
    /// Why the last malformed chain was refused.
    pub last_malformed: Option<ChainError>,
}

/// Serve every available chain of `queue` (the "guest-request" queue) with
/// `dev`, then report whether to interrupt the driver.
///
/// Does nothing while the queue is not ready or the device needs a reset.
/// With `VIRTIO_RING_F_EVENT_IDX` enabled on `queue` (`set_event_idx`), the
/// device publishes its avail event and honours the driver's used event.
pub fn process_queue<M: GuestMemory>(
    dev: &mut Device,
    queue: &mut Queue,
    mem: &M,
    backend: &mut dyn Backend,
) -> QueueOutcome {
    let mut out = QueueOutcome::default();
    if dev.needs_reset() || !queue.ready() {
        return out;
    }
    let mut used_added = false;
    let ring_ok = serve_available(dev, queue, mem, backend, &mut out, &mut used_added);
    if !ring_ok {
        dev.set_needs_reset();
    }
    out.notify = used_added && wants_interrupt(queue, mem);
    out
}

/// The `disable → drain → enable → re-check` loop of a virtio device. False
/// if the ring itself failed.
fn serve_available<M: GuestMemory>(
    dev: &mut Device,
    queue: &mut Queue,
    mem: &M,
    backend: &mut dyn Backend,
    out: &mut QueueOutcome,
    used_added: &mut bool,
) -> bool {
    loop {
        if queue.disable_notification(mem).is_err() {
            return false;
        }
        loop {
            let chain = match queue.iter(mem) {
                Ok(mut avail) => avail.next(),
                Err(_) => return false,
            };
            let Some(chain) = chain else { break };
            let head = chain.head_index();
            if head >= queue.size() {
                out.malformed += 1;
                out.last_malformed = Some(ChainError::BadHead {
                    head,
                    size: queue.size(),
                });
                continue;
            }
            let used_len = match serve_chain(dev, chain, mem, backend) {
                Ok(()) => {
                    out.completed += 1;
                    RESPONSE_SIZE as u32
                }
                Err(e) => {
                    out.malformed += 1;
                    out.last_malformed = Some(e);
                    0
                }
            };
            if queue.add_used(mem, head, used_len).is_err() {
                return false;
            }
            *used_added = true;
        }
        match queue.enable_notification(mem) {
            Ok(true) => continue,
            Ok(false) => return true,
            Err(_) => return false,
        }
    }
}

/// Check the whole chain, gather the request, handle it, scatter the
/// response. The device is only touched once the chain passed every check.
fn serve_chain<M: GuestMemory>(
    dev: &mut Device,
    chain: DescriptorChain<&M>,
    mem: &M,
    backend: &mut dyn Backend,
) -> Result<(), ChainError> {
    let mut req = [0u8; REQUEST_SIZE];
    let mut req_len = 0;
    // Each non-empty writable descriptor takes at least one response byte,
    // so ten targets always suffice.
    let mut targets = [(0u32, GuestAddress(0), 0u32, 0usize); RESPONSE_SIZE];
    let mut ntargets = 0;
    let mut resp_space = 0u64;
    let mut seen_writable = false;
    let mut last: Option<(u32, bool)> = None;

    for (index, d) in (0u32..).zip(chain) {
        last = Some((index, d.has_next()));
        let (addr, len) = (d.addr(), d.len());
        let access = if d.is_write_only() {
            Permissions::Write
        } else {
            Permissions::Read
        };
        if len > 0 && !mem.check_range(addr, len as usize, access) {
            return Err(ChainError::OutsideMemory {
                index,
                addr: addr.0,
                len,
            });
        }
        if d.is_write_only() {
            seen_writable = true;
            let take = (RESPONSE_SIZE as u64 - resp_space.min(RESPONSE_SIZE as u64))
                .min(u64::from(len)) as usize;
            if take > 0 {
                targets[ntargets] = (index, addr, len, take);
                ntargets += 1;
            }
            resp_space += u64::from(len);
        } else {
            if seen_writable {
                return Err(ChainError::ReadableAfterWritable { index });
            }
            let take = (REQUEST_SIZE - req_len).min(len as usize);
            if take > 0 {
                mem.read_slice(&mut req[req_len..req_len + take], addr)
                    .map_err(|_| ChainError::OutsideMemory {
                        index,
                        addr: addr.0,
                        len,
                    })?;
                req_len += take;
            }
        }
    }
    match last {
        None => return Err(ChainError::Empty),
        Some((index, true)) => return Err(ChainError::Truncated { index }),
        Some((_, false)) => {}
    }
    if req_len < REQUEST_SIZE {
        return Err(ChainError::ShortRequest(req_len));
    }
    if resp_space < RESPONSE_SIZE as u64 {
        return Err(ChainError::ShortResponse(resp_space));
    }

    let resp = dev.handle(Request::parse(&req), backend).to_bytes();
    let mut off = 0;
    for &(index, addr, len, n) in &targets[..ntargets] {
        // check_range accepted this range above, so only a memory map that
        // changed under us fails here; the request is done by then, but
        // the driver must not read a half-written answer.
        mem.write_slice(&resp[off..off + n], addr)
            .map_err(|_| ChainError::OutsideMemory {
                index,
                addr: addr.0,
                len,
            })?;
        off += n;
    }
    Ok(())
}

/// Whether the driver wants an interrupt for the used entries just added.
fn wants_interrupt<M: GuestMemory>(queue: &mut Queue, mem: &M) -> bool {
    // needs_notification also resets virtio-queue's count of entries added
    // since the last interrupt decision, so call it every time.
    let by_event_idx = queue.needs_notification(mem).unwrap_or(true);
    if queue.event_idx_enabled() {
        return by_event_idx;
    }
    // virtio-queue does not look at VRING_AVAIL_F_NO_INTERRUPT; without the
    // event index that flag is how the driver suppresses interrupts.
    mem.read_obj::<u16>(GuestAddress(queue.avail_ring()))
        .map_or(true, |flags| {
            u16::from_le(flags) & VRING_AVAIL_F_NO_INTERRUPT == 0
        })
}
