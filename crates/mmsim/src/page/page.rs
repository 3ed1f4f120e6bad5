//! The memmap slot: `struct page`.
//!
//! Picture the memmap as one array of 32-byte slots per 128 MiB section, one slot
//! per 4 KiB frame, living in host memory outside the modelled physical memory
//! (as a vmemmap would). Every field is an atomic, so any thread may look at any
//! slot at any time; who may *change* a field is a matter of protocol, stated on
//! each field below, exactly as in the kernel.
//!
//! A freshly mapped, all-zero slot is a valid page: no flags, refcount 0, no
//! mapcount and no type (the mapcount is stored with a +1 bias so that zero means
//! the kernel's -1 / `UINT_MAX`). That is what lets a terabyte of memmap cost
//! nothing until it is touched.
//!
//! Refcount states (the `_refcount` field):
//! * 0: free (in the buddy, or a PageOffline page whose owner dropped its
//!   reference during MEM_GOING_OFFLINE). `get_page_unless_zero()` fails.
//! * ≥ 1: in use. Every holder owns one reference.
//! * Frozen: `page_ref_freeze(n)` swapped an expected count n for 0 so that no
//!   speculative getter can succeed while the owner works on the page.

use super::flags::*;
use super::pfn::Pfn;
use crate::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

/// No link in a free-list/LRU list field (even, so it never reads as a tail).
const LIST_NIL: u32 = u32::MAX - 1;

/// Frames the memmap can link in lists: PFNs below 2^31 (8 TiB).
pub const MAX_LINKED_PFN: u64 = 1 << 31;

/// One memmap slot (`struct page`). At most 32 bytes (asserted below).
#[repr(C)]
pub struct Page {
    /// `page->flags`: PG_* bits below NR_PAGEFLAGS, zone and node above.
    /// Flag bits are changed with atomic RMW operations (`SetPageX`) or by the
    /// sole owner (`__SetPageX`); zone and node are written once per onlining.
    flags: AtomicU64,
    /// `_refcount`. See the module doc for its states.
    refcount: AtomicI32,
    /// `_mapcount` + 1, overlaid with `page_type` + 1: zero means "not mapped,
    /// no type"; a typed page stores `(PGTY << 24) + 1`. Changed only by the
    /// page's owner (typed pages) or under the page-table lock (mapcounts).
    mapcount: AtomicU32,
    /// `lru.next` of a listed page (free list or LRU: PFN of the next page,
    /// shifted left by one), or for a tail page of a compound page
    /// `(head pfn << 1) | 1`
    /// (`compound_head`). Written under the lock of the list the page is on.
    lru_next: AtomicU32,
    /// `lru.prev` of a listed page.
    lru_prev: AtomicU32,
    /// `page->private`: buddy order and free-list index for PageBuddy pages
    /// (written under zone->lock), owner data otherwise.
    private: AtomicU64,
}

// Every backend's atomics are the hardware's, so the size rule holds for all.
const _: () = assert!(std::mem::size_of::<Page>() <= 32);

impl Default for Page {
    fn default() -> Page {
        Page::new()
    }
}

/// The flags word of a poisoned (freed or not yet initialised) memmap slot,
/// like the kernel's `PAGE_POISON_PATTERN` (all ones).
pub const PAGE_POISON_FLAGS: u64 = u64::MAX;

/// `page_type` value of a page with no type (`UINT_MAX`).
const NO_TYPE_RAW: u32 = 0;

/// The flags word of a freshly initialised page of `zone` on `nid`: its
/// links and no flag (see [`Page::init_links`]).
fn links(zone: ZoneType, nid: usize) -> u64 {
    let zone_bits = (zone as u64) ^ (ZoneType::Normal as u64);
    (zone_bits << ZONES_SHIFT) | ((nid as u64) << NODES_SHIFT)
}

/// The mapcount field of a page of type `t` (`page_type` + 1).
fn typed_raw(t: PageType) -> u32 {
    ((t as u32) << 24).wrapping_add(1)
}

