//! Leaks: memory that nobody owns any more.
//!
//! * `swap-leak` (always): every swap slot's use count is the number of swap
//!   PTEs in live address spaces that refer to it, and a slot nobody refers
//!   to holds neither data nor a swap-cache page (`swap_free()` of the last
//!   reference frees both).
//! * `leak` (once no address space is alive and no GUP reference is
//!   outstanding — the model counts both itself): every online page is free
//!   (in the buddy allocator or on a per-CPU page list) or held by one of
//!   the long-lived owners below,
//!   with exactly the references that owner holds. Picture the machine after
//!   every process exited and every pin was released: what is left is
//!   - the huge zero folio (allocated on first use, never freed),
//!   - the page cache of every file (the model never truncates or unlinks),
//!   - the hugetlb pool (free folios at refcount 0; file folios above),
//!     whose reservations (`HugePages_Rsvd`) are then only those of
//!     hugetlbfs files (`hugetlb-resv-leak`),
//!   - the test owner's kernel allocations and `page get` references,
//!   - the balloon's pages (one reference each),
//!   - each virtio-mem driver's virtqueue pages,
//!   - pages that are not managed at all: PG_reserved (boot memory, the
//!     zero page in the kernel image) and PageOffline,
//!   - PG_hwpoison pages, which `memory_failure()` withdrew for good.
//!
//!   Anything else — an anonymous page, a THP, a page table, a swap-cache
//!   page, a page with a stray reference — is a leak.

use super::Report;
use crate::machine::Machine;
use crate::page::{PageType, Pfn, PG_HEAD, PG_HWPOISON, PG_RESERVED};
use crate::vm::huge::HPAGE_PMD_ORDER;
use crate::vm::pte::SwapEntry;
use crate::vm::walk::Mapping;
use crate::zone::buddy::buddy_order;
use std::collections::BTreeMap;

/// How many leaked pages a report lists one by one.
const LIST_LEAKS: usize = 8;

impl Machine {
    pub(super) fn check_leaks(&self, r: &mut Report) {
        self.check_swap_slots(r);
        if self.nr_live_mms() == 0 {
            self.check_hugetlb_resv_returned(r);
        }
        if self.nr_live_mms() == 0 && self.gup_refs_outstanding() == 0 {
            self.check_pages_returned(r);
        }
    }

    /// `hugetlb-resv-leak`: with no address space alive, no private
    /// mapping's reservation map or HPAGE_RESV_UNMAPPED mark is left
    /// (`hugetlb_vm_op_close()` returned every unconsumed reservation), and
    /// `HugePages_Rsvd` is only what hugetlbfs files — which the model never
    /// unlinks — reserved and have not instantiated: 0 without such files.
    fn check_hugetlb_resv_returned(&self, r: &mut Report) {
        let (maps, marks) = self.hugetlb_resv_private_state();
        if maps + marks != 0 {
            r.fail(
                "hugetlb-resv-leak",
                format!(
                    "no process is alive, yet {maps} private reservation maps and \
                     {marks} HPAGE_RESV_UNMAPPED marks remain"
                ),
            );
        }
        let (resv, promised) = (self.hugetlb_resv_pages(), self.hugetlb_resv_promised());
        if resv != promised {
            r.fail(
                "hugetlb-resv-leak",
                format!(
                    "no process is alive, yet HugePages_Rsvd is {resv} where the \
                     hugetlbfs files hold {promised}"
                ),
            );
        }
    }

    /// `swap-leak`: use counts against the swap PTEs of live address spaces.
    fn check_swap_slots(&self, r: &mut Report) {
        let slots = self.swap_slots();
        if slots.is_empty() {
            return;
        }
        let mut refs: BTreeMap<u64, u32> = BTreeMap::new();
        for mm in self.live_mms() {
            let maps = mm.mmap_lock.down_read();
            for v in maps.iter() {
                let mut addr = v.start;
                while addr < v.end {
                    if let Mapping::Pte(_, _, pte) = self.lookup(&mm, addr) {
                        if let Some(SwapEntry::Swap { offset, .. }) = pte.swap_entry() {
                            *refs.entry(offset).or_default() += 1;
                        }
                    }
                    addr += crate::page::PAGE_SIZE;
                }
            }
        }
        for (slot, count, cached, data) in slots {
            let ptes = refs.remove(&slot).unwrap_or(0);
            if count != ptes {
                r.fail(
                    "swap-leak",
                    format!("swap slot {slot}: use count {count}, {ptes} swap PTEs refer to it"),
                );
            }
            if count == 0 && (cached.is_some() || data) {
                r.fail(
                    "swap-leak",
                    format!(
                        "swap slot {slot} nobody refers to still holds {}",
                        match cached {
                            Some(pfn) => format!("swap-cache page {pfn}"),
                            None => "data".into(),
                        }
                    ),
                );
            }
        }
        for (slot, ptes) in refs {
            r.fail(
                "swap-leak",
                format!("{ptes} swap PTEs refer to free swap slot {slot}"),
            );
        }
    }

