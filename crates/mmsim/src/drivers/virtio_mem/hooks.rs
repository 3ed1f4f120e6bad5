//! What the hotplug core calls in the driver: the memory notifier, the
//! online_page callback, and the fake-offline protocol around them
//! (reference kernel-hotplug §5.6–§5.8, §1.3, §1.5).
//!
//! # Fake-offline pages
//!
//! Unplugged memory inside an added block is owned by the driver as
//! PageOffline pages: those never given to the buddy carry PG_dirty (kept
//! back by the online_page callback), those taken back with
//! `alloc_contig_range()` do not. Under `memmap_init=reserved` (before 6.11)
//! the kept-back pages came from memmap init as PG_reserved, and the driver
//! turned them into PageOffline itself (and back, before
//! `generic_online_page()`), so from then on they look the same. Pages become PageOffline only under
//! `page_offline_begin()`, so a /proc/kcore reader that holds
//! `page_offline_freeze()` never sees a page turn PageOffline between its
//! check and its copy.
//!
//! How offlining gets past them depends on the `offline_skip` variant:
//!
//! | variant | fake-offline page | MEM_GOING_OFFLINE | MEM_CANCEL_OFFLINE |
//! |---|---|---|---|
//! | `refcount` (mainline) | refcount 1 | drop every reference (WARN if one stays: "fake-offline page referenced") | take them again |
//! | `skippable` (May 2025 proposal) | refcount 1, PG_offline_skippable | nothing | nothing |
//! | `frozen` | refcount frozen at 0, PG_offline_skippable | nothing | nothing |
//!
//! Under `refcount`, a kernel user that holds a speculative reference on a
//! fake-offline page across MEM_GOING_OFFLINE owns the last reference: when
//! it drops it the page is freed into the buddy, inside memory the device
//! may have made inaccessible.

use super::{BbState, MbState, VirtioMem};
use crate::errno::{Errno, KResult};
use crate::hotplug::callback::OnlinePageCallback;
use crate::hotplug::notifier::{
    notifier_from_errno, MemAction, MemoryNotifier, MemoryNotify, NOTIFY_BAD, NOTIFY_DONE,
    NOTIFY_OK,
};
use crate::machine::Machine;
use crate::page::{
    PageType, Pfn, ZoneType, MAX_PAGE_ORDER, PAGE_SHIFT, PG_DIRTY, PG_OFFLINE_SKIPPABLE,
    PG_RESERVED,
};
use crate::sync::atomic::Ordering;
use crate::sync::Weak;
use crate::variant::{MemmapInit, OfflineSkip};
use crate::zone::isolation::IsolateMode;

impl VirtioMem {
    /// `virtio_mem_set_fake_offline()`: the pages become driver-owned
    /// PageOffline pages, under `page_offline_begin()`. `onlined`: they
    /// come from `alloc_contig_range()` (else from memmap init, and get
    /// PG_dirty). Memmap init left them PageOffline in 7.2; before 6.11
    /// (`memmap_init=reserved`) it left them PG_reserved, and the driver set
    /// PageOffline itself and cleared PG_reserved, which would otherwise make
    /// `has_unmovable_pages()` refuse to offline the block.
    pub(crate) fn set_fake_offline(&self, m: &Machine, pfn: Pfn, nr: u64, onlined: bool) {
        let skip = m.variants().offline_skip;
        let from_reserved = !onlined && m.variants().memmap_init == MemmapInit::Reserved;
        let begun = m.page_offline_begin();
        for p in crate::page::pfn_range(pfn, pfn + nr) {
            let page = m.page(p);
            if (onlined || from_reserved) && page.try_set_type(PageType::Offline).is_err() {
                m.report_bug(format!("WARNING: virtio_mem: pfn {p} already has a type"));
            }
            if !onlined {
                page.set(PG_DIRTY);
            }
            if from_reserved {
                page.clear(PG_RESERVED);
            }
            if skip != OfflineSkip::Refcount {
                page.set(PG_OFFLINE_SKIPPABLE);
            }
            if skip == OfflineSkip::Frozen && !page.ref_freeze(1) {
                m.report_bug(format!(
                    "WARNING: virtio_mem: fake-offline pfn {p} referenced, cannot freeze"
                ));
            }
            if !page.is_type(PageType::Offline) {
                m.report_bug(format!("WARNING: virtio_mem: pfn {p} is not PageOffline"));
            }
        }
        m.page_offline_end(begun);
    }

