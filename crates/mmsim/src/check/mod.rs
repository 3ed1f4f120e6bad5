//! The invariant checker: kernel-internal truths that must hold whenever the
//! machine is quiescent (no hotplug operation or allocation in flight).
//! Reference §9.
//!
//! Two levels:
//! * [`Machine::check_cheap`] runs after every scenario command: kernel bugs the
//!   model detected on the way (BUG_ON/WARN/bad page), memory-block state
//!   against `dev->offline` and section online bits, zone counters and
//!   isolation counts, the balloon's page counts.
//! * [`Machine::check_all`] (`check` in a scenario) adds a walk of every free
//!   list and every memmap slot of every online section: buddy structure,
//!   free-page accounting, pages inside free blocks, the per-CPU page
//!   lists (`pcp`: free pages that are not PageBuddy and not counted in
//!   NR_FREE_PAGES), PageOffline rules,
//!   what memmap init leaves on hot-added pages no callback onlined
//!   (`memmap-init`: PG_reserved only under `memmap_init=reserved`),
//!   present and managed-page accounting, the balloon's pages, the
//!   anon-exclusive rules
//!   (`anon.rs`), hugetlb reservations (`hugetlb.rs`) and leaks
//!   (`leak.rs`). (A refcount-0 page outside the
//!   buddy is not flagged: the tail pages of a non-compound high-order
//!   allocation look exactly like that, in the kernel too.)
//!
//! The checker reads the machine through its public accessors and locks like
//! any other kernel code; it takes each zone's lock while walking its lists.

mod anon;
mod hugetlb;
mod leak;
mod virtio_mem;

use crate::hotplug::MemoryBlockState;
use crate::machine::Machine;
use crate::page::{
    PageType, Pfn, PAGEFLAGS_MASK, PG_MOVABLE_OPS_ISOLATED, PG_OFFLINE_SKIPPABLE, PG_RESERVED,
};
use crate::sparse::PAGES_PER_SECTION;
use crate::variant::{MemmapInit, OfflineSkip};
use crate::zone::buddy::{buddy_list, buddy_order, find_buddy_containing};
use crate::zone::{Migratetype, Zone, NR_ORDERS};
use std::fmt;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Short name of the rule.
    pub rule: &'static str,
    /// What was found.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {} violated: {}", self.rule, self.detail)
    }
}

struct Report(Vec<Violation>);

impl Report {
    fn fail(&mut self, rule: &'static str, detail: String) {
        self.0.push(Violation { rule, detail });
    }
}

impl Machine {
    /// The cheap invariants (after every command).
    pub fn check_cheap(&self) -> Vec<Violation> {
        let mut r = Report(Vec::new());
        for bug in self.take_bugs() {
            r.fail("kernel-bug", bug);
        }
        self.check_blocks(&mut r);
        for node in self.nodes() {
            for zone in &node.zones {
                self.check_zone_counters(zone, &mut r);
            }
        }
        self.check_balloon_counts(&mut r);
        self.check_hugetlb_resv_fits(&mut r);
        r.0
    }

    /// Every invariant (`check`).
    pub fn check_all(&self) -> Vec<Violation> {
        let mut r = Report(self.check_cheap());
        for node in self.nodes() {
            for zone in &node.zones {
                self.check_free_lists(zone, &mut r);
                self.check_pcp_lists(zone, &mut r);
                self.check_zone_pages(zone, &mut r);
            }
        }
        self.check_balloon_pages(&mut r);
        self.check_anon(&mut r);
        self.check_virtio_mem(&mut r);
        self.check_hugetlb_resv_count(&mut r);
        self.check_leaks(&mut r);
        r.0
    }

