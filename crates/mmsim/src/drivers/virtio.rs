//! The guest's side of a virtio device: the transport operations a driver
//! calls (`virtio_config_ops` and the queue doorbell), and a split
//! virtqueue that lives in guest physical memory (drivers/virtio/virtio_ring.c).
//!
//! The ring is laid out as VIRTIO 1.x §2.7 says, in pages the driver
//! allocates from the buddy allocator: the descriptor table (16 bytes a
//! descriptor), the available ring (flags, idx, `ring[size]`, used_event) and
//! the used ring (flags, idx, `ring[size]` of `{id, len}`, avail_event), all
//! little-endian. The driver writes descriptors and the available index
//! through physical memory and rings the doorbell; the device (a VMM, see
//! [`crate::vmm`]) reads them through its own mapping of the same memory and
//! answers in the used ring. Like Linux's virtio-mem, the model's drivers
//! keep one request in flight and wait for its completion; the device
//! completes it during the doorbell (a synchronous VM exit).

use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{PhysAddr, PAGE_SIZE};

/// VIRTIO_CONFIG_S_ACKNOWLEDGE.
pub const STATUS_ACKNOWLEDGE: u8 = 1;
/// VIRTIO_CONFIG_S_DRIVER.
pub const STATUS_DRIVER: u8 = 2;
/// VIRTIO_CONFIG_S_DRIVER_OK.
pub const STATUS_DRIVER_OK: u8 = 4;
/// VIRTIO_CONFIG_S_FEATURES_OK.
pub const STATUS_FEATURES_OK: u8 = 8;
/// VIRTIO_CONFIG_S_NEEDS_RESET.
pub const STATUS_NEEDS_RESET: u8 = 0x40;
/// VIRTIO_F_VERSION_1.
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;

/// VIRTQ_DESC_F_NEXT.
const DESC_F_NEXT: u16 = 1;
/// VIRTQ_DESC_F_WRITE.
const DESC_F_WRITE: u16 = 2;

/// What a driver can ask of its device's transport (virtio-pci in a real
/// guest). Every call takes the machine, whose physical memory holds the
/// queue.
pub trait VirtioTransport: Send + Sync {
    /// The device's feature bits.
    fn device_features(&self, m: &Machine) -> u64;
    /// Writes the driver's features and sets FEATURES_OK; an error if the
    /// device refuses them (the status bit does not stick).
    fn finalize_features(&self, m: &Machine, features: u64) -> KResult<()>;
    /// Reads `buf.len()` bytes of the device configuration at `offset`.
    fn read_config(&self, m: &Machine, offset: u64, buf: &mut [u8]);
    /// The configuration generation counter.
    fn config_generation(&self, m: &Machine) -> u32;
    /// Tells the device where queue 0 lives and how large it is.
    fn setup_queue(&self, m: &Machine, size: u16, desc: PhysAddr, avail: PhysAddr, used: PhysAddr);
    /// Sets DRIVER_OK and installs the configuration-change interrupt.
    fn driver_ok(&self, m: &Machine, config_irq: Box<dyn Fn() + Send + Sync>);
    /// Resets the device (status 0) and removes the interrupt.
    fn reset(&self, m: &Machine);
    /// Rings queue 0's doorbell.
    fn notify(&self, m: &Machine);
}

/// Reads a little-endian u64 of the configuration space.
pub fn cread_le64(t: &dyn VirtioTransport, m: &Machine, offset: u64) -> u64 {
    // virtio_cread() retries while the generation changes under the read.
    loop {
        let gen = t.config_generation(m);
        let mut b = [0u8; 8];
        t.read_config(m, offset, &mut b);
        if t.config_generation(m) == gen {
            return u64::from_le_bytes(b);
        }
    }
}

/// Reads a little-endian u16 of the configuration space.
pub fn cread_le16(t: &dyn VirtioTransport, m: &Machine, offset: u64) -> u16 {
    let mut b = [0u8; 2];
    t.read_config(m, offset, &mut b);
    u16::from_le_bytes(b)
}

