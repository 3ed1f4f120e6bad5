//! Adding and removing memory: `add_memory()`, `remove_memory()`,
//! `offline_and_remove_memory()` and the arch-level `__add_pages()` /
//! `__remove_pages()` underneath them. Reference §2.3, §2.9, §4.
//!
//! Adding registers a System RAM resource (-E2BIG beyond the pluggable range,
//! -EEXIST on overlap), checks block alignment (-EINVAL), activates the
//! sections (their memmaps are mapped and poisoned now) and creates offline
//! memory blocks (-EEXIST for an existing id). Then, outside
//! mem_hotplug_lock, the blocks are auto-onlined per `auto_online_blocks`,
//! stopping silently at the first that fails. Removing needs every block
//! offline (-EBUSY), deletes the blocks and deactivates the sections, whose
//! memmaps are freed at once or after a grace period (`memmap_free`).

use super::{MemHotplugWrite, MemoryBlock, MemoryBlockState, OnlineType, Task};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, PhysAddr, MAX_NUMNODES, PAGE_SHIFT};
use crate::sparse::{SectionKind, PAGES_PER_SECTION, PAGES_PER_SUBSECTION};
use crate::sync::Arc;
use crate::variant::MemmapFree;
use crate::zone::NodeState;

impl Machine {
    /// `mhp_range_allowed(start, size, true)`.
    pub fn mhp_range_allowed(&self, start: u64, size: u64) -> bool {
        match start.checked_add(size) {
            Some(end) => size > 0 && end <= self.config().max_phys,
            None => false,
        }
    }

