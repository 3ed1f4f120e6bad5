//! The page allocator's entry points: zonelists, `alloc_pages()`,
//! `__free_pages()`, `__free_pages_core()` and managed-page accounting.
//!
//! A zonelist is walked from the highest zone the allocation may use down to
//! ZONE_DMA, on the preferred node first and then on the others in id order
//! (the model's node distance). Movable allocations may use ZONE_MOVABLE and
//! prefer it; kernel allocations never see it — that is what keeps ZONE_MOVABLE
//! offlinable.

use super::buddy;
use super::{Migratetype, Zone};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{PageType, Pfn, ZoneType, MAX_PAGE_ORDER, PAGEFLAGS_MASK, PG_HEAD, PG_RESERVED};

/// What an allocation may use (`gfp_t`, reduced to what the model needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gfp {
    /// `gfp_zone()`: the highest zone allowed.
    pub highest_zone: ZoneType,
    /// `__GFP_COMP`: make a compound page.
    pub comp: bool,
}

impl Gfp {
    /// GFP_KERNEL: unmovable, up to ZONE_NORMAL.
    pub const KERNEL: Gfp = Gfp {
        highest_zone: ZoneType::Normal,
        comp: false,
    };
    /// GFP_HIGHUSER_MOVABLE: movable, may use ZONE_MOVABLE.
    pub const MOVABLE: Gfp = Gfp {
        highest_zone: ZoneType::Movable,
        comp: false,
    };

    /// `gfp_migratetype()`.
    pub fn migratetype(self) -> Migratetype {
        if self.highest_zone == ZoneType::Movable {
            Migratetype::Movable
        } else {
            Migratetype::Unmovable
        }
    }

    /// With `__GFP_COMP`.
    pub fn comp(self) -> Gfp {
        Gfp { comp: true, ..self }
    }
}

impl Machine {
    /// The zonelist for `gfp` starting at node `nid`.
    pub fn zonelist(&self, gfp: Gfp, nid: usize) -> impl Iterator<Item = &Zone> + '_ {
        let nodes = self.nodes().len();
        let order = std::iter::once(nid).chain((0..nodes).filter(move |&n| n != nid));
        order.flat_map(move |n| {
            ZoneType::ALL
                .into_iter()
                .rev()
                .filter(move |z| *z <= gfp.highest_zone)
                .map(move |z| self.zone(n, z))
        })
    }

    /// `alloc_pages_node()`: a block of 2^order pages, refcount 1 on the head.
    /// -ENOMEM when no zone of the zonelist has a free block.
    pub fn alloc_pages(&self, gfp: Gfp, order: u32, nid: usize) -> KResult<Pfn> {
        if order > MAX_PAGE_ORDER || nid >= self.nodes().len() {
            return Err(Errno::EINVAL);
        }
        let mt = gfp.migratetype();
        for zone in self.zonelist(gfp, nid) {
            if !zone.populated() {
                continue;
            }
            let got = {
                let mut locked = zone.lock.lock();
                buddy::rmqueue(zone, &mut locked, self.mem(), order, mt)
            };
            if let Some(pfn) = got {
                self.prep_new_page(pfn, order, gfp);
                return Ok(pfn);
            }
        }
        Err(Errno::ENOMEM)
    }

    /// `prep_new_page()`: refcount 1 on the head, compound set-up if asked.
    fn prep_new_page(&self, pfn: Pfn, order: u32, gfp: Gfp) {
        let head = self.page(pfn);
        head.set_private(0);
        if gfp.comp && order > 0 {
            head.set(PG_HEAD);
            for i in 1..(1u64 << order) {
                let tail = self.page(pfn + i);
                tail.set_compound_head(pfn);
                tail.set_tail_word(0);
            }
            self.page(pfn + 1).set_private(u64::from(order));
        }
        // Publishes the page to its new owner; speculative getters pair with
        // this through Page::try_get's Acquire (set_page_refcounted).
        head.ref_unfreeze(1);
    }

    /// `put_page()` of a page the caller holds: frees it when this was the
    /// last reference. `order` is the order it was allocated with.
    /// A compound page is freed whole, by its own order, whatever the
    /// caller says (a reference taken on the head of a THP by a PFN walker
    /// may turn out to be its last).
    pub fn put_pages(&self, pfn: Pfn, order: u32) {
        if self.page(pfn).ref_dec_and_test() {
            if self.page(pfn).test(PG_HEAD) {
                self.free_folio(pfn);
            } else {
                self.free_pages_prepared(pfn, order);
            }
        }
    }

    /// `__free_pages_ok()` for pages whose refcount already reached zero.
    pub fn free_pages_prepared(&self, pfn: Pfn, order: u32) {
        if !self.free_pages_prepare(pfn, order) {
            return;
        }
        let zone = self.page_zone(self.page(pfn));
        let mut locked = zone.lock.lock();
        buddy::free_one_page(zone, &mut locked, self.mem(), pfn, order, false);
    }

    /// `free_pages_prepare()`: undoes compound state, and refuses (reporting a
    /// bad page, leaking it as the kernel does) a page that must not be freed.
    fn free_pages_prepare(&self, pfn: Pfn, order: u32) -> bool {
        let head = self.page(pfn);
        if head.test(PG_HEAD) {
            head.clear(PG_HEAD);
            for i in 1..(1u64 << order) {
                let p = self.page(pfn + i);
                p.clear_compound_head();
                p.set_tail_word(0);
                p.set_private(0);
            }
        }
        for i in 0..(1u64 << order) {
            let p = self.page(pfn + i);
            if p.test(PG_RESERVED) || p.has_type() || p.ref_count() != 0 || p.mapcount() != 0 {
                self.report_bug(format!(
                    "BUG: Bad page state: pfn {} freed with flags {:#x} type {:?} refcount {}",
                    pfn + i,
                    p.flags_raw() & PAGEFLAGS_MASK,
                    p.page_type(),
                    p.ref_count()
                ));
                return false;
            }
            // PAGE_FLAGS_CHECK_AT_PREP: a free page carries no flags and no
            // mapping.
            p.init_links(p.zonenum(), p.nid());
            p.set_private(0);
        }
        true
    }

    /// `__free_pages_core(page, order, MEMINIT_HOTPLUG)` as used by
    /// `generic_online_page()`: clears PageOffline, drops the initial
    /// reference, accounts the pages as managed and frees them to the tail of
    /// the free lists (FPI_TO_TAIL).
    pub fn free_pages_core(&self, pfn: Pfn, order: u32) {
        let nr = 1u64 << order;
        for i in 0..nr {
            let p = self.page(pfn + i);
            if p.test(PG_RESERVED) {
                self.report_bug(format!(
                    "WARNING: __free_pages_core of reserved pfn {}",
                    pfn + i
                ));
            }
            p.clear_type(PageType::Offline);
            p.set_ref_count(0);
        }
        let zone = self.page_zone(self.page(pfn));
        self.adjust_managed_page_count(zone, nr as i64);
        let mut locked = zone.lock.lock();
        buddy::free_one_page(zone, &mut locked, self.mem(), pfn, order, true);
    }

    /// `adjust_managed_page_count()`: zone managed pages and totalram.
    pub fn adjust_managed_page_count(&self, zone: &Zone, n: i64) {
        zone.adjust_managed(n);
    }
}
