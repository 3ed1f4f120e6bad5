//! Linux's virtio-mem guest driver (drivers/virtio/virtio_mem.c), reference
//! kernel-hotplug §5 and virtio-mem §3.6.
//!
//! # What it does
//!
//! A virtio-mem device offers a region of guest physical memory in device
//! blocks; the host sets `requested_size` and the driver plugs or unplugs
//! blocks until `plugged_size` matches it, as far as it can. It talks to the
//! device only through one virtqueue in guest memory
//! ([`crate::drivers::virtio`]): PLUG, UNPLUG and UNPLUG_ALL requests, one
//! at a time.
//!
//! Memory is added to Linux in whole memory blocks
//! (`add_memory_driver_managed()`), so the driver tracks two granularities:
//!
//! * **SBM** (sub-block mode, [`sbm`]) when a sub-block — the larger of the
//!   device block and a pageblock (2 MiB) — is smaller than a memory block:
//!   a memory block is added once its first sub-blocks are plugged, and the
//!   sub-blocks never plugged stay fake-offline (PageOffline, PG_dirty,
//!   refcount 1) through the online_page callback. Unplugging online memory
//!   takes sub-blocks back from the buddy with `alloc_contig_range()`.
//! * **BBM** (big-block mode, [`bbm`]) otherwise, or with `force_bbm`: one
//!   big block (≥ a memory block) is plugged and added at once and removed
//!   at once with `offline_and_remove_memory()`.
//!
//! # Threads and locks
//!
//! The work loop ([`work`]) runs on the driver's own kernel thread, woken by
//! configuration-change interrupts, by the memory notifier and by its retry
//! timer, which runs on model time ([`Registry::advance_to_timer`]) so that
//! scenarios are deterministic. The memory notifier and the online_page
//! callback ([`hooks`]) run in the thread that onlines or offlines.
//!
//! Lock order (kernel's): `device_hotplug_lock` → `mem_hotplug_lock` →
//! `hotplug_mutex` → the state lock → zone locks. `hotplug_mutex` is held by
//! the notifier from MEM_GOING_ONLINE/OFFLINE until MEM_ONLINE/OFFLINE or
//! the cancel, across notifier calls, so it is a [`SleepLock`] (a flag and a
//! wait queue) rather than a guard; the worker drops it around every call
//! that onlines, offlines, adds or removes memory. The state lock is a leaf:
//! never held across a call into the hotplug core or the device.

pub mod bbm;
pub mod hooks;
pub mod sbm;
pub mod work;

use super::virtio::{cread_le16, cread_le64, SplitQueue, VirtioTransport, VIRTIO_F_VERSION_1};
use crate::errno::{Errno, KResult};
use crate::hotplug::notifier::NotifierId;
use crate::hotplug::Task;
use crate::machine::Machine;
use crate::page::{Pfn, PhysAddr, PAGEBLOCK_NR_PAGES, PAGE_SIZE};
use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::thread::JoinHandle;
use crate::sync::{Arc, Condvar, Mutex, Weak};
use crate::zone::alloc::Gfp;

/// VIRTIO_MEM_F_ACPI_PXM.
pub const VIRTIO_MEM_F_ACPI_PXM: u64 = 1 << 0;
/// VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE.
pub const VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE: u64 = 1 << 1;
/// VIRTIO_MEM_F_PERSISTENT_SUSPEND.
pub const VIRTIO_MEM_F_PERSISTENT_SUSPEND: u64 = 1 << 2;

