//! A virtio-balloon guest driver (drivers/virtio/virtio_balloon.c) on the
//! balloon core of Linux 7.2 (mm/balloon.c, once mm/balloon_compaction.c).
//!
//! # What a balloon does
//!
//! The host asks the guest for memory back by raising the balloon's target;
//! the driver *inflates*: `fill_balloon()` allocates pages one by one with
//! `balloon_page_alloc()` — GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC |
//! __GFP_NORETRY, a movable allocation that gives up rather than reclaim or
//! dip into reserves — one array of 256 PFNs per round. Under the driver's
//! `balloon_lock` it enqueues them (`balloon_page_enqueue()`) and tells the
//! host their PFNs, and the host discards what backed them (here:
//! [`PhysMem::discard`](crate::physmem::PhysMem::discard), so the frames
//! read as zeros). *Deflating* is `leak_balloon()`: dequeue at most as many
//! pages as the balloon holds, tell the host, free them to the buddy.
//!
//! Picture a stack of page frames the guest promised not to touch: each is
//! PageOffline (logically offline inside an online section) with
//! PG_movable_ops, its `private` names the balloon device, and it is linked
//! into the device's list through its `lru` field, as in the kernel — so a
//! balloon costs no memory beyond the memmap, whatever its size.
//!
//! # The state of a balloon page (refcount on the field)
//!
//! | state | type and flags | refcount | where |
//! |---|---|---|---|
//! | inflated | PageOffline, PG_movable_ops (aliases PG_uptodate), `private` = the device | 1, the balloon's | on the list |
//! | isolated for migration | and PG_movable_ops_isolated (aliases PG_reclaim) | 2: and the migration core's | off the list, counted in `isolated` |
//! | migrated away | none | the core's, dropped at once: to the buddy | — |
//! | dequeued (deflate) | `private` cleared under the pages lock | 1, dropped: to the buddy | — |
//!
//! Every transition into or out of the balloon adjusts the zone's managed
//! pages (−1 on enqueue, +1 on dequeue, and across zones on migration) and
//! NR_BALLOON_PAGES (meminfo's `Balloon`): virtio-balloon does so unless
//! VIRTIO_BALLOON_F_DEFLATE_ON_OOM was negotiated, which the model's device
//! (like QEMU's by default) does not offer. 7.2 keeps a dequeued page
//! PageOffline with PG_movable_ops until the page allocator frees it; the
//! model's driver clears both itself right before the put that frees the
//! page, as 6.12's `balloon_page_finalize()` did. The two differ only while
//! someone else (a PFN walker's speculative reference) keeps the page past
//! the deflate: 7.2 then has a PageOffline page that is managed again, which
//! the checker's rule "PageOffline pages are never managed" (reference §9)
//! would call a broken invariant.
//!
//! # Migration (movable_ops, `MovableKind::Offline`)
//!
//! Offlining (`do_migrate_range()`) and `alloc_contig_range()` move balloon
//! pages out of their way. `isolate` (`balloon_page_isolate()`, with the
//! migration core's part: PG_movable_ops_isolated and its reference) takes
//! the page off the list unless it was deflated meanwhile — `private` is
//! the proof, read under the pages lock. `migrate` is
//! `virtballoon_migratepage()` and `balloon_page_migrate()`: the driver only
//! *trylocks* `balloon_lock` (-EAGAIN while an inflate or deflate runs, and
//! the migration is retried), tells the host "inflate the new frame, deflate
//! the old one" (no bytes are copied: a balloon page has none), and the core
//! enqueues the new page with the balloon's reference, moves the managed
//! count if the zones differ and drops the balloon's reference on the old
//! page. `putback` puts the page back on the list.
//!
//! # Locks
//!
//! ```text
//! balloon_lock            Mutex     virtio_balloon's vb->balloon_lock and
//! │                                 vb->num_pages: fill, leak, migration
//! │                                 (trylock only)
//! ├─ balloon_pages_lock   SpinLock  mm/balloon.c: the page list, the
//! │                                 isolated count and `private` of the
//! │                                 balloon's pages; a leaf
//! └─ zone->lock                     leak frees pages under balloon_lock
//! ```
//!
//! Allocation runs before `balloon_lock` is taken, as in `fill_balloon()`.
//! Migration runs under mem_hotplug_lock (offlining) or get_online_mems()
//! (the test owner's `alloc_contig_range()`) and only trylocks
//! `balloon_lock`, so no order between them arises.
//!
//! # What the model leaves out
//!
//! One balloon per machine, its device probed at boot; no free page hinting,
//! free page reporting, statistics queue or OOM notifier. The host acks every
//! request at once. A byte count must be whole 4 KiB pages (the virtio
//! config counts balloon pages; anything else is EINVAL). When memory runs
//! out, `fill_balloon()` sleeps 200 ms and its work item retries until the
//! target is met; the model returns what it got instead.