    /// `virtio_mem_clear_fake_offline()` (no rwsem: leaving PageOffline is
    /// harmless to walkers). Never-onlined pages keep PageOffline for
    /// `generic_online_page()` to clear in 7.2; before 6.11
    /// (`memmap_init=reserved`) that function cleared only PG_reserved, so
    /// the driver cleared PageOffline here for every page.
    fn clear_fake_offline(&self, m: &Machine, pfn: Pfn, nr: u64, onlined: bool) {
        let skip = m.variants().offline_skip;
        let reserved = m.variants().memmap_init == MemmapInit::Reserved;
        for p in crate::page::pfn_range(pfn, pfn + nr) {
            let page = m.page(p);
            if skip == OfflineSkip::Frozen && page.ref_count() == 0 {
                page.ref_unfreeze(1);
            }
            page.clear(PG_OFFLINE_SKIPPABLE);
            if onlined || reserved {
                page.clear_type(PageType::Offline);
            }
            if !onlined {
                page.clear(PG_DIRTY);
            }
        }
    }

    /// `virtio_mem_fake_offline()`: takes `[pfn, pfn + nr)` from the buddy
    /// (up to five attempts in ZONE_MOVABLE, one elsewhere) and makes it
    /// fake-offline; -EAGAIN if the config changed meanwhile, -ENOMEM, or
    /// -EBUSY.
    pub(crate) fn fake_offline(&self, m: &Machine, pfn: Pfn, nr: u64) -> KResult<()> {
        let movable = m.page(pfn).zonenum() == ZoneType::Movable;
        for _ in 0..5 {
            // Stop at once if the device may not want more memory back.
            if self.config_changed.load(Ordering::Relaxed) {
                return Err(Errno::EAGAIN);
            }
            match m.alloc_contig_range(pfn, pfn + nr, IsolateMode::Other) {
                Err(Errno::ENOMEM) => return Err(Errno::ENOMEM),
                Err(_) if !movable => break,
                Err(_) => continue,
                Ok(()) => {
                    self.set_fake_offline(m, pfn, nr, true);
                    m.adjust_managed_page_count(m.page_zone(m.page(pfn)), -(nr as i64));
                    return Ok(());
                }
            }
        }
        Err(Errno::EBUSY)
    }

    /// `virtio_mem_fake_online()`: gives fake-offline pages to the buddy in
    /// the largest aligned chunks: never-onlined ones (PG_dirty) through
    /// `generic_online_page()`, the others through `free_contig_range()`.
    pub(crate) fn fake_online(&self, m: &Machine, pfn: Pfn, nr: u64) {
        let mut order = MAX_PAGE_ORDER;
        while (pfn.0 | nr) & ((1u64 << order) - 1) != 0 {
            order -= 1;
        }
        let mut i = 0;
        while i < nr {
            let p = pfn + i;
            let chunk = 1u64 << order;
            if m.page(p).test(PG_DIRTY) {
                self.clear_fake_offline(m, p, chunk, false);
                m.generic_online_page(p, order);
            } else {
                self.clear_fake_offline(m, p, chunk, true);
                m.free_contig_range(p, chunk);
                m.adjust_managed_page_count(m.page_zone(m.page(p)), chunk as i64);
            }
            i += chunk;
        }
    }

    /// `virtio_mem_fake_offline_going_offline()`: the owner lets go of its
    /// references so that offlining can skip the pages (mainline only).
    fn fake_offline_going_offline(&self, m: &Machine, pfn: Pfn, nr: u64) {
        if m.variants().offline_skip != OfflineSkip::Refcount {
            return;
        }
        for p in crate::page::pfn_range(pfn, pfn + nr) {
            if !m.page(p).ref_dec_and_test() {
                m.report_bug(format!(
                    "WARNING: virtio_mem {}: fake-offline page referenced (pfn {p}, refcount {})",
                    self.name,
                    m.page(p).ref_count()
                ));
            }
        }
    }

    /// `virtio_mem_fake_offline_cancel_offline()`.
    fn fake_offline_cancel_offline(&self, m: &Machine, pfn: Pfn, nr: u64) {
        if m.variants().offline_skip != OfflineSkip::Refcount {
            return;
        }
        for p in crate::page::pfn_range(pfn, pfn + nr) {
            m.page(p).ref_inc();
        }
    }

