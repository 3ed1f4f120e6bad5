//! /proc/kpageflags: one u64 of KPF bits per PFN (fs/proc/page.c).
//!
//! The KPF bits are ABI (include/uapi/linux/kernel-page-flags.h) and unlike
//! the PG_ bits they never move. Bits 32..42 are the kernel-hacking bits of
//! include/linux/kernel-page-flags.h ("subject to change"); page-types hides
//! them unless run with `-r`. `stable_page_flags()` translates one page's
//! state into these bits the way 7.2 does.

use super::{MemmapReader, WalkedPage, KPMSIZE};
use crate::errno::KResult;
use crate::machine::Machine;
use crate::page::{
    PageFlag, PageType, Pfn, PG_ACTIVE, PG_ARCH_1, PG_ARCH_2, PG_ARCH_3, PG_DIRTY, PG_HEAD,
    PG_HWPOISON, PG_IDLE, PG_LARGE_RMAPPABLE, PG_LOCKED, PG_LRU, PG_MLOCKED, PG_OWNER_2,
    PG_OWNER_PRIV_1, PG_PRIVATE, PG_PRIVATE_2, PG_RECLAIM, PG_REFERENCED, PG_RESERVED,
    PG_SWAPBACKED, PG_SWAPCACHE, PG_UNEVICTABLE, PG_UPTODATE, PG_WRITEBACK,
};
use crate::vm::rmap::{head_anon, head_ksm};
use crate::zone::buddy::find_buddy_containing;
use std::io::Write;
use std::path::Path;

