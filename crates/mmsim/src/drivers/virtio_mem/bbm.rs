//! Big-block mode (reference kernel-hotplug §5.3).
//!
//! A big block (at least one memory block) is plugged with one request
//! and added with one `add_memory()`; Linux onlines and offlines its memory
//! blocks one by one. Unplugging marks the big block FAKE_OFFLINE, takes
//! every online section from the buddy with `alloc_contig_range()` (so
//! that the memory notifier can let offlining skip those pages), offlines
//! and removes the whole big block, and unplugs it. Any failure fake-onlines
//! what was taken and the block stays ADDED.

use super::{BbState, BbmState, Mode, VirtioMem};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Pfn, ZoneType, PAGE_SHIFT};
use crate::sparse::PAGES_PER_SECTION;

impl BbmState {
    fn idx(&self, bb_id: u64) -> usize {
        (bb_id - self.first_bb_id) as usize
    }

    /// `virtio_mem_bbm_get_bb_state()`.
    pub(crate) fn bb_state(&self, bb_id: u64) -> Option<BbState> {
        if bb_id < self.first_bb_id {
            return None;
        }
        self.bb_states.get(self.idx(bb_id)).copied()
    }

    /// The big blocks in `state`, ascending.
    pub(crate) fn bbs_in(&self, state: BbState) -> Vec<u64> {
        self.bb_states
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == state)
            .map(|(i, _)| self.first_bb_id + i as u64)
            .collect()
    }
}

impl VirtioMem {
    pub(crate) fn bb_size(&self) -> u64 {
        match self.mode {
            Mode::Bbm { bb_size } => bb_size,
            Mode::Sbm { .. } => unreachable!("BBM path in SBM"),
        }
    }

    /// `virtio_mem_bb_id_to_phys()`.
    pub(crate) fn bb_id_to_phys(&self, bb_id: u64) -> u64 {
        bb_id * self.bb_size()
    }

    /// `virtio_mem_phys_to_bb_id()`.
    pub(crate) fn phys_to_bb_id(&self, addr: u64) -> u64 {
        addr / self.bb_size()
    }

    pub(crate) fn bbm_get_bb_state(&self, bb_id: u64) -> Option<BbState> {
        self.state.lock().bbm.bb_state(bb_id)
    }

    pub(crate) fn bbm_set_bb_state(&self, bb_id: u64, s: BbState) {
        let mut st = self.state.lock();
        let i = st.bbm.idx(bb_id);
        st.bbm.bb_states[i] = s;
    }

    /// `virtio_mem_bbm_prepare_next_bb()`.
    fn bbm_prepare_next_bb(&self) -> KResult<u64> {
        let mut st = self.state.lock();
        if st.bbm.next_bb_id as i64 > st.bbm.last_usable_bb_id {
            return Err(Errno::ENOSPC);
        }
        st.bbm.bb_states.push(BbState::Unused);
        let id = st.bbm.next_bb_id;
        st.bbm.next_bb_id += 1;
        Ok(id)
    }

    /// `virtio_mem_bbm_unplug_bb()`.
    pub(crate) fn bbm_unplug_bb(&self, m: &Machine, bb_id: u64) -> KResult<()> {
        self.send_unplug_request(m, self.bb_id_to_phys(bb_id), self.bb_size())
    }

    /// `virtio_mem_bbm_plug_and_add_bb()`.
    fn bbm_plug_and_add_bb(&self, m: &Machine, bb_id: u64) -> KResult<()> {
        if self.bbm_get_bb_state(bb_id) != Some(BbState::Unused) {
            return Err(Errno::EINVAL);
        }
        let addr = self.bb_id_to_phys(bb_id);
        self.send_plug_request(m, addr, self.bb_size())?;
        self.bbm_set_bb_state(bb_id, BbState::Added);
        if let Err(e) = self.add_memory(m, addr, self.bb_size()) {
            let s = if self.bbm_unplug_bb(m, bb_id).is_ok() {
                BbState::Unused
            } else {
                // Retried from the main loop.
                BbState::Plugged
            };
            self.bbm_set_bb_state(bb_id, s);
            return Err(e);
        }
        Ok(())
    }

