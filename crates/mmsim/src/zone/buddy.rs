//! The buddy allocator's free lists.
//!
//! A free block of order n is 2^n naturally aligned pages; its head carries the
//! page type PageBuddy and, in `private`, its order and the index of the free
//! list it is on. The other pages of the block are plain refcount-0 pages. The
//! lists are intrusive, doubly linked through the pages' `lru` fields, one per
//! (order, migratetype), and everything here runs under `zone->lock` — the
//! `&mut ZoneLocked` argument is the proof.
//!
//! Freeing merges with the buddy (`pfn ^ (1 << order)`) while the buddy is a
//! free block of the same order in the same zone; blocks of pageblock order and
//! above merge only if both halves agree on isolation, so an isolated pageblock
//! never leaks into a non-isolated free block.

use super::{Migratetype, Zone, ZoneLocked, NR_FREE_LISTS, NR_ORDERS};
use crate::page::{Page, PageType, Pfn, MAX_PAGE_ORDER, PAGEBLOCK_ORDER};
use crate::sparse::SparseMem;

/// One free list: PFNs of block heads, linked through `Page::lru_*`.
#[derive(Clone, Copy, Debug, Default)]
pub struct FreeList {
    first: Option<Pfn>,
    last: Option<Pfn>,
    len: u64,
}

impl FreeList {
    /// Number of blocks on the list.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// No blocks.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first block.
    pub fn first(&self) -> Option<Pfn> {
        self.first
    }
}

// The list masks have a bit per order.
const _: () = assert!(NR_ORDERS <= u16::BITS as usize);

/// `zone->free_area[]`.
pub struct FreeArea {
    /// Boxed: a machine builds MAX_NUMNODES nodes of five zones at boot,
    /// each node in one stack frame, which must fit an explorer task's
    /// stack.
    lists: Box<[[FreeList; NR_FREE_LISTS]; NR_ORDERS]>,
    /// Per migratetype, bit `order` set iff that list has a block: what
    /// `__rmqueue_smallest()` and the fallback search look for, in one
    /// word instead of a walk over every list head (the kernel's
    /// `free_area_empty()` tests, batched). Kept by the two functions that
    /// change a list, [`add_to_free_list`] and [`del_from_free_list`].
    nonempty: [u16; NR_FREE_LISTS],
}

impl Default for FreeArea {
    fn default() -> Self {
        Self::new()
    }
}

impl FreeArea {
    /// Empty lists.
    pub fn new() -> FreeArea {
        FreeArea {
            lists: Box::new([[FreeList::default(); NR_FREE_LISTS]; NR_ORDERS]),
            nonempty: [0; NR_FREE_LISTS],
        }
    }

    /// Whether the list of `order` and `mt` has a block, as the list
    /// mask says (the checker compares it with the list).
    pub fn has_blocks(&self, order: u32, mt: Migratetype) -> bool {
        self.nonempty[mt as usize] & (1 << order) != 0
    }

    /// The first block on the list of `order` and `mt`, which its mask bit
    /// says has one.
    fn first_block(&self, order: u32, mt: Migratetype) -> Pfn {
        self.list(order, mt).first().expect("a non-empty list")
    }

    /// The orders of at least `order` whose list of `mt` has a block, as a
    /// bit per order.
    fn orders_with_blocks(&self, mt: Migratetype, order: u32) -> u16 {
        self.nonempty[mt as usize] & !((1u16 << order) - 1)
    }

    /// The list of `order` and `mt`.
    pub fn list(&self, order: u32, mt: Migratetype) -> &FreeList {
        &self.lists[order as usize][mt as usize]
    }

    /// `free_area[order].nr_free` (all lists).
    pub fn nr_free(&self, order: u32) -> u64 {
        self.lists[order as usize].iter().map(|l| l.len).sum()
    }

    /// Iterates the heads on one list (zone->lock held by the borrow).
    pub fn iter<'a>(
        &self,
        mem: &'a SparseMem,
        order: u32,
        mt: Migratetype,
    ) -> impl Iterator<Item = Pfn> + 'a {
        let mut cur = self.list(order, mt).first;
        std::iter::from_fn(move || {
            let pfn = cur?;
            cur = mem.pfn_to_page(pfn).and_then(|p| p.lru_next());
            Some(pfn)
        })
    }
}

