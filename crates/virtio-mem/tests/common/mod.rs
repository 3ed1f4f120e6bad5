//! Helpers shared by the integration tests: device builders, the §5.2
//! invariant check, and a guest side of the virtqueue built on
//! virtio-queue's `MockSplitQueue`.

#![allow(dead_code)] // each test binary uses a different part

use virtio_mem::*;
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::{AvailRing, MockSplitQueue, UsedRing};
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
/// Block size of the default test device.
pub const BS: u64 = 2 * MIB;
/// Start of the default test region.
pub const BASE: u64 = 4 * GIB;

/// `VRING_DESC_F_NEXT`.
pub const F_NEXT: u16 = 1;
/// `VRING_DESC_F_WRITE`.
pub const F_WRITE: u16 = 2;
/// `VRING_DESC_F_INDIRECT`.
pub const F_INDIRECT: u16 = 4;

/// Parameters of a region of `blocks` 2 MiB blocks at 4 GiB, `requested`
/// blocks requested, usable extent of `extent` blocks.
pub fn params(blocks: u64, requested: u64, extent: u64) -> DeviceParams {
    DeviceParams {
        addr: BASE,
        region_size: blocks * BS,
        block_size: BS,
        requested_size: requested * BS,
        usable_extent: extent * BS,
        ..DeviceParams::default()
    }
}

/// A device as [`params`] describes it, features negotiated.
pub fn device(blocks: u64, requested: u64, extent: u64) -> Device {
    let mut dev = Device::new(params(blocks, requested, extent)).expect("valid params");
    let offered = dev.offered_features();
    dev.set_driver_features(offered)
        .expect("all offered features");
    dev
}

/// Guest physical address of block `i` of the default region.
pub fn blk(i: u64) -> u64 {
    BASE + i * BS
}

pub fn plug(i: u64, n: u16) -> Request {
    Request::Plug {
        addr: blk(i),
        nb_blocks: n,
    }
}

pub fn unplug(i: u64, n: u16) -> Request {
    Request::Unplug {
        addr: blk(i),
        nb_blocks: n,
    }
}

pub fn state(i: u64, n: u16) -> Request {
    Request::State {
        addr: blk(i),
        nb_blocks: n,
    }
}

pub const ACK: Response = Response::new(ResponseType::Ack);
pub const NACK: Response = Response::new(ResponseType::Nack);
pub const BUSY: Response = Response::new(ResponseType::Busy);
pub const ERROR: Response = Response::new(ResponseType::Error);

/// The invariants of reference §5.2 that hold in any single state
/// (1, 2, 3, 4). Panics with the broken one.
pub fn check_invariants(dev: &Device) {
    let c = dev.config();
    // 3: block_size a power of two, every size a multiple of it (V-CFG-5/6).
    assert!(c.block_size.is_power_of_two(), "block_size {c:?}");
    for (name, v) in [
        ("addr", c.addr),
        ("region_size", c.region_size),
        ("usable_region_size", c.usable_region_size),
        ("plugged_size", c.plugged_size),
        ("requested_size", c.requested_size),
    ] {
        assert_eq!(v % c.block_size, 0, "{name} not block-aligned: {c:?}");
    }
    // 2: requested <= usable <= region (V-CFG-4).
    assert!(c.requested_size <= c.usable_region_size, "V-CFG-4: {c:?}");
    assert!(
        c.usable_region_size <= c.region_size,
        "usable > region: {c:?}"
    );
    // 1: plugged_size is the number of plugged blocks (V-CFG-3).
    let runs = dev.plugged_ranges();
    let total: u64 = runs.iter().map(|&(_, len)| len).sum();
    assert_eq!(
        total, c.plugged_size,
        "plugged_size vs bitmap: {c:?} {runs:?}"
    );
    // 4: nothing plugged beyond the usable region; runs are sorted, disjoint.
    let mut prev_end = c.addr;
    for &(a, len) in &runs {
        assert!(
            a >= prev_end && len > 0,
            "runs overlap or unsorted: {runs:?}"
        );
        prev_end = a + len;
    }
    assert!(
        prev_end <= c.addr + c.usable_region_size,
        "plugged block beyond usable: {c:?} {runs:?}"
    );
    for &(a, len) in &runs {
        assert_eq!(
            dev.block_state(a, len / c.block_size),
            Some(BlockState::Plugged)
        );
    }
}

/// Fixed fields of the config (V-CFG-2).
pub fn fixed(c: &Config) -> (u64, u16, u64, u64) {
    (c.block_size, c.node_id, c.addr, c.region_size)
}

/// Guest memory for queue tests: 1 MiB at 0 (rings), 1 MiB of buffers.
pub fn guest_memory() -> GuestMemoryMmap {
    GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 2 * MIB as usize)]).unwrap()
}

/// Where request/response buffers go.
pub const BUF: u64 = MIB;
/// End of guest memory.
pub const MEM_END: u64 = 2 * MIB;

/// One buffer of a chain as the driver describes it.
#[derive(Clone, Copy, Debug)]
pub struct Seg {
    pub addr: u64,
    pub len: u32,
    pub write: bool,
}

/// Where the driver's available ring lives.
pub const AVAIL_RING: u64 = 0x10000;
/// Where the driver's used ring lives.
pub const USED_RING: u64 = 0x20000;