/// The driver's copy of `include/uapi/linux/virtio_mem.h` (a guest carries
/// its own header; the device side has the `virtio-mem` crate's).
pub mod uapi {
    /// VIRTIO_MEM_REQ_PLUG.
    pub const REQ_PLUG: u16 = 0;
    /// VIRTIO_MEM_REQ_UNPLUG.
    pub const REQ_UNPLUG: u16 = 1;
    /// VIRTIO_MEM_REQ_UNPLUG_ALL.
    pub const REQ_UNPLUG_ALL: u16 = 2;
    /// VIRTIO_MEM_REQ_STATE.
    pub const REQ_STATE: u16 = 3;
    /// VIRTIO_MEM_RESP_ACK.
    pub const RESP_ACK: u16 = 0;
    /// VIRTIO_MEM_RESP_NACK.
    pub const RESP_NACK: u16 = 1;
    /// VIRTIO_MEM_RESP_BUSY.
    pub const RESP_BUSY: u16 = 2;
    /// VIRTIO_MEM_RESP_ERROR.
    pub const RESP_ERROR: u16 = 3;
    /// Offsets in `struct virtio_mem_config`.
    pub const CFG_BLOCK_SIZE: u64 = 0;
    /// `node_id`.
    pub const CFG_NODE_ID: u64 = 8;
    /// `addr`.
    pub const CFG_ADDR: u64 = 16;
    /// `region_size`.
    pub const CFG_REGION_SIZE: u64 = 24;
    /// `usable_region_size`.
    pub const CFG_USABLE_REGION_SIZE: u64 = 32;
    /// `plugged_size`.
    pub const CFG_PLUGGED_SIZE: u64 = 40;
    /// `requested_size`.
    pub const CFG_REQUESTED_SIZE: u64 = 48;

    /// `struct virtio_mem_req` for PLUG/UNPLUG/STATE (UNPLUG_ALL ignores
    /// the rest).
    pub fn req(ty: u16, addr: u64, nb_blocks: u16) -> [u8; 24] {
        let mut r = [0u8; 24];
        r[0..2].copy_from_slice(&ty.to_le_bytes());
        r[8..16].copy_from_slice(&addr.to_le_bytes());
        r[16..18].copy_from_slice(&nb_blocks.to_le_bytes());
        r
    }
}

/// `VIRTIO_MEM_DEFAULT_OFFLINE_THRESHOLD`: 1 GiB.
pub const DEFAULT_OFFLINE_THRESHOLD: u64 = 1 << 30;
/// `VIRTIO_MEM_RETRY_TIMER_MIN_MS`.
pub const RETRY_TIMER_MIN_MS: u64 = 50_000;
/// `VIRTIO_MEM_RETRY_TIMER_MAX_MS`.
pub const RETRY_TIMER_MAX_MS: u64 = 300_000;

/// Module parameters, and the one computed value a scenario may override.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverParams {
    /// `unplug_online` (default true): also unplug online memory.
    pub unplug_online: bool,
    /// `force_bbm` (default false).
    pub force_bbm: bool,
    /// `bbm_block_size` (0: automatic).
    pub bbm_block_size: u64,
    /// The offline threshold; `None` computes Linux's
    /// `max(2 × unit, 1 GiB)`.
    pub offline_threshold: Option<u64>,
}

impl Default for DriverParams {
    fn default() -> DriverParams {
        DriverParams {
            unplug_online: true,
            force_bbm: false,
            bbm_block_size: 0,
            offline_threshold: None,
        }
    }
}

/// `enum virtio_mem_sbm_mb_state`; each `*Partial` is its full state + 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum MbState {
    /// Not added, nothing plugged.
    Unused = 0,
    /// Not added but (partially) plugged: adding failed and unplugging too.
    Plugged = 1,
    /// Added, offline, fully plugged.
    Offline = 2,
    /// Added, offline, partially plugged.
    OfflinePartial = 3,
    /// Online in a kernel zone, fully plugged.
    Kernel = 4,
    /// Online in a kernel zone, partially plugged.
    KernelPartial = 5,
    /// Online in ZONE_MOVABLE, fully plugged.
    Movable = 6,
    /// Online in ZONE_MOVABLE, partially plugged.
    MovablePartial = 7,
}

impl MbState {
    /// The kernel's name.
    pub fn name(self) -> &'static str {
        match self {
            MbState::Unused => "UNUSED",
            MbState::Plugged => "PLUGGED",
            MbState::Offline => "OFFLINE",
            MbState::OfflinePartial => "OFFLINE_PARTIAL",
            MbState::Kernel => "KERNEL",
            MbState::KernelPartial => "KERNEL_PARTIAL",
            MbState::Movable => "MOVABLE",
            MbState::MovablePartial => "MOVABLE_PARTIAL",
        }
    }

    /// The fully plugged state of a partial one (`old_state - 1`).
    fn full(self) -> MbState {
        match self {
            MbState::OfflinePartial => MbState::Offline,
            MbState::KernelPartial => MbState::Kernel,
            MbState::MovablePartial => MbState::Movable,
            s => s,
        }
    }
}