    /// `virtio_mem_bbm_plug_request()`.
    pub(crate) fn bbm_plug_request(&self, m: &Machine, diff: u64) -> KResult<()> {
        let mut nb_bb = diff / self.bb_size();
        if nb_bb == 0 {
            return Ok(());
        }
        let unused = self.state.lock().bbm.bbs_in(BbState::Unused);
        for bb_id in unused {
            if !self.could_add_memory(m, self.bb_size()) {
                return Err(Errno::ENOSPC);
            }
            let rc = self.bbm_plug_and_add_bb(m, bb_id);
            if rc.is_ok() {
                nb_bb -= 1;
            }
            if rc.is_err() || nb_bb == 0 {
                return rc;
            }
        }
        while nb_bb > 0 {
            if !self.could_add_memory(m, self.bb_size()) {
                return Err(Errno::ENOSPC);
            }
            let bb_id = self.bbm_prepare_next_bb()?;
            self.bbm_plug_and_add_bb(m, bb_id)?;
            nb_bb -= 1;
        }
        Ok(())
    }

    fn bb_sections(&self, bb_id: u64) -> impl Iterator<Item = Pfn> {
        let start = self.bb_id_to_phys(bb_id) >> PAGE_SHIFT;
        let nr = self.bb_size() >> PAGE_SHIFT;
        (start..start + nr)
            .step_by(PAGES_PER_SECTION as usize)
            .map(Pfn)
    }

    /// `virtio_mem_bbm_bb_is_offline()`.
    fn bbm_bb_is_offline(&self, m: &Machine, bb_id: u64) -> bool {
        self.bb_sections(bb_id)
            .all(|pfn| m.mem().pfn_to_online_page(pfn).is_none())
    }

    /// `virtio_mem_bbm_bb_is_movable()`.
    fn bbm_bb_is_movable(&self, m: &Machine, bb_id: u64) -> bool {
        self.bb_sections(bb_id).all(|pfn| {
            m.mem()
                .pfn_to_online_page(pfn)
                .is_none_or(|p| p.zonenum() == ZoneType::Movable)
        })
    }

    /// `virtio_mem_bbm_offline_remove_and_unplug_bb()`.
    fn bbm_offline_remove_and_unplug_bb(&self, m: &Machine, bb_id: u64) -> KResult<()> {
        if self.bbm_get_bb_state(bb_id) != Some(BbState::Added) {
            return Err(Errno::EINVAL);
        }
        // Once FAKE_OFFLINE, newly onlined memory of the block stays
        // fake-offline; hotplug_mutex keeps onlining and offlining out
        // until the state is consistent.
        self.hotplug_mutex.lock();
        self.bbm_set_bb_state(bb_id, BbState::FakeOffline);
        let mut done: Vec<Pfn> = Vec::new();
        let mut rc = Ok(());
        for pfn in self.bb_sections(bb_id) {
            if m.mem().pfn_to_online_page(pfn).is_none() {
                continue;
            }
            if let Err(e) = self.fake_offline(m, pfn, PAGES_PER_SECTION) {
                rc = Err(e);
                break;
            }
            done.push(pfn);
        }
        if rc.is_ok() {
            self.hotplug_mutex.unlock();
            rc = self.offline_and_remove_memory(m, self.bb_id_to_phys(bb_id), self.bb_size());
            if rc.is_ok() {
                let s = match self.bbm_unplug_bb(m, bb_id) {
                    Ok(()) => BbState::Unused,
                    Err(e) => {
                        rc = Err(e);
                        BbState::Plugged
                    }
                };
                self.bbm_set_bb_state(bb_id, s);
                return rc;
            }
            self.hotplug_mutex.lock();
        }
        // Roll back: every section taken goes back to the buddy.
        for pfn in done {
            if m.mem().pfn_to_online_page(pfn).is_some() {
                self.fake_online(m, pfn, PAGES_PER_SECTION);
            }
        }
        self.bbm_set_bb_state(bb_id, BbState::Added);
        self.hotplug_mutex.unlock();
        rc
    }