    /// The long-lived owners' folios: head → (order, references held).
    fn long_lived_folios(&self) -> BTreeMap<u64, (u32, i32)> {
        let mut held: BTreeMap<u64, (u32, i32)> = BTreeMap::new();
        let mut add = |pfn: Pfn, order: u32, refs: i32| {
            let e = held.entry(pfn.0).or_insert((order, 0));
            e.0 = e.0.max(order);
            e.1 += refs;
        };
        if let Some(z) = self.huge_zero_if_allocated() {
            add(z, HPAGE_PMD_ORDER, 1);
        }
        for (pfn, order) in self.file_cache_folios() {
            add(pfn, order, 1);
        }
        for head in self.hugetlb_free_folios() {
            add(head, HPAGE_PMD_ORDER, 0);
        }
        for (pfn, order, refs) in self.virtio_mem_held() {
            add(pfn, order, refs);
        }
        for (pfn, order, refs) in self.owner_held() {
            add(pfn, order, refs);
        }
        for pfn in self.balloon_held() {
            add(pfn, 0, 1);
        }
        held
    }

    /// `leak`: with nothing alive, every page is free or long-lived.
    fn check_pages_returned(&self, r: &mut Report) {
        let held = self.long_lived_folios();
        let mut leaked: Vec<String> = Vec::new();
        let mut nr_leaked = 0u64;
        for node in self.nodes() {
            for zone in &node.zones {
                if zone.is_empty() {
                    continue;
                }
                let (start, end) = zone.span();
                // Free too: blocks on the per-CPU lists (not PageBuddy).
                let pcp: BTreeMap<u64, u32> = zone
                    .pcp
                    .pages()
                    .into_iter()
                    .map(|(p, o)| (p.0, o))
                    .collect();
                let mut pfn = start;
                while pfn < end {
                    let Some(p) = self.mem().pfn_to_online_page(pfn) else {
                        pfn = pfn + 1;
                        continue;
                    };
                    if p.zonenum() != zone.zone_type || p.nid() != zone.nid || p.is_poisoned() {
                        pfn = pfn + 1;
                        continue;
                    }
                    if let Some(&(order, refs)) = held.get(&pfn.0) {
                        if p.ref_count() != refs {
                            nr_leaked += 1 << order;
                            leaked.push(format!(
                                "pfn {pfn} has refcount {}, its owner holds {refs}",
                                p.ref_count()
                            ));
                        }
                        pfn = pfn + (1 << order);
                        continue;
                    }
                    if p.is_type(PageType::Buddy) {
                        pfn = pfn + (1 << buddy_order(p));
                        continue;
                    }
                    if let Some(&order) = pcp.get(&pfn.0) {
                        pfn = pfn + (1 << order);
                        continue;
                    }
                    if p.test(PG_RESERVED) || p.test(PG_HWPOISON) || p.is_type(PageType::Offline) {
                        pfn = pfn + 1;
                        continue;
                    }
                    let order = if p.test(PG_HEAD) {
                        self.folio_order(pfn)
                    } else {
                        0
                    };
                    nr_leaked += 1 << order;
                    leaked.push(self.describe_leak(pfn, order));
                    pfn = pfn + (1 << order);
                }
            }
        }
        if nr_leaked > 0 {
            let more = leaked.len().saturating_sub(LIST_LEAKS);
            leaked.truncate(LIST_LEAKS);
            if more > 0 {
                leaked.push(format!("and {more} more"));
            }
            r.fail(
                "leak",
                format!(
                    "{nr_leaked} pages neither free nor owned with no process alive and no GUP reference outstanding: {}",
                    leaked.join("; ")
                ),
            );
        }
    }

    fn describe_leak(&self, pfn: Pfn, order: u32) -> String {
        let p = self.page(pfn);
        let what = if p.is_type(PageType::Table) {
            "page table".to_string()
        } else if self.folio_test_ksm(pfn) {
            "KSM page".to_string()
        } else if self.folio_test_anon(pfn) {
            format!("anonymous order-{order} folio")
        } else if self.swap_cache_slot(pfn).is_some() {
            "swap-cache page".to_string()
        } else if let Some(t) = p.page_type() {
            format!("{t:?} page")
        } else {
            format!("order-{order} page")
        };
        format!(
            "{what} {pfn} (refcount {}, mapcount {})",
            p.ref_count(),
            self.folio_mapcount(pfn)
        )
    }
}