use crate::errno::{Errno, KResult};
use crate::hotplug::{MovableKind, MovableOps};
use crate::machine::Machine;
use crate::page::{Page, PageType, Pfn, PAGE_SIZE, PG_MOVABLE_OPS, PG_MOVABLE_OPS_ISOLATED};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{Arc, Mutex, SpinLock};
use crate::zone::alloc::Gfp;

/// `VIRTIO_BALLOON_ARRAY_PFNS_MAX`: PFNs per request to the host, and pages
/// per round of `fill_balloon()` / `leak_balloon()`.
pub const ARRAY_PFNS_MAX: u64 = 256;

/// `page->private` of a page in the balloon: which balloon device holds it
/// (the kernel stores the `balloon_dev_info` pointer; the model has one
/// device). Never 0 (not in a balloon) nor a poisoned slot's all-ones.
const BALLOON_DEV: u64 = 0xba11_00de;

/// The device's page list (`b_dev_info->pages`), linked through the pages'
/// `lru` fields; newest first, as `list_add()` puts them.
#[derive(Debug, Default)]
struct PageList {
    first: Option<Pfn>,
    len: u64,
}

impl PageList {
    /// `list_add()`.
    fn push(&mut self, m: &Machine, pfn: Pfn) {
        m.page(pfn).set_lru(self.first, None);
        if let Some(f) = self.first {
            m.page(f).set_lru_prev(Some(pfn));
        }
        self.first = Some(pfn);
        self.len += 1;
    }

    /// `list_del()`.
    fn unlink(&mut self, m: &Machine, pfn: Pfn) {
        let p = m.page(pfn);
        let (next, prev) = (p.lru_next(), p.lru_prev());
        match prev {
            Some(pr) => m.page(pr).set_lru_next(next),
            None => self.first = next,
        }
        if let Some(n) = next {
            m.page(n).set_lru_prev(prev);
        }
        p.set_lru(None, None);
        self.len -= 1;
    }

    /// Takes the first page off the list.
    fn pop(&mut self, m: &Machine) -> Option<Pfn> {
        let pfn = self.first?;
        self.unlink(m, pfn);
        Some(pfn)
    }

    /// The pages on the list, first to last (pages lock held).
    fn pfns(&self, m: &Machine) -> Vec<Pfn> {
        let mut out = Vec::with_capacity(self.len as usize);
        let mut cur = self.first;
        while let Some(pfn) = cur {
            out.push(pfn);
            cur = m.page(pfn).lru_next();
        }
        out
    }
}

/// `struct balloon_dev_info`, behind `balloon_pages_lock`.
#[derive(Debug, Default)]
struct BalloonDevInfo {
    /// Enqueued pages that are not isolated.
    pages: PageList,
    /// `isolated_pages`: pages taken off the list for migration.
    isolated: u64,
}

/// The /proc/vmstat events of the balloon (`BALLOON_INFLATE`,
/// `BALLOON_DEFLATE`, `BALLOON_MIGRATE`), counted in pages.
#[derive(Debug, Default)]
struct BalloonEvents {
    inflate: AtomicU64,
    deflate: AtomicU64,
    migrate: AtomicU64,
}

/// The balloon's state: `struct virtio_balloon` with its `balloon_dev_info`.
/// Reached through [`Machine::balloon`].
#[derive(Debug, Default)]
pub struct VirtioBalloon {
    /// `vb->balloon_lock` with `vb->num_pages`, the pages the driver holds
    /// for the host (what it reports as `actual`); [locks](self#locks).
    balloon_lock: Mutex<u64>,
    /// `balloon_pages_lock` and the device info it protects; a leaf.
    dev_info: SpinLock<BalloonDevInfo>,
    /// NR_BALLOON_PAGES (meminfo's `Balloon`), read without a lock.
    nr_balloon_pages: AtomicU64,
    events: BalloonEvents,
}

