//! /proc/kpagecount: one u64 per PFN, the page's **mapcount** — how many
//! page tables map it — not its refcount (fs/proc/page.c).
//!
//! Typed pages (buddy, PageOffline, page tables, slab) report 0 because
//! their `_mapcount` field holds the page type (`page_mapcount_is_type()`,
//! default `CONFIG_PAGE_MAPCOUNT=y`).

use super::{MemmapReader, WalkedPage};
use crate::errno::KResult;
use crate::machine::Machine;
use crate::page::Pfn;

impl Machine {
    /// `folio_precise_page_mapcount()`: the page's own mapcount (0 for a
    /// typed page) plus the PMDs mapping its whole folio.
    pub fn folio_precise_page_mapcount(&self, p: WalkedPage<'_>) -> u64 {
        let entire = self.walked_folio_word(p, 1);
        // An `int` stored into a u64, sign-extended as put_user() does.
        (i64::from(p.page().mapcount()) + i64::from(entire)) as u64
    }

    /// `read()` of /proc/kpagecount: `count` bytes at file offset `offset`,
    /// with the rules of [`Machine::kpageflags_read`] (-EINVAL, EOF at
    /// `max_dump_pfn * 8`, 0 without an online memmap).
    ///
    /// ```
    /// use mmsim::{Machine, MachineConfig};
    ///
    /// let m = Machine::boot(MachineConfig::default(), Default::default()).unwrap();
    /// let free = m.kpagecount_read(0x40000 * 8, 16).unwrap();
    /// assert_eq!(free, vec![0u8; 16], "free pages are mapped nowhere");
    /// ```
    pub fn kpagecount_read(&self, offset: u64, count: u64) -> KResult<Vec<u8>> {
        self.kpage_read(offset, count, MemmapReader::Kpagecount, |p| {
            self.folio_precise_page_mapcount(p)
        })
    }

    /// The /proc/kpagecount entry of one PFN (0 without an online memmap
    /// and at or beyond `max_dump_pfn`).
    pub fn kpagecount(&self, pfn: Pfn) -> u64 {
        self.kpage_entry(pfn, MemmapReader::Kpagecount, |p| {
            self.folio_precise_page_mapcount(p)
        })
    }
}
