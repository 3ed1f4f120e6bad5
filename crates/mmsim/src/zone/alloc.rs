//! The page allocator's entry points: zonelists, `alloc_pages()`,
//! `__free_pages()`, `__free_pages_core()` and managed-page accounting.
//!
//! A zonelist is walked from the highest zone the allocation may use down to
//! ZONE_DMA, on the preferred node first and then on the others in id order
//! (the model's node distance). Movable allocations may use ZONE_MOVABLE and
//! prefer it; kernel allocations never see it — that is what keeps ZONE_MOVABLE
//! offlinable.
//!
//! Everything here works on a [`PageAlloc`]: the memmap and the nodes, which
//! the kernel reaches through globals (`mem_section[]`, `NODE_DATA()`) and the
//! model passes explicitly. The allocator knows nothing above it: a page that
//! must not be freed comes back as a [`BadPage`] value for the caller to
//! report, and freeing a folio whose last reference went (which may belong to
//! the hugetlb pool rather than to the buddy) is the caller's business.

use super::{buddy, pcp};
use super::{Migratetype, Node, Zone};
use crate::errno::{Errno, KResult};
use crate::page::{
    Page, PageType, Pfn, ZoneType, MAX_PAGE_ORDER, PAGEFLAGS_MASK, PG_HEAD, PG_RESERVED,
};
use crate::sparse::SparseMem;
use crate::variant::MemmapInit;
use std::fmt;

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

/// A page the allocator refused to free (`bad_page()`): it still had a flag,
/// a type, a reference or a mapping. The kernel reports it and leaks it; so
/// does the model, through whoever called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPage {
    /// The offending frame.
    pub pfn: Pfn,
    /// Its flag bits (without zone and node).
    pub flags: u64,
    /// Its page type.
    pub page_type: Option<PageType>,
    /// Its refcount.
    pub refcount: i32,
}

impl fmt::Display for BadPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BUG: Bad page state: pfn {} freed with flags {:#x} type {:?} refcount {}",
            self.pfn, self.flags, self.page_type, self.refcount
        )
    }
}

/// What `__free_pages_core()` finds wrong with a page memmap init should
/// have prepared for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadCore {
    /// PG_reserved where 7.2's memmap init sets PageOffline
    /// (`VM_WARN_ON_ONCE(PageReserved(p))`).
    Reserved,
    /// Still PageOffline under `memmap_init=reserved`: the old
    /// `__free_pages_core()` never cleared the type, so the free reported a
    /// bad page ("nonzero mapcount").
    Offline,
}

impl fmt::Display for BadCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadCore::Reserved => "WARNING: __free_pages_core of reserved",
            BadCore::Offline => {
                "BUG: Bad page state (nonzero mapcount): __free_pages_core of PageOffline"
            }
        })
    }
}

/// The page allocator's view of the machine: the memmap and `NODE_DATA()`.
/// Cheap to copy; whoever owns both builds one per operation.
#[derive(Clone, Copy)]
pub struct PageAlloc<'a> {
    /// The sparse memory model: every page lookup and the pageblock bits.
    pub mem: &'a SparseMem,
    /// Every node slot, indexed by node id.
    pub nodes: &'a [Node],
}