impl VirtioBalloon {
    /// An empty balloon.
    pub fn new() -> VirtioBalloon {
        VirtioBalloon::default()
    }
}

/// The balloon of a machine, as its driver and the host's requests use it.
#[derive(Clone, Copy)]
pub struct Balloon<'m> {
    m: &'m Machine,
    dev: &'m VirtioBalloon,
}

/// Counters of a balloon, as `balloon show` prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BalloonStats {
    /// Pages in the balloon (`vb->num_pages`).
    pub pages: u64,
    /// Pages enqueued over the balloon's life (vmstat `balloon_inflate`).
    pub inflated: u64,
    /// Pages dequeued (vmstat `balloon_deflate`).
    pub deflated: u64,
    /// Pages migrated (vmstat `balloon_migrate`).
    pub migrated: u64,
}

/// Pages in `bytes`: EINVAL unless a whole number of them.
fn bytes_to_pages(bytes: u64) -> KResult<u64> {
    if bytes % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(bytes / PAGE_SIZE)
}

/// `update_balloon_size_func()`'s loop: `round(n)` moves up to `n` pages
/// ([`ARRAY_PFNS_MAX`] at most) and says how many it moved; rounds go on
/// until `nr` pages moved or one comes back short. Returns the pages moved.
fn in_rounds(nr: u64, mut round: impl FnMut(u64) -> u64) -> u64 {
    let mut done = 0;
    while done < nr {
        let want = (nr - done).min(ARRAY_PFNS_MAX);
        let got = round(want);
        done += got;
        if got < want {
            break;
        }
    }
    done
}