/// A type clash: `__SetPageX` on a page that already has another type.
/// In the kernel this is `VM_BUG_ON_PAGE`; the model reports it as a value so
/// the checker can name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTypeClash {
    /// The type the page had.
    pub existing: Option<PageType>,
    /// The type that was asked for or expected.
    pub wanted: PageType,
}

impl Page {
    /// A slot in its all-zero state (no flags, refcount 0, no type).
    pub fn new() -> Page {
        Page {
            flags: AtomicU64::new(0),
            refcount: AtomicI32::new(0),
            mapcount: AtomicU32::new(0),
            lru_next: AtomicU32::new(0),
            lru_prev: AtomicU32::new(0),
            private: AtomicU64::new(0),
        }
    }

    // ----- flags ---------------------------------------------------------

    /// The whole flags word.
    pub fn flags_raw(&self) -> u64 {
        self.flags.load(Ordering::Relaxed)
    }

    /// `PagePoisoned()`: the slot holds the poison pattern.
    pub fn is_poisoned(&self) -> bool {
        self.flags_raw() == PAGE_POISON_FLAGS
    }

    /// `PageX()`.
    pub fn test(&self, f: PageFlag) -> bool {
        self.flags_raw() & f.mask() != 0
    }

    /// `SetPageX()`: atomic set.
    pub fn set(&self, f: PageFlag) {
        self.flags.fetch_or(f.mask(), Ordering::Relaxed);
    }

    /// `ClearPageX()`: atomic clear.
    pub fn clear(&self, f: PageFlag) {
        self.flags.fetch_and(!f.mask(), Ordering::Relaxed);
    }

    /// `TestSetPageX()`: returns the old value.
    pub fn test_and_set(&self, f: PageFlag) -> bool {
        self.flags.fetch_or(f.mask(), Ordering::Relaxed) & f.mask() != 0
    }

    /// `TestClearPageX()`: returns the old value.
    pub fn test_and_clear(&self, f: PageFlag) -> bool {
        self.flags.fetch_and(!f.mask(), Ordering::Relaxed) & f.mask() != 0
    }

    /// `set_page_links()` + clearing every flag: the memmap_init step for one
    /// page of `zone` on `nid`.
    ///
    /// The zone index is stored XOR ZONE_NORMAL, so that a slot nobody wrote
    /// reads as ZONE_NORMAL of node 0 — the zone of nearly all the memory of a
    /// large machine, whose boot therefore leaves most of the memmap untouched.
    pub fn init_links(&self, zone: ZoneType, nid: usize) {
        self.flags.store(links(zone, nid), Ordering::Relaxed);
    }

    /// `page_zonenum()`.
    pub fn zonenum(&self) -> ZoneType {
        let bits = (self.flags_raw() >> ZONES_SHIFT) & ((1 << ZONES_WIDTH) - 1);
        ZoneType::from_index((bits ^ ZoneType::Normal as u64) as usize).unwrap_or(ZoneType::Normal)
    }

    /// `page_to_nid()`.
    pub fn nid(&self) -> usize {
        ((self.flags_raw() >> NODES_SHIFT) & ((1 << NODES_WIDTH) - 1)) as usize
    }

    // ----- refcount ------------------------------------------------------

    /// `page_ref_count()`.
    pub fn ref_count(&self) -> i32 {
        self.refcount.load(Ordering::Relaxed)
    }

    /// `set_page_count()`: only by the sole owner (memmap init, allocation).
    pub fn set_ref_count(&self, v: i32) {
        self.refcount.store(v, Ordering::Relaxed);
    }

    /// `page_ref_inc()` / `get_page()`: the caller already holds a reference
    /// (or owns the page), so Relaxed suffices as in the kernel's atomic_inc.
    /// Returns the count before, for callers that check the caller's claim.
    pub fn ref_inc(&self) -> i32 {
        self.refcount.fetch_add(1, Ordering::Relaxed)
    }