/// Encodes a free block's order and list in `private`.
fn buddy_private(order: u32, mt: Migratetype) -> u64 {
    u64::from(order) | ((mt as u64) << 8)
}

/// `buddy_order()` of a PageBuddy head.
pub fn buddy_order(page: &Page) -> u32 {
    (page.private() & 0xff) as u32
}

/// The free list a PageBuddy head is on.
pub fn buddy_list(page: &Page) -> Migratetype {
    Migratetype::from_raw(((page.private() >> 8) & 0xff) as u8)
}

fn page(mem: &SparseMem, pfn: Pfn) -> &Page {
    mem.pfn_to_page(pfn)
        .unwrap_or_else(|| panic!("BUG: free-list page {pfn} has no memmap"))
}

/// The list a free block at `pfn` belongs on: the isolate list if its
/// pageblock is isolated, else the pageblock's migratetype.
pub fn list_for(mem: &SparseMem, pfn: Pfn) -> Migratetype {
    if mem.pageblock_isolated(pfn) {
        Migratetype::Isolate
    } else {
        Migratetype::from_raw(mem.pageblock_migratetype_raw(pfn))
    }
}

/// `__add_to_free_list()`: marks `pfn` PageBuddy of `order` and links it.
pub fn add_to_free_list(
    zone: &Zone,
    locked: &mut ZoneLocked,
    mem: &SparseMem,
    pfn: Pfn,
    order: u32,
    mt: Migratetype,
    to_tail: bool,
) {
    let p = page(mem, pfn);
    p.set_type(PageType::Buddy);
    p.set_private(buddy_private(order, mt));
    locked.free_area.nonempty[mt as usize] |= 1 << order;
    let list = &mut locked.free_area.lists[order as usize][mt as usize];
    if to_tail {
        p.set_lru(None, list.last);
        match list.last {
            Some(l) => page(mem, l).set_lru_next(Some(pfn)),
            None => list.first = Some(pfn),
        }
        list.last = Some(pfn);
    } else {
        p.set_lru(list.first, None);
        match list.first {
            Some(f) => page(mem, f).set_lru_prev(Some(pfn)),
            None => list.last = Some(pfn),
        }
        list.first = Some(pfn);
    }
    list.len += 1;
    zone.add_nr_free(1 << order);
}

/// `del_page_from_free_list()`: unlinks the free block at `pfn` and clears
/// PageBuddy. Returns its order.
pub fn del_from_free_list(zone: &Zone, locked: &mut ZoneLocked, mem: &SparseMem, pfn: Pfn) -> u32 {
    let p = page(mem, pfn);
    assert!(p.is_type(PageType::Buddy), "BUG: {pfn} is not a buddy page");
    let order = buddy_order(p);
    let mt = buddy_list(p);
    let (next, prev) = (p.lru_next(), p.lru_prev());
    let list = &mut locked.free_area.lists[order as usize][mt as usize];
    match prev {
        Some(pr) => page(mem, pr).set_lru_next(next),
        None => list.first = next,
    }
    match next {
        Some(n) => page(mem, n).set_lru_prev(prev),
        None => list.last = prev,
    }
    list.len -= 1;
    if list.first.is_none() {
        locked.free_area.nonempty[mt as usize] &= !(1 << order);
    }
    p.set_lru(None, None);
    p.clear_type(PageType::Buddy);
    p.set_private(0);
    zone.add_nr_free(-(1 << order));
    order
}

/// `move_to_free_list()`: moves a free block to the list of `mt`.
pub fn move_to_free_list(
    zone: &Zone,
    locked: &mut ZoneLocked,
    mem: &SparseMem,
    pfn: Pfn,
    mt: Migratetype,
) {
    let order = del_from_free_list(zone, locked, mem, pfn);
    add_to_free_list(zone, locked, mem, pfn, order, mt, true);
}

/// `page_is_buddy()`: `buddy` is the head of a free block of `order` in the
/// same zone as the block being freed.
fn page_is_buddy(zone: &Zone, buddy: &Page, order: u32) -> bool {
    buddy.is_type(PageType::Buddy)
        && buddy_order(buddy) == order
        && buddy.zonenum() == zone.zone_type
        && buddy.nid() == zone.nid
}