impl<'m> Balloon<'m> {
    pub(crate) fn new(m: &'m Machine, dev: &'m VirtioBalloon) -> Balloon<'m> {
        Balloon { m, dev }
    }

    /// The host asks for `bytes` more: `fill_balloon()` round after round
    /// until that many are inflated or an allocation fails. Returns the
    /// bytes inflated (0 for 0); EINVAL if `bytes` is not whole pages.
    pub fn inflate(&self, bytes: u64) -> KResult<u64> {
        Ok(in_rounds(bytes_to_pages(bytes)?, |n| self.fill_balloon(n)) * PAGE_SIZE)
    }

    /// The host gives `bytes` back: `leak_balloon()` round after round,
    /// never more than the balloon holds. Returns the bytes deflated;
    /// EINVAL if `bytes` is not whole pages.
    pub fn deflate(&self, bytes: u64) -> KResult<u64> {
        Ok(in_rounds(bytes_to_pages(bytes)?, |n| self.leak_balloon(n)) * PAGE_SIZE)
    }

    /// The balloon's counters.
    pub fn stats(&self) -> BalloonStats {
        let ev = &self.dev.events;
        BalloonStats {
            pages: *self.dev.balloon_lock.lock(),
            inflated: ev.inflate.load(Ordering::Relaxed),
            deflated: ev.deflate.load(Ordering::Relaxed),
            migrated: ev.migrate.load(Ordering::Relaxed),
        }
    }

    /// NR_BALLOON_PAGES: pages in the balloon, isolated ones included.
    pub fn nr_balloon_pages(&self) -> u64 {
        self.dev.nr_balloon_pages.load(Ordering::Relaxed)
    }

    /// The pages on the balloon's list (not the isolated ones), newest
    /// first.
    pub fn pages(&self) -> Vec<Pfn> {
        self.dev.dev_info.lock().pages.pfns(self.m)
    }

    /// Pages isolated for migration right now.
    pub fn isolated(&self) -> u64 {
        self.dev.dev_info.lock().isolated
    }

    /// `fill_balloon()`: allocates up to `num` pages, then enqueues them
    /// and tells the host. Returns how many it got.
    fn fill_balloon(&self, num: u64) -> u64 {
        let mut pages = Vec::with_capacity(num as usize);
        for _ in 0..num {
            match self.balloon_page_alloc() {
                Some(pfn) => pages.push(pfn),
                None => {
                    self.m
                        .log("virtio_balloon virtio0: Out of puff! Can't get 1 pages".to_string());
                    break;
                }
            }
        }
        let mut num_pages = self.dev.balloon_lock.lock();
        for &pfn in &pages {
            self.balloon_page_enqueue(pfn);
            *num_pages += 1;
        }
        tell_host_inflate(self.m, &pages);
        pages.len() as u64
    }

    /// `balloon_page_alloc()`: GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC |
    /// __GFP_NORETRY. The model's allocator neither reclaims nor keeps
    /// reserves, so the flags change nothing: it fails when nothing is free.
    fn balloon_page_alloc(&self) -> Option<Pfn> {
        self.m.alloc_pages(Gfp::MOVABLE, 0, 0).ok()
    }

    /// `balloon_page_enqueue()`: `balloon_page_insert()` and the
    /// accounting. Takes over the allocation's reference.
    fn balloon_page_enqueue(&self, pfn: Pfn) {
        let mut info = self.dev.dev_info.lock();
        balloon_page_insert(self.m, &mut info, pfn);
        let p = self.m.page(pfn);
        self.m.adjust_managed_page_count(self.m.page_zone(p), -1);
        self.dev.events.inflate.fetch_add(1, Ordering::Relaxed);
        self.dev.nr_balloon_pages.fetch_add(1, Ordering::Relaxed);
    }

    /// `leak_balloon()`: dequeues up to `num` pages (no more than the
    /// balloon holds), tells the host, frees them. Returns how many.
    fn leak_balloon(&self, num: u64) -> u64 {
        let mut num_pages = self.dev.balloon_lock.lock();
        let num = num.min(*num_pages);
        let mut pages = Vec::with_capacity(num as usize);
        while (pages.len() as u64) < num {
            let Some(pfn) = self.balloon_page_dequeue() else {
                break;
            };
            pages.push(pfn);
            *num_pages -= 1;
        }
        // tell_host(deflate_vq): the host backs the frames again on their
        // next access; the byte store needs nothing for that.
        self.release_pages_balloon(&pages);
        pages.len() as u64
    }

    /// `balloon_page_dequeue()`: the first page of the list, finalized.
    /// None if the list is empty because its pages are isolated for
    /// migration; empty with none isolated while the driver still counts
    /// pages is a BUG (pages lost).
    fn balloon_page_dequeue(&self) -> Option<Pfn> {
        let mut info = self.dev.dev_info.lock();
        let Some(pfn) = info.pages.pop(self.m) else {
            if info.isolated == 0 {
                self.m
                    .report_bug("BUG: balloon_page_dequeue: balloon pages lost".to_string());
            }
            return None;
        };
        let p = self.m.page(pfn);
        self.m.adjust_managed_page_count(self.m.page_zone(p), 1);
        // balloon_page_finalize(): from here on isolate() refuses the page.
        p.set_private(0);
        self.dev.events.deflate.fetch_add(1, Ordering::Relaxed);
        self.dev.nr_balloon_pages.fetch_sub(1, Ordering::Relaxed);
        Some(pfn)
    }

    /// `release_pages_balloon()`: drops the balloon's reference of each
    /// page, which frees it unless a PFN walker holds a speculative one.
    fn release_pages_balloon(&self, pages: &[Pfn]) {
        for &pfn in pages {
            clear_balloon_page(self.m, pfn);
            self.m.put_pages(pfn, 0);
        }
    }
}

/// `balloon_page_insert()`: PageOffline, then PG_movable_ops (in the
/// kernel's order: a scan between the two sees a PageOffline page without
/// movable_ops, which `scan_movable_pages()` calls unmovable), `private`,
/// and onto the list. Pages lock held (`info`).
fn balloon_page_insert(m: &Machine, info: &mut BalloonDevInfo, pfn: Pfn) {
    let p = m.page(pfn);
    p.set_type(PageType::Offline);
    p.set(PG_MOVABLE_OPS);
    p.set_private(BALLOON_DEV);
    info.pages.push(m, pfn);
}

/// `tell_host(inflate_vq)`: the host discards the frames' backing. Runs of
/// consecutive frames go as one range.
fn tell_host_inflate(m: &Machine, pages: &[Pfn]) {
    let mut i = 0;
    while i < pages.len() {
        let start = pages[i];
        let mut n = 1;
        while i + n < pages.len() && pages[i + n] == start + n as u64 {
            n += 1;
        }
        let len = n as u64 * PAGE_SIZE;
        if let Err(e) = m.physmem().discard(start.phys(), len) {
            m.report_bug(format!(
                "WARNING: virtio_balloon: the host failed to discard {len} bytes at pfn {start}: {e}"
            ));
        }
        i += n;
    }
}

