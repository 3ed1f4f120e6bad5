//! A virtio-mem device as a VMM runs it, for the modelled guest.
//!
//! The device state machine and the queue processing are the `virtio-mem`
//! crate's; this module gives them guest memory (a `vm-memory` view of the
//! physical byte store), a backend that discards and fences physical
//! memory, and the transport ([`VirtioTransport`]) the guest driver calls:
//! configuration reads, feature negotiation, queue setup and the doorbell,
//! which processes the queue at once (a synchronous VM exit). The
//! configuration-change interrupt calls the driver's handler.
//!
//! The backend can be made busy (`virtio-mem busy DEV on`, as QEMU is
//! during migration): every state-changing request is then answered BUSY
//! with nothing changed.

use crate::drivers::virtio::{VirtioTransport, STATUS_DRIVER_OK, STATUS_FEATURES_OK};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::PhysAddr;
use crate::physmem::{Fence, PhysMem};
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::{Arc, Mutex};
use virtio_mem::{Backend, BackendError, Device, DeviceParams, Request, Response};
use virtio_queue::{Queue, QueueT};
use vm_memory::{GuestAddress, GuestMemoryMmap, GuestRegionMmap, MmapRegion};

pub use virtio_mem::{BlockState, Config, ConfigError, ResponseType};

type IrqHandler = Box<dyn Fn() + Send + Sync>;

/// A virtio-mem device of the VMM.
pub struct HostVirtioMem {
    /// The device's name.
    pub name: String,
    inner: Mutex<Inner>,
    /// The fence over the region while UNPLUGGED_INACCESSIBLE is offered.
    fence: Option<Arc<Fence>>,
    /// The driver's configuration-change handler (a leaf lock; called
    /// without it held).
    irq: Mutex<Option<Arc<IrqHandler>>>,
    busy: AtomicBool,
    /// Requests served through the queue.
    served: AtomicU64,
}

struct Inner {
    dev: Device,
    queue: Queue,
}

/// Physical memory as the device's backend.
struct PhysBackend<'a> {
    pm: &'a PhysMem,
    fence: Option<&'a Fence>,
    busy: bool,
}

impl Backend for PhysBackend<'_> {
    fn discard(&mut self, addr: u64, len: u64) -> Result<(), BackendError> {
        // Fence first: the guest must not see the bytes go.
        if let Some(f) = self.fence {
            f.set_plugged(addr, len, false);
        }
        self.pm
            .discard(PhysAddr(addr), len)
            .map_err(|e| BackendError::Discard {
                addr,
                len,
                reason: e.to_string(),
            })
    }

    fn populate(&mut self, addr: u64, len: u64) -> Result<(), BackendError> {
        // Anonymous memory populates on first touch; open the fence.
        if let Some(f) = self.fence {
            f.set_plugged(addr, len, true);
        }
        Ok(())
    }

    fn is_busy(&self) -> bool {
        self.busy
    }
}

impl HostVirtioMem {
    /// Creates the device (QEMU's realize): its region is discarded and,
    /// with `UNPLUGGED_INACCESSIBLE` offered, fenced. The region must lie
    /// in the machine's physical address space.
    pub fn new(m: &Machine, name: &str, params: DeviceParams) -> Result<HostVirtioMem, String> {
        let end = params.addr.checked_add(params.region_size);
        if end.is_none_or(|e| e > m.config().max_phys) {
            return Err(format!(
                "the region [{:#x}, +{:#x}) lies beyond max_phys {:#x}",
                params.addr,
                params.region_size,
                m.config().max_phys
            ));
        }
        let dev = Device::new(params).map_err(|e| e.to_string())?;
        let fence = params.offer_unplugged_inaccessible.then(|| {
            Arc::new(Fence::new(
                name,
                params.addr,
                params.region_size,
                params.block_size,
            ))
        });
        // Nothing is plugged: the whole region is discarded.
        m.physmem()
            .discard(PhysAddr(params.addr), params.region_size)
            .map_err(|e| format!("discarding the region failed: {e}"))?;
        if let Some(f) = &fence {
            m.physmem().add_fence(f.clone());
        }
        let queue = Queue::new(crate::drivers::virtio::QUEUE_SIZE).map_err(|e| format!("{e:?}"))?;
        Ok(HostVirtioMem {
            name: name.to_string(),
            inner: Mutex::new(Inner { dev, queue }),
            fence,
            irq: Mutex::new(None),
            busy: AtomicBool::new(false),
            served: AtomicU64::new(0),
        })
    }

    /// Takes the fence down (the device is gone).
    pub fn unplug_device(&self, m: &Machine) {
        if let Some(f) = &self.fence {
            m.physmem().remove_fence(f);
        }
    }

    /// The configuration space as the device has it.
    pub fn config(&self) -> Config {
        self.inner.lock().dev.config()
    }

    /// The device's view of a range of blocks.
    pub fn block_state(&self, addr: u64, nb_blocks: u64) -> Option<BlockState> {
        self.inner.lock().dev.block_state(addr, nb_blocks)
    }

    /// The plugged runs, ascending.
    pub fn plugged_ranges(&self) -> Vec<(u64, u64)> {
        self.inner.lock().dev.plugged_ranges()
    }

