//! Sub-block mode (reference kernel-hotplug §5.2, §5.4, §5.5).
//!
//! Each Linux memory block of the device region has a state
//! ([`MbState`]) and one bit per sub-block. Plugging fills partially
//! plugged online blocks first (the new sub-blocks are fake-onlined into
//! the buddy), then offline partial ones, then adds new blocks — plugged
//! from sub-block 0 before `add_memory()`, so that onlining finds them
//! plugged. Unplugging prefers offline blocks (no migration needed), then
//! ZONE_MOVABLE, then kernel zones, highest block and highest sub-block
//! first; online sub-blocks are fake-offlined (taken from the buddy with
//! `alloc_contig_range()`) before the UNPLUG request, and a block whose
//! sub-blocks are all unplugged is offlined and removed.

use super::{MbState, Mode, SbmState, VirtioMem};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, PAGE_SHIFT};

impl SbmState {
    fn idx(&self, mb_id: u64) -> usize {
        (mb_id - self.first_mb_id) as usize
    }

    /// `virtio_mem_sbm_get_mb_state()`.
    pub(crate) fn mb_state(&self, mb_id: u64) -> Option<MbState> {
        if mb_id < self.first_mb_id {
            return None;
        }
        self.mb_states.get(self.idx(mb_id)).copied()
    }

    /// The blocks in `state`, ascending.
    pub(crate) fn mbs_in(&self, state: MbState) -> Vec<u64> {
        self.mb_states
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == state)
            .map(|(i, _)| self.first_mb_id + i as u64)
            .collect()
    }
}

impl VirtioMem {
    fn sbs_per_mb(&self) -> u64 {
        match self.mode {
            Mode::Sbm { sbs_per_mb, .. } => sbs_per_mb,
            Mode::Bbm { .. } => unreachable!("SBM path in BBM"),
        }
    }

    fn sb_size(&self) -> u64 {
        match self.mode {
            Mode::Sbm { sb_size, .. } => sb_size,
            Mode::Bbm { .. } => unreachable!("SBM path in BBM"),
        }
    }

    /// `virtio_mem_mb_id_to_phys()`.
    pub(crate) fn mb_id_to_phys(&self, mb_id: u64) -> u64 {
        mb_id * self.memory_block_size
    }

    fn sb_pfn(&self, mb_id: u64, sb_id: u64) -> Pfn {
        Pfn((self.mb_id_to_phys(mb_id) + sb_id * self.sb_size()) >> PAGE_SHIFT)
    }

    fn sb_pages(&self, count: u64) -> u64 {
        (count * self.sb_size()) >> PAGE_SHIFT
    }

    pub(crate) fn sbm_get_mb_state(&self, mb_id: u64) -> Option<MbState> {
        self.state.lock().sbm.mb_state(mb_id)
    }

    pub(crate) fn sbm_set_mb_state(&self, mb_id: u64, s: MbState) {
        let mut st = self.state.lock();
        let i = st.sbm.idx(mb_id);
        st.sbm.mb_states[i] = s;
    }

    /// `virtio_mem_sbm_test_sb_plugged()`: all of `count` from `sb_id`.
    pub(crate) fn sbm_test_sb_plugged(&self, mb_id: u64, sb_id: u64, count: u64) -> bool {
        let st = self.state.lock();
        let base = st.sbm.idx(mb_id) * self.sbs_per_mb() as usize;
        (sb_id..sb_id + count).all(|s| st.sbm.sb_plugged[base + s as usize])
    }

    /// `virtio_mem_sbm_test_sb_unplugged()`: none of `count` from `sb_id`.
    pub(crate) fn sbm_test_sb_unplugged(&self, mb_id: u64, sb_id: u64, count: u64) -> bool {
        let st = self.state.lock();
        let base = st.sbm.idx(mb_id) * self.sbs_per_mb() as usize;
        (sb_id..sb_id + count).all(|s| !st.sbm.sb_plugged[base + s as usize])
    }