/// `enum virtio_mem_bbm_bb_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BbState {
    /// Not added, not plugged.
    Unused,
    /// Plugged but not added (adding failed, unplugging too).
    Plugged,
    /// Plugged and added.
    Added,
    /// Being unplugged: all its online memory is fake-offline.
    FakeOffline,
}

impl BbState {
    /// The kernel's name.
    pub fn name(self) -> &'static str {
        match self {
            BbState::Unused => "UNUSED",
            BbState::Plugged => "PLUGGED",
            BbState::Added => "ADDED",
            BbState::FakeOffline => "FAKE_OFFLINE",
        }
    }
}

/// SBM bookkeeping (`vm->sbm`).
#[derive(Debug, Default)]
pub(crate) struct SbmState {
    pub(crate) first_mb_id: u64,
    pub(crate) next_mb_id: u64,
    /// May be below `first_mb_id`: nothing usable.
    pub(crate) last_usable_mb_id: i64,
    pub(crate) mb_states: Vec<MbState>,
    /// One bit per sub-block of every prepared block.
    pub(crate) sb_plugged: Vec<bool>,
    pub(crate) have_unplugged_mb: bool,
}

/// BBM bookkeeping (`vm->bbm`).
#[derive(Debug, Default)]
pub(crate) struct BbmState {
    pub(crate) first_bb_id: u64,
    pub(crate) next_bb_id: u64,
    pub(crate) last_usable_bb_id: i64,
    pub(crate) bb_states: Vec<BbState>,
}

/// What the state lock protects.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// What the driver believes is plugged.
    pub(crate) plugged_size: u64,
    /// The last `requested_size` read.
    pub(crate) requested_size: u64,
    pub(crate) unplug_all_required: bool,
    /// A notifier holds `hotplug_mutex` between GOING_* and the outcome.
    pub(crate) hotplug_active: bool,
    pub(crate) sbm: SbmState,
    pub(crate) bbm: BbmState,
}

/// A sleeping lock without a guard: `hotplug_mutex`, which the memory
/// notifier takes in one call and releases in another.
#[derive(Default)]
pub struct SleepLock {
    locked: Mutex<bool>,
    wait: Condvar,
}

impl SleepLock {
    /// `mutex_lock()`.
    pub fn lock(&self) {
        let g = self.locked.lock();
        let mut g = self.wait.wait_while(g, |l| *l);
        *g = true;
    }

    /// `mutex_unlock()`.
    pub fn unlock(&self) {
        let mut g = self.locked.lock();
        debug_assert!(*g, "unlocking an unlocked hotplug_mutex");
        *g = false;
        drop(g);
        self.wait.notify_one();
    }
}

/// The work item's state (`vm->wq` on `system_freezable_wq`).
#[derive(Default)]
pub(crate) struct WorkState {
    pub(crate) queued: bool,
    pub(crate) running: bool,
    pub(crate) stop: bool,
}

/// Mode-dependent sizes, fixed at probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Sub-block mode.
    Sbm {
        /// Sub-block size.
        sb_size: u64,
        /// Sub-blocks per memory block (≥ 2).
        sbs_per_mb: u64,
    },
    /// Big-block mode.
    Bbm {
        /// Big-block size.
        bb_size: u64,
    },
}