    /// Requests served through the virtqueue so far.
    pub fn requests_served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Makes the backend busy (every PLUG/UNPLUG/UNPLUG_ALL answers BUSY).
    pub fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::Relaxed);
    }

    fn backend<'a>(&'a self, m: &'a Machine) -> PhysBackend<'a> {
        PhysBackend {
            pm: m.physmem(),
            fence: self.fence.as_deref(),
            busy: self.busy.load(Ordering::Relaxed),
        }
    }

    /// A request handled directly, as if it came through the queue (for
    /// `virtio-mem request` on a device without a driver).
    pub fn handle(&self, m: &Machine, req: Request) -> Response {
        let mut backend = self.backend(m);
        self.inner.lock().dev.handle(req, &mut backend)
    }

    /// The host sets `requested_size` (QEMU's `requested-size` property):
    /// the usable region grows as needed and the driver is interrupted.
    pub fn set_requested_size(&self, size: u64) -> Result<(), ConfigError> {
        let raised = {
            let mut inner = self.inner.lock();
            inner.dev.set_requested_size(size)?;
            inner.dev.take_config_notification()
        };
        if raised {
            self.interrupt();
        }
        Ok(())
    }

    fn interrupt(&self) {
        let irq = self.irq.lock().clone();
        if let Some(irq) = irq {
            irq();
        }
    }

    /// A `vm-memory` view of guest physical memory (the VMM's mapping).
    fn guest_memory(m: &Machine) -> GuestMemoryMmap {
        // SAFETY: the pointer and length describe the store's own mapping,
        // alive while `m` is; the view is used within this call only and
        // does not unmap on drop (a raw region is not owned). Device
        // accesses are volatile, which tolerates the model's concurrent
        // atomic word accesses.
        let region = unsafe {
            let (ptr, len) = m.physmem().host_mapping();
            MmapRegion::build_raw(
                ptr,
                len as usize,
                (rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE).bits() as i32,
                MAP_PRIVATE_ANONYMOUS_NORESERVE,
            )
        }
        .expect("the physical store is a valid mapping");
        let region = GuestRegionMmap::new(region, GuestAddress(0)).expect("one region at 0");
        GuestMemoryMmap::from_regions(vec![region]).expect("one region")
    }
}

/// `MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE` on Linux (what
/// `PhysMem::new` mapped; informational for a raw region).
const MAP_PRIVATE_ANONYMOUS_NORESERVE: i32 = 0x02 | 0x20 | 0x4000;

impl VirtioTransport for HostVirtioMem {
    fn device_features(&self, _m: &Machine) -> u64 {
        self.inner.lock().dev.offered_features()
    }

    fn finalize_features(&self, _m: &Machine, features: u64) -> KResult<()> {
        let mut inner = self.inner.lock();
        inner
            .dev
            .set_driver_features(features)
            .map_err(|_| Errno::ENODEV)?;
        let s = inner.dev.status();
        inner.dev.set_status(s | STATUS_FEATURES_OK);
        if inner.dev.status() & STATUS_FEATURES_OK == 0 {
            return Err(Errno::ENODEV);
        }
        Ok(())
    }

    fn read_config(&self, _m: &Machine, offset: u64, buf: &mut [u8]) {
        self.inner.lock().dev.read_config(offset, buf);
    }

    fn config_generation(&self, _m: &Machine) -> u32 {
        self.inner.lock().dev.config_generation()
    }

    fn setup_queue(
        &self,
        _m: &Machine,
        size: u16,
        desc: PhysAddr,
        avail: PhysAddr,
        used: PhysAddr,
    ) {
        let mut inner = self.inner.lock();
        let q = &mut inner.queue;
        // Errors leave the queue not ready; the driver then sees no answer.
        let ok = q.try_set_size(size).is_ok()
            && q.try_set_desc_table_address(GuestAddress(desc.0)).is_ok()
            && q.try_set_avail_ring_address(GuestAddress(avail.0)).is_ok()
            && q.try_set_used_ring_address(GuestAddress(used.0)).is_ok();
        q.set_ready(ok);
    }

    fn driver_ok(&self, _m: &Machine, config_irq: Box<dyn Fn() + Send + Sync>) {
        *self.irq.lock() = Some(Arc::new(config_irq));
        let mut inner = self.inner.lock();
        let s = inner.dev.status();
        inner.dev.set_status(s | STATUS_DRIVER_OK);
    }

    fn reset(&self, _m: &Machine) {
        *self.irq.lock() = None;
        let mut inner = self.inner.lock();
        inner.dev.set_status(0);
        inner.queue.reset();
    }

    fn notify(&self, m: &Machine) {
        let mem = Self::guest_memory(m);
        let mut backend = self.backend(m);
        let out = {
            let mut inner = self.inner.lock();
            let Inner { dev, queue } = &mut *inner;
            virtio_mem::process_queue(dev, queue, &mem, &mut backend)
        };
        self.served
            .fetch_add(u64::from(out.completed), Ordering::Relaxed);
        if out.malformed > 0 {
            m.log(format!(
                "virtio_mem host {}: {} malformed chain(s): {:?}",
                self.name, out.malformed, out.last_malformed
            ));
        }
        let raised = self.inner.lock().dev.take_config_notification();
        if raised {
            self.interrupt();
        }
    }
}