    fn sbm_set_sb(&self, mb_id: u64, sb_id: u64, count: u64, plugged: bool) {
        let mut st = self.state.lock();
        let base = st.sbm.idx(mb_id) * self.sbs_per_mb() as usize;
        for s in sb_id..sb_id + count {
            st.sbm.sb_plugged[base + s as usize] = plugged;
        }
    }

    fn sbm_first_unplugged_sb(&self, mb_id: u64) -> u64 {
        let per = self.sbs_per_mb();
        (0..per)
            .find(|&s| !self.sbm_test_sb_plugged(mb_id, s, 1))
            .unwrap_or(per)
    }

    /// `virtio_mem_sbm_plug_sb()`.
    fn sbm_plug_sb(&self, m: &Machine, mb_id: u64, sb_id: u64, count: u64) -> KResult<()> {
        let addr = self.mb_id_to_phys(mb_id) + sb_id * self.sb_size();
        self.send_plug_request(m, addr, count * self.sb_size())?;
        self.sbm_set_sb(mb_id, sb_id, count, true);
        Ok(())
    }

    /// `virtio_mem_sbm_unplug_sb()`.
    fn sbm_unplug_sb(&self, m: &Machine, mb_id: u64, sb_id: u64, count: u64) -> KResult<()> {
        let addr = self.mb_id_to_phys(mb_id) + sb_id * self.sb_size();
        self.send_unplug_request(m, addr, count * self.sb_size())?;
        self.sbm_set_sb(mb_id, sb_id, count, false);
        Ok(())
    }

    /// `virtio_mem_sbm_unplug_mb()`: every sub-block of the block.
    pub(crate) fn sbm_unplug_mb(&self, m: &Machine, mb_id: u64) -> KResult<()> {
        self.sbm_unplug_sb(m, mb_id, 0, self.sbs_per_mb())
    }

    /// `virtio_mem_sbm_prepare_next_mb()`.
    fn sbm_prepare_next_mb(&self) -> KResult<u64> {
        let per = self.sbs_per_mb() as usize;
        let mut st = self.state.lock();
        if st.sbm.next_mb_id as i64 > st.sbm.last_usable_mb_id {
            return Err(Errno::ENOSPC);
        }
        st.sbm.mb_states.push(MbState::Unused);
        let n = st.sbm.sb_plugged.len() + per;
        st.sbm.sb_plugged.resize(n, false);
        let id = st.sbm.next_mb_id;
        st.sbm.next_mb_id += 1;
        Ok(id)
    }

    /// `virtio_mem_sbm_plug_and_add_mb()`.
    fn sbm_plug_and_add_mb(&self, m: &Machine, mb_id: u64, nb_sb: &mut u64) -> KResult<()> {
        let count = (*nb_sb).min(self.sbs_per_mb());
        if count == 0 {
            return Err(Errno::EINVAL);
        }
        // Plug before adding, so that onlining onlines the plugged
        // sub-blocks directly.
        self.sbm_plug_sb(m, mb_id, 0, count)?;
        // The state is set before add_memory() so the notifiers find the
        // block in the right one.
        let s = if count == self.sbs_per_mb() {
            MbState::Offline
        } else {
            MbState::OfflinePartial
        };
        self.sbm_set_mb_state(mb_id, s);
        if let Err(e) = self.add_memory(m, self.mb_id_to_phys(mb_id), self.memory_block_size) {
            let s = if self.sbm_unplug_sb(m, mb_id, 0, count).is_err() {
                MbState::Plugged
            } else {
                MbState::Unused
            };
            self.sbm_set_mb_state(mb_id, s);
            return Err(e);
        }
        *nb_sb -= count;
        Ok(())
    }