/// One probed device (`struct virtio_mem`).
pub struct VirtioMem {
    /// The device's name in the scenario.
    pub name: String,
    transport: Arc<dyn VirtioTransport>,
    /// Node the memory is added to.
    pub nid: usize,
    /// Start of the device region.
    pub addr: u64,
    /// Size of the device region.
    pub region_size: u64,
    /// Device block size.
    pub device_block_size: u64,
    /// SBM or BBM.
    pub mode: Mode,
    /// Linux memory block size.
    pub(crate) memory_block_size: u64,
    unplug_online: bool,
    /// `vm->offline_threshold`.
    pub offline_threshold: u64,
    /// VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE was negotiated.
    pub unplugged_inaccessible: bool,
    pub(crate) hotplug_mutex: SleepLock,
    pub(crate) state: Mutex<State>,
    /// The request queue (one request in flight; a leaf lock).
    vq: Mutex<SplitQueue>,
    /// The queue's pages (order [`super::virtio::QUEUE_ORDER`]).
    vq_pages: Pfn,
    pub(crate) config_changed: AtomicBool,
    pub(crate) offline_size: AtomicU64,
    pub(crate) wq_active: AtomicBool,
    pub(crate) broken: AtomicBool,
    pub(crate) removing: AtomicBool,
    pub(crate) retry_timer_ms: AtomicU64,
    /// The armed retry timer's expiry in model milliseconds.
    pub(crate) timer: Mutex<Option<u64>>,
    pub(crate) work: Mutex<WorkState>,
    pub(crate) work_wake: Condvar,
    pub(crate) work_idle: Condvar,
    /// The worker's task (offline_and_remove_memory needs one).
    pub(crate) task: Task,
    thread: Mutex<Option<JoinHandle<()>>>,
    notifier: Mutex<Option<NotifierId>>,
}

/// The `type` of a `struct virtio_mem_resp`.
fn resp_type(resp: &[u8]) -> u16 {
    u16::from_le_bytes([resp[0], resp[1]])
}

impl VirtioMem {
    /// The mode's unit: sub-block or big-block size.
    pub fn unit(&self) -> u64 {
        match self.mode {
            Mode::Sbm { sb_size, .. } => sb_size,
            Mode::Bbm { bb_size } => bb_size,
        }
    }

    /// Whether the driver runs in SBM.
    pub fn in_sbm(&self) -> bool {
        matches!(self.mode, Mode::Sbm { .. })
    }

    /// What the driver believes is plugged.
    pub fn plugged_size(&self) -> u64 {
        self.state.lock().plugged_size
    }

    /// The current retry back-off (`vm->retry_timer_ms`).
    pub fn retry_timer_ms(&self) -> u64 {
        self.retry_timer_ms.load(Ordering::Relaxed)
    }

    /// The armed retry timer's expiry (model ms), if armed.
    pub fn timer_armed(&self) -> Option<u64> {
        *self.timer.lock()
    }

    /// Whether the driver marked the device broken.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// `vm->offline_size`.
    pub fn offline_size(&self) -> u64 {
        self.offline_size.load(Ordering::Relaxed)
    }

    /// Whether the work is neither queued nor running.
    pub fn is_idle(&self) -> bool {
        let w = self.work.lock();
        !w.queued && !w.running
    }

    /// The device's `plugged_size`, read from its configuration.
    pub fn device_plugged_size(&self, m: &Machine) -> u64 {
        cread_le64(&*self.transport, m, uapi::CFG_PLUGGED_SIZE)
    }

    /// `vm->sbm.have_unplugged_mb`.
    pub fn sbm_have_unplugged_mb(&self) -> bool {
        self.state.lock().sbm.have_unplugged_mb
    }

    /// Whether sub-block `sb_id` of memory block `mb_id` is plugged.
    pub fn sbm_sb_plugged(&self, mb_id: u64, sb_id: u64) -> bool {
        self.sbm_test_sb_plugged(mb_id, sb_id, 1)
    }

    /// Whether `[start, start + size)` overlaps the device region.
    pub fn overlaps(&self, start: u64, size: u64) -> bool {
        start < self.addr + self.region_size && self.addr < start + size
    }

    /// Whether `[start, start + size)` lies inside the device region.
    pub fn contains(&self, start: u64, size: u64) -> bool {
        self.addr <= start && start + size <= self.addr + self.region_size
    }

    /// `virtio_mem_send_request()`: one request through the queue; the
    /// response type, or None if the device did not answer.
    fn send_request(&self, m: &Machine, req: &[u8; 24]) -> Option<u16> {
        let mut vq = self.vq.lock();
        match vq.send(m, &*self.transport, req, 10) {
            Ok(resp) => Some(resp_type(&resp)),
            Err(e) => {
                m.log(format!(
                    "virtio_mem {}: request not completed by the device ({e})",
                    self.name
                ));
                None
            }
        }
    }