    fn check_blocks(&self, r: &mut Report) {
        for b in self.hotplug().blocks() {
            let state = b.state();
            if state == MemoryBlockState::GoingOffline {
                r.fail(
                    "block-state",
                    format!("memory{} is going-offline with no offline running", b.id),
                );
            }
            if b.dev_online() != (state == MemoryBlockState::Online) {
                r.fail(
                    "block-dev-offline",
                    format!(
                        "memory{}: dev->offline disagrees with state {:?}",
                        b.id, state
                    ),
                );
            }
            let mut nr = b.start_pfn.0 / PAGES_PER_SECTION;
            while Pfn(nr * PAGES_PER_SECTION) < b.end_pfn() {
                if let Some(ms) = self.mem().section(nr) {
                    if ms.present() && ms.online() != (state == MemoryBlockState::Online) {
                        r.fail(
                            "section-online",
                            format!(
                                "section {nr} online={} but memory{} is {}",
                                ms.online(),
                                b.id,
                                state.as_str()
                            ),
                        );
                    }
                }
                nr += 1;
            }
            if state == MemoryBlockState::Offline && b.zone().is_some() {
                r.fail(
                    "block-zone",
                    format!("offline memory{} still has a zone", b.id),
                );
            }
        }
    }

    fn check_zone_counters(&self, zone: &Zone, r: &mut Report) {
        let info = zone.info();
        let name = zone_name(zone);
        if info.present > info.spanned {
            r.fail(
                "zone-present",
                format!(
                    "{name}: present {} > spanned {}",
                    info.present, info.spanned
                ),
            );
        }
        if info.managed < 0 || info.managed as u64 > info.present {
            r.fail(
                "zone-managed",
                format!(
                    "{name}: managed {} outside 0..=present {}",
                    info.managed, info.present
                ),
            );
        }
        if info.free < 0 || info.free > info.managed.max(0) {
            r.fail(
                "zone-free",
                format!(
                    "{name}: free {} outside 0..=managed {}",
                    info.free, info.managed
                ),
            );
        }
        if info.nr_isolate_pageblock != 0 {
            r.fail(
                "zone-isolation",
                format!(
                    "{name}: {} pageblocks still isolated while nothing isolates",
                    info.nr_isolate_pageblock
                ),
            );
        }
    }

    fn check_free_lists(&self, zone: &Zone, r: &mut Report) {
        let name = zone_name(zone);
        let locked = zone.lock.lock();
        let mut total = 0i64;
        for order in 0..NR_ORDERS as u32 {
            for mt in [
                Migratetype::Unmovable,
                Migratetype::Movable,
                Migratetype::Reclaimable,
                Migratetype::Isolate,
            ] {
                let mut n = 0;
                for pfn in locked.free_area.iter(self.mem(), order, mt) {
                    n += 1;
                    total += 1 << order;
                    let Some(p) = self.mem().pfn_to_online_page(pfn) else {
                        r.fail(
                            "buddy-online",
                            format!("{name}: free block {pfn} not online"),
                        );
                        continue;
                    };
                    if !p.is_type(PageType::Buddy)
                        || buddy_order(p) != order
                        || buddy_list(p) != mt
                        || p.ref_count() != 0
                        || !pfn.is_aligned(1 << order)
                        || p.zonenum() != zone.zone_type
                        || p.nid() != zone.nid
                    {
                        r.fail(
                            "buddy-head",
                            format!(
                                "{name}: block {pfn} on order-{order} {} list: type {:?} order {} refcount {}",
                                mt.name(),
                                p.page_type(),
                                buddy_order(p),
                                p.ref_count()
                            ),
                        );
                    }
                    let isolated = self.mem().pageblock_isolated(pfn);
                    if isolated != (mt == Migratetype::Isolate) {
                        r.fail(
                            "buddy-isolation",
                            format!(
                                "{name}: block {pfn} on {} list, pageblock isolated={isolated}",
                                mt.name()
                            ),
                        );
                    }
                }
                if locked.free_area.has_blocks(order, mt) != (n > 0) {
                    r.fail(
                        "buddy-list-mask",
                        format!(
                            "{name}: order-{order} {} list has {n} blocks, its mask bit says otherwise",
                            mt.name()
                        ),
                    );
                }
                if n != locked.free_area.list(order, mt).len() {
                    r.fail(
                        "buddy-list-len",
                        format!(
                            "{name}: order-{order} {} list has {n} blocks, counts {}",
                            mt.name(),
                            locked.free_area.list(order, mt).len()
                        ),
                    );
                }
            }
        }
        if total != zone.nr_free() {
            r.fail(
                "buddy-nr-free",
                format!(
                    "{name}: free lists hold {total} pages, NR_FREE_PAGES says {}",
                    zone.nr_free()
                ),
            );
        }
    }

