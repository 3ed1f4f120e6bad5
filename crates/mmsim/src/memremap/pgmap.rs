//! `struct dev_pagemap`: one device range with a memmap, its type, its
//! reference and the driver's free list; and `pgmap_array`, the table that
//! `get_dev_pagemap()` searches.

use crate::page::Pfn;
use crate::sparse::PgmapLookup;
use crate::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use crate::sync::{Arc, Completion, Mutex};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

/// `enum memory_type`: what the device memory is and who may touch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryType {
    /// MEMORY_DEVICE_FS_DAX (`fsdax`): persistent memory behind a DAX file
    /// system; CPU-addressable, pages handed out by the file system.
    FsDax,
    /// MEMORY_DEVICE_PRIVATE (`private`): device memory the CPU cannot
    /// address (HMM); it has a memmap but no bytes in physmem.
    DevicePrivate,
    /// MEMORY_DEVICE_COHERENT (`coherent`): device memory the CPU can
    /// address coherently, allocated by its driver.
    DeviceCoherent,
    /// MEMORY_DEVICE_GENERIC (`generic`): device-dax; every page is in use
    /// (refcount 1) from the start.
    Generic,
    /// MEMORY_DEVICE_PCI_P2PDMA (`p2pdma`): a PCI BAR for peer-to-peer DMA.
    PciP2pDma,
}

impl MemoryType {
    /// Every type, in the kernel's enum order.
    pub const ALL: [MemoryType; 5] = [
        MemoryType::DevicePrivate,
        MemoryType::DeviceCoherent,
        MemoryType::FsDax,
        MemoryType::Generic,
        MemoryType::PciP2pDma,
    ];