    /// Sends one raw request through the driver's virtqueue and returns the
    /// response type (None if the device did not answer); for tests and
    /// benchmarks of the queue path. The driver's own bookkeeping is not
    /// touched.
    pub fn request_through_queue(&self, m: &Machine, req: &[u8; 24]) -> Option<u16> {
        self.send_request(m, req)
    }

    fn nb_blocks(&self, size: u64) -> u16 {
        // cpu_to_virtio16(): the driver never asks for more than a big
        // block or a memory block at once, far below 65535 device blocks.
        (size / self.device_block_size) as u16
    }

    /// `virtio_mem_send_plug_request()`.
    pub(crate) fn send_plug_request(&self, m: &Machine, addr: u64, size: u64) -> KResult<()> {
        if self.config_changed.load(Ordering::Relaxed) {
            return Err(Errno::EAGAIN);
        }
        let req = uapi::req(uapi::REQ_PLUG, addr, self.nb_blocks(size));
        let rc = match self.send_request(m, &req) {
            Some(uapi::RESP_ACK) => {
                self.state.lock().plugged_size += size;
                return Ok(());
            }
            Some(uapi::RESP_NACK) => Errno::EAGAIN,
            Some(uapi::RESP_BUSY) => Errno::ETXTBSY,
            Some(uapi::RESP_ERROR) => Errno::EINVAL,
            _ => Errno::ENOMEM,
        };
        m.log(format!(
            "virtio_mem {}: plugging memory failed: -{}",
            self.name,
            rc.name()
        ));
        Err(rc)
    }

    /// `virtio_mem_send_unplug_request()`.
    pub(crate) fn send_unplug_request(&self, m: &Machine, addr: u64, size: u64) -> KResult<()> {
        if self.config_changed.load(Ordering::Relaxed) {
            return Err(Errno::EAGAIN);
        }
        let req = uapi::req(uapi::REQ_UNPLUG, addr, self.nb_blocks(size));
        let rc = match self.send_request(m, &req) {
            Some(uapi::RESP_ACK) => {
                self.state.lock().plugged_size -= size;
                return Ok(());
            }
            Some(uapi::RESP_BUSY) => Errno::ETXTBSY,
            Some(uapi::RESP_ERROR) => Errno::EINVAL,
            _ => Errno::ENOMEM,
        };
        m.log(format!(
            "virtio_mem {}: unplugging memory failed: -{}",
            self.name,
            rc.name()
        ));
        Err(rc)
    }

    /// `virtio_mem_send_unplug_all_request()`.
    pub(crate) fn send_unplug_all_request(&self, m: &Machine) -> KResult<()> {
        let req = uapi::req(uapi::REQ_UNPLUG_ALL, 0, 0);
        let rc = match self.send_request(m, &req) {
            Some(uapi::RESP_ACK) => {
                let mut st = self.state.lock();
                st.unplug_all_required = false;
                st.plugged_size = 0;
                // The usable region might have shrunk.
                self.config_changed.store(true, Ordering::Relaxed);
                return Ok(());
            }
            Some(uapi::RESP_BUSY) => Errno::ETXTBSY,
            _ => Errno::ENOMEM,
        };
        m.log(format!(
            "virtio_mem {}: unplugging all memory failed: -{}",
            self.name,
            rc.name()
        ));
        Err(rc)
    }

    /// `virtio_mem_refresh_config()`.
    pub(crate) fn refresh_config(&self, m: &Machine) {
        let t = &*self.transport;
        let new_plugged = cread_le64(t, m, uapi::CFG_PLUGGED_SIZE);
        let usable = cread_le64(t, m, uapi::CFG_USABLE_REGION_SIZE);
        let requested = cread_le64(t, m, uapi::CFG_REQUESTED_SIZE);
        let mut st = self.state.lock();
        if new_plugged != st.plugged_size {
            // WARN_ON_ONCE: the plugged size only reflects what we did.
            m.report_bug(format!(
                "WARNING: virtio_mem {}: plugged_size {new_plugged:#x} in the config, the driver counts {:#x}",
                self.name, st.plugged_size
            ));
            st.plugged_size = new_plugged;
        }
        // The last usable memory/big block: the end of the usable region
        // within what Linux can address, rounded down to whole units (may
        // end up below the first id: nothing can be plugged, -ENOSPC).
        let end = (i128::from(self.addr) + i128::from(usable) - 1)
            .min(i128::from(m.config().max_phys) - 1);
        let last_id = |unit: u64| {
            let unit = i128::from(unit);
            let mut id = end.div_euclid(unit);
            if (end + 1).rem_euclid(unit) != 0 {
                id -= 1;
            }
            id as i64
        };
        match self.mode {
            Mode::Sbm { .. } => st.sbm.last_usable_mb_id = last_id(self.memory_block_size),
            Mode::Bbm { bb_size } => st.bbm.last_usable_bb_id = last_id(bb_size),
        }
        st.requested_size = requested;
    }