/// A split virtqueue with one out and one in buffer per request, in guest
/// memory at `base`:
///
/// | offset | what |
/// |---|---|
/// | 0x0000 | descriptor table (`size` × 16 bytes) |
/// | 0x0800 | available ring |
/// | 0x1000 | used ring |
/// | 0x2000 | the request buffer (out) |
/// | 0x2800 | the response buffer (in) |
pub struct SplitQueue {
    base: PhysAddr,
    size: u16,
    /// The driver's shadow of `avail->idx`.
    avail_idx: u16,
    /// The last used index the driver consumed.
    last_used: u16,
}

/// Queue size (QEMU's and Cloud Hypervisor's for virtio-mem).
pub const QUEUE_SIZE: u16 = 128;
/// Page order of the queue's memory (16 KiB).
pub const QUEUE_ORDER: u32 = 2;
const AVAIL: u64 = 0x800;
const USED: u64 = 0x1000;
const REQ: u64 = 0x2000;
const RESP: u64 = 0x2800;

impl SplitQueue {
    /// A queue in the (zeroed) pages at `base`.
    pub fn new(base: PhysAddr) -> SplitQueue {
        const { assert!(PAGE_SIZE << QUEUE_ORDER >= RESP + 0x800) };
        SplitQueue {
            base,
            size: QUEUE_SIZE,
            avail_idx: 0,
            last_used: 0,
        }
    }

    /// Where the three parts are, for [`VirtioTransport::setup_queue`].
    pub fn layout(&self) -> (u16, PhysAddr, PhysAddr, PhysAddr) {
        (self.size, self.base, self.base + AVAIL, self.base + USED)
    }

    /// `virtqueue_add_sgs(out = [req], in = [resp])`, `virtqueue_kick()` and
    /// the wait for the used buffer: sends `req` and returns the
    /// `resp_len` bytes the device wrote. -EIO if the device did not
    /// complete the request (a device bug; Linux would wait forever).
    pub fn send(
        &mut self,
        m: &Machine,
        t: &dyn VirtioTransport,
        req: &[u8],
        resp_len: usize,
    ) -> KResult<Vec<u8>> {
        let pm = m.physmem();
        let head = self.avail_idx % self.size;
        let (d0, d1) = (head, (head + 1) % self.size);
        pm.write(self.base + REQ, req)?;
        pm.fill(self.base + RESP, resp_len as u64, 0)?;
        self.write_desc(m, d0, self.base + REQ, req.len() as u32, DESC_F_NEXT, d1)?;
        self.write_desc(m, d1, self.base + RESP, resp_len as u32, DESC_F_WRITE, 0)?;
        let slot = self.base + AVAIL + 4 + 2 * u64::from(self.avail_idx % self.size);
        pm.write(slot, &d0.to_le_bytes())?;
        self.avail_idx = self.avail_idx.wrapping_add(1);
        // virtio_wmb() before publishing the index: the device reads the
        // descriptors after it sees the new index (physmem's word accesses
        // are ordered by the doorbell, a synchronous call).
        pm.write(self.base + AVAIL + 2, &self.avail_idx.to_le_bytes())?;
        t.notify(m);
        let mut idx = [0u8; 2];
        pm.read(self.base + USED + 2, &mut idx)?;
        if u16::from_le_bytes(idx) == self.last_used {
            return Err(Errno::EIO);
        }
        let elem = self.base + USED + 4 + 8 * u64::from(self.last_used % self.size);
        let mut e = [0u8; 8];
        pm.read(elem, &mut e)?;
        self.last_used = self.last_used.wrapping_add(1);
        let id = u32::from_le_bytes(e[0..4].try_into().expect("4 bytes"));
        if id != u32::from(d0) {
            return Err(Errno::EIO);
        }
        let mut resp = vec![0u8; resp_len];
        pm.read(self.base + RESP, &mut resp)?;
        Ok(resp)
    }

    fn write_desc(
        &self,
        m: &Machine,
        i: u16,
        addr: PhysAddr,
        len: u32,
        flags: u16,
        next: u16,
    ) -> KResult<()> {
        let mut d = [0u8; 16];
        d[0..8].copy_from_slice(&addr.0.to_le_bytes());
        d[8..12].copy_from_slice(&len.to_le_bytes());
        d[12..14].copy_from_slice(&flags.to_le_bytes());
        d[14..16].copy_from_slice(&next.to_le_bytes());
        m.physmem().write(self.base + 16 * u64::from(i), &d)
    }
}