    /// `page_ref_dec_and_test()` / `put_page_testzero()`: true if this dropped
    /// the last reference. AcqRel: Release orders our accesses to the page
    /// before the count hits zero; Acquire pairs with the Release of every other
    /// holder's decrement, so whoever frees sees all their accesses.
    pub fn ref_dec_and_test(&self) -> bool {
        let old = self.refcount.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(old > 0, "page refcount underflow");
        old == 1
    }

    /// `page_ref_dec()` for a caller that knows it is not the last holder.
    pub fn ref_dec(&self) {
        self.refcount.fetch_sub(1, Ordering::Release);
    }

    /// `get_page_unless_zero()` / `folio_try_get()`: takes a speculative
    /// reference unless the page is free or frozen. Acquire on success pairs
    /// with the Release in `page_ref_unfreeze()` and in the allocator's
    /// `set_ref_count` publication, so the caller sees the page's state as its
    /// owner left it; the caller must still re-check that the page is what it
    /// expected (it may have been freed and reused in between).
    pub fn try_get(&self) -> bool {
        let mut cur = self.refcount.load(Ordering::Relaxed);
        loop {
            if cur <= 0 {
                return false;
            }
            match self.refcount.compare_exchange_weak(
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

    /// `page_ref_add()`: the caller holds a reference already. Returns the
    /// count before.
    pub fn ref_add(&self, n: i32) -> i32 {
        self.refcount.fetch_add(n, Ordering::Relaxed)
    }

    /// `page_ref_sub_and_test()`: true if this dropped the last reference.
    /// AcqRel as in `ref_dec_and_test`.
    pub fn ref_sub_and_test(&self, n: i32) -> bool {
        let old = self.refcount.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(old >= n, "page refcount underflow");
        old == n
    }

    /// `page_ref_freeze(count)`: succeeds only if the refcount is exactly
    /// `count`, leaving it 0 so speculative getters fail. Acquire pairs with the
    /// Release of the holders' puts that brought the count down to `count`.
    pub fn ref_freeze(&self, count: i32) -> bool {
        self.refcount
            .compare_exchange(count, 0, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// `page_ref_unfreeze(count)`. Release pairs with the Acquire in `try_get`.
    pub fn ref_unfreeze(&self, count: i32) {
        debug_assert_eq!(self.ref_count(), 0);
        self.refcount.store(count, Ordering::Release);
    }

    // ----- mapcount and page type ----------------------------------------

    fn type_raw(&self) -> u32 {
        self.mapcount.load(Ordering::Relaxed).wrapping_sub(1)
    }

    /// The page's type, if it has one.
    pub fn page_type(&self) -> Option<PageType> {
        let raw = self.type_raw();
        PageType::from_byte((raw >> 24) as u8)
    }

    /// `page_mapcount_is_type()`.
    pub fn has_type(&self) -> bool {
        self.page_type().is_some()
    }

    /// `PageX()` for a page type.
    pub fn is_type(&self, t: PageType) -> bool {
        self.page_type() == Some(t)
    }

    /// `page_has_movable_ops()` (7.2): PG_movable_ops on a PageOffline or
    /// PageZsmalloc page — its owner registered movable_ops, so migration may
    /// move it although it is not on the LRU.
    pub fn has_movable_ops(&self) -> bool {
        self.test(PG_MOVABLE_OPS)
            && (self.is_type(PageType::Offline) || self.is_type(PageType::Zsmalloc))
    }

    /// `__SetPageX()`: a no-op if the page already has type `t`; a clash if it
    /// has another type or a mapcount.
    pub fn try_set_type(&self, t: PageType) -> Result<(), PageTypeClash> {
        let raw = self.mapcount.load(Ordering::Relaxed);
        if raw != NO_TYPE_RAW {
            if self.page_type() == Some(t) {
                return Ok(());
            }
            return Err(PageTypeClash {
                existing: self.page_type(),
                wanted: t,
            });
        }
        self.mapcount.store(typed_raw(t), Ordering::Relaxed);
        Ok(())
    }

    /// `__ClearPageX()`: a no-op on an untyped page; a clash if the page has
    /// another type.
    pub fn try_clear_type(&self, t: PageType) -> Result<(), PageTypeClash> {
        if self.mapcount.load(Ordering::Relaxed) == NO_TYPE_RAW {
            return Ok(());
        }
        if self.page_type() != Some(t) {
            return Err(PageTypeClash {
                existing: self.page_type(),
                wanted: t,
            });
        }
        self.mapcount.store(NO_TYPE_RAW, Ordering::Relaxed);
        Ok(())
    }

    /// `__SetPageX()` where a clash is a kernel bug (VM_BUG_ON_PAGE).
    pub fn set_type(&self, t: PageType) {
        if let Err(c) = self.try_set_type(t) {
            panic!(
                "BUG: __SetPage{:?} on a page of type {:?}",
                c.wanted, c.existing
            );
        }
    }

    /// `__ClearPageX()` where a clash is a kernel bug.
    pub fn clear_type(&self, t: PageType) {
        if let Err(c) = self.try_clear_type(t) {
            panic!(
                "BUG: __ClearPage{:?} on a page of type {:?}",
                c.wanted, c.existing
            );
        }
    }

    /// `page_mapcount()` of an untyped small page: `_mapcount + 1`; typed
    /// pages report 0.
    pub fn mapcount(&self) -> i32 {
        if self.has_type() {
            0
        } else {
            self.mapcount.load(Ordering::Relaxed) as i32
        }
    }

    /// Adds `delta` to the mapcount of an untyped page (page-table lock
    /// held); returns the new number of mappings.
    pub fn mapcount_add(&self, delta: i32) -> i32 {
        let old = self.mapcount.fetch_add(delta as u32, Ordering::Relaxed) as i32;
        old + delta
    }

    /// Sets `_mapcount + 1` (owner or page-table lock only).
    pub fn set_mapcount(&self, v: i32) {
        self.mapcount.store(v as u32, Ordering::Relaxed);
    }

    // ----- private, list links, compound -----------------------------------

    /// `page_private()`.
    pub fn private(&self) -> u64 {
        self.private.load(Ordering::Relaxed)
    }

    /// `set_page_private()`.
    pub fn set_private(&self, v: u64) {
        self.private.store(v, Ordering::Relaxed);
    }

    fn encode_link(l: Option<Pfn>) -> u32 {
        // Links are stored shifted left by one so that bit 0 stays clear: bit 0
        // set is what marks a tail page's compound_head (the kernel relies on
        // list pointers being aligned for the same reason).
        l.map_or(LIST_NIL, |p| (p.0 as u32) << 1)
    }

    fn decode_link(raw: u32) -> Option<Pfn> {
        (raw != LIST_NIL).then_some(Pfn(u64::from(raw >> 1)))
    }

    /// `lru.next` (list owner's lock held).
    pub fn lru_next(&self) -> Option<Pfn> {
        Self::decode_link(self.lru_next.load(Ordering::Relaxed))
    }

    /// `lru.prev` (list owner's lock held).
    pub fn lru_prev(&self) -> Option<Pfn> {
        Self::decode_link(self.lru_prev.load(Ordering::Relaxed))
    }

    /// Sets both list links (list owner's lock held).
    pub fn set_lru(&self, next: Option<Pfn>, prev: Option<Pfn>) {
        self.lru_next
            .store(Self::encode_link(next), Ordering::Relaxed);
        self.lru_prev
            .store(Self::encode_link(prev), Ordering::Relaxed);
    }

    /// Sets `lru.next` (list owner's lock held).
    pub fn set_lru_next(&self, next: Option<Pfn>) {
        self.lru_next
            .store(Self::encode_link(next), Ordering::Relaxed);
    }

    /// Sets `lru.prev` (list owner's lock held).
    pub fn set_lru_prev(&self, prev: Option<Pfn>) {
        self.lru_prev
            .store(Self::encode_link(prev), Ordering::Relaxed);
    }

    /// `PageTail()`: bit 0 of `compound_head`.
    pub fn is_tail(&self) -> bool {
        self.lru_next.load(Ordering::Relaxed) & 1 == 1
    }

    /// `compound_head()` as a PFN, for a tail page.
    pub fn compound_head(&self) -> Option<Pfn> {
        let raw = self.lru_next.load(Ordering::Relaxed);
        (raw & 1 == 1).then_some(Pfn(u64::from(raw >> 1)))
    }

    /// `set_compound_head()`.
    pub fn set_compound_head(&self, head: Pfn) {
        self.lru_next
            .store(((head.0 as u32) << 1) | 1, Ordering::Relaxed);
    }

    /// `clear_compound_head()`.
    pub fn clear_compound_head(&self) {
        self.lru_next.store(0, Ordering::Relaxed);
    }

    /// A folio metadata word kept in a tail page: `_entire_mapcount`,
    /// `_large_mapcount` and `_pincount` of a large folio live in its first
    /// tail pages, as in the kernel. It is the `lru.prev` word, which a tail
    /// page never uses as a link; it reads 0 on a fresh tail.
    pub fn tail_word(&self) -> i32 {
        self.lru_prev.load(Ordering::Relaxed) as i32
    }

    /// Adds `delta` to a tail word (under the lock its user states); returns
    /// the new value.
    pub fn tail_word_add(&self, delta: i32) -> i32 {
        self.lru_prev.fetch_add(delta as u32, Ordering::Relaxed) as i32 + delta
    }

    /// Sets a tail word (folio owner only: allocation, split, free).
    pub fn set_tail_word(&self, v: i32) {
        self.lru_prev.store(v as u32, Ordering::Relaxed);
    }

    // ----- whole-slot operations -------------------------------------------

    /// `page_init_poison()`: fill the slot with the poison pattern.
    pub fn poison(&self) {
        self.store_image(&SlotImage::POISON);
    }

    /// `__init_single_page()`: zone/node links, refcount 1, no mapcount, no
    /// type, no private data.
    pub fn init_single(&self, zone: ZoneType, nid: usize) {
        self.store_image(&SlotImage::initialised(zone, nid, None));
    }

    /// Stores every field of `image`, one relaxed store each.
    fn store_image(&self, image: &SlotImage) {
        self.flags.store(image.flags, Ordering::Relaxed);
        self.refcount.store(image.refcount, Ordering::Relaxed);
        self.mapcount.store(image.mapcount, Ordering::Relaxed);
        self.lru_next.store(image.lru_next, Ordering::Relaxed);
        self.lru_prev.store(image.lru_prev, Ordering::Relaxed);
        self.private.store(image.private, Ordering::Relaxed);
    }

    /// Stores `image` in every slot of `pages`: a memmap initialised or
    /// poisoned whole (`memmap_init_range()`, `page_init_poison()`, which
    /// is a memset in the kernel). The slots must be their writer's alone,
    /// as an offline range's are; a reader that looks anyway (a racy PFN
    /// walker) sees each field old or new, as with per-field stores.
    ///
    /// On x86-64 outside the explorer's build it is two 16-byte stores per
    /// slot instead of six (the loop is store-bound: online+offline of a
    /// block writes its memmap twice). They sit in an `asm!` block, opaque
    /// to the compiler, like the page copies of `physmem`; each aligned
    /// 8-byte part of an aligned 16-byte store is one access in hardware,
    /// so no field is torn.
    pub fn fill(pages: &[Page], image: &SlotImage) {
        #[cfg(all(target_arch = "x86_64", not(mmsim_shuttle)))]
        if !pages.is_empty() {
            let w = image.words();
            // SAFETY: `pages` is a live slice of 32-byte slots (asserted
            // below), 8-byte aligned; the loop writes exactly its bytes;
            // registers it changes are declared; SSE2 is part of x86-64.
            unsafe {
                std::arch::asm!(
                    "2:",
                    "movups xmmword ptr [{p}], {lo}",
                    "movups xmmword ptr [{p} + 16], {hi}",
                    "add {p}, 32",
                    "dec {n}",
                    "jnz 2b",
                    p = inout(reg) pages.as_ptr() => _,
                    n = inout(reg) pages.len() => _,
                    lo = in(xmm_reg) core::arch::x86_64::_mm_set_epi64x(w[1] as i64, w[0] as i64),
                    hi = in(xmm_reg) core::arch::x86_64::_mm_set_epi64x(w[3] as i64, w[2] as i64),
                    options(nostack)
                );
            }
            return;
        }
        for p in pages {
            p.store_image(image);
        }
    }
}

/// The value of a whole memmap slot, for [`Page::fill`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotImage {
    flags: u64,
    refcount: i32,
    mapcount: u32,
    lru_next: u32,
    lru_prev: u32,
    private: u64,
}

// The slot's layout, which SlotImage::words() follows.
const _: () = {
    assert!(std::mem::size_of::<Page>() == 32);
    assert!(std::mem::offset_of!(Page, flags) == 0);
    assert!(std::mem::offset_of!(Page, refcount) == 8);
    assert!(std::mem::offset_of!(Page, mapcount) == 12);
    assert!(std::mem::offset_of!(Page, lru_next) == 16);
    assert!(std::mem::offset_of!(Page, lru_prev) == 20);
    assert!(std::mem::offset_of!(Page, private) == 24);
};

impl SlotImage {
    /// The poison pattern (`PAGE_POISON_PATTERN`): every field all ones but
    /// the list links, which stay "no link" so that the slot never reads as
    /// a tail page.
    pub const POISON: SlotImage = SlotImage {
        flags: PAGE_POISON_FLAGS,
        refcount: -1,
        mapcount: u32::MAX,
        lru_next: LIST_NIL,
        lru_prev: LIST_NIL,
        private: u64::MAX,
    };

    /// `__init_single_page()`: zone/node links and the flags `flags`,
    /// refcount 1, no mapcount, the page type `ty` (memmap_init_range()'s
    /// `__SetPageOffline()` of a hot-added page), no private data.
    pub fn initialised(zone: ZoneType, nid: usize, ty: Option<PageType>) -> SlotImage {
        SlotImage {
            flags: links(zone, nid),
            refcount: 1,
            mapcount: ty.map_or(NO_TYPE_RAW, typed_raw),
            lru_next: 0,
            lru_prev: 0,
            private: 0,
        }
    }

    /// The same with flag `f` set too (`__SetPageReserved()` of the old
    /// memmap init).
    pub fn with(self, f: PageFlag) -> SlotImage {
        SlotImage {
            flags: self.flags | f.mask(),
            ..self
        }
    }

    /// The slot's four 64-bit words in memory order (little-endian).
    #[cfg(all(target_arch = "x86_64", not(mmsim_shuttle)))]
    fn words(&self) -> [u64; 4] {
        [
            self.flags,
            u64::from(self.refcount as u32) | (u64::from(self.mapcount) << 32),
            u64::from(self.lru_next) | (u64::from(self.lru_prev) << 32),
            self.private,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Page {
        let p = Page::new();
        p.init_single(ZoneType::Normal, 3);
        p
    }

    // include/linux/page-flags.h: a page has at most one type (reference §1.2,
    // test case 36).
    #[test]
    fn page_type_exclusivity() {
        let p = fresh();
        assert_eq!(p.page_type(), None);
        p.try_set_type(PageType::Offline).unwrap();
        // __SetPageOffline on a PageOffline page is a no-op.
        p.try_set_type(PageType::Offline).unwrap();
        let clash = p.try_set_type(PageType::Buddy).unwrap_err();
        assert_eq!(clash.existing, Some(PageType::Offline));
        assert_eq!(p.mapcount(), 0, "typed pages report mapcount 0");
        p.try_clear_type(PageType::Offline).unwrap();
        // __ClearPageOffline on an untyped page is a no-op.
        p.try_clear_type(PageType::Offline).unwrap();
        assert_eq!(p.page_type(), None);
    }

    #[test]
    fn untouched_slot_reads_as_normal_node0() {
        let p = Page::new();
        assert_eq!((p.zonenum(), p.nid()), (ZoneType::Normal, 0));
        for z in ZoneType::ALL {
            p.init_links(z, 5);
            assert_eq!((p.zonenum(), p.nid()), (z, 5));
        }
    }

    #[test]
    fn zone_and_node_links() {
        let p = fresh();
        assert_eq!(p.zonenum(), ZoneType::Normal);
        assert_eq!(p.nid(), 3);
        p.set(PG_DIRTY);
        assert!(p.test(PG_DIRTY));
        assert_eq!(p.zonenum(), ZoneType::Normal);
        assert!(p.test_and_clear(PG_DIRTY));
        assert!(!p.test(PG_DIRTY));
    }

    // include/linux/page_ref.h: get_page_unless_zero / page_ref_freeze.
    #[test]
    fn refcount_speculative_get_and_freeze() {
        let p = fresh();
        assert_eq!(p.ref_count(), 1);
        assert!(p.try_get());
        assert_eq!(p.ref_count(), 2);
        assert!(!p.ref_freeze(1), "freeze needs the exact count");
        assert!(p.ref_freeze(2));
        assert!(!p.try_get(), "a frozen page cannot be got");
        p.ref_unfreeze(1);
        assert!(p.ref_dec_and_test());
        assert!(!p.try_get(), "a free page cannot be got");
    }

    #[test]
    fn compound_head_encoding() {
        let p = fresh();
        assert!(!p.is_tail());
        p.set_compound_head(Pfn(0x1234));
        assert_eq!(p.compound_head(), Some(Pfn(0x1234)));
        p.clear_compound_head();
        assert!(!p.is_tail());
    }

    /// Every field of a slot, as its accessors read it.
    fn fields(p: &Page) -> (u64, i32, u32, u32, u32, u64) {
        (
            p.flags_raw(),
            p.ref_count(),
            p.mapcount.load(Ordering::Relaxed),
            p.lru_next.load(Ordering::Relaxed),
            p.lru_prev.load(Ordering::Relaxed),
            p.private(),
        )
    }

    // Page::fill (memmap_init_range(), page_init_poison()): every slot of
    // the run, and nothing around it, reads as the per-field stores of the
    // same image would leave it (on x86-64 the fill is two 16-byte stores a
    // slot, whose word order this checks).
    #[test]
    fn fill_writes_each_slot_as_its_fields_would() {
        let images = [
            SlotImage::POISON,
            SlotImage::initialised(ZoneType::Movable, 3, Some(PageType::Offline)),
            SlotImage::initialised(ZoneType::Normal, 0, None).with(PG_RESERVED),
        ];
        for image in images {
            let slots: Vec<Page> = (0..9).map(|_| fresh()).collect();
            Page::fill(&slots[1..8], &image);
            let expected = Page::new();
            expected.store_image(&image);
            for (i, p) in slots.iter().enumerate() {
                if (1..8).contains(&i) {
                    assert_eq!(fields(p), fields(&expected), "{image:?} slot {i}");
                } else {
                    assert_eq!(fields(p), fields(&fresh()), "{image:?} slot {i} untouched");
                }
            }
        }
        Page::fill(&[], &SlotImage::POISON);
        let p = Page::new();
        p.poison();
        assert!(p.is_poisoned());
        assert_eq!(p.compound_head(), None, "a poisoned slot is no tail");
        let p = Page::new();
        Page::fill(
            std::slice::from_ref(&p),
            &SlotImage::initialised(ZoneType::Movable, 3, Some(PageType::Offline)),
        );
        assert_eq!(
            (p.zonenum(), p.nid(), p.ref_count()),
            (ZoneType::Movable, 3, 1)
        );
        assert_eq!(p.page_type(), Some(PageType::Offline));
    }
}