/// The driver side of the queue: descriptor table, available and used ring
/// in guest memory, with wrap-around.
///
/// The descriptor table is MockSplitQueue's; the rings are virtio-queue's
/// mock ring types placed apart, because MockSplitQueue (0.18) puts the
/// used ring at the available ring's start plus its *entry count* rather
/// than its byte size, so the two overlap: the device's used-ring flag
/// writes land on available-ring entries past the 8th.
pub struct Driver<'a> {
    pub vq: MockSplitQueue<'a, GuestMemoryMmap>,
    pub avail: AvailRing<'a, GuestMemoryMmap>,
    pub used: UsedRing<'a, GuestMemoryMmap>,
    pub mem: &'a GuestMemoryMmap,
    pub size: u16,
    next_desc: u16,
    avail_idx: u16,
    used_seen: u16,
}

impl<'a> Driver<'a> {
    pub fn new(mem: &'a GuestMemoryMmap, size: u16) -> (Driver<'a>, Queue) {
        let vq = MockSplitQueue::new(mem, size);
        let avail = AvailRing::new(mem, GuestAddress(AVAIL_RING), size);
        let used = UsedRing::new(mem, GuestAddress(USED_RING), size);
        let mut queue = Queue::new(size).expect("valid size");
        queue.set_size(size);
        let split = |a: u64| (Some(a as u32), Some((a >> 32) as u32));
        let (lo, hi) = split(vq.desc_table_addr().0);
        queue.set_desc_table_address(lo, hi);
        let (lo, hi) = split(AVAIL_RING);
        queue.set_avail_ring_address(lo, hi);
        let (lo, hi) = split(USED_RING);
        queue.set_used_ring_address(lo, hi);
        queue.set_ready(true);
        (
            Driver {
                vq,
                avail,
                used,
                mem,
                size,
                next_desc: 0,
                avail_idx: 0,
                used_seen: 0,
            },
            queue,
        )
    }

    /// Store `desc` at table index `i`.
    pub fn store(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        self.vq
            .desc_table()
            .store(
                i,
                RawDescriptor::from(SplitDescriptor::new(addr, len, flags, next)),
            )
            .unwrap();
    }

    /// Make `head` available.
    pub fn publish(&mut self, head: u16) {
        let slot = self.avail_idx % self.size;
        self.avail
            .ring()
            .ref_at(slot as usize)
            .unwrap()
            .store(u16::to_le(head));
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.avail.idx().store(u16::to_le(self.avail_idx));
    }

    /// Link `segs` into a chain at the next free table indexes and publish it.
    pub fn push(&mut self, segs: &[Seg]) -> u16 {
        let head = self.next_desc;
        for (k, s) in segs.iter().enumerate() {
            let i = (head + k as u16) % self.size;
            let last = k + 1 == segs.len();
            let flags = if s.write { F_WRITE } else { 0 } | if last { 0 } else { F_NEXT };
            self.store(i, s.addr, s.len, flags, (i + 1) % self.size);
        }
        self.next_desc = (head + segs.len() as u16) % self.size;
        self.publish(head);
        head
    }

    /// A chain whose head is an indirect descriptor pointing at a table,
    /// written at `table`, that links `segs`.
    pub fn push_indirect(&mut self, table: u64, segs: &[Seg]) -> u16 {
        for (k, s) in segs.iter().enumerate() {
            let last = k + 1 == segs.len();
            let flags = if s.write { F_WRITE } else { 0 } | if last { 0 } else { F_NEXT };
            let d = RawDescriptor::from(SplitDescriptor::new(s.addr, s.len, flags, k as u16 + 1));
            self.mem
                .write_obj(d, GuestAddress(table + 16 * k as u64))
                .unwrap();
        }
        let head = self.next_desc;
        self.store(head, table, 16 * segs.len() as u32, F_INDIRECT, 0);
        self.next_desc = (head + 1) % self.size;
        self.publish(head);
        head
    }

    /// Write the request bytes at `addr`.
    pub fn write(&self, addr: u64, bytes: &[u8]) {
        self.mem.write_slice(bytes, GuestAddress(addr)).unwrap();
    }

    pub fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        self.mem.read_slice(&mut b, GuestAddress(addr)).unwrap();
        b
    }

    /// The used ring's index.
    pub fn used_idx(&self) -> u16 {
        u16::from_le(self.used.idx().load())
    }

    /// Used entries not yet taken, as `(id, len)`.
    pub fn take_used(&mut self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        while self.used_seen != self.used_idx() {
            let e = self
                .used
                .ring()
                .ref_at((self.used_seen % self.size) as usize)
                .unwrap()
                .load();
            out.push((e.id(), e.len()));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        out
    }

    /// Submit `req` as one 24-byte readable and one 10-byte writable
    /// descriptor (Linux's layout), run the device, and read the answer.
    pub fn roundtrip(
        &mut self,
        dev: &mut Device,
        queue: &mut Queue,
        backend: &mut dyn Backend,
        req: Request,
    ) -> Option<Response> {
        self.write(BUF, &req.to_bytes());
        self.write(BUF + 64, &[0xee; RESPONSE_SIZE]);
        let head = self.push(&[
            Seg {
                addr: BUF,
                len: REQUEST_SIZE as u32,
                write: false,
            },
            Seg {
                addr: BUF + 64,
                len: RESPONSE_SIZE as u32,
                write: true,
            },
        ]);
        process_queue(dev, queue, self.mem, backend);
        let used = self.take_used();
        assert_eq!(used.len(), 1, "one used entry per chain");
        assert_eq!(used[0].0, u32::from(head));
        if used[0].1 == 0 {
            return None;
        }
        assert_eq!(used[0].1, RESPONSE_SIZE as u32);
        let b: [u8; RESPONSE_SIZE] = self.read(BUF + 64, RESPONSE_SIZE).try_into().unwrap();
        Some(Response::parse_for(&req, &b).expect("a valid response"))
    }
}