macro_rules! kpf {
    ($($(#[$doc:meta])* $name:ident = $bit:expr;)*) => {
        $($(#[$doc])* pub const $name: u32 = $bit;)*
        /// Every KPF bit with its macro name, in bit order.
        pub const KPF_NAMES: &[(u32, &str)] = &[$(($name, stringify!($name)),)*];
    };
}

kpf! {
    /// PG_locked.
    KPF_LOCKED = 0;
    /// Once PG_error; now never set.
    KPF_ERROR = 1;
    /// PG_referenced.
    KPF_REFERENCED = 2;
    /// PG_uptodate.
    KPF_UPTODATE = 3;
    /// PG_dirty.
    KPF_DIRTY = 4;
    /// PG_lru.
    KPF_LRU = 5;
    /// PG_active.
    KPF_ACTIVE = 6;
    /// A slab folio.
    KPF_SLAB = 7;
    /// PG_writeback.
    KPF_WRITEBACK = 8;
    /// PG_reclaim.
    KPF_RECLAIM = 9;
    /// Free in the buddy allocator: every page of a free block.
    KPF_BUDDY = 10;
    /// Mapped into a page table.
    KPF_MMAP = 11;
    /// Anonymous.
    KPF_ANON = 12;
    /// In the swap cache.
    KPF_SWAPCACHE = 13;
    /// PG_swapbacked.
    KPF_SWAPBACKED = 14;
    /// Head page of a compound page.
    KPF_COMPOUND_HEAD = 15;
    /// Tail page of a compound page.
    KPF_COMPOUND_TAIL = 16;
    /// A hugetlb folio.
    KPF_HUGE = 17;
    /// PG_unevictable.
    KPF_UNEVICTABLE = 18;
    /// PG_hwpoison.
    KPF_HWPOISON = 19;
    /// No memmap (6.12 and before; 7.2 writes 0 instead).
    KPF_NOPAGE = 20;
    /// A KSM page.
    KPF_KSM = 21;
    /// A transparent huge page (any size).
    KPF_THP = 22;
    /// PageOffline.
    KPF_OFFLINE = 23;
    /// The (huge) zero page.
    KPF_ZERO_PAGE = 24;
    /// PG_idle.
    KPF_IDLE = 25;
    /// A page-table page.
    KPF_PGTABLE = 26;
    /// PG_reserved (kernel hacking).
    KPF_RESERVED = 32;
    /// PG_mlocked (kernel hacking).
    KPF_MLOCKED = 33;
    /// PG_owner_2 (kernel hacking; PG_anon_exclusive on anonymous pages).
    KPF_OWNER_2 = 34;
    /// PG_private (kernel hacking).
    KPF_PRIVATE = 35;
    /// PG_private_2 (kernel hacking).
    KPF_PRIVATE_2 = 36;
    /// PG_owner_priv_1 (kernel hacking).
    KPF_OWNER_PRIVATE = 37;
    /// PG_arch_1 (kernel hacking).
    KPF_ARCH = 38;
    /// Soft-dirty; never set by kpageflags (page-types adds it from pagemap).
    KPF_SOFTDIRTY = 40;
    /// PG_arch_2 (kernel hacking).
    KPF_ARCH_2 = 41;
    /// PG_arch_3 (kernel hacking).
    KPF_ARCH_3 = 42;
}

/// The lowercase name of a KPF bit without `KPF_` (`KPF_ZERO_PAGE` →
/// "zero_page").
fn kpf_name(bit: u32) -> Option<String> {
    KPF_NAMES
        .iter()
        .find(|(b, _)| *b == bit)
        .map(|(_, name)| name["KPF_".len()..].to_ascii_lowercase())
}

/// The set bits of a kpageflags value as `kpageflags PFN` prints them: the
/// lowercase names without `KPF_`, comma-separated, in bit order. A value
/// of 0 gives the empty string. A set bit that has no KPF name prints as
/// `bitN`.
///
/// ```
/// use mmsim::walkers::{kpageflags_names, KPF_BUDDY, KPF_DIRTY, KPF_OFFLINE};
///
/// assert_eq!(kpageflags_names(1 << KPF_BUDDY), "buddy");
/// assert_eq!(kpageflags_names(1 << KPF_OFFLINE | 1 << KPF_DIRTY), "dirty,offline");
/// assert_eq!(kpageflags_names(0), "");
/// ```
pub fn kpageflags_names(flags: u64) -> String {
    (0..u64::BITS)
        .filter(|bit| flags & (1 << bit) != 0)
        .map(|bit| kpf_name(bit).unwrap_or_else(|| format!("bit{bit}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// The KPF bit of a name as [`kpageflags_names`] prints it (`"buddy"` →
/// `KPF_BUDDY`), for `expect kpageflags PFN has FLAG`.
pub fn kpf_from_name(name: &str) -> Option<u32> {
    KPF_NAMES
        .iter()
        .find(|(_, n)| n["KPF_".len()..].eq_ignore_ascii_case(name))
        .map(|(bit, _)| *bit)
}

/// `kpf_copy_bit()`: PG bit `kbit` of `kflags` as KPF bit `ubit`.
fn kpf_copy_bit(kflags: u64, ubit: u32, kbit: PageFlag) -> u64 {
    ((kflags >> kbit.0) & 1) << ubit
}

/// PFNs per read when dumping, as page-types reads (KPAGEFLAGS_BATCH).
const DUMP_BATCH: u64 = 64 << 10;

impl Machine {
    /// `is_free_buddy_page()`: the page lies inside a free buddy block.
    /// Lockless and best effort like the kernel's: the allocator may take the
    /// block an instant later.
    pub fn is_free_buddy_page(&self, p: WalkedPage<'_>) -> bool {
        find_buddy_containing(self.mem(), self.page_zone(p.page()), p.pfn()).is_some()
    }

    /// `stable_page_flags()` (7.2): the KPF bits of a page. Flag bits come
    /// from the folio (the head page), as do the folio types OFFLINE,
    /// PGTABLE and SLAB; BUDDY is set on every page of a free block.
    ///
    /// MMAP from the mapcount, ANON and KSM from the anonymous mapping,
    /// ZERO_PAGE for the shared zero page.
    ///
    /// Safe on a poisoned slot (a memmap freed under the walker): every
    /// other slot it reads is looked up with a fallible lookup, and a
    /// poisoned zone or node number still names a zone of the machine.
    pub fn stable_page_flags(&self, p: WalkedPage<'_>) -> u64 {
        let page = p.page();
        let (folio_pfn, head) = self.walked_folio(p);
        let k = head.flags_raw();
        let mut u = 0;

        // page_mapped(): any mapping of the folio.
        if head.mapcount() > 0 || self.walked_folio_word(p, 2) > 0 {
            u |= 1 << KPF_MMAP;
        }
        if head_anon(head) {
            u |= 1 << KPF_ANON;
            if head_ksm(head) {
                u |= 1 << KPF_KSM;
            }
        }
        if p.pfn() == self.zero_pfn() || self.is_huge_zero_pfn(p.pfn()) {
            u |= 1 << KPF_ZERO_PAGE;
        }
        if folio_pfn == p.pfn() {
            u |= kpf_copy_bit(k, KPF_COMPOUND_HEAD, PG_HEAD);
        } else {
            u |= 1 << KPF_COMPOUND_TAIL;
        }
        let large_rmappable = || {
            self.mem()
                .pfn_to_page(folio_pfn + 1)
                .is_some_and(|first_tail| first_tail.test(PG_LARGE_RMAPPABLE))
        };
        if head.is_type(PageType::Hugetlb) {
            u |= 1 << KPF_HUGE;
        } else if head.test(PG_HEAD) && large_rmappable() {
            u |= 1 << KPF_THP;
        }

        // PageBuddy is only on a free block's head; the other pages of the
        // block are plain refcount-0 pages that only the block head knows.
        if page.is_type(PageType::Buddy) || (head.ref_count() == 0 && self.is_free_buddy_page(p)) {
            u |= 1 << KPF_BUDDY;
        }
        match head.page_type() {
            Some(PageType::Offline) => u |= 1 << KPF_OFFLINE,
            Some(PageType::Table) => u |= 1 << KPF_PGTABLE,
            Some(PageType::Slab) => u |= 1 << KPF_SLAB,
            _ => {}
        }

        u |= kpf_copy_bit(k, KPF_IDLE, PG_IDLE);
        u |= kpf_copy_bit(k, KPF_LOCKED, PG_LOCKED);
        u |= kpf_copy_bit(k, KPF_DIRTY, PG_DIRTY);
        u |= kpf_copy_bit(k, KPF_UPTODATE, PG_UPTODATE);
        u |= kpf_copy_bit(k, KPF_WRITEBACK, PG_WRITEBACK);
        u |= kpf_copy_bit(k, KPF_LRU, PG_LRU);
        u |= kpf_copy_bit(k, KPF_REFERENCED, PG_REFERENCED);
        u |= kpf_copy_bit(k, KPF_ACTIVE, PG_ACTIVE);
        u |= kpf_copy_bit(k, KPF_RECLAIM, PG_RECLAIM);
        // PG_swapcache aliases PG_owner_priv_1: it means swap cache only on
        // a swap-backed folio.
        let swapcache = PG_SWAPBACKED.mask() | PG_SWAPCACHE.mask();
        if k & swapcache == swapcache {
            u |= 1 << KPF_SWAPCACHE;
        }
        u |= kpf_copy_bit(k, KPF_SWAPBACKED, PG_SWAPBACKED);
        u |= kpf_copy_bit(k, KPF_UNEVICTABLE, PG_UNEVICTABLE);
        u |= kpf_copy_bit(k, KPF_MLOCKED, PG_MLOCKED);
        // A hugetlb folio is poisoned as a whole; any other page by itself.
        let poison_flags = if u & (1 << KPF_HUGE) != 0 {
            k
        } else {
            page.flags_raw()
        };
        u |= kpf_copy_bit(poison_flags, KPF_HWPOISON, PG_HWPOISON);
        u |= kpf_copy_bit(k, KPF_RESERVED, PG_RESERVED);
        u |= kpf_copy_bit(k, KPF_OWNER_2, PG_OWNER_2);
        u |= kpf_copy_bit(k, KPF_PRIVATE, PG_PRIVATE);
        u |= kpf_copy_bit(k, KPF_PRIVATE_2, PG_PRIVATE_2);
        u |= kpf_copy_bit(k, KPF_OWNER_PRIVATE, PG_OWNER_PRIV_1);
        u |= kpf_copy_bit(k, KPF_ARCH, PG_ARCH_1);
        u |= kpf_copy_bit(k, KPF_ARCH_2, PG_ARCH_2);
        u |= kpf_copy_bit(k, KPF_ARCH_3, PG_ARCH_3);
        u
    }

    /// `read()` of /proc/kpageflags: `count` bytes at file offset `offset`.
    /// -EINVAL unless both are multiples of 8; empty at or beyond
    /// `max_dump_pfn * 8`; 0 for PFNs without an online memmap (7.2).
    ///
    /// ```
    /// use mmsim::errno::Errno;
    /// use mmsim::walkers::KPF_BUDDY;
    /// use mmsim::{Machine, MachineConfig};
    ///
    /// let m = Machine::boot(MachineConfig::default(), Default::default()).unwrap();
    /// let e = m.kpageflags_read(0x40000 * 8, 8).unwrap();
    /// assert_eq!(u64::from_ne_bytes(e.try_into().unwrap()), 1 << KPF_BUDDY);
    /// assert_eq!(m.kpageflags_read(4, 8), Err(Errno::EINVAL));
    /// ```
    pub fn kpageflags_read(&self, offset: u64, count: u64) -> KResult<Vec<u8>> {
        self.kpage_read(offset, count, MemmapReader::Kpageflags, |p| {
            self.stable_page_flags(p)
        })
    }

    /// The /proc/kpageflags entry of one PFN (0 without an online memmap
    /// and at or beyond `max_dump_pfn`).
    pub fn kpageflags(&self, pfn: Pfn) -> u64 {
        self.kpage_entry(pfn, MemmapReader::Kpageflags, |p| self.stable_page_flags(p))
    }

    /// Writes the whole /proc/kpageflags to `path`: one native-endian u64
    /// per PFN below `max_dump_pfn`, what `cat /proc/kpageflags > FILE`
    /// would save (`page-types -F FILE` reads it).
    pub fn kpageflags_dump(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        crate::hostfs::check_write_target(path.as_ref())?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut offset = 0;
        loop {
            let chunk = self
                .kpageflags_read(offset, DUMP_BATCH * KPMSIZE)
                .map_err(|e| std::io::Error::from_raw_os_error(e.number()))?;
            if chunk.is_empty() {
                break;
            }
            out.write_all(&chunk)?;
            offset += chunk.len() as u64;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // include/uapi/linux/kernel-page-flags.h and include/linux/
    // kernel-page-flags.h: the bit numbers are ABI.
    #[test]
    fn kpf_bits_match_the_headers() {
        let expect: &[(u32, &str)] = &[
            (0, "locked"),
            (1, "error"),
            (2, "referenced"),
            (3, "uptodate"),
            (4, "dirty"),
            (5, "lru"),
            (6, "active"),
            (7, "slab"),
            (8, "writeback"),
            (9, "reclaim"),
            (10, "buddy"),
            (11, "mmap"),
            (12, "anon"),
            (13, "swapcache"),
            (14, "swapbacked"),
            (15, "compound_head"),
            (16, "compound_tail"),
            (17, "huge"),
            (18, "unevictable"),
            (19, "hwpoison"),
            (20, "nopage"),
            (21, "ksm"),
            (22, "thp"),
            (23, "offline"),
            (24, "zero_page"),
            (25, "idle"),
            (26, "pgtable"),
            (32, "reserved"),
            (33, "mlocked"),
            (34, "owner_2"),
            (35, "private"),
            (36, "private_2"),
            (37, "owner_private"),
            (38, "arch"),
            (40, "softdirty"),
            (41, "arch_2"),
            (42, "arch_3"),
        ];
        let got: Vec<(u32, String)> = KPF_NAMES
            .iter()
            .map(|&(b, _)| (b, kpf_name(b).unwrap()))
            .collect();
        let want: Vec<(u32, String)> = expect.iter().map(|&(b, n)| (b, n.to_string())).collect();
        assert_eq!(got, want);
    }

    // SCENARIOS.md "Readers of /proc": names in bit order, comma-separated.
    #[test]
    fn names_in_bit_order() {
        assert_eq!(kpageflags_names(0), "");
        assert_eq!(kpageflags_names(1 << KPF_BUDDY), "buddy");
        assert_eq!(
            kpageflags_names(1 << KPF_OFFLINE | 1 << KPF_DIRTY),
            "dirty,offline"
        );
        assert_eq!(
            kpageflags_names(1 << KPF_RESERVED | 1 << KPF_ZERO_PAGE | 1 << 27),
            "zero_page,bit27,reserved"
        );
        assert_eq!(kpf_from_name("pgtable"), Some(KPF_PGTABLE));
        assert_eq!(kpf_from_name("ZERO_PAGE"), Some(KPF_ZERO_PAGE));
        assert_eq!(kpf_from_name("nosuch"), None);
    }
}
