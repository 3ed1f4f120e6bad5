//! Memory hotplug: memory blocks, adding and removing memory, onlining and
//! offlining, the memory notifier chain, the online_page_callback and the
//! migration of movable pages out of memory that goes offline.
//!
//! # Memory blocks
//!
//! Physical memory is managed in memory blocks of `block_size_bytes` (128 MiB
//! to 2 GiB, a whole number of sections). A block is created offline by
//! `add_memory()` (or online at boot), goes online through `device_online()`
//! and offline through `device_offline()`, and disappears with
//! `remove_memory()`. Its state machine (reference §2.14):
//!
//! ```text
//!   (none) --add--> offline --online ok--> online --offline starts--> going-offline
//!                     ^  |                   ^                           |   |
//!                     |  +--online fails-----+ (stays offline)           |   |
//!                     +-------------------offline ok---------------------+   |
//!                                            +------offline fails------------+
//! ```
//!
//! # Locks, in the kernel's order
//!
//! (Where they sit among the machine's other locks: the machine's
//! [lock order](crate::machine#lock-order).)
//!
//! 1. `device_hotplug_lock` ([`Hotplug::device_hotplug_lock`]): serialises
//!    add/remove with sysfs online/offline and owns block lifetime.
//! 2. the block's `device_lock` ([`MemoryBlock`]): its state and `dev->offline`.
//! 3. `mem_hotplug_lock` (a percpu rwsem, held only through the guards of
//!    [`lock`]: [`MemHotplugWrite`] from `mem_hotplug_begin()`,
//!    [`OnlineMemsRead`] from `get_online_mems()`) for write: zones, node
//!    spans, sections, the online_page_callback. Readers keep memory from
//!    going away.
//! 4. notifiers may take their own locks (a driver's hotplug mutex,
//!    `page_offline_rwsem`).
//! 5. `zone->lock`.
//!
//! Submodules: [`add`] (add/remove), [`online`], [`offline`], [`notifier`],
//! [`callback`] (online_page_callback), [`lock`] (mem_hotplug_lock's guards),
//! [`migrate`] (movable-ops migration), [`owner`] (a test-only kernel user
//! that allocates and marks pages).

pub mod add;
pub mod callback;
pub mod lock;
pub mod migrate;
pub mod notifier;
pub mod offline;
pub mod online;
pub mod owner;

use crate::page::{Pfn, ZoneType};
use crate::sparse::PAGES_PER_SECTION;
use crate::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicU8, Ordering};
use crate::sync::{thread, Arc, Mutex, MutexGuard, RwSem};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub use callback::OnlinePageCallback;
pub use lock::{MemHotplugWrite, OnlineMemsRead};
pub use migrate::{MovableKind, MovableOps};
pub use notifier::{MemAction, MemoryNotifier, MemoryNotify, NodeAction, NotifierId};

/// `enum mmop`: how a block should be onlined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum OnlineType {
    /// MMOP_OFFLINE.
    Offline = 0,
    /// MMOP_ONLINE: zone by policy.
    Online = 1,
    /// MMOP_ONLINE_KERNEL.
    OnlineKernel = 2,
    /// MMOP_ONLINE_MOVABLE.
    OnlineMovable = 3,
}

impl OnlineType {
    /// `mhp_online_type_from_str()`: one of the four strings, with one
    /// trailing newline tolerated (`sysfs_streq`).
    pub fn from_sysfs(s: &str) -> Option<OnlineType> {
        match s.strip_suffix('\n').unwrap_or(s) {
            "offline" => Some(OnlineType::Offline),
            "online" => Some(OnlineType::Online),
            "online_kernel" => Some(OnlineType::OnlineKernel),
            "online_movable" => Some(OnlineType::OnlineMovable),
            _ => None,
        }
    }

    /// The sysfs string.
    pub const fn as_str(self) -> &'static str {
        match self {
            OnlineType::Offline => "offline",
            OnlineType::Online => "online",
            OnlineType::OnlineKernel => "online_kernel",
            OnlineType::OnlineMovable => "online_movable",
        }
    }

    const fn from_raw(v: u8) -> OnlineType {
        match v {
            1 => OnlineType::Online,
            2 => OnlineType::OnlineKernel,
            3 => OnlineType::OnlineMovable,
            _ => OnlineType::Offline,
        }
    }
}