impl<'a> PageAlloc<'a> {
    /// `NODE_DATA(nid)->node_zones[zt]`.
    pub fn zone(&self, nid: usize, zt: ZoneType) -> &'a Zone {
        self.nodes[nid].zone(zt)
    }

    /// `page_zone()`: the zone the page's links name.
    pub fn page_zone(&self, page: &Page) -> &'a Zone {
        self.zone(page.nid(), page.zonenum())
    }

    /// The memmap slot of a PFN the caller knows to have one (a BUG
    /// otherwise, as in the kernel).
    pub(crate) fn page(&self, pfn: Pfn) -> &'a Page {
        self.mem
            .pfn_to_page(pfn)
            .unwrap_or_else(|| panic!("BUG: pfn {pfn} has no memmap"))
    }

    /// The zonelist for `gfp` starting at node `nid`.
    pub fn zonelist(&self, gfp: Gfp, nid: usize) -> impl Iterator<Item = &'a Zone> + 'a {
        let nodes = self.nodes;
        let order = std::iter::once(nid).chain((0..nodes.len()).filter(move |&n| n != nid));
        // Zones are indexed in ZoneType order: those up to the highest the
        // allocation may use, highest first.
        let top = gfp.highest_zone.index();
        order.flat_map(move |n| nodes[n].zones[..=top].iter().rev())
    }

    /// `alloc_pages_node()`: a block of 2^order pages, refcount 1 on the head.
    /// -ENOMEM when no zone of the zonelist has a free block.
    pub fn alloc_pages(&self, gfp: Gfp, order: u32, nid: usize) -> KResult<Pfn> {
        if order > MAX_PAGE_ORDER || nid >= self.nodes.len() {
            return Err(Errno::EINVAL);
        }
        let mt = gfp.migratetype();
        for zone in self.zonelist(gfp, nid) {
            if !zone.populated() {
                continue;
            }
            // rmqueue(): the per-CPU lists first for the orders they
            // cache, the buddy lists if they are busy or the zone has
            // nothing for a refill (rmqueue_buddy()).
            let got = pcp::pcp_allowed_order(order)
                .then(|| self.rmqueue_pcplist(zone, order, mt))
                .flatten()
                .or_else(|| {
                    let mut locked = zone.lock.lock();
                    buddy::rmqueue(zone, &mut locked, self.mem, order, mt)
                });
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
        // set_page_refcounted(): publishes the page to its new owner;
        // speculative getters pair with this through Page::try_get's Acquire.
        // A free page someone still took a reference on (a bug the checker
        // reports as a buddy page with a refcount) is handed out anyway, as
        // a kernel without CONFIG_DEBUG_VM does.
        if head.ref_count() != 0 {
            head.set_ref_count(0);
        }
        head.ref_unfreeze(1);
    }

    /// `free_unref_page()` (orders the per-CPU lists cache) or
    /// `__free_pages_ok()` (the others) for pages whose refcount already
    /// reached zero. A page that must not be freed is left alone and
    /// returned.
    pub fn free_pages_prepared(&self, pfn: Pfn, order: u32) -> Result<(), BadPage> {
        let head = self.page(pfn);
        self.free_pages_prepare(head, pfn, order)?;
        let zone = self.page_zone(head);
        if pcp::pcp_allowed_order(order) {
            self.free_unref_page(zone, pfn, order);
        } else {
            let mut locked = zone.lock.lock();
            buddy::free_one_page(zone, &mut locked, self.mem, pfn, order, false);
        }
        Ok(())
    }

    /// `free_pages_prepare()`: undoes compound state, and refuses a page that
    /// must not be freed.
    fn free_pages_prepare(&self, head: &Page, pfn: Pfn, order: u32) -> Result<(), BadPage> {
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
            let p = if i == 0 { head } else { self.page(pfn + i) };
            // 7.2 resets a page type on free (page_type overlays _mapcount):
            // a PageOffline page whose last reference goes is freed like any
            // other. PageBuddy is no type a freed page may have (a double
            // free).
            if let Some(t) = p.page_type().filter(|t| *t != PageType::Buddy) {
                p.clear_type(t);
            }
            if p.test(PG_RESERVED) || p.has_type() || p.ref_count() != 0 || p.mapcount() != 0 {
                return Err(BadPage {
                    pfn: pfn + i,
                    flags: p.flags_raw() & PAGEFLAGS_MASK,
                    page_type: p.page_type(),
                    refcount: p.ref_count(),
                });
            }
            // PAGE_FLAGS_CHECK_AT_PREP: a free page carries no flags and no
            // mapping.
            p.init_links(p.zonenum(), p.nid());
            p.set_private(0);
        }
        Ok(())
    }

    /// `__free_pages_core(page, order, MEMINIT_HOTPLUG)` as used by
    /// `generic_online_page()`: clears what memmap init left on each page,
    /// drops the initial reference, accounts the pages as managed and frees
    /// them to the tail of the free lists (FPI_TO_TAIL).
    ///
    /// What memmap init left depends on `init` (variant `memmap_init`):
    /// 7.2 clears PageOffline and WARNs on PG_reserved (a reserved page must
    /// never be onlined); the kernels before 6.11 cleared PG_reserved, and a
    /// page still PageOffline there (its driver forgot to clear the type)
    /// failed `free_pages_prepare()` ("nonzero mapcount": the type overlays
    /// `_mapcount`). Returns the pages the kernel would complain about; the
    /// model frees them all the same.
    pub fn free_pages_core(&self, pfn: Pfn, order: u32, init: MemmapInit) -> Vec<(Pfn, BadCore)> {
        let nr = 1u64 << order;
        let mut bad = Vec::new();
        self.mem.for_each_page(pfn, pfn + nr, |pfn, p| {
            match init {
                MemmapInit::Offline => {
                    if p.test(PG_RESERVED) {
                        bad.push((pfn, BadCore::Reserved));
                    }
                }
                MemmapInit::Reserved => {
                    p.clear(PG_RESERVED);
                    if p.is_type(PageType::Offline) {
                        bad.push((pfn, BadCore::Offline));
                    }
                }
            }
            p.clear_type(PageType::Offline);
            p.set_ref_count(0);
        });
        let zone = self.page_zone(self.page(pfn));
        zone.adjust_managed(nr as i64);
        let mut locked = zone.lock.lock();
        buddy::free_one_page(zone, &mut locked, self.mem, pfn, order, true);
        bad
    }
}