    /// `virtio_mem_sbm_plug_any_sb()` (hotplug_mutex held).
    fn sbm_plug_any_sb(&self, m: &Machine, mb_id: u64, nb_sb: &mut u64) -> KResult<()> {
        let old = self.sbm_get_mb_state(mb_id).ok_or(Errno::EINVAL)?;
        let per = self.sbs_per_mb();
        while *nb_sb > 0 {
            let sb_id = self.sbm_first_unplugged_sb(mb_id);
            if sb_id >= per {
                break;
            }
            let mut count = 1;
            while count < *nb_sb
                && sb_id + count < per
                && !self.sbm_test_sb_plugged(mb_id, sb_id + count, 1)
            {
                count += 1;
            }
            self.sbm_plug_sb(m, mb_id, sb_id, count)?;
            *nb_sb -= count;
            if old == MbState::OfflinePartial {
                continue;
            }
            // The block is online: give the new memory to the buddy.
            self.fake_online(m, self.sb_pfn(mb_id, sb_id), self.sb_pages(count));
        }
        if self.sbm_test_sb_plugged(mb_id, 0, per) {
            self.sbm_set_mb_state(mb_id, old.full());
        }
        Ok(())
    }

    /// `virtio_mem_sbm_plug_request()`.
    pub(crate) fn sbm_plug_request(&self, m: &Machine, diff: u64) -> KResult<()> {
        let mut nb_sb = diff / self.sb_size();
        if nb_sb == 0 {
            return Ok(());
        }
        self.hotplug_mutex.lock();
        for s in [
            MbState::KernelPartial,
            MbState::MovablePartial,
            MbState::OfflinePartial,
        ] {
            let ids = self.state.lock().sbm.mbs_in(s);
            for mb_id in ids {
                if self.sbm_get_mb_state(mb_id) != Some(s) {
                    continue;
                }
                let rc = self.sbm_plug_any_sb(m, mb_id, &mut nb_sb);
                if rc.is_err() || nb_sb == 0 {
                    self.hotplug_mutex.unlock();
                    return rc;
                }
            }
        }
        self.hotplug_mutex.unlock();

        let unused = self.state.lock().sbm.mbs_in(MbState::Unused);
        for mb_id in unused {
            if !self.could_add_memory(m, self.memory_block_size) {
                return Err(Errno::ENOSPC);
            }
            let rc = self.sbm_plug_and_add_mb(m, mb_id, &mut nb_sb);
            if rc.is_err() || nb_sb == 0 {
                return rc;
            }
        }
        while nb_sb > 0 {
            if !self.could_add_memory(m, self.memory_block_size) {
                return Err(Errno::ENOSPC);
            }
            let mb_id = self.sbm_prepare_next_mb()?;
            self.sbm_plug_and_add_mb(m, mb_id, &mut nb_sb)?;
        }
        Ok(())
    }

    /// `virtio_mem_sbm_unplug_any_sb_raw()`: unplugs plugged sub-blocks
    /// from the highest down, in runs.
    fn sbm_unplug_any_sb_raw(&self, m: &Machine, mb_id: u64, nb_sb: &mut u64) -> KResult<()> {
        let mut sb_id = self.sbs_per_mb() as i64 - 1;
        while *nb_sb > 0 {
            while sb_id >= 0 && self.sbm_test_sb_unplugged(mb_id, sb_id as u64, 1) {
                sb_id -= 1;
            }
            if sb_id < 0 {
                break;
            }
            let mut count = 1;
            while count < *nb_sb
                && sb_id > 0
                && self.sbm_test_sb_plugged(mb_id, sb_id as u64 - 1, 1)
            {
                count += 1;
                sb_id -= 1;
            }
            self.sbm_unplug_sb(m, mb_id, sb_id as u64, count)?;
            *nb_sb -= count;
            sb_id -= 1;
        }
        Ok(())
    }

    /// `virtio_mem_sbm_unplug_any_sb_offline()` (hotplug_mutex held).
    fn sbm_unplug_any_sb_offline(&self, m: &Machine, mb_id: u64, nb_sb: &mut u64) -> KResult<()> {
        let per = self.sbs_per_mb();
        let rc = self.sbm_unplug_any_sb_raw(m, mb_id, nb_sb);
        // Some sub-blocks may be unplugged even on failure.
        if !self.sbm_test_sb_plugged(mb_id, 0, per) {
            self.sbm_set_mb_state(mb_id, MbState::OfflinePartial);
        }
        rc?;
        if self.sbm_test_sb_unplugged(mb_id, 0, per) {
            // Remove the block; mark it unused first so that a racing
            // MEM_GOING_ONLINE is refused, and let it run.
            self.sbm_set_mb_state(mb_id, MbState::Unused);
            self.hotplug_mutex.unlock();
            let rc = self.remove_memory(m, self.mb_id_to_phys(mb_id), self.memory_block_size);
            if let Err(e) = rc {
                m.report_bug(format!(
                    "BUG: virtio_mem {}: removing offline memory block {mb_id} failed: -{}",
                    self.name,
                    e.name()
                ));
            }
            self.hotplug_mutex.lock();
        }
        Ok(())
    }