    /// The unplugged sub-blocks of a memory block, as page ranges.
    fn sbm_unplugged_ranges(&self, mb_id: u64) -> Vec<(Pfn, u64)> {
        let (sb_size, per) = match self.mode {
            super::Mode::Sbm {
                sb_size,
                sbs_per_mb,
            } => (sb_size, sbs_per_mb),
            super::Mode::Bbm { .. } => return Vec::new(),
        };
        (0..per)
            .filter(|&sb| !self.sbm_test_sb_plugged(mb_id, sb, 1))
            .map(|sb| {
                let addr = self.mb_id_to_phys(mb_id) + sb * sb_size;
                (Pfn(addr >> PAGE_SHIFT), sb_size >> PAGE_SHIFT)
            })
            .collect()
    }

    /// `virtio_mem_memory_notifier_cb()`.
    fn memory_notify(&self, m: &Machine, action: MemAction, arg: &MemoryNotify) -> i32 {
        let start = arg.start_pfn.phys().0;
        let size = arg.nr_pages << PAGE_SHIFT;
        if !self.overlaps(start, size) {
            return NOTIFY_DONE;
        }
        let id = if self.in_sbm() {
            // SBM adds, onlines and offlines whole memory blocks.
            if size != self.memory_block_size || start % self.memory_block_size != 0 {
                m.report_bug(format!(
                    "WARNING: virtio_mem {}: notified range is not one memory block",
                    self.name
                ));
                return NOTIFY_BAD;
            }
            start / self.memory_block_size
        } else {
            let id = self.phys_to_bb_id(start);
            if id != self.phys_to_bb_id(start + size - 1) {
                m.report_bug(format!(
                    "WARNING: virtio_mem {}: notified range crosses big blocks",
                    self.name
                ));
                return NOTIFY_BAD;
            }
            id
        };
        let mut rc = NOTIFY_OK;
        match action {
            MemAction::GoingOffline => {
                self.hotplug_mutex.lock();
                if self.removing.load(Ordering::Relaxed) {
                    self.hotplug_mutex.unlock();
                    return notifier_from_errno(Some(Errno::EBUSY));
                }
                self.state.lock().hotplug_active = true;
                if self.in_sbm() {
                    for (pfn, nr) in self.sbm_unplugged_ranges(id) {
                        self.fake_offline_going_offline(m, pfn, nr);
                    }
                } else if self.bbm_get_bb_state(id) == Some(BbState::FakeOffline) {
                    self.fake_offline_going_offline(m, arg.start_pfn, arg.nr_pages);
                }
            }
            MemAction::GoingOnline => {
                self.hotplug_mutex.lock();
                if self.removing.load(Ordering::Relaxed) {
                    self.hotplug_mutex.unlock();
                    return notifier_from_errno(Some(Errno::EBUSY));
                }
                self.state.lock().hotplug_active = true;
                if self.in_sbm()
                    && !matches!(
                        self.sbm_get_mb_state(id),
                        Some(MbState::Offline | MbState::OfflinePartial)
                    )
                {
                    m.log(format!(
                        "virtio_mem {}: memory block onlining denied",
                        self.name
                    ));
                    rc = NOTIFY_BAD;
                }
            }
            MemAction::Offline => {
                if self.in_sbm() {
                    let new = match self.sbm_get_mb_state(id) {
                        Some(MbState::KernelPartial | MbState::MovablePartial) => {
                            MbState::OfflinePartial
                        }
                        Some(MbState::Kernel | MbState::Movable) => MbState::Offline,
                        s => {
                            m.report_bug(format!(
                                "BUG: virtio_mem {}: memory block {id} went offline in state {s:?}",
                                self.name
                            ));
                            s.unwrap_or(MbState::Unused)
                        }
                    };
                    self.sbm_set_mb_state(id, new);
                }
                self.offline_size.fetch_add(size, Ordering::Relaxed);
                // With some memory offline, pending unplugs may succeed.
                if !self.unplug_online {
                    self.retry();
                }
                self.state.lock().hotplug_active = false;
                self.hotplug_mutex.unlock();
            }
            MemAction::Online => {
                if self.in_sbm() {
                    let movable = m.page(arg.start_pfn).zonenum() == ZoneType::Movable;
                    let new = match self.sbm_get_mb_state(id) {
                        Some(MbState::OfflinePartial) if movable => MbState::MovablePartial,
                        Some(MbState::OfflinePartial) => MbState::KernelPartial,
                        Some(MbState::Offline) if movable => MbState::Movable,
                        Some(MbState::Offline) => MbState::Kernel,
                        s => {
                            m.report_bug(format!(
                                "BUG: virtio_mem {}: memory block {id} went online in state {s:?}",
                                self.name
                            ));
                            s.unwrap_or(MbState::Unused)
                        }
                    };
                    self.sbm_set_mb_state(id, new);
                }
                self.offline_size.fetch_sub(size, Ordering::Relaxed);
                // Add more once half the threshold is online again, unless
                // this is our own adding.
                if !self.wq_active.load(Ordering::Relaxed)
                    && self.could_add_memory(m, self.offline_threshold / 2)
                {
                    self.retry();
                }
                self.state.lock().hotplug_active = false;
                self.hotplug_mutex.unlock();
            }
            MemAction::CancelOffline => {
                if !self.state.lock().hotplug_active {
                    return rc;
                }
                if self.in_sbm() {
                    for (pfn, nr) in self.sbm_unplugged_ranges(id) {
                        self.fake_offline_cancel_offline(m, pfn, nr);
                    }
                } else if self.bbm_get_bb_state(id) == Some(BbState::FakeOffline) {
                    self.fake_offline_cancel_offline(m, arg.start_pfn, arg.nr_pages);
                }
                self.state.lock().hotplug_active = false;
                self.hotplug_mutex.unlock();
            }
            MemAction::CancelOnline => {
                if !self.state.lock().hotplug_active {
                    return rc;
                }
                self.state.lock().hotplug_active = false;
                self.hotplug_mutex.unlock();
            }
        }
        rc
    }

