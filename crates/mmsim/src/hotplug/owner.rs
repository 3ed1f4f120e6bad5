//! A test-only kernel user: named allocations whose pages can be marked the
//! way real kernel users mark theirs, so that scenarios and tests can put
//! every kind of page the offline pipeline distinguishes into a block.
//!
//! | mark | what the page becomes | offlining (mainline) |
//! |---|---|---|
//! | `reserved` | PG_reserved | isolation fails (-EBUSY), even in ZONE_MOVABLE |
//! | `offline` | PageOffline, refcount kept (a balloon without migration) | -EBUSY "unmovable page" |
//! | `fake_offline` | PageOffline; the owner drops the reference in MEM_GOING_OFFLINE and takes it back in MEM_CANCEL_OFFLINE (virtio-mem's protocol), or sets PG_offline_skippable under `offline_skip=skippable`, and also freezes the refcount at 0 (`page_ref_freeze`) until it frees the page under `offline_skip=frozen` | skipped, block goes offline |
//! | `movable_ops` | PageOffline + PG_movable_ops (a balloon page with migration) | migrated |
//! | `table`, `slab` | PageTable / PageSlab | unmovable: -EBUSY at isolation outside ZONE_MOVABLE, endless retry until a signal inside it |
//!
//! It also holds the speculative references of `page get`/`page put`.

use super::migrate::{MovableKind, MovableOps};
use super::notifier::{MemAction, MemoryNotifier, MemoryNotify, NOTIFY_OK};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{
    PageType, Pfn, PG_MOVABLE_OPS, PG_MOVABLE_OPS_ISOLATED, PG_OFFLINE_SKIPPABLE, PG_RESERVED,
};
use crate::sync::{Arc, Mutex};
use crate::variant::OfflineSkip;
use crate::zone::alloc::Gfp;
use crate::zone::isolation::IsolateMode;
use std::collections::BTreeMap;

/// How a page of an allocation is marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mark {
    /// PG_reserved.
    Reserved,
    /// PageOffline, no protocol.
    Offline,
    /// PageOffline with the refcount (or skippable) protocol.
    FakeOffline,
    /// PageOffline with movable_ops.
    MovableOps,
    /// PageTable.
    Table,
    /// PageSlab.
    Slab,
}

#[derive(Debug)]
struct Allocation {
    /// Head PFN of each block (order-0 pages for contig allocations).
    pages: Vec<Pfn>,
    order: u32,
    marks: Vec<Mark>,
    /// Pages whose reference was dropped in MEM_GOING_OFFLINE.
    released: Vec<Pfn>,
}

/// The test-only kernel user.
#[derive(Default)]
pub struct KernelOwner {
    /// The allocations; the owner's own lock, taken in its notifier under
    /// mem_hotplug_lock ([lock order](crate::machine#lock-order)).
    allocs: Mutex<BTreeMap<String, Allocation>>,
    /// Speculative references held for `page get` (a leaf lock).
    spec_refs: Mutex<BTreeMap<u64, u32>>,
}

impl KernelOwner {
    /// An owner with nothing allocated.
    pub fn new() -> KernelOwner {
        KernelOwner::default()
    }

    fn find_page(&self, pfn: Pfn) -> Option<(String, usize, Vec<Mark>)> {
        self.allocs.lock().iter().find_map(|(name, a)| {
            a.pages
                .iter()
                .position(|&p| p == pfn)
                .map(|i| (name.clone(), i, a.marks.clone()))
        })
    }
}

impl Machine {
    fn owner_insert(&self, name: &str, pages: Vec<Pfn>, order: u32) -> KResult<()> {
        let mut allocs = self.owner().allocs.lock();
        if allocs.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        allocs.insert(
            name.to_string(),
            Allocation {
                pages,
                order,
                marks: Vec::new(),
                released: Vec::new(),
            },
        );
        Ok(())
    }

