//! The machine's page allocator API: `alloc_pages()`, `free_pages_core()`,
//! isolation and `alloc_contig_range()` as methods on [`Machine`].
//!
//! The algorithms live in [`crate::zone`] and work on a [`PageAlloc`] (the
//! memmap and the nodes); this file only builds that view, supplies what the
//! zone layer must not reach for itself — the `offline_skip` variant, the
//! migration of movable pages (`hotplug::migrate`) — and turns the values it
//! returns into kernel log lines and bug reports.

use super::Machine;
use crate::errno::KResult;
use crate::page::Pfn;
use crate::zone::alloc::{Gfp, PageAlloc};
use crate::zone::isolation::{IsolateError, IsolateMode};
use crate::zone::pcp::PcpDisabled;
use crate::zone::Zone;

impl Machine {
    /// The page allocator's view of this machine.
    pub fn page_alloc(&self) -> PageAlloc<'_> {
        PageAlloc {
            mem: self.mem(),
            nodes: self.nodes(),
        }
    }

    /// `alloc_pages_node()`: a block of 2^order pages, refcount 1 on the head.
    /// -ENOMEM when no zone of the zonelist has a free block.
    pub fn alloc_pages(&self, gfp: Gfp, order: u32, nid: usize) -> KResult<Pfn> {
        self.page_alloc().alloc_pages(gfp, order, nid)
    }

    /// `__free_pages_ok()` for pages whose refcount already reached zero. A
    /// page that must not be freed is reported as a bad page and leaked, as
    /// the kernel does.
    pub fn free_pages_prepared(&self, pfn: Pfn, order: u32) {
        if let Err(bad) = self.page_alloc().free_pages_prepared(pfn, order) {
            self.report_bug(bad.to_string());
        }
    }

    /// `__free_pages_core(page, order, MEMINIT_HOTPLUG)` as used by
    /// `generic_online_page()`: clears what memmap init set (PageOffline, or
    /// PG_reserved under `memmap_init=reserved`), drops the initial
    /// reference, accounts the pages as managed and frees them to the tail of
    /// the free lists. A page memmap init did not leave so is a kernel bug
    /// ([`BadCore`](crate::zone::alloc::BadCore)).
    pub fn free_pages_core(&self, pfn: Pfn, order: u32) {
        let init = self.variants().memmap_init;
        for (p, bad) in self.page_alloc().free_pages_core(pfn, order, init) {
            self.report_bug(format!("{bad} pfn {p}"));
        }
    }

    /// `drain_all_pages(zone)`: every CPU's per-CPU lists of `zone` (of
    /// every populated zone with `None`) back to the buddy free lists.
    pub fn drain_all_pages(&self, zone: Option<&Zone>) {
        self.page_alloc().drain_all_pages(zone);
    }

    /// `init_per_zone_wmark_min()` as far as the model has it: after the
    /// managed pages changed (boot, online, offline), every populated
    /// zone's per-CPU batch and high follow (`zone_pcp_update()`).
    pub fn init_per_zone_wmark_min(&self) {
        let pa = self.page_alloc();
        for zone in self.nodes().iter().flat_map(|n| n.zones.iter()) {
            if zone.populated() {
                pa.zone_pcp_update(zone);
            }
        }
    }

    /// `zone_pcp_disable()`: see [`PageAlloc::zone_pcp_disable`]; the
    /// lists come back when the guard goes (`zone_pcp_enable()`).
    pub fn zone_pcp_disable<'z>(&self, zone: &'z Zone) -> PcpDisabled<'z> {
        self.page_alloc().zone_pcp_disable(zone)
    }

    /// `adjust_managed_page_count()`: zone managed pages and totalram.
    pub fn adjust_managed_page_count(&self, zone: &Zone, n: i64) {
        zone.adjust_managed(n);
    }

    /// `page_is_unmovable()` under this machine's `offline_skip` variant:
    /// (unmovable, pages to step over). Reference §3.1.
    pub fn page_is_unmovable(&self, zone: &Zone, pfn: Pfn, mode: IsolateMode) -> (bool, u64) {
        self.page_alloc()
            .page_is_unmovable(zone, pfn, mode, self.variants().offline_skip)
    }

    /// `start_isolate_page_range()`: isolates every pageblock of
    /// `[start, end)` that has an online page; on any failure undoes what it
    /// did and returns -EBUSY. For offlining, the unmovable page that made
    /// it fail is dumped to the log.
    pub fn start_isolate_page_range(&self, start: Pfn, end: Pfn, mode: IsolateMode) -> KResult<()> {
        let ret = self.page_alloc().start_isolate_page_range(
            start,
            end,
            mode,
            self.variants().offline_skip,
        );
        if let Err(IsolateError::Unmovable(bad)) = ret {
            if mode == IsolateMode::MemOffline {
                self.log(format!("page dumped because: unmovable page (pfn {bad})"));
            }
        }
        Ok(ret?)
    }

    /// `undo_isolate_page_range()`.
    pub fn undo_isolate_page_range(&self, start: Pfn, end: Pfn) {
        self.page_alloc().undo_isolate_page_range(start, end);
    }

    /// `test_pages_isolated()`: 0 if every page of `[start, end)` is an
    /// isolated free page or (MEM_OFFLINE) a HWPoison page or a PageOffline
    /// page its owner let go of; -EBUSY otherwise. Reference §3.3.
    pub fn test_pages_isolated(&self, start: Pfn, end: Pfn, mode: IsolateMode) -> KResult<()> {
        self.page_alloc()
            .test_pages_isolated(start, end, mode, self.variants().offline_skip)
    }

    /// `alloc_contig_range(start, end)`: every page of `[start, end)` is
    /// allocated (refcount 1, no type) or nothing is, emptying the range by
    /// [`Machine::do_migrate_range`] and by replacing the free hugetlb
    /// folios in it with fresh ones from elsewhere
    /// ([`Machine::replace_free_hugetlb_folios`]). See
    /// [`PageAlloc::alloc_contig_range`] for the errors and for what the
    /// caller must guarantee.
    pub fn alloc_contig_range(&self, start: Pfn, end: Pfn, mode: IsolateMode) -> KResult<()> {
        self.page_alloc()
            .alloc_contig_range(start, end, mode, &mut |first, end| {
                self.do_migrate_range(first, end) + self.replace_free_hugetlb_folios(first, end)
            })
    }

    /// `free_contig_range()`: drops one reference of each page.
    pub fn free_contig_range(&self, start: Pfn, nr: u64) {
        for p in crate::page::pfn_range(start, start + nr) {
            self.put_pages(p, 0);
        }
    }
}