    /// `virtio_mem_sbm_unplug_sb_online()` (hotplug_mutex held).
    fn sbm_unplug_sb_online(&self, m: &Machine, mb_id: u64, sb_id: u64, count: u64) -> KResult<()> {
        let old = self.sbm_get_mb_state(mb_id).ok_or(Errno::EINVAL)?;
        let pfn = self.sb_pfn(mb_id, sb_id);
        let nr = self.sb_pages(count);
        self.fake_offline(m, pfn, nr)?;
        if let Err(e) = self.sbm_unplug_sb(m, mb_id, sb_id, count) {
            // Give the memory back to the buddy.
            self.fake_online(m, pfn, nr);
            return Err(e);
        }
        match old {
            MbState::Kernel => self.sbm_set_mb_state(mb_id, MbState::KernelPartial),
            MbState::Movable => self.sbm_set_mb_state(mb_id, MbState::MovablePartial),
            _ => {}
        }
        Ok(())
    }

    /// `virtio_mem_sbm_try_remove_unplugged_mb()` (hotplug_mutex held).
    pub(crate) fn sbm_try_remove_unplugged_mb(&self, m: &Machine, mb_id: u64) -> KResult<()> {
        if !self.sbm_test_sb_unplugged(mb_id, 0, self.sbs_per_mb()) {
            return Ok(());
        }
        // offline_and_remove_memory() works for online and offline memory.
        self.hotplug_mutex.unlock();
        let rc =
            self.offline_and_remove_memory(m, self.mb_id_to_phys(mb_id), self.memory_block_size);
        self.hotplug_mutex.lock();
        if rc.is_ok() {
            self.sbm_set_mb_state(mb_id, MbState::Unused);
        }
        rc
    }

    /// `virtio_mem_sbm_unplug_any_sb_online()` (hotplug_mutex held).
    fn sbm_unplug_any_sb_online(&self, m: &Machine, mb_id: u64, nb_sb: &mut u64) -> KResult<()> {
        let per = self.sbs_per_mb();
        let mut whole = false;
        // Try the complete block in one shot if possible.
        if *nb_sb >= per && self.sbm_test_sb_plugged(mb_id, 0, per) {
            match self.sbm_unplug_sb_online(m, mb_id, 0, per) {
                Ok(()) => {
                    *nb_sb -= per;
                    whole = true;
                }
                Err(Errno::EBUSY) => {}
                Err(e) => return Err(e),
            }
        }
        if !whole {
            // Fall back to single sub-blocks, skipping busy ones.
            let mut sb_id = per as i64 - 1;
            while sb_id >= 0 && *nb_sb > 0 {
                while sb_id >= 0 && !self.sbm_test_sb_plugged(mb_id, sb_id as u64, 1) {
                    sb_id -= 1;
                }
                if sb_id < 0 {
                    break;
                }
                match self.sbm_unplug_sb_online(m, mb_id, sb_id as u64, 1) {
                    Ok(()) => *nb_sb -= 1,
                    Err(Errno::EBUSY) => {}
                    Err(e) => return Err(e),
                }
                sb_id -= 1;
            }
        }
        if self.sbm_try_remove_unplugged_mb(m, mb_id).is_err() {
            self.state.lock().sbm.have_unplugged_mb = true;
        }
        // Not critical: retried later.
        Ok(())
    }