    /// `alloc_pages()` on behalf of the test owner, remembered as `name`.
    pub fn owner_alloc(&self, name: &str, order: u32, gfp: Gfp, nid: usize) -> KResult<Pfn> {
        if self.owner().allocs.lock().contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let pfn = self.alloc_pages(gfp, order, nid)?;
        self.owner_insert(name, vec![pfn], order)?;
        Ok(pfn)
    }

    /// `alloc_contig_range(pfn, pfn + nr)` on behalf of the test owner.
    pub fn owner_alloc_contig(&self, name: &str, pfn: Pfn, nr: u64) -> KResult<Pfn> {
        if self.owner().allocs.lock().contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let end = pfn
            .0
            .checked_add(nr)
            .filter(|_| nr > 0)
            .ok_or(Errno::EINVAL)?;
        {
            // get_online_mems(): the range must not go offline under
            // alloc_contig_range (see its doc).
            let _mems = self.get_online_mems();
            self.alloc_contig_range(pfn, Pfn(end), IsolateMode::Other)?;
        }
        self.owner_insert(name, crate::page::pfn_range(pfn, pfn + nr).collect(), 0)?;
        Ok(pfn)
    }

    /// The pages (heads) of an allocation.
    pub fn owner_pages(&self, name: &str) -> KResult<Vec<Pfn>> {
        self.owner()
            .allocs
            .lock()
            .get(name)
            .map(|a| a.pages.clone())
            .ok_or(Errno::ENOENT)
    }

    /// Marks every page of `name`.
    pub fn owner_mark(&self, name: &str, mark: Mark) -> KResult<()> {
        let mut allocs = self.owner().allocs.lock();
        let a = allocs.get_mut(name).ok_or(Errno::ENOENT)?;
        if a.marks.contains(&mark) {
            return Ok(());
        }
        let typed = |m: &Mark| !matches!(m, Mark::Reserved);
        if typed(&mark) && a.marks.iter().any(typed) {
            // A page has at most one type.
            return Err(Errno::EINVAL);
        }
        for &pfn in &a.pages {
            for i in 0..(1u64 << a.order) {
                let p = self.page(pfn + i);
                let t = match mark {
                    Mark::Reserved => {
                        p.set(PG_RESERVED);
                        continue;
                    }
                    Mark::Offline | Mark::FakeOffline | Mark::MovableOps => PageType::Offline,
                    Mark::Table => PageType::Table,
                    Mark::Slab => PageType::Slab,
                };
                p.try_set_type(t).map_err(|_| Errno::EINVAL)?;
                if mark == Mark::MovableOps {
                    p.set(PG_MOVABLE_OPS);
                }
                if t == PageType::Offline {
                    // A driver that takes a page offline takes it out of
                    // the managed count (balloon inflate, fake offline).
                    self.adjust_managed_page_count(self.page_zone(p), -1);
                }
                if mark == Mark::FakeOffline
                    && self.variants().offline_skip != OfflineSkip::Refcount
                {
                    p.set(PG_OFFLINE_SKIPPABLE);
                }
            }
            // offline_skip=frozen: the driver's own reference becomes a
            // frozen count, which fails while anyone else holds one.
            if mark == Mark::FakeOffline
                && self.variants().offline_skip == OfflineSkip::Frozen
                && !self.page(pfn).ref_freeze(1)
            {
                return Err(Errno::EBUSY);
            }
        }
        a.marks.push(mark);
        Ok(())
    }

    /// The owner writes `byte` over every page of `name`.
    pub fn owner_fill(&self, name: &str, byte: u8) -> KResult<()> {
        let allocs = self.owner().allocs.lock();
        let a = allocs.get(name).ok_or(Errno::ENOENT)?;
        for &pfn in &a.pages {
            let len = crate::page::PAGE_SIZE << a.order;
            self.physmem().fill(pfn.phys(), len, byte)?;
        }
        Ok(())
    }