    /// `virtio_mem_online_page()`: online or keep fake-offline each chunk,
    /// by sub-block plug state (SBM) or big-block state (BBM).
    fn online_page(&self, m: &Machine, pfn: Pfn, order: u32) {
        let start = pfn.phys().0;
        let end = start + ((1u64 << order) << PAGE_SHIFT);
        let mut order = order;
        let mut addr = start;
        while addr < end {
            let next = addr + ((1u64 << order) << PAGE_SHIFT);
            let online = match self.mode {
                super::Mode::Sbm { sb_size, .. } => {
                    let id = addr / self.memory_block_size;
                    let sb_id = (addr % self.memory_block_size) / sb_size;
                    let count = ((next - 1) % self.memory_block_size) / sb_size - sb_id + 1;
                    if self.sbm_test_sb_plugged(id, sb_id, count) {
                        true
                    } else if count == 1 || self.sbm_test_sb_unplugged(id, sb_id, count) {
                        false
                    } else {
                        // A mixture: go on sub-block by sub-block (at
                        // least a pageblock); happens at most once.
                        order = sb_size.trailing_zeros() - PAGE_SHIFT;
                        continue;
                    }
                }
                super::Mode::Bbm { .. } => {
                    self.bbm_get_bb_state(self.phys_to_bb_id(addr)) != Some(BbState::FakeOffline)
                }
            };
            let p = Pfn(addr >> PAGE_SHIFT);
            if online {
                m.generic_online_page(p, order);
            } else {
                self.set_fake_offline(m, p, 1 << order, false);
            }
            addr = next;
        }
    }
}

/// The memory notifier of one device (a weak reference: the device owns
/// its registration, not the other way round).
pub(crate) struct Notifier(pub(crate) Weak<VirtioMem>);

impl MemoryNotifier for Notifier {
    fn notify(&self, m: &Machine, action: MemAction, arg: &MemoryNotify) -> i32 {
        match self.0.upgrade() {
            Some(vm) => vm.memory_notify(m, action, arg),
            None => NOTIFY_DONE,
        }
    }
}

/// `virtio_mem_online_page_cb()`, shared by every device of the machine.
pub(crate) struct OnlinePage;

impl OnlinePageCallback for OnlinePage {
    fn online_page(&self, m: &Machine, pfn: Pfn, order: u32) {
        let start = pfn.phys().0;
        let size = (1u64 << order) << PAGE_SHIFT;
        match m
            .virtio_mem()
            .devices()
            .into_iter()
            .find(|vm| vm.contains(start, size))
        {
            Some(vm) => vm.online_page(m, pfn, order),
            None => m.generic_online_page(pfn, order),
        }
    }
}