/// Whether a page's `private` marks it as the balloon's (for the checker).
pub(crate) fn is_balloon_page(p: &Page) -> bool {
    p.private() == BALLOON_DEV
}

/// 6.12's `balloon_page_finalize()`: PageOffline and PG_movable_ops
/// (PG_uptodate) go before the balloon's last put; 7.2 leaves them to
/// `free_pages_prepare()`. See the module doc.
fn clear_balloon_page(m: &Machine, pfn: Pfn) {
    let p = m.page(pfn);
    p.clear(PG_MOVABLE_OPS);
    p.clear_type(PageType::Offline);
}

/// `balloon_mops`, registered for PageOffline pages at boot
/// (`balloon_init()`: `set_movable_ops(&balloon_mops, PGTY_offline)`).
struct BalloonMovableOps;

impl MovableOps for BalloonMovableOps {
    fn isolate(&self, m: &Machine, pfn: Pfn) -> bool {
        let dev = m.balloon_dev();
        let mut info = dev.dev_info.lock();
        let p = m.page(pfn);
        // Deflated meanwhile, another owner's PageOffline page, or already
        // isolated by someone else.
        if p.private() != BALLOON_DEV || !p.has_movable_ops() {
            return false;
        }
        if p.test_and_set(PG_MOVABLE_OPS_ISOLATED) {
            return false;
        }
        // The migration core's reference (isolate_movable_ops_page()).
        p.ref_inc();
        info.pages.unlink(m, pfn);
        info.isolated += 1;
        true
    }

    fn migrate(&self, m: &Machine, dst: Pfn, src: Pfn) -> KResult<()> {
        let dev = m.balloon_dev();
        // virtballoon_migratepage(): rather than wait for an inflate or
        // deflate, give up this round; migration tries again later.
        let Some(num_pages) = dev.balloon_lock.try_lock() else {
            return Err(Errno::EAGAIN);
        };
        // tell_host(): inflate the new frame, deflate the old one.
        tell_host_inflate(m, &[dst]);
        drop(num_pages);
        // balloon_page_migrate(): the new page takes the balloon's place
        // (the reference it was allocated with becomes the balloon's).
        {
            let mut info = dev.dev_info.lock();
            balloon_page_insert(m, &mut info, dst);
            dev.events.migrate.fetch_add(1, Ordering::Relaxed);
            let (sz, dz) = (m.page_zone(m.page(src)), m.page_zone(m.page(dst)));
            if !std::ptr::eq(sz, dz) {
                m.adjust_managed_page_count(sz, 1);
                m.adjust_managed_page_count(dz, -1);
            }
            info.isolated -= 1;
            m.page(src).set_private(0);
        }
        let s = m.page(src);
        s.clear(PG_MOVABLE_OPS_ISOLATED);
        clear_balloon_page(m, src);
        // The balloon's reference; the core drops its own and frees src.
        s.ref_dec();
        Ok(())
    }

    fn putback(&self, m: &Machine, pfn: Pfn) {
        let dev = m.balloon_dev();
        {
            let mut info = dev.dev_info.lock();
            info.pages.push(m, pfn);
            info.isolated -= 1;
            m.page(pfn).clear(PG_MOVABLE_OPS_ISOLATED);
        }
        // The migration core's reference; the balloon's keeps the page.
        m.put_pages(pfn, 0);
    }
}