    /// `virtio_mem_could_add_memory()`.
    pub(crate) fn could_add_memory(&self, m: &Machine, size: u64) -> bool {
        if size > self.offline_threshold {
            m.report_bug(format!(
                "WARNING: virtio_mem {}: adding {size:#x} exceeds the offline threshold",
                self.name
            ));
            return false;
        }
        self.offline_size.load(Ordering::Relaxed) + size <= self.offline_threshold
    }

    /// `virtio_mem_add_memory()`: `add_memory_driver_managed()` of a range
    /// counted as offline until it is onlined.
    pub(crate) fn add_memory(&self, m: &Machine, addr: u64, size: u64) -> KResult<()> {
        self.offline_size.fetch_add(size, Ordering::Relaxed);
        let rc = m.add_memory_named(self.nid, PhysAddr(addr), size, "System RAM (virtio_mem)");
        if let Err(e) = rc {
            self.offline_size.fetch_sub(size, Ordering::Relaxed);
            m.log(format!(
                "virtio_mem {}: adding memory failed: -{}",
                self.name,
                e.name()
            ));
        }
        rc
    }

    /// `virtio_mem_remove_memory()`.
    pub(crate) fn remove_memory(&self, m: &Machine, addr: u64, size: u64) -> KResult<()> {
        let rc = m.remove_memory(PhysAddr(addr), size);
        match rc {
            Ok(()) => {
                self.offline_size.fetch_sub(size, Ordering::Relaxed);
                // We might have freed up memory we can unplug now.
                self.retry();
            }
            Err(e) => m.log(format!(
                "virtio_mem {}: removing memory failed: -{}",
                self.name,
                e.name()
            )),
        }
        rc
    }

    /// `virtio_mem_offline_and_remove_memory()`: -ENOMEM stays, every other
    /// failure is -EBUSY.
    pub(crate) fn offline_and_remove_memory(
        &self,
        m: &Machine,
        addr: u64,
        size: u64,
    ) -> KResult<()> {
        match m.offline_and_remove_memory(PhysAddr(addr), size, &self.task) {
            Ok(()) => {
                self.offline_size.fetch_sub(size, Ordering::Relaxed);
                self.retry();
                Ok(())
            }
            Err(e) => {
                m.log(format!(
                    "virtio_mem {}: offlining and removing memory failed: -{}",
                    self.name,
                    e.name()
                ));
                Err(if e == Errno::ENOMEM {
                    Errno::ENOMEM
                } else {
                    Errno::EBUSY
                })
            }
        }
    }

    /// `virtio_mem_config_changed()`: the configuration-change interrupt.
    pub fn config_changed(&self) {
        self.config_changed.store(true, Ordering::Relaxed);
        self.retry();
    }

    /// `virtio_mem_retry()`: queues the work unless the device is being
    /// removed.
    pub fn retry(&self) {
        if self.removing.load(Ordering::Relaxed) {
            return;
        }
        let mut w = self.work.lock();
        w.queued = true;
        drop(w);
        self.work_wake.notify_all();
    }
}

/// Every probed virtio-mem device of a machine (`virtio_mem_devices`, which
/// the shared online_page callback searches) and the model clock of their
/// timers.
#[derive(Default)]
pub struct Registry {
    devices: Mutex<Vec<Arc<VirtioMem>>>,
    /// Model time in milliseconds (timers only; nothing else reads it).
    clock_ms: AtomicU64,
}

impl Registry {
    /// The probed devices.
    pub fn devices(&self) -> Vec<Arc<VirtioMem>> {
        self.devices.lock().clone()
    }