    /// `virtio_mem_bbm_unplug_request()`: three passes over the added big
    /// blocks, highest first: offline ones, then those entirely in
    /// ZONE_MOVABLE, then any.
    pub(crate) fn bbm_unplug_request(&self, m: &Machine, diff: u64) -> KResult<()> {
        let mut nb_bb = diff / self.bb_size();
        if nb_bb == 0 {
            return Ok(());
        }
        for pass in 0..3 {
            let mut ids = self.state.lock().bbm.bbs_in(BbState::Added);
            ids.reverse();
            for bb_id in ids {
                // Racy checks without locks, as in the kernel.
                if pass == 0 && !self.bbm_bb_is_offline(m, bb_id) {
                    continue;
                }
                if pass == 1 && !self.bbm_bb_is_movable(m, bb_id) {
                    continue;
                }
                match self.bbm_offline_remove_and_unplug_bb(m, bb_id) {
                    Err(Errno::EBUSY) => continue,
                    Ok(()) => {
                        nb_bb -= 1;
                        if nb_bb == 0 {
                            return Ok(());
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            if pass == 0 && !self.unplug_online {
                return Ok(());
            }
        }
        if nb_bb > 0 {
            Err(Errno::EBUSY)
        } else {
            Ok(())
        }
    }

    /// The BBM part of `virtio_mem_cleanup_pending_mb()`.
    pub(crate) fn bbm_cleanup_pending_bb(&self, m: &Machine) -> KResult<()> {
        let plugged = self.state.lock().bbm.bbs_in(BbState::Plugged);
        for bb_id in plugged {
            self.bbm_unplug_bb(m, bb_id)?;
            self.bbm_set_bb_state(bb_id, BbState::Unused);
        }
        Ok(())
    }

    /// Each prepared big block: id and state.
    pub fn bbm_blocks(&self) -> Vec<(u64, BbState)> {
        let st = self.state.lock();
        st.bbm
            .bb_states
            .iter()
            .enumerate()
            .map(|(i, s)| (st.bbm.first_bb_id + i as u64, *s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hotplug::OnlineType;
    use crate::page::{PageType, PG_DIRTY};
    use crate::sync::Arc;
    use crate::vmm::virtio_mem::HostVirtioMem;
    use crate::MachineConfig;

    // Reference §10 case 56 (virtio_mem_online_page, BBM branch): onlining
    // a memory block inside a FAKE_OFFLINE big block keeps every page
    // fake-offline (PageOffline, PG_dirty: never given to the buddy).
    #[test]
    fn online_inside_fake_offline_big_block_keeps_pages_offline() {
        let m = Arc::new(Machine::boot(MachineConfig::default(), Default::default()).unwrap());
        let params = virtio_mem::DeviceParams {
            addr: 4 << 30,
            region_size: 1 << 30,
            block_size: 128 << 20,
            requested_size: 256 << 20,
            offer_unplugged_inaccessible: false,
            ..Default::default()
        };
        let host = Arc::new(HostVirtioMem::new(&m, "vm0", params).unwrap());
        let p = super::super::DriverParams {
            bbm_block_size: 256 << 20,
            ..Default::default()
        };
        let vm = m.virtio_mem_probe("vm0", host, p).unwrap();
        m.virtio_mem_settle();
        assert_eq!(vm.bbm_blocks(), vec![(16, BbState::Added)]);
        // The unplug path's first step, frozen here: FAKE_OFFLINE.
        vm.bbm_set_bb_state(16, BbState::FakeOffline);
        let mem = m.hotplug().find_block(32).unwrap();
        m.online_memory_block(&mem, OnlineType::OnlineMovable)
            .unwrap();
        for pfn in [0x100000u64, 0x104321, 0x107fff] {
            let page = m.page(Pfn(pfn));
            assert!(page.is_type(PageType::Offline), "pfn {pfn:#x}");
            assert!(page.test(PG_DIRTY), "pfn {pfn:#x}");
            assert_eq!(page.ref_count(), 1);
        }
        assert_eq!(m.zone(0, ZoneType::Movable).managed_pages(), 0);
        // Back to ADDED: the next online gives the pages to the buddy.
        vm.bbm_set_bb_state(16, BbState::Added);
        let mem33 = m.hotplug().find_block(33).unwrap();
        m.online_memory_block(&mem33, OnlineType::OnlineMovable)
            .unwrap();
        assert!(m.page(Pfn(0x108000)).is_type(PageType::Buddy));
        m.virtio_mem_shutdown();
    }
}
