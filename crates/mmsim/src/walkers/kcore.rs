//! /proc/kcore's RAM path (fs/proc/kcore.c `read_kcore_iter()`, KCORE_RAM).
//!
//! The model addresses kcore by physical address: `kcore_read(addr, len)`
//! returns what reading the direct-map bytes of `[addr, addr + len)` out of
//! /proc/kcore returns. The ELF headers and the other segment kinds (vmalloc,
//! text, user copies) are not modelled.
//!
//! A read runs page by page. It snapshots the RAM list (the System RAM
//! resources, what `kcore_ram_list()` builds from `walk_system_ram_range()`),
//! then freezes ([`Machine::page_offline_freeze`]) for the whole walk except
//! for a `cond_resched()` every `MAX_ORDER_NR_PAGES` pages, where it thaws so
//! a waiting driver can enter `page_offline_begin()`. Each page reads as
//! zeros unless it is in the RAM list, the PFN walker finds it online, and
//! it is neither PageOffline nor hwpoisoned; otherwise its bytes come from
//! physical memory. Under `kcore_sync=none` the reader never freezes.

use super::page_offline::PageOfflineFrozen;
use super::{MemmapReader, WalkedPage};
use crate::machine::Machine;
use crate::page::{PageType, Pfn, PhysAddr, MAX_ORDER_NR_PAGES, PAGE_SIZE, PG_HWPOISON};
use crate::sync::thread;
use crate::variant::KcoreSync;
use std::ops::Range;

/// A point in a /proc/kcore read where another thread may run: a
/// scheduling point for tests and the race explorer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KcoreStep {
    /// `cond_resched()`, between `page_offline_thaw()` and
    /// `page_offline_freeze()`: the reader holds nothing.
    Resched,
    /// The page at this PFN passed every check and is about to be copied;
    /// the reader is still frozen (under `kcore_sync=rwsem`).
    Copy(Pfn),
}

impl Machine {
    /// `read()` of /proc/kcore over the direct map of `[addr, addr + len)`
    /// (see the module doc). `cond_resched()` yields the thread.
    ///
    /// ```
    /// use mmsim::page::PhysAddr;
    /// use mmsim::{Machine, MachineConfig};
    ///
    /// let m = Machine::boot(MachineConfig::default(), Default::default()).unwrap();
    /// m.physmem().write(PhysAddr(0x4000_0000), b"kcore").unwrap();
    /// assert_eq!(m.kcore_read(PhysAddr(0x4000_0000), 5), b"kcore");
    /// // The legacy VGA hole is not System RAM.
    /// m.physmem().write(PhysAddr(0xa0000), b"vga").unwrap();
    /// assert_eq!(m.kcore_read(PhysAddr(0xa0000), 3), [0, 0, 0]);
    /// ```
    pub fn kcore_read(&self, addr: PhysAddr, len: u64) -> Vec<u8> {
        self.read_kcore_iter(addr, len, |step| {
            if step == KcoreStep::Resched {
                thread::yield_now();
            }
        })
    }

    /// [`Machine::kcore_read`] of `len` bytes from offset `off` of page frame
    /// `pfn` (`kcore page PFN [OFF] LEN`).
    pub fn kcore_page(&self, pfn: Pfn, off: u64, len: u64) -> Vec<u8> {
        self.kcore_read(pfn.phys() + off, len)
    }

    /// `read_kcore_iter()` for KCORE_RAM, calling `at` at each
    /// [`KcoreStep`]. Reads `len` bytes (fewer only if `addr + len` would
    /// overflow).
    pub fn read_kcore_iter(
        &self,
        addr: PhysAddr,
        len: u64,
        mut at: impl FnMut(KcoreStep),
    ) -> Vec<u8> {
        let ram = self.kcore_ram_list();
        let end = addr.0.saturating_add(len);
        let mut out = Vec::with_capacity((end - addr.0) as usize);
        let mut frozen = self.kcore_freeze();
        // `page_offline_frozen` starts at 1: the first thaw comes before the
        // 1024th chunk, so a driver waits for at most 1023 pages.
        let mut page_offline_frozen: u64 = 1;
        let mut start = addr.0;
        while start < end {
            let tsz = (PAGE_SIZE - start % PAGE_SIZE).min(end - start);
            if page_offline_frozen % MAX_ORDER_NR_PAGES == 0 {
                drop(frozen.take());
                at(KcoreStep::Resched);
                frozen = self.kcore_freeze();
            }
            page_offline_frozen += 1;
            let from = out.len();
            out.resize(from + tsz as usize, 0);
            self.kcore_ram_chunk(&ram, PhysAddr(start), &mut out[from..], &mut at);
            start += tsz;
        }
        drop(frozen);
        out
    }

    /// `page_offline_freeze()` unless the `kcore_sync=none` variant reads
    /// without it.
    fn kcore_freeze(&self) -> Option<PageOfflineFrozen<'_>> {
        match self.variants().kcore_sync {
            KcoreSync::Rwsem => Some(self.page_offline_freeze()),
            KcoreSync::None => None,
        }
    }

    /// The KCORE_RAM entries: System RAM as `walk_system_ram_range()` finds
    /// it. The kernel rebuilds the list at open after hotplug; a model read
    /// takes a fresh snapshot.
    pub(super) fn kcore_ram_list(&self) -> Vec<Range<u64>> {
        self.resources().into_iter().map(|r| r.range).collect()
    }

    /// One chunk (within one page) of the KCORE_RAM case: fills `buf`, which
    /// starts zeroed, with the bytes at `start` if the page may be read.
    fn kcore_ram_chunk(
        &self,
        ram: &[Range<u64>],
        start: PhysAddr,
        buf: &mut [u8],
        at: &mut impl FnMut(KcoreStep),
    ) {
        // Outside every kcore entry (a hole, unplugged space): zeros.
        if !ram.iter().any(|r| r.contains(&start.0)) {
            return;
        }
        let pfn = start.pfn();
        // Offline sections, logically offline pages (balloon, virtio-mem)
        // and hwpoisoned pages are not touched. The kernel also asks
        // pfn_is_ram() (true unless a kdump kernel registered a hook) and
        // pfn_is_unaccepted_memory() (none in the model). The memmap is
        // looked at inside a read-side section; the copy reads page bytes,
        // not the memmap, and runs after it.
        let readable = {
            let rcu = self.reader_rcu_lock();
            self.pfn_walker_page(&rcu, pfn).is_some_and(|p| {
                let ok = !p.page().is_type(PageType::Offline) && !self.is_page_hwpoison(p);
                // A page whose memmap went under the check is not copied.
                self.memmap_slot_done(&rcu, p.slot(), MemmapReader::Kcore) && ok
            })
        };
        if !readable {
            return;
        }
        at(KcoreStep::Copy(pfn));
        // copy_from_kernel_nofault(): a fault reads as zeros.
        if self.physmem().read(start, buf).is_err() {
            buf.fill(0);
        }
    }

    /// `is_page_hwpoison()`: the page is poisoned, or it belongs to a
    /// hugetlb folio whose head is.
    pub fn is_page_hwpoison(&self, p: WalkedPage<'_>) -> bool {
        if p.page().test(PG_HWPOISON) {
            return true;
        }
        let (_, head) = self.walked_folio(p);
        head.is_type(PageType::Hugetlb) && head.test(PG_HWPOISON)
    }
}