/// A memory block's state (the 7.2 enum values; only the strings are ABI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MemoryBlockState {
    /// MEM_ONLINE.
    Online = 0,
    /// MEM_GOING_OFFLINE: an offline attempt is running.
    GoingOffline = 1,
    /// MEM_OFFLINE.
    Offline = 2,
}

impl MemoryBlockState {
    /// The `state` file's text.
    pub const fn as_str(self) -> &'static str {
        match self {
            MemoryBlockState::Online => "online",
            MemoryBlockState::GoingOffline => "going-offline",
            MemoryBlockState::Offline => "offline",
        }
    }

    const fn from_raw(v: u8) -> MemoryBlockState {
        match v {
            0 => MemoryBlockState::Online,
            1 => MemoryBlockState::GoingOffline,
            _ => MemoryBlockState::Offline,
        }
    }
}

const NO_ZONE: u16 = u16::MAX;

/// One `struct memory_block`.
pub struct MemoryBlock {
    /// Block id: the block covers `[id * block_size, (id + 1) * block_size)`.
    pub id: u64,
    /// Node of the block.
    pub nid: usize,
    /// First PFN.
    pub start_pfn: Pfn,
    /// Pages in the block.
    pub nr_pages: u64,
    /// `device_lock(&mem->dev)`: held across an online/offline of this
    /// block, under `device_hotplug_lock`; [lock order](crate::machine#lock-order).
    dev_lock: Mutex<()>,
    /// `mem->state` (device_lock).
    state: AtomicU8,
    /// `mem->online_type` (device_hotplug_lock).
    online_type: AtomicU8,
    /// `dev->offline` (device_lock).
    dev_offline: AtomicBool,
    /// `mem->zone` as (nid << 8 | zone type), NO_ZONE if none.
    zone: AtomicU16,
    /// `memblk_nr_poison()`.
    nr_hwpoison: AtomicU64,
}

impl MemoryBlock {
    fn new(id: u64, nid: usize, nr_pages: u64, state: MemoryBlockState) -> MemoryBlock {
        MemoryBlock {
            id,
            nid,
            start_pfn: Pfn(id * nr_pages),
            nr_pages,
            dev_lock: Mutex::new(()),
            state: AtomicU8::new(state as u8),
            online_type: AtomicU8::new(OnlineType::Offline as u8),
            dev_offline: AtomicBool::new(state == MemoryBlockState::Offline),
            zone: AtomicU16::new(NO_ZONE),
            nr_hwpoison: AtomicU64::new(0),
        }
    }

    /// The current state (may change right after the read).
    pub fn state(&self) -> MemoryBlockState {
        MemoryBlockState::from_raw(self.state.load(Ordering::Relaxed))
    }

    fn set_state(&self, s: MemoryBlockState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    /// `!dev->offline`: what the `online` file shows.
    pub fn dev_online(&self) -> bool {
        !self.dev_offline.load(Ordering::Relaxed)
    }

    /// `mem->zone`.
    pub fn zone(&self) -> Option<(usize, ZoneType)> {
        let z = self.zone.load(Ordering::Relaxed);
        (z != NO_ZONE).then(|| {
            (
                usize::from(z >> 8),
                ZoneType::from_index(usize::from(z & 0xff)).unwrap_or(ZoneType::Normal),
            )
        })
    }

    fn set_zone(&self, z: Option<(usize, ZoneType)>) {
        let raw = z.map_or(NO_ZONE, |(nid, zt)| ((nid as u16) << 8) | zt as u16);
        self.zone.store(raw, Ordering::Relaxed);
    }

    fn online_type(&self) -> OnlineType {
        OnlineType::from_raw(self.online_type.load(Ordering::Relaxed))
    }

    fn set_online_type(&self, t: OnlineType) {
        self.online_type.store(t as u8, Ordering::Relaxed);
    }

    /// `memblk_nr_poison()`.
    pub fn nr_hwpoison(&self) -> u64 {
        self.nr_hwpoison.load(Ordering::Relaxed)
    }

    /// `memblk_nr_poison_inc()`.
    pub fn inc_hwpoison(&self) {
        self.nr_hwpoison.fetch_add(1, Ordering::Relaxed);
    }

    /// One past the last PFN.
    pub fn end_pfn(&self) -> Pfn {
        self.start_pfn + self.nr_pages
    }

    /// `device_lock()`: taken by `device_online()`/`device_offline()` and
    /// the `online` file's reader; [lock order](crate::machine#lock-order).
    pub fn device_lock(&self) -> MutexGuard<'_, ()> {
        self.dev_lock.lock()
    }
}