    /// Every block on a per-CPU list is a free block of the zone that the
    /// buddy allocator does not know: online, refcount 0, no page type (not
    /// PageBuddy), no flags, aligned to its order, on one list only, inside
    /// no buddy block; and the lists' counts add up.
    fn check_pcp_lists(&self, zone: &Zone, r: &mut Report) {
        let pages = zone.pcp.pages();
        let counted: u64 = pages.iter().map(|&(_, order)| 1u64 << order).sum();
        if counted != zone.pcp.count() {
            r.fail(
                "pcp-count",
                format!(
                    "{}: per-CPU lists hold {counted} pages, their counts say {}",
                    zone_name(zone),
                    zone.pcp.count()
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (pfn, order) in pages {
            let bad = match self.mem().pfn_to_online_page(pfn) {
                None => Some("not online".to_string()),
                Some(p) => (p.ref_count() != 0
                    || p.has_type()
                    || p.flags_raw() & PAGEFLAGS_MASK != 0
                    || !pfn.is_aligned(1 << order)
                    || p.zonenum() != zone.zone_type
                    || p.nid() != zone.nid
                    || !seen.insert(pfn)
                    || find_buddy_containing(self.mem(), zone, pfn).is_some())
                .then(|| {
                    format!(
                        "refcount {} type {:?} flags {:#x}, or twice on the lists or in a buddy block",
                        p.ref_count(),
                        p.page_type(),
                        p.flags_raw() & PAGEFLAGS_MASK
                    )
                }),
            };
            if let Some(what) = bad {
                r.fail(
                    "pcp-page",
                    format!(
                        "{}: order-{order} block {pfn} on a per-CPU list: {what}",
                        zone_name(zone)
                    ),
                );
            }
        }
    }

    /// Classifies every online page of the zone and checks the managed count.
    fn check_zone_pages(&self, zone: &Zone, r: &mut Report) {
        if zone.is_empty() {
            return;
        }
        let name = zone_name(zone);
        let (start, end) = zone.span();
        let mut present = 0u64;
        let mut unmanaged = 0u64;
        let mut free_left = 0u64;
        let owned = self.owner_allocated();
        let init = self.variants().memmap_init;
        // One snapshot of the System RAM resources, not a lock per page.
        let ram_ranges: Vec<_> = self.resources().into_iter().map(|r| r.range).collect();
        let is_ram = |pfn: Pfn| ram_ranges.iter().any(|r| r.contains(&pfn.phys().0));
        self.mem().for_each_online_page(start, end, |pfn, p| {
            if p.zonenum() != zone.zone_type || p.nid() != zone.nid {
                return;
            }
            let ram = is_ram(pfn);
            if ram {
                present += 1;
            }
            if p.is_poisoned() {
                r.fail(
                    "page-poisoned",
                    format!("{name}: online page {pfn} is poisoned"),
                );
            } else if free_left > 0 {
                // Inside a free block: a plain free page.
                if p.ref_count() != 0 || p.has_type() {
                    r.fail(
                        "buddy-tail",
                        format!(
                            "{name}: page {pfn} inside a free block has refcount {} type {:?}",
                            p.ref_count(),
                            p.page_type()
                        ),
                    );
                }
                free_left -= 1;
            } else if p.is_type(PageType::Buddy) {
                free_left = (1u64 << buddy_order(p)) - 1;
            } else if p.is_type(PageType::Offline) {
                unmanaged += 1;
                // Refcount 0 only between MEM_GOING_OFFLINE and the end of an
                // offline attempt, or frozen for good (offline_skip=frozen).
                let frozen = self.variants().offline_skip == OfflineSkip::Frozen
                    && p.test(PG_OFFLINE_SKIPPABLE)
                    && p.ref_count() == 0;
                if p.ref_count() < 1 && !frozen {
                    r.fail(
                        "offline-refcount",
                        format!(
                            "{name}: PageOffline page {pfn} has refcount {} outside an offline",
                            p.ref_count()
                        ),
                    );
                }
            } else if p.test(PG_RESERVED) && self.is_boot_reserved(pfn) && ram {
                unmanaged += 1;
            } else if p.test(PG_RESERVED)
                && ram
                && !owned.contains(&pfn.0)
                && self.mem().pfn_section(pfn).is_some_and(|s| !s.early())
            {
                // Hot-added memory no callback gave to the buddy: PG_reserved
                // with (at least) its initial reference before 6.11; in 7.2
                // memmap init never sets PG_reserved, so nobody but a kernel
                // user that owns the page may have. (A PageOffline page that
                // kept PG_reserved, as Hyper-V's balloon left them, is
                // counted by the PageOffline branch above.)
                unmanaged += 1;
                if init == MemmapInit::Offline || p.ref_count() < 1 {
                    r.fail(
                        "memmap-init",
                        format!(
                            "{name}: hot-added page {pfn} is PG_reserved with refcount {} type {:?} under memmap_init={init}",
                            p.ref_count(),
                            p.page_type()
                        ),
                    );
                }
            }
        });
        if present != zone.present_pages() {
            r.fail(
                "zone-present-count",
                format!(
                    "{name}: {present} online RAM pages, present_pages {}",
                    zone.present_pages()
                ),
            );
        }
        let managed = present - unmanaged;
        if managed as i64 != zone.managed_pages() {
            r.fail(
                "zone-managed-count",
                format!(
                    "{name}: {present} present - {unmanaged} offline/boot-reserved = {managed}, managed_pages {}",
                    zone.managed_pages()
                ),
            );
        }
    }

    /// The balloon's counts agree: the pages the driver holds
    /// (`num_pages`), NR_BALLOON_PAGES and its list, with nothing isolated
    /// for migration.
    fn check_balloon_counts(&self, r: &mut Report) {
        let b = self.balloon();
        let (held, nr, isolated) = (b.stats().pages, b.nr_balloon_pages(), b.isolated());
        if held != nr || isolated != 0 {
            r.fail(
                "balloon-count",
                format!(
                    "the driver holds {held} pages, NR_BALLOON_PAGES is {nr}, {isolated} isolated"
                ),
            );
        }
    }

    /// Every page on the balloon's list is an online PageOffline page with
    /// movable_ops, not isolated, marked as the balloon's, and referenced.
    fn check_balloon_pages(&self, r: &mut Report) {
        let b = self.balloon();
        let pages = b.pages();
        if pages.len() as u64 != b.nr_balloon_pages() {
            r.fail(
                "balloon-count",
                format!(
                    "{} pages on the balloon's list, NR_BALLOON_PAGES is {}",
                    pages.len(),
                    b.nr_balloon_pages()
                ),
            );
        }
        for pfn in pages {
            let Some(p) = self.mem().pfn_to_online_page(pfn) else {
                r.fail("balloon-page", format!("balloon page {pfn} is not online"));
                continue;
            };
            if !p.has_movable_ops()
                || p.test(PG_MOVABLE_OPS_ISOLATED)
                || !crate::drivers::balloon::is_balloon_page(p)
                || p.ref_count() < 1
            {
                r.fail(
                    "balloon-page",
                    format!(
                        "balloon page {pfn}: type {:?} flags {:#x} refcount {}",
                        p.page_type(),
                        p.flags_raw() & crate::page::PAGEFLAGS_MASK,
                        p.ref_count()
                    ),
                );
            }
        }
    }

    /// Pages reserved by memblock at boot (page 0, the hole, the kernel image).
    fn is_boot_reserved(&self, pfn: Pfn) -> bool {
        crate::machine::boot_reserved_ranges()
            .iter()
            .any(|r| r.contains(&pfn))
    }
}

/// A zone as a report names it, formatted only if a report does (the
/// checker visits every zone of every node at each check).
fn zone_name(zone: &Zone) -> ZoneName<'_> {
    ZoneName(zone)
}

struct ZoneName<'a>(&'a Zone);

impl fmt::Display for ZoneName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {} zone {}", self.0.nid, self.0.zone_type.name())
    }
}