    /// Frees an allocation: undoes the marks and drops the owner's references.
    pub fn owner_free(&self, name: &str) -> KResult<()> {
        let a = self
            .owner()
            .allocs
            .lock()
            .remove(name)
            .ok_or(Errno::ENOENT)?;
        let frozen = self.variants().offline_skip == OfflineSkip::Frozen;
        for &pfn in &a.pages {
            let head = self.page(pfn);
            if frozen
                && head.test(PG_OFFLINE_SKIPPABLE)
                && head.is_type(PageType::Offline)
                && head.ref_count() == 0
            {
                // Thaw the driver's frozen reference so that the put below
                // frees the page. (A count that never froze is left alone.)
                head.ref_unfreeze(1);
            }
            for i in 0..(1u64 << a.order) {
                let p = self.page(pfn + i);
                p.clear(PG_RESERVED);
                p.clear(PG_MOVABLE_OPS);
                p.clear(PG_OFFLINE_SKIPPABLE);
                if p.is_type(PageType::Offline) {
                    self.adjust_managed_page_count(self.page_zone(p), 1);
                }
                for t in [PageType::Offline, PageType::Table, PageType::Slab] {
                    let _ = p.try_clear_type(t);
                }
            }
            if a.released.contains(&pfn) {
                // Freed in the middle of an offline attempt, after the owner
                // let go of its reference in MEM_GOING_OFFLINE: the page is
                // free now, whether the offline completes or is cancelled.
                self.free_pages_prepared(pfn, a.order);
                continue;
            }
            self.put_pages(pfn, a.order);
        }
        Ok(())
    }

    /// Every PFN inside one of the owner's allocations (the pages a kernel
    /// user may have marked PG_reserved itself).
    pub(crate) fn owner_allocated(&self) -> std::collections::BTreeSet<u64> {
        let allocs = self.owner().allocs.lock();
        allocs
            .values()
            .flat_map(|a| {
                a.pages
                    .iter()
                    .flat_map(move |&p| crate::page::pfn_range(p, p + (1u64 << a.order)))
            })
            .map(|p| p.0)
            .collect()
    }

    /// What the owner holds: each allocated block's head, order and the
    /// references the owner holds on it (1, or 0 while released in an
    /// offline attempt), plus each speculative `page get` reference as an
    /// order-0 entry.
    pub(crate) fn owner_held(&self) -> Vec<(Pfn, u32, i32)> {
        let mut out: Vec<(Pfn, u32, i32)> = Vec::new();
        // offline_skip=frozen: a fake-offline page's reference is frozen at 0
        // while the owner keeps it.
        let frozen = self.variants().offline_skip == OfflineSkip::Frozen;
        for a in self.owner().allocs.lock().values() {
            let froze = frozen && a.marks.contains(&Mark::FakeOffline);
            for &p in &a.pages {
                let held = !a.released.contains(&p) && !froze;
                out.push((p, a.order, i32::from(held)));
            }
        }
        for (&pfn, &n) in self.owner().spec_refs.lock().iter() {
            out.push((Pfn(pfn), 0, n as i32));
        }
        out
    }

    /// `get_page_unless_zero()` by a kernel user; -EBUSY if the page is free
    /// or frozen, -EFAULT without an online memmap.
    pub fn page_get(&self, pfn: Pfn) -> KResult<()> {
        let page = self.mem().pfn_to_online_page(pfn).ok_or(Errno::EFAULT)?;
        if !page.try_get() {
            return Err(Errno::EBUSY);
        }
        *self.owner().spec_refs.lock().entry(pfn.0).or_insert(0) += 1;
        Ok(())
    }

    /// `put_page()` of a reference taken with [`Machine::page_get`].
    pub fn page_put(&self, pfn: Pfn) -> KResult<()> {
        {
            let mut refs = self.owner().spec_refs.lock();
            let n = refs.get_mut(&pfn.0).ok_or(Errno::EINVAL)?;
            *n -= 1;
            if *n == 0 {
                refs.remove(&pfn.0);
            }
        }
        self.put_pages(pfn, 0);
        Ok(())
    }