/// `__free_one_page()`: frees the block at `pfn` of `order` (its pages already
/// refcount 0, no type), merging with free buddies as far as possible.
pub fn free_one_page(
    zone: &Zone,
    locked: &mut ZoneLocked,
    mem: &SparseMem,
    mut pfn: Pfn,
    mut order: u32,
    to_tail: bool,
) {
    while order < MAX_PAGE_ORDER {
        let buddy_pfn = Pfn(pfn.0 ^ (1 << order));
        let Some(buddy) = mem.pfn_to_page(buddy_pfn) else {
            break;
        };
        if !mem.pfn_valid(buddy_pfn) || !page_is_buddy(zone, buddy, order) {
            break;
        }
        if order >= PAGEBLOCK_ORDER
            && mem.pageblock_isolated(pfn) != mem.pageblock_isolated(buddy_pfn)
        {
            break;
        }
        del_from_free_list(zone, locked, mem, buddy_pfn);
        pfn = Pfn(pfn.0 & buddy_pfn.0);
        order += 1;
    }
    let mt = list_for(mem, pfn);
    add_to_free_list(zone, locked, mem, pfn, order, mt, to_tail);
}

/// `expand()`: the block at `pfn` of order `high` was taken off its list;
/// gives back the upper halves until a block of order `low` remains at `pfn`.
pub fn expand(
    zone: &Zone,
    locked: &mut ZoneLocked,
    mem: &SparseMem,
    pfn: Pfn,
    low: u32,
    mut high: u32,
) {
    while high > low {
        high -= 1;
        let half = pfn + (1 << high);
        let mt = list_for(mem, half);
        add_to_free_list(zone, locked, mem, half, high, mt, false);
    }
}

/// `__rmqueue()`: takes a free block of `order` for `mt`, falling back to
/// other migratetypes (stealing the largest block first, and claiming whole
/// pageblocks it takes) as `__rmqueue_fallback()` does. Isolated pageblocks
/// are never allocated from.
pub fn rmqueue(
    zone: &Zone,
    locked: &mut ZoneLocked,
    mem: &SparseMem,
    order: u32,
    mt: Migratetype,
) -> Option<Pfn> {
    // The smallest order of `mt` with a block.
    let orders = locked.free_area.orders_with_blocks(mt, order);
    if orders != 0 {
        let o = orders.trailing_zeros();
        let pfn = locked.free_area.first_block(o, mt);
        del_from_free_list(zone, locked, mem, pfn);
        expand(zone, locked, mem, pfn, order, o);
        return Some(pfn);
    }
    for &fallback in mt.fallbacks() {
        // The largest order of the fallback with a block.
        let orders = locked.free_area.orders_with_blocks(fallback, order);
        if orders != 0 {
            let o = u16::BITS - 1 - orders.leading_zeros();
            let pfn = locked.free_area.first_block(o, fallback);
            del_from_free_list(zone, locked, mem, pfn);
            if o >= PAGEBLOCK_ORDER {
                // steal_suitable_fallback(): a whole pageblock changes hands.
                let mut pb = pfn;
                while pb < pfn + (1 << o) {
                    mem.set_pageblock_migratetype_raw(pb, mt as u8);
                    pb = pb + crate::page::PAGEBLOCK_NR_PAGES;
                }
            }
            expand(zone, locked, mem, pfn, order, o);
            return Some(pfn);
        }
    }
    None
}

/// Finds the free block containing `pfn`, if any (`find_large_buddy` +
/// checks): returns its head and order. Exact under zone->lock; lockless
/// callers (`is_free_buddy_page`) get a best-effort answer and must not
/// trust an order read from a slot that changed under them, hence the
/// bound on `o`.
pub fn find_buddy_containing(mem: &SparseMem, zone: &Zone, pfn: Pfn) -> Option<(Pfn, u32)> {
    for order in 0..=MAX_PAGE_ORDER {
        let head = pfn.align_down(1 << order);
        let p = mem.pfn_to_page(head)?;
        let o = buddy_order(p);
        if p.is_type(PageType::Buddy)
            && (order..=MAX_PAGE_ORDER).contains(&o)
            && p.zonenum() == zone.zone_type
        {
            return Some((head, o));
        }
    }
    None
}