    /// `virtio_mem_sbm_unplug_any_sb()`.
    fn sbm_unplug_any_sb(&self, m: &Machine, mb_id: u64, nb_sb: &mut u64) -> KResult<()> {
        match self.sbm_get_mb_state(mb_id) {
            Some(
                MbState::KernelPartial
                | MbState::Kernel
                | MbState::MovablePartial
                | MbState::Movable,
            ) => self.sbm_unplug_any_sb_online(m, mb_id, nb_sb),
            Some(MbState::OfflinePartial | MbState::Offline) => {
                self.sbm_unplug_any_sb_offline(m, mb_id, nb_sb)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `virtio_mem_sbm_unplug_request()`.
    pub(crate) fn sbm_unplug_request(&self, m: &Machine, diff: u64) -> KResult<()> {
        let mut nb_sb = diff / self.sb_size();
        if nb_sb == 0 {
            return Ok(());
        }
        // Partially plugged blocks first, to remove whole blocks; movable
        // before kernel memory, to keep ZONE_NORMAL for ZONE_MOVABLE's
        // metadata.
        let order = [
            MbState::OfflinePartial,
            MbState::Offline,
            MbState::MovablePartial,
            MbState::KernelPartial,
            MbState::Movable,
            MbState::Kernel,
        ];
        self.hotplug_mutex.lock();
        for (i, s) in order.into_iter().enumerate() {
            let mut ids = self.state.lock().sbm.mbs_in(s);
            ids.reverse();
            for mb_id in ids {
                if self.sbm_get_mb_state(mb_id) != Some(s) {
                    continue;
                }
                let rc = self.sbm_unplug_any_sb(m, mb_id, &mut nb_sb);
                if rc.is_err() || nb_sb == 0 {
                    self.hotplug_mutex.unlock();
                    return rc;
                }
                // cond_resched() with the mutex dropped.
                self.hotplug_mutex.unlock();
                self.hotplug_mutex.lock();
            }
            if !self.unplug_online && i == 1 {
                self.hotplug_mutex.unlock();
                return Ok(());
            }
        }
        self.hotplug_mutex.unlock();
        if nb_sb > 0 {
            Err(Errno::EBUSY)
        } else {
            Ok(())
        }
    }

    /// The SBM part of `virtio_mem_cleanup_pending_mb()`.
    pub(crate) fn sbm_cleanup_pending_mb(&self, m: &Machine) -> KResult<()> {
        let plugged = self.state.lock().sbm.mbs_in(MbState::Plugged);
        for mb_id in plugged {
            self.sbm_unplug_mb(m, mb_id)?;
            self.sbm_set_mb_state(mb_id, MbState::Unused);
        }
        {
            let mut st = self.state.lock();
            if !st.sbm.have_unplugged_mb {
                return Ok(());
            }
            // Retry (offlining and) removing fully unplugged blocks.
            st.sbm.have_unplugged_mb = false;
        }
        let mut failed = false;
        self.hotplug_mutex.lock();
        for s in [
            MbState::MovablePartial,
            MbState::KernelPartial,
            MbState::OfflinePartial,
        ] {
            let ids = self.state.lock().sbm.mbs_in(s);
            for mb_id in ids {
                failed |= self.sbm_try_remove_unplugged_mb(m, mb_id).is_err();
            }
        }
        self.hotplug_mutex.unlock();
        if failed {
            self.state.lock().sbm.have_unplugged_mb = true;
        }
        Ok(())
    }

    /// Each prepared memory block: id, state and plugged sub-blocks.
    pub fn sbm_blocks(&self) -> Vec<(u64, MbState, u64)> {
        let st = self.state.lock();
        let per = match self.mode {
            Mode::Sbm { sbs_per_mb, .. } => sbs_per_mb as usize,
            Mode::Bbm { .. } => return Vec::new(),
        };
        st.sbm
            .mb_states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let plugged = st.sbm.sb_plugged[i * per..(i + 1) * per]
                    .iter()
                    .filter(|b| **b)
                    .count() as u64;
                (st.sbm.first_mb_id + i as u64, *s, plugged)
            })
            .collect()
    }
}