    /// Registers the owner's notifier and movable ops (at boot).
    pub(crate) fn register_owner(&self) {
        let owner = OwnerHooks;
        self.hotplug().register_memory_notifier(Arc::new(owner), 0);
        self.set_movable_ops(MovableKind::Offline, Arc::new(OwnerHooks));
    }
}

/// The owner's kernel-facing callbacks.
struct OwnerHooks;

impl MemoryNotifier for OwnerHooks {
    fn notify(&self, m: &Machine, action: MemAction, arg: &MemoryNotify) -> i32 {
        let mainline = m.variants().offline_skip == OfflineSkip::Refcount;
        let mut allocs = m.owner().allocs.lock();
        for a in allocs.values_mut() {
            let in_range: Vec<Pfn> = a
                .pages
                .iter()
                .copied()
                .filter(|&p| arg.overlaps(p, 1u64 << a.order))
                .collect();
            if in_range.is_empty() {
                continue;
            }
            match action {
                MemAction::GoingOffline if mainline && a.marks.contains(&Mark::FakeOffline) => {
                    for &pfn in &in_range {
                        if !m.page(pfn).ref_dec_and_test() {
                            m.log(format!("fake-offline page referenced (pfn {pfn})"));
                        }
                        a.released.push(pfn);
                    }
                }
                MemAction::CancelOffline => {
                    for &pfn in &in_range {
                        if let Some(i) = a.released.iter().position(|&p| p == pfn) {
                            m.page(pfn).ref_inc();
                            a.released.swap_remove(i);
                        }
                    }
                }
                MemAction::Offline => {
                    // The pages left with the memory.
                    a.pages.retain(|p| !in_range.contains(p));
                    a.released.retain(|p| !in_range.contains(p));
                }
                _ => {}
            }
        }
        allocs.retain(|_, a| !a.pages.is_empty());
        NOTIFY_OK
    }
}

impl MovableOps for OwnerHooks {
    fn isolate(&self, m: &Machine, pfn: Pfn) -> bool {
        let Some((_, _, marks)) = m.owner().find_page(pfn) else {
            return false;
        };
        let p = m.page(pfn);
        if !marks.contains(&Mark::MovableOps) || p.test_and_set(PG_MOVABLE_OPS_ISOLATED) {
            return false;
        }
        p.ref_inc();
        true
    }

    fn migrate(&self, m: &Machine, dst: Pfn, src: Pfn) -> KResult<()> {
        let mut allocs = m.owner().allocs.lock();
        let slot = allocs
            .values_mut()
            .find_map(|a| a.pages.iter_mut().find(|p| **p == src))
            .ok_or(Errno::EAGAIN)?;
        m.physmem().copy_page(dst, src)?;
        let d = m.page(dst);
        d.set_type(PageType::Offline);
        d.set(PG_MOVABLE_OPS);
        let s = m.page(src);
        s.clear(PG_MOVABLE_OPS_ISOLATED);
        s.clear(PG_MOVABLE_OPS);
        s.clear_type(PageType::Offline);
        // The owner's own reference moves to dst (which came with one).
        s.ref_dec();
        // balloon_page_migrate(): the unmanaged page moves zones.
        let (sz, dz) = (m.page_zone(s), m.page_zone(d));
        if !std::ptr::eq(sz, dz) {
            m.adjust_managed_page_count(sz, 1);
            m.adjust_managed_page_count(dz, -1);
        }
        *slot = dst;
        Ok(())
    }

    fn putback(&self, m: &Machine, pfn: Pfn) {
        let p = m.page(pfn);
        p.clear(PG_MOVABLE_OPS_ISOLATED);
        m.put_pages(pfn, 0);
    }
}