    /// The name scenarios use.
    pub const fn name(self) -> &'static str {
        match self {
            MemoryType::FsDax => "fsdax",
            MemoryType::DevicePrivate => "private",
            MemoryType::DeviceCoherent => "coherent",
            MemoryType::Generic => "generic",
            MemoryType::PciP2pDma => "p2pdma",
        }
    }

    /// Parses [`MemoryType::name`].
    pub fn from_name(s: &str) -> Option<MemoryType> {
        MemoryType::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Pages of this type start with refcount 1 and the pgmap holds one
    /// reference per page for them until `memunmap_pages()` drops it (the
    /// "initial references": every type but private and coherent).
    pub const fn has_initial_refs(self) -> bool {
        !matches!(self, MemoryType::DevicePrivate | MemoryType::DeviceCoherent)
    }

    /// `__init_zone_device_page()`'s refcount (7.2): 1 for generic, whose
    /// pages are always in use; 0 for the others, whose pages are free until
    /// their owner hands them out.
    pub const fn initial_page_refcount(self) -> i32 {
        match self {
            MemoryType::Generic => 1,
            _ => 0,
        }
    }

    /// The pages are handed out one by one from the pgmap's free list
    /// ([`crate::machine::Machine::zone_device_page_alloc`]) and come back
    /// there when freed (`pgmap->ops->page_free`): every type but generic.
    pub const fn has_allocator(self) -> bool {
        !matches!(self, MemoryType::Generic)
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The pgmap's `percpu_ref` (in atomic mode: the model has no per-CPU
/// counters). The count starts at 1, the initial reference that
/// `percpu_ref_kill()` drops; the DEAD bit, once set, makes every
/// `tryget_live` fail; when the count reaches 0 with DEAD set the release
/// callback completes `done` (`dev_pagemap_percpu_release`).
pub struct PgmapRef {
    /// References in the low bits, [`PgmapRef::DEAD`] above them.
    count: AtomicI64,
    /// `pgmap->done`: completed when the last reference of a killed ref goes.
    done: Completion,
}

impl PgmapRef {
    /// `__PERCPU_REF_DEAD`.
    const DEAD: i64 = 1 << 62;

    fn new() -> PgmapRef {
        PgmapRef {
            count: AtomicI64::new(1),
            done: Completion::new(),
        }
    }

    /// References held now (the initial one included while live).
    pub fn count(&self) -> i64 {
        self.count.load(Ordering::Relaxed) & !Self::DEAD
    }

    /// Whether `percpu_ref_kill()` ran (and no resurrection since).
    pub fn is_dying(&self) -> bool {
        self.count.load(Ordering::Relaxed) & Self::DEAD != 0
    }

    /// `percpu_ref_tryget_live()`: a reference unless the ref was killed.
    /// Acquire pairs with the Release of `resurrect_unless_zero`.
    pub fn tryget_live(&self) -> bool {
        let mut cur = self.count.load(Ordering::Relaxed);
        loop {
            if cur & Self::DEAD != 0 {
                return false;
            }
            match self.count.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// `percpu_ref_get_many()`: the caller holds a reference already.
    pub fn get_many(&self, n: i64) {
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    /// `percpu_ref_put_many()`. AcqRel: Release orders the holder's use of
    /// the pgmap before the drop; Acquire, for the one that drops the last
    /// reference of a killed ref, pairs with every other holder's Release.
    pub fn put_many(&self, n: i64) {
        let old = self.count.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(old & !Self::DEAD >= n, "pgmap reference underflow");
        if old - n == Self::DEAD {
            self.done.complete();
        }
    }

    /// `percpu_ref_kill()`: no new live references; drops the initial one.
    fn kill(&self) {
        self.count.fetch_or(Self::DEAD, Ordering::Relaxed);
        self.put_many(1);
    }

    /// `percpu_ref_resurrect()` with `n` references taken back, unless the
    /// count already reached 0 (then `done` is complete and stays so).
    /// Returns true if it resurrected. Release pairs with `tryget_live`.
    fn resurrect_unless_zero(&self, n: i64) -> bool {
        let mut cur = self.count.load(Ordering::Relaxed);
        loop {
            if cur == Self::DEAD {
                return false;
            }
            let new = (cur & !Self::DEAD) + n;
            match self
                .count
                .compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }
}

/// Where a pgmap is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgmapState {
    /// Mapped: its pages have a memmap and its ref is live.
    Live,
    /// `memunmap_pages()` runs: the ref is killed.
    Dying,
    /// Unmapped: no memmap, no entry in `pgmap_array`.
    Dead,
}

impl PgmapState {
    /// The name `memremap show` prints.
    pub const fn name(self) -> &'static str {
        match self {
            PgmapState::Live => "live",
            PgmapState::Dying => "dying",
            PgmapState::Dead => "dead",
        }
    }
}

/// `struct dev_pagemap` with one range.
pub struct DevPagemap {
    name: String,
    ty: MemoryType,
    range: Range<Pfn>,
    nid: usize,
    /// `pgmap->ref`.
    pub(crate) pgref: PgmapRef,
    /// [`PgmapState`] as a byte; changed by `memremap_pages()` /
    /// `memunmap_pages()` only, under the table lock.
    state: AtomicU8,
    /// The driver's allocator: free pages (refcount 0), lowest PFN last, so
    /// that the lowest is handed out first. `page_free` pushes a page back.
    /// A leaf lock.
    pub(crate) free: Mutex<Vec<Pfn>>,
    /// The device driver's copy of each device-private page's bytes (such a
    /// page has none in physmem; absent: zeros), by PFN; dropped when the
    /// page goes back to the free list. A leaf lock.
    pub(crate) store: Mutex<BTreeMap<u64, Box<[u8]>>>,
}

impl DevPagemap {
    pub(crate) fn new(name: &str, ty: MemoryType, range: Range<Pfn>, nid: usize) -> DevPagemap {
        DevPagemap {
            name: name.to_string(),
            ty,
            range,
            nid,
            pgref: PgmapRef::new(),
            state: AtomicU8::new(PgmapState::Live as u8),
            free: Mutex::new(Vec::new()),
            store: Mutex::new(BTreeMap::new()),
        }
    }

    /// The driver stores a device-private page's bytes.
    pub fn store_page(&self, pfn: Pfn, bytes: Box<[u8]>) {
        self.store.lock().insert(pfn.0, bytes);
    }

    /// The bytes the driver stored for `pfn`, if any.
    pub fn stored_page(&self, pfn: Pfn) -> Option<Box<[u8]>> {
        self.store.lock().get(&pfn.0).cloned()
    }

    /// The name it was created with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `pgmap->type`.
    pub fn memory_type(&self) -> MemoryType {
        self.ty
    }

    /// `pgmap->range` as PFNs.
    pub fn range(&self) -> Range<Pfn> {
        self.range.clone()
    }

    /// Pages in the range.
    pub fn nr_pages(&self) -> u64 {
        self.range.end - self.range.start
    }

    /// The node its ZONE_DEVICE zone belongs to.
    pub fn nid(&self) -> usize {
        self.nid
    }

    /// Whether `pfn` lies in the range.
    pub fn contains(&self, pfn: Pfn) -> bool {
        self.range.contains(&pfn)
    }

    /// References held on `pgmap->ref` now.
    pub fn refs(&self) -> i64 {
        self.pgref.count()
    }

    /// Pages on the driver's free list.
    pub fn nr_free(&self) -> usize {
        self.free.lock().len()
    }

    /// Where it is in its life.
    pub fn state(&self) -> PgmapState {
        match self.state.load(Ordering::Acquire) {
            0 => PgmapState::Live,
            1 => PgmapState::Dying,
            _ => PgmapState::Dead,
        }
    }

    pub(crate) fn set_state(&self, s: PgmapState) {
        // Release: what the transition published (the memmap, or its
        // removal) before the state (pairs with the Acquire in state()).
        self.state.store(s as u8, Ordering::Release);
    }

    /// `percpu_ref_kill()` plus `percpu_ref_put_many(initial)`; if
    /// references remain and `give_up` is set, takes everything back and
    /// returns false (the ref is live again).
    pub(crate) fn kill(&self, initial: i64, give_up: bool) -> bool {
        self.pgref.kill();
        if initial > 0 {
            self.pgref.put_many(initial);
        }
        if give_up && self.pgref.resurrect_unless_zero(initial + 1) {
            return false;
        }
        true
    }

    /// `wait_for_completion(&pgmap->done)`.
    pub(crate) fn wait_for_refs(&self) {
        self.pgref.done.wait_for_completion();
    }
}

impl fmt::Debug for DevPagemap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevPagemap")
            .field("name", &self.name)
            .field("type", &self.ty)
            .field("range", &self.range)
            .field("nid", &self.nid)
            .field("refs", &self.refs())
            .field("state", &self.state())
            .finish()
    }
}

/// `pgmap_array`: the pgmaps by first PFN. The kernel's xarray is read
/// under RCU without a lock; the model's readers take this leaf mutex
/// (standing for the xarray's internal consistency), which is allowed
/// inside an RCU read-side section.
#[derive(Default)]
pub struct PgmapTable {
    by_start: Mutex<BTreeMap<u64, Arc<DevPagemap>>>,
}

impl PgmapTable {
    /// `xa_load()`: the pgmap whose range holds `pfn`.
    pub fn lookup(&self, pfn: Pfn) -> Option<Arc<DevPagemap>> {
        let map = self.by_start.lock();
        let (_, pgmap) = map.range(..=pfn.0).next_back()?;
        pgmap.contains(pfn).then(|| pgmap.clone())
    }

    /// The pgmap named `name`.
    pub fn by_name(&self, name: &str) -> Option<Arc<DevPagemap>> {
        self.by_start
            .lock()
            .values()
            .find(|p| p.name() == name)
            .cloned()
    }

    /// Every pgmap, by address.
    pub fn all(&self) -> Vec<Arc<DevPagemap>> {
        self.by_start.lock().values().cloned().collect()
    }

    /// A pgmap overlapping `[start, end)`, if any.
    pub fn overlapping(&self, range: &Range<Pfn>) -> Option<Arc<DevPagemap>> {
        self.by_start
            .lock()
            .values()
            .find(|p| p.range.start < range.end && range.start < p.range.end)
            .cloned()
    }

    /// `xa_store_range()`.
    pub(crate) fn insert(&self, pgmap: Arc<DevPagemap>) {
        self.by_start.lock().insert(pgmap.range.start.0, pgmap);
    }

    /// `xa_store_range(..., NULL)`.
    pub(crate) fn remove(&self, pgmap: &DevPagemap) {
        self.by_start.lock().remove(&pgmap.range.start.0);
    }
}

impl PgmapLookup for PgmapTable {
    fn pfn_has_live_pgmap(&self, pfn: Pfn) -> bool {
        match self.lookup(pfn) {
            Some(p) if p.pgref.tryget_live() => {
                p.pgref.put_many(1);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // lib/percpu-refcount.c: after percpu_ref_kill() tryget_live fails and the
    // release (complete(&pgmap->done)) runs when the last reference goes.
    #[test]
    fn percpu_ref_kill_then_last_put_completes() {
        let r = PgmapRef::new();
        assert!(r.tryget_live());
        assert_eq!(r.count(), 2);
        r.kill();
        assert!(r.is_dying());
        assert!(!r.tryget_live());
        assert!(!r.done.is_done());
        r.put_many(1);
        assert!(r.done.is_done());
    }

    // The model's EDEADLK path: a kill that would have to wait is undone.
    #[test]
    fn resurrect_only_while_references_remain() {
        let p = DevPagemap::new("d", MemoryType::DevicePrivate, Pfn(0)..Pfn(512), 0);
        assert!(p.pgref.tryget_live());
        assert!(!p.kill(0, true), "a page reference remains: given up");
        assert!(!p.pgref.is_dying());
        assert_eq!(p.refs(), 2);
        p.pgref.put_many(1);
        assert!(p.kill(0, true), "no reference left: the kill stands");
        assert!(p.pgref.done.is_done());
    }

    #[test]
    fn memory_type_names_round_trip() {
        for t in MemoryType::ALL {
            assert_eq!(MemoryType::from_name(t.name()), Some(t));
        }
        assert_eq!(MemoryType::from_name("dax"), None);
    }
}