    /// `check_hotplug_memory_range()`: a non-empty range of whole memory
    /// blocks inside the pluggable range, else -EINVAL.
    fn check_hotplug_memory_range(&self, start: PhysAddr, size: u64) -> KResult<()> {
        let bs = self.hotplug().block_size();
        if size == 0
            || start.0 % bs != 0
            || size % bs != 0
            || !self.mhp_range_allowed(start.0, size)
        {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// `add_memory(nid, start, size, MHP_NONE)`.
    pub fn add_memory(&self, nid: usize, start: PhysAddr, size: u64) -> KResult<()> {
        self.add_memory_named(nid, start, size, "System RAM")
    }

    /// `add_memory()` / `add_memory_driver_managed()` with a resource name.
    pub fn add_memory_named(
        &self,
        nid: usize,
        start: PhysAddr,
        size: u64,
        name: &str,
    ) -> KResult<()> {
        let _dev = self.hotplug().device_hotplug_lock.lock();
        self.add_memory_locked(nid, start, size, name)
    }

    fn add_memory_locked(&self, nid: usize, start: PhysAddr, size: u64, name: &str) -> KResult<()> {
        if !self.mhp_range_allowed(start.0, size) {
            self.log(format!(
                "Hotplug memory [{:#x}-{:#x}] exceeds maximum addressable range",
                start.0,
                start.0.wrapping_add(size)
            ));
            return Err(Errno::E2BIG);
        }
        self.request_resource(start.0..start.0 + size, name)?;
        let ret = self.add_memory_resource(nid, start, size);
        if ret.is_err() {
            self.release_resource(start.0..start.0 + size);
        }
        ret
    }

    /// `add_memory_resource()` (device_hotplug_lock held).
    fn add_memory_resource(&self, nid: usize, start: PhysAddr, size: u64) -> KResult<()> {
        if let Err(e) = self.check_hotplug_memory_range(start, size) {
            self.log(format!(
                "Block size [{:#x}] unaligned hotplug range: start {:#x}, size {size:#x}",
                self.hotplug().block_size(),
                start.0
            ));
            return Err(e);
        }
        if nid >= MAX_NUMNODES {
            return Err(Errno::EINVAL);
        }
        let start_pfn = start.pfn();
        let nr = size >> PAGE_SHIFT;
        {
            let hp = self.mem_hotplug_begin();
            let node = self.node(nid);
            let new_node = !node.state(NodeState::Online);
            node.set_state(NodeState::Online, true);
            if let Err(e) = self.add_pages(&hp, start_pfn, nr) {
                if new_node {
                    node.set_state(NodeState::Online, false);
                }
                return Err(e);
            }
            if let Err(e) = self.create_memory_block_devices(&hp, start_pfn, nr, nid) {
                self.remove_pages(&hp, start_pfn, nr, "add_memory");
                if new_node {
                    node.set_state(NodeState::Online, false);
                }
                return Err(e);
            }
            self.mem_hotplug_done(hp);
        }
        if self.config().prealloc && self.physmem().prealloc(start, size).is_err() {
            // The range works without it, paying first-touch faults.
            self.log(format!(
                "prealloc of [{:#x}-{:#x}] failed: the host is short of memory",
                start.0,
                start.0 + size - 1
            ));
        }
        let online_type = self.hotplug().default_online_type();
        if online_type != OnlineType::Offline {
            let first = self.hotplug().block_id(start_pfn);
            let last = self.hotplug().block_id(start_pfn + nr - 1);
            for id in first..=last {
                let Some(mem) = self.hotplug().find_block(id) else {
                    break;
                };
                // online_memory_block(): the walk stops at the first failure
                // and add_memory() succeeds regardless.
                if self.online_memory_block(&mem, online_type).is_err() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// `__add_pages()`: activates every (sub)section of the range; on error
    /// deactivates what it activated. Under `mem_hotplug_begin()`.
    pub fn add_pages(&self, hp: &MemHotplugWrite<'_>, start: Pfn, nr: u64) -> KResult<()> {
        if nr == 0 || !start.is_aligned(PAGES_PER_SUBSECTION) || nr % PAGES_PER_SUBSECTION != 0 {
            return Err(Errno::EINVAL);
        }
        let end = start + nr;
        let mut pfn = start;
        while pfn < end {
            let chunk = (PAGES_PER_SECTION - pfn.0 % PAGES_PER_SECTION).min(end - pfn);
            if let Err(e) = self
                .mem()
                .sparse_add_section(pfn, chunk, SectionKind::Hotplug)
            {
                self.remove_pages(hp, start, pfn - start, "__add_pages");
                return Err(e);
            }
            pfn = pfn + chunk;
        }
        self.raise_max_pfn(end);
        Ok(())
    }

    /// `__remove_pages()`: deactivates every (sub)section of the range and
    /// frees memmaps per the `memmap_free` variant, on behalf of `by` (the
    /// caller's kernel function, named in use-after-free reports). Under
    /// `mem_hotplug_begin()`.
    pub fn remove_pages(&self, _hp: &MemHotplugWrite<'_>, start: Pfn, nr: u64, by: &'static str) {
        let end = start + nr;
        let mut pfn = start;
        let rcu = match self.variants().memmap_free {
            MemmapFree::Immediate => None,
            MemmapFree::Rcu => Some(self.rcu()),
        };
        while pfn < end {
            let chunk = (PAGES_PER_SECTION - pfn.0 % PAGES_PER_SECTION).min(end - pfn);
            match self.mem().sparse_remove_section(pfn, chunk) {
                Ok(Some(idx)) => self.mem().free_memmap(idx, rcu, by),
                Ok(None) => {}
                Err(_) => self.log(format!("section already deactivated at pfn {pfn}")),
            }
            pfn = pfn + chunk;
        }
    }

    /// `__add_pages()` for a caller that is not hotplug itself (the
    /// scenario's `sparse add ADDR SIZE`): takes mem_hotplug_lock and
    /// refuses what the kernel leaves to its callers — a range that is not
    /// whole subsections (-EINVAL). Errors from `__add_pages()` pass through
    /// (-E2BIG beyond the section table, -EEXIST on overlap). No resource,
    /// memory block or zone is involved: the sections get a memmap and stay
    /// offline.
    pub fn sparse_add(&self, addr: PhysAddr, size: u64) -> KResult<()> {
        let subsection = PAGES_PER_SUBSECTION << PAGE_SHIFT;
        if size == 0
            || addr.0 % subsection != 0
            || size % subsection != 0
            || addr.0.checked_add(size).is_none()
        {
            return Err(Errno::EINVAL);
        }
        let hp = self.mem_hotplug_begin();
        self.add_pages(&hp, addr.pfn(), size >> PAGE_SHIFT)
    }

    /// `__remove_pages()` for a caller that is not hotplug itself (the
    /// scenario's `sparse remove`): takes mem_hotplug_lock and refuses what
    /// the kernel leaves to its callers — a range without a memmap (-EINVAL)
    /// or with an online section (-EBUSY).
    pub fn remove_pages_checked(&self, start: Pfn, nr: u64) -> KResult<()> {
        let hp = self.mem_hotplug_begin();
        let end = start
            .0
            .checked_add(nr)
            .filter(|_| nr > 0)
            .ok_or(Errno::EINVAL)?;
        if crate::page::pfn_range(start, Pfn(end)).any(|p| !self.mem().pfn_valid(p)) {
            return Err(Errno::EINVAL);
        }
        let mut pfn = start;
        while pfn.0 < end {
            if self.mem().pfn_section(pfn).is_some_and(|s| s.online()) {
                return Err(Errno::EBUSY);
            }
            pfn = pfn + PAGES_PER_SUBSECTION;
        }
        self.remove_pages(&hp, start, nr, "sparse remove");
        Ok(())
    }

    /// `create_memory_block_devices()`: offline blocks for the range;
    /// -EEXIST if one exists (those created so far are removed again).
    fn create_memory_block_devices(
        &self,
        _hp: &MemHotplugWrite<'_>,
        start: Pfn,
        nr: u64,
        nid: usize,
    ) -> KResult<()> {
        let hp = self.hotplug();
        let first = hp.block_id(start);
        let last = hp.block_id(start + nr - 1);
        let mut blocks = hp.blocks.down_write();
        if (first..=last).any(|id| blocks.contains_key(&id)) {
            return Err(Errno::EEXIST);
        }
        for id in first..=last {
            let b = MemoryBlock::new(id, nid, hp.pages_per_block(), MemoryBlockState::Offline);
            blocks.insert(id, Arc::new(b));
        }
        Ok(())
    }

    /// `remove_memory()`.
    pub fn remove_memory(&self, start: PhysAddr, size: u64) -> KResult<()> {
        let _dev = self.hotplug().device_hotplug_lock.lock();
        self.try_remove_memory(start, size)
    }

    /// `try_remove_memory()` (device_hotplug_lock held).
    fn try_remove_memory(&self, start: PhysAddr, size: u64) -> KResult<()> {
        let hp = self.hotplug();
        // The kernel BUG()s on a bad range here; the model refuses.
        self.check_hotplug_memory_range(start, size)?;
        let start_pfn = start.pfn();
        let nr = size >> PAGE_SHIFT;
        let first = hp.block_id(start_pfn);
        let last = hp.block_id(start_pfn + nr - 1);
        let blocks: Vec<_> = (first..=last).filter_map(|id| hp.find_block(id)).collect();
        if let Some(online) = blocks
            .iter()
            .find(|b| b.state() != MemoryBlockState::Offline)
        {
            self.log(format!(
                "removing memory fails, because memory [{:#010x}-{:#010x}] is onlined",
                online.start_pfn.phys().0,
                online.end_pfn().phys().0 - 1
            ));
            return Err(Errno::EBUSY);
        }
        let nids: Vec<usize> = blocks.iter().map(|b| b.nid).collect();
        let lock = self.mem_hotplug_begin();
        {
            let mut map = hp.blocks.down_write();
            for id in first..=last {
                map.remove(&id);
            }
        }
        // arch_remove_memory() only for what is present.
        let mut pfn = start_pfn;
        while pfn < start_pfn + nr {
            if self.mem().pfn_section(pfn).is_some_and(|s| s.present()) {
                self.remove_pages(&lock, pfn, PAGES_PER_SECTION, "remove_memory");
            }
            pfn = pfn + PAGES_PER_SECTION;
        }
        self.release_resource(start.0..start.0 + size);
        for nid in nids {
            self.try_offline_node(&lock, nid);
        }
        self.mem_hotplug_done(lock);
        Ok(())
    }

    /// `try_offline_node()`: a node with no span and no memory block goes
    /// offline.
    fn try_offline_node(&self, _hp: &MemHotplugWrite<'_>, nid: usize) {
        let node = self.node(nid);
        let (s, e) = node.span();
        if s != e {
            return;
        }
        if self.hotplug().blocks().iter().any(|b| b.nid == nid) {
            return;
        }
        node.set_state(NodeState::Online, false);
    }

    /// `offline_and_remove_memory()`: offlines every block of the range and
    /// removes it; on any failure re-onlines the blocks this call offlined,
    /// each with the zone type it had.
    pub fn offline_and_remove_memory(
        &self,
        start: PhysAddr,
        size: u64,
        task: &Task,
    ) -> KResult<()> {
        let hp = self.hotplug();
        self.check_hotplug_memory_range(start, size)?;
        let _dev = hp.device_hotplug_lock.lock();
        let first = hp.block_id(start.pfn());
        let last = hp.block_id(Pfn((start.0 + size - 1) >> PAGE_SHIFT));
        let mut offlined = Vec::new();
        let mut ret = Ok(());
        for id in first..=last {
            let Some(mem) = hp.find_block(id) else {
                continue;
            };
            let was = match mem.zone() {
                Some((_, crate::page::ZoneType::Movable)) => OnlineType::OnlineMovable,
                _ => OnlineType::OnlineKernel,
            };
            match self.device_offline(&mem, task) {
                Ok(true) => offlined.push((mem, was)),
                Ok(false) => {}
                Err(e) => {
                    ret = Err(e);
                    break;
                }
            }
        }
        if ret.is_ok() {
            ret = self.try_remove_memory(start, size);
        }
        if ret.is_err() {
            for (mem, t) in offlined {
                if self.online_memory_block(&mem, t).is_err() {
                    self.log(format!("Failed to online memory block memory{}", mem.id));
                }
            }
        }
        ret
    }

    /// `memory_failure()` reduced to what hotplug observes: the page gets
    /// PG_hwpoison, a free page is taken off the buddy with a reference that
    /// is never dropped (`take_page_off_buddy()` then `page_ref_inc()`: the
    /// frame is withdrawn for good), and its block counts one more poisoned
    /// page (so the block can no longer be onlined once offline).
    pub fn memory_failure(&self, pfn: Pfn) -> KResult<()> {
        let page = self.mem().pfn_to_online_page(pfn).ok_or(Errno::ENXIO)?;
        if page.test_and_set(crate::page::PG_HWPOISON) {
            return Ok(());
        }
        let zone = self.page_zone(page);
        {
            // get_hwpoison_page(): with the zone's pcp lists disabled (and
            // drained), a free page is found in the buddy, not on a list.
            let _pcp = self.zone_pcp_disable(zone);
            let mut locked = zone.lock.lock();
            // The page stays managed: offlining counts HWPoison pages among
            // the managed pages it removes.
            if let Some((head, order)) =
                crate::zone::buddy::find_buddy_containing(self.mem(), zone, pfn)
            {
                // take_page_off_buddy(): split the block around the page.
                crate::zone::buddy::del_from_free_list(zone, &mut locked, self.mem(), head);
                for p in crate::page::pfn_range(head, head + (1u64 << order)) {
                    if p != pfn {
                        crate::zone::buddy::free_one_page(
                            zone,
                            &mut locked,
                            self.mem(),
                            p,
                            0,
                            false,
                        );
                    }
                }
                page.ref_unfreeze(1);
            }
        }
        if let Some(mem) = self.hotplug().find_block(self.hotplug().block_id(pfn)) {
            mem.inc_hwpoison();
        }
        Ok(())
    }
}