impl fmt::Debug for MemoryBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBlock")
            .field("id", &self.id)
            .field("nid", &self.nid)
            .field("state", &self.state())
            .field("zone", &self.zone())
            .finish()
    }
}

/// Runs `f` as a task that a timer thread signals after `after`, and every
/// millisecond after that, until `f` returns: a signal that arrives while the
/// writer waits for `device_hotplug_lock` is used up by the syscall restart
/// (`restart_syscall()`), as in the kernel, so a person who wants the write to
/// end keeps pressing Ctrl-C. The explorer has no clock: there the task
/// signals itself once it has waited `after` in its retry loops.
pub fn with_signal_after<R>(after: Duration, f: impl FnOnce(&Task) -> R) -> R {
    if cfg!(mmsim_shuttle) {
        let task = Task::new();
        task.signal_after_waiting(after);
        return f(&task);
    }
    let task = Arc::new(Task::new());
    let done = Arc::new(AtomicBool::new(false));
    let timer = {
        let (task, done) = (task.clone(), done.clone());
        thread::spawn(move || {
            // No clock: time is counted in polls. Each sleep lasts at least
            // its length, so the signal never comes early; under a checker a
            // sleep is a yield and the timer is a function of the schedule.
            const POLL: Duration = Duration::from_millis(1);
            let mut waited = Duration::ZERO;
            // Acquire pairs with the Release store after `f` returned.
            while !done.load(Ordering::Acquire) {
                if waited >= after {
                    task.send_signal();
                }
                thread::sleep(POLL);
                waited += POLL;
            }
        })
    };
    let ret = f(&task);
    done.store(true, Ordering::Release); // pairs with the timer's Acquire load
    let _ = timer.join();
    ret
}

/// A task that can receive signals (the writer of a sysfs file).
///
/// Its retry loops give up the CPU through [`Task::cond_resched`] and
/// [`Task::msleep`], which also count the time the task spends waiting. On
/// real threads a timer thread delivers signals by the clock; the explorer
/// has no clock, so there a task may instead be told to signal itself after
/// it has waited a given time ([`Task::signal_after_waiting`]): a signal
/// then comes only to a task that keeps waiting, never in the middle of
/// work that would finish on its own.
pub struct Task {
    signal: AtomicBool,
    /// Milliseconds of waiting after which the task signals itself
    /// (`u64::MAX`: never).
    signal_at_ms: AtomicU64,
    /// Milliseconds the task has waited in its retry loops.
    waited_ms: AtomicU64,
}

impl Default for Task {
    fn default() -> Task {
        Task {
            signal: AtomicBool::new(false),
            signal_at_ms: AtomicU64::new(u64::MAX),
            waited_ms: AtomicU64::new(0),
        }
    }
}

impl Task {
    /// A task with no pending signal.
    pub fn new() -> Task {
        Task::default()
    }

    /// Makes the task signal itself once it has waited `after` in its retry
    /// loops, and every time it waits after that (a person pressing Ctrl-C
    /// until the write ends).
    pub fn signal_after_waiting(&self, after: Duration) {
        let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        self.signal_at_ms.store(ms, Ordering::Relaxed);
    }

    /// `cond_resched()` in a retry loop: gives up the CPU, which counts as
    /// one millisecond of waiting.
    pub fn cond_resched(&self) {
        crate::sync::thread::yield_now();
        self.waited(1);
    }