    /// The device called `name`.
    pub fn find(&self, name: &str) -> Option<Arc<VirtioMem>> {
        self.devices.lock().iter().find(|d| d.name == name).cloned()
    }

    /// Model time (ms).
    pub fn now_ms(&self) -> u64 {
        self.clock_ms.load(Ordering::Relaxed)
    }
}

impl Machine {
    /// `virtio_mem_probe()`: negotiates features, sets up the queue, reads
    /// the configuration, picks SBM or BBM, registers the memory notifier
    /// and (for the first device) the online_page callback, starts the
    /// driver's thread and queues the first run of the work loop (which
    /// sends UNPLUG_ALL first if memory is still plugged).
    pub fn virtio_mem_probe(
        self: &Arc<Machine>,
        name: &str,
        transport: Arc<dyn VirtioTransport>,
        params: DriverParams,
    ) -> KResult<Arc<VirtioMem>> {
        let m: &Machine = self;
        let t = &*transport;
        let offered = t.device_features(m);
        let wanted = VIRTIO_F_VERSION_1
            | VIRTIO_MEM_F_ACPI_PXM
            | VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE
            | VIRTIO_MEM_F_PERSISTENT_SUSPEND;
        let features = offered & wanted;
        if features & VIRTIO_F_VERSION_1 == 0 {
            return Err(Errno::ENODEV);
        }
        t.finalize_features(m, features)?;

        let block_size = cread_le64(t, m, uapi::CFG_BLOCK_SIZE);
        let node_id = cread_le16(t, m, uapi::CFG_NODE_ID);
        let addr = cread_le64(t, m, uapi::CFG_ADDR);
        let region_size = cread_le64(t, m, uapi::CFG_REGION_SIZE);
        let plugged_size = cread_le64(t, m, uapi::CFG_PLUGGED_SIZE);
        // The node is honoured only with ACPI_PXM (D-CFG-3).
        let nid = if features & VIRTIO_MEM_F_ACPI_PXM != 0 {
            usize::from(node_id)
        } else {
            0
        };
        if nid >= m.config().nodes || !block_size.is_power_of_two() || block_size < PAGE_SIZE {
            return Err(Errno::EINVAL);
        }
        if self
            .virtio_mem()
            .devices()
            .iter()
            .any(|d| d.overlaps(addr, region_size))
        {
            // virtio_mem_create_resource() failed.
            m.log(format!(
                "virtio_mem {name}: could not reserve device region; reloading the driver is not supported"
            ));
            return Err(Errno::EBUSY);
        }
        let memory_block_size = m.hotplug().block_size();
        for (what, a) in [("start", addr), ("end", addr + region_size)] {
            if a % memory_block_size != 0 {
                m.log(format!(
                    "virtio_mem {name}: The alignment of the physical {what} address can make some memory unusable."
                ));
            }
        }
        if addr + region_size > m.config().max_phys {
            m.log(format!(
                "virtio_mem {name}: Some device memory is not addressable/pluggable. This can make some memory unusable."
            ));
        }
        // virtio_mem_init_hotplug(): alloc_contig_range() works reliably
        // with pageblock granularity.
        let sb_size = block_size.max(PAGEBLOCK_NR_PAGES * PAGE_SIZE);
        let (mode, unit) = if sb_size < memory_block_size && !params.force_bbm {
            let sbs_per_mb = memory_block_size / sb_size;
            (
                Mode::Sbm {
                    sb_size,
                    sbs_per_mb,
                },
                memory_block_size,
            )
        } else {
            let mut bb_size = block_size.max(memory_block_size);
            if params.bbm_block_size != 0 {
                if !params.bbm_block_size.is_power_of_two() {
                    m.log(format!(
                        "virtio_mem {name}: bbm_block_size is not a power of 2"
                    ));
                } else if params.bbm_block_size < bb_size {
                    m.log(format!("virtio_mem {name}: bbm_block_size is too small"));
                } else {
                    bb_size = params.bbm_block_size;
                }
            }
            (Mode::Bbm { bb_size }, bb_size)
        };
        let offline_threshold = params
            .offline_threshold
            .unwrap_or((2 * unit).max(DEFAULT_OFFLINE_THRESHOLD));
        let first_id = addr.div_ceil(unit);

        // virtio_mem_init_vq(): the queue in kernel memory.
        let vq_pages = m.alloc_pages(Gfp::KERNEL, super::virtio::QUEUE_ORDER, nid)?;
        let qlen = PAGE_SIZE << super::virtio::QUEUE_ORDER;
        m.physmem().fill(vq_pages.phys(), qlen, 0)?;
        let vq = SplitQueue::new(vq_pages.phys());
        let (size, desc, avail, used) = vq.layout();
        t.setup_queue(m, size, desc, avail, used);

        let mut state = State {
            plugged_size,
            unplug_all_required: plugged_size != 0,
            ..State::default()
        };
        state.sbm.first_mb_id = first_id;
        state.sbm.next_mb_id = first_id;
        state.bbm.first_bb_id = first_id;
        state.bbm.next_bb_id = first_id;
        let vm = Arc::new(VirtioMem {
            name: name.to_string(),
            transport: transport.clone(),
            nid,
            addr,
            region_size,
            device_block_size: block_size,
            mode,
            memory_block_size,
            unplug_online: params.unplug_online,
            offline_threshold,
            unplugged_inaccessible: features & VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE != 0,
            hotplug_mutex: SleepLock::default(),
            state: Mutex::new(state),
            vq: Mutex::new(vq),
            vq_pages,
            // Probe ends by asking the work loop to read the config.
            config_changed: AtomicBool::new(true),
            offline_size: AtomicU64::new(0),
            wq_active: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            removing: AtomicBool::new(false),
            retry_timer_ms: AtomicU64::new(RETRY_TIMER_MIN_MS),
            timer: Mutex::new(None),
            work: Mutex::new(WorkState::default()),
            work_wake: Condvar::new(),
            work_idle: Condvar::new(),
            task: Task::new(),
            thread: Mutex::new(None),
            notifier: Mutex::new(None),
        });
        if let Err(e) = self.register_virtio_mem_device(&vm) {
            m.put_pages(vq_pages, super::virtio::QUEUE_ORDER);
            return Err(e);
        }
        let id = m
            .hotplug()
            .register_memory_notifier(Arc::new(hooks::Notifier(Arc::downgrade(&vm))), 0);
        *vm.notifier.lock() = Some(id);
        m.log(format!(
            "virtio_mem {name}: {}: {:#x}",
            match mode {
                Mode::Sbm { .. } => "subblock size",
                Mode::Bbm { .. } => "big block size",
            },
            match mode {
                Mode::Sbm { sb_size, .. } => sb_size,
                Mode::Bbm { bb_size } => bb_size,
            }
        ));
        let weak: Weak<VirtioMem> = Arc::downgrade(&vm);
        t.driver_ok(
            m,
            Box::new(move || {
                if let Some(vm) = weak.upgrade() {
                    vm.config_changed();
                }
            }),
        );
        work::start(self, &vm);
        vm.retry();
        Ok(vm)
    }

    /// `register_virtio_mem_device()`: the first device installs the
    /// online_page callback.
    fn register_virtio_mem_device(&self, vm: &Arc<VirtioMem>) -> KResult<()> {
        let reg = self.virtio_mem();
        let mut devices = reg.devices.lock();
        if devices.is_empty() {
            self.set_online_page_callback(Arc::new(hooks::OnlinePage))?;
        }
        devices.push(vm.clone());
        Ok(())
    }

    /// Waits until no virtio-mem work is queued or running.
    pub fn virtio_mem_settle(&self) {
        for vm in self.virtio_mem().devices() {
            work::wait_idle(self, &vm);
        }
    }

    /// Stops every driver thread (driver removal at shutdown: the memory
    /// stays as it is).
    pub fn virtio_mem_shutdown(&self) {
        for vm in self.virtio_mem().devices() {
            work::stop(&vm);
        }
    }

    /// The driver-owned pages for the leak check: each device's queue.
    pub(crate) fn virtio_mem_held(&self) -> Vec<(Pfn, u32, i32)> {
        self.virtio_mem()
            .devices()
            .iter()
            .map(|vm| (vm.vq_pages, super::virtio::QUEUE_ORDER, 1))
            .collect()
    }
}