impl Machine {
    /// The machine's balloon. Its device is probed at boot and starts
    /// empty; the host's requests are [`Balloon::inflate`] and
    /// [`Balloon::deflate`].
    pub fn balloon(&self) -> Balloon<'_> {
        Balloon::new(self, self.balloon_dev())
    }

    /// Registers the balloon core's movable_ops (at boot).
    pub(crate) fn register_balloon(&self) {
        self.set_movable_ops(MovableKind::Offline, Arc::new(BalloonMovableOps));
    }

    /// Every page the balloon holds, with the one reference it holds on
    /// each, for the leak check (quiescent: nothing isolated).
    pub(crate) fn balloon_held(&self) -> Vec<Pfn> {
        self.balloon().pages()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walkers::{KPF_BUDDY, KPF_OFFLINE, KPF_RECLAIM, KPF_UPTODATE};
    use crate::MachineConfig;

    fn machine() -> Machine {
        let config = MachineConfig {
            ram: 512 << 20,
            ..Default::default()
        };
        Machine::boot(config, Default::default()).unwrap()
    }

    fn assert_clean(m: &Machine) {
        let v = m.check_all();
        assert!(v.is_empty(), "{v:#?}");
    }

    // mm/balloon.c balloon_page_isolate()/balloon_page_putback() with the
    // core's isolate_movable_ops_page(): an isolated balloon page is off the
    // list, holds the core's reference and reads KPF_RECLAIM
    // (PG_movable_ops_isolated aliases PG_reclaim); a deflate meanwhile finds
    // the list empty without a BUG, and putback restores everything.
    #[test]
    fn isolated_page_is_off_the_list_and_reads_reclaim() {
        let m = machine();
        let b = m.balloon();
        assert_eq!(b.inflate(PAGE_SIZE), Ok(PAGE_SIZE));
        let pfn = b.pages()[0];
        let inflated = 1 << KPF_OFFLINE | 1 << KPF_UPTODATE;
        assert_eq!(m.kpageflags(pfn), inflated);
        assert!(BalloonMovableOps.isolate(&m, pfn));
        assert!(!BalloonMovableOps.isolate(&m, pfn), "isolated twice");
        assert_eq!(m.kpageflags(pfn), inflated | 1 << KPF_RECLAIM);
        assert_eq!(m.page(pfn).ref_count(), 2);
        assert_eq!((b.pages().len(), b.isolated()), (0, 1));
        assert_eq!(b.deflate(PAGE_SIZE), Ok(0));
        assert!(m.take_bugs().is_empty());
        BalloonMovableOps.putback(&m, pfn);
        assert_eq!(m.kpageflags(pfn), inflated);
        assert_eq!((b.pages(), b.isolated()), (vec![pfn], 0));
        assert_clean(&m);
        assert_eq!(b.deflate(PAGE_SIZE), Ok(PAGE_SIZE));
        // free_unref_page(): the freed page waits on a pcp list, not PageBuddy.
        assert_eq!(m.kpageflags(pfn) & 1 << KPF_BUDDY, 0);
        m.drain_all_pages(None);
        assert_ne!(m.kpageflags(pfn) & 1 << KPF_BUDDY, 0);
        assert_clean(&m);
    }

    // balloon_page_isolate(): a page dequeued for deflating (private
    // cleared by balloon_page_finalize()) is no longer the balloon's to
    // isolate, although it is still PageOffline with movable_ops.
    #[test]
    fn isolate_refuses_a_dequeued_page() {
        let m = machine();
        let b = m.balloon();
        b.inflate(PAGE_SIZE).unwrap();
        let pfn = b.balloon_page_dequeue().unwrap();
        assert!(m.page(pfn).has_movable_ops());
        assert!(!BalloonMovableOps.isolate(&m, pfn));
        *m.balloon_dev().balloon_lock.lock() -= 1;
        b.release_pages_balloon(&[pfn]);
        assert_clean(&m);
    }

    // virtballoon_migratepage(): while fill/leak holds balloon_lock the
    // driver refuses (-EAGAIN) and the core puts the page back; once the
    // lock is free the page moves: the new frame joins the balloon, the old
    // one is freed.
    #[test]
    fn migration_backs_off_while_balloon_lock_is_held() {
        let m = machine();
        let b = m.balloon();
        b.inflate(PAGE_SIZE).unwrap();
        let pfn = b.pages()[0];
        {
            let _fill = m.balloon_dev().balloon_lock.lock();
            assert_eq!(m.do_migrate_range(pfn, pfn + 1), 0);
        }
        assert_eq!((b.pages(), b.isolated()), (vec![pfn], 0));
        assert_eq!(b.stats().migrated, 0);
        assert_eq!(m.do_migrate_range(pfn, pfn + 1), 1);
        let moved = b.pages();
        assert_eq!(moved.len(), 1);
        assert_ne!(moved[0], pfn);
        assert_eq!(m.kpageflags(moved[0]), 1 << KPF_OFFLINE | 1 << KPF_UPTODATE);
        // free_unref_page(): the old frame waits on a pcp list, not PageBuddy.
        assert_eq!(m.kpageflags(pfn) & 1 << KPF_BUDDY, 0);
        m.drain_all_pages(None);
        assert_ne!(m.kpageflags(pfn) & 1 << KPF_BUDDY, 0);
        assert_eq!(b.stats().migrated, 1);
        assert_eq!(b.nr_balloon_pages(), 1);
        assert_clean(&m);
    }
}