    /// `msleep(d)` in a retry loop.
    pub fn msleep(&self, d: Duration) {
        crate::sync::thread::sleep(d);
        self.waited(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    }

    fn waited(&self, ms: u64) {
        // Only the task itself waits: Relaxed counts suffice.
        let total = self.waited_ms.load(Ordering::Relaxed).saturating_add(ms);
        self.waited_ms.store(total, Ordering::Relaxed);
        if total >= self.signal_at_ms.load(Ordering::Relaxed) {
            self.send_signal();
        }
    }

    /// `signal_pending(current)`.
    pub fn signal_pending(&self) -> bool {
        // Acquire pairs with the Release in send_signal().
        self.signal.load(Ordering::Acquire)
    }

    /// Delivers a signal.
    pub fn send_signal(&self) {
        // Release pairs with the Acquire in signal_pending().
        self.signal.store(true, Ordering::Release);
    }

    /// The signal was handled (the syscall returned).
    pub fn clear_signal(&self) {
        self.signal.store(false, Ordering::Relaxed);
    }
}

/// Hotplug state of a machine.
pub struct Hotplug {
    block_size: u64,
    /// `device_hotplug_lock`: serialises add/remove with sysfs
    /// online/offline; the outermost hotplug lock ([lock order](crate::machine#lock-order)).
    pub device_hotplug_lock: Mutex<()>,
    /// `mem_hotplug_lock`; taken only through [`lock`]'s guards.
    mem_hotplug_lock: lock::MemHotplugLock,
    /// Memory block devices by id (lifetime under device_hotplug_lock; the
    /// rwsem lets sysfs readers look blocks up without it). A leaf lock
    /// ([lock order](crate::machine#lock-order)).
    blocks: RwSem<BTreeMap<u64, Arc<MemoryBlock>>>,
    /// `auto_online_blocks` (no lock, like the kernel's cached value).
    default_online_type: AtomicU8,
    /// The memory notifier chain.
    pub(crate) notifiers: notifier::NotifierChain,
    /// The node notifier events, in order (the model's node chain; a leaf
    /// lock, [lock order](crate::machine#lock-order)).
    pub(crate) node_events: Mutex<Vec<(NodeAction, usize)>>,
    /// `online_page_callback` under `online_page_callback_lock` (a leaf
    /// under mem_hotplug_lock; [lock order](crate::machine#lock-order)).
    pub(crate) online_page_callback: Mutex<Option<Arc<dyn OnlinePageCallback>>>,
    /// movable_ops registrations (a leaf lock; [lock order](crate::machine#lock-order)).
    pub(crate) movable_ops: RwSem<Vec<(MovableKind, Arc<dyn MovableOps>)>>,
}

impl Hotplug {
    /// Hotplug state with no blocks.
    pub fn new(block_size: u64, auto_online: OnlineType) -> Hotplug {
        Hotplug {
            block_size,
            device_hotplug_lock: Mutex::new(()),
            mem_hotplug_lock: lock::MemHotplugLock::default(),
            blocks: RwSem::new(BTreeMap::new()),
            default_online_type: AtomicU8::new(auto_online as u8),
            notifiers: notifier::NotifierChain::new(),
            node_events: Mutex::new(Vec::new()),
            online_page_callback: Mutex::new(None),
            movable_ops: RwSem::new(Vec::new()),
        }
    }

    /// `memory_block_size_bytes()`.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Pages per memory block.
    pub fn pages_per_block(&self) -> u64 {
        self.block_size >> crate::page::PAGE_SHIFT
    }

    /// Sections per memory block.
    pub fn sections_per_block(&self) -> u64 {
        self.pages_per_block() / PAGES_PER_SECTION
    }

    /// `memory_block_id()` of a PFN.
    pub fn block_id(&self, pfn: Pfn) -> u64 {
        pfn.0 / self.pages_per_block()
    }

    /// `find_memory_block_by_id()`.
    pub fn find_block(&self, id: u64) -> Option<Arc<MemoryBlock>> {
        self.blocks.down_read().get(&id).cloned()
    }

    /// Every block, by id.
    pub fn blocks(&self) -> Vec<Arc<MemoryBlock>> {
        self.blocks.down_read().values().cloned().collect()
    }

    /// `mhp_get_default_online_type()`.
    pub fn default_online_type(&self) -> OnlineType {
        OnlineType::from_raw(self.default_online_type.load(Ordering::Relaxed))
    }

    /// `mhp_set_default_online_type()`.
    pub fn set_default_online_type(&self, t: OnlineType) {
        self.default_online_type.store(t as u8, Ordering::Relaxed);
    }

    pub(crate) fn create_boot_block(
        &self,
        id: u64,
        nid: usize,
        zone: Option<(usize, ZoneType)>,
        state: MemoryBlockState,
    ) {
        let b = MemoryBlock::new(id, nid, self.pages_per_block(), state);
        b.set_zone(zone);
        self.blocks.down_write().insert(id, Arc::new(b));
    }

    /// The node notifier events so far.
    pub fn node_events(&self) -> Vec<(NodeAction, usize)> {
        self.node_events.lock().clone()
    }
}
