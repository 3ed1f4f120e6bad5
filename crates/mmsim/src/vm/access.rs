//! A process touching its own memory: the CPU's loads and stores.
//!
//! An access looks the PTE up, faults if the MMU would (missing, PROT_NONE,
//! or read-only for a store), and then moves the bytes while holding the
//! page-table lock. A fault the VMA does not allow (no VMA, PROT_NONE, a
//! store to a read-only mapping) is the process's SIGSEGV: -EFAULT. Holding
//! the lock stands in for the TLB: the kernel changes a PTE under that lock and
//! flushes the TLB before it copies or frees the old page, so no store can land
//! in a page after migration or COW has started to move away from it.

use super::fault::{access_error, FaultFlags};
use super::walk::{pte_index, Mapping};
use super::Mm;
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{PhysAddr, PAGE_SIZE};
use crate::sync::Arc;

impl Machine {
    /// Loads (`write == None`) or stores `data` at `addr` in `mm`; returns
    /// the bytes read. `done` counts the bytes moved so far, so a caller
    /// knows how much of a store landed before a fault stopped it (as
    /// `copy_to_user()` returns what it could not copy).
    fn user_access(
        &self,
        mm: &Arc<Mm>,
        addr: u64,
        len: u64,
        data: Option<&[u8]>,
        done: &mut u64,
    ) -> KResult<Vec<u8>> {
        let end = addr.checked_add(len).ok_or(Errno::EFAULT)?;
        let maps = mm.mmap_lock.down_read();
        let mut out = Vec::with_capacity(if data.is_none() { len as usize } else { 0 });
        let mut a = addr;
        while a < end {
            let in_page = (PAGE_SIZE - a % PAGE_SIZE).min(end - a);
            let write = data.is_some();
            let mut tries = 0;
            loop {
                tries += 1;
                if tries > 100_000 {
                    return Err(Errno::EAGAIN);
                }
                let fault_in = || {
                    // do_user_addr_fault(): a bad access is the process's
                    // SIGSEGV, before handle_mm_fault() is asked.
                    let vma = maps.find(a).ok_or(Errno::EFAULT)?;
                    if access_error(vma, write) {
                        return Err(Errno::EFAULT);
                    }
                    let ff = FaultFlags {
                        write,
                        unshare: false,
                    };
                    self.handle_mm_fault_locked(mm, &maps, a, ff)
                };
                // The entry that maps `a`: a PTE or a huge PMD (the TLB
                // caches either; neither is split by an access).
                let (t, i, pfn) = match self.lookup(mm, a) {
                    Mapping::Pte(t, i, pte) => (t, i, pte.pfn()),
                    Mapping::Pmd(t, i, pmd) => (t, i, pmd.pfn() + pte_index(a)),
                    Mapping::None => {
                        fault_in()?;
                        continue;
                    }
                };
                let ptl = mm.ptl(t);
                let pte = self.read_entry(t, i);
                // What the MMU checks: a PROT_NONE entry faults like a
                // missing one.
                if !pte.access_permitted(write) {
                    drop(ptl);
                    fault_in()?;
                    continue;
                }
                if pte.pfn() != pfn && !pte.huge() {
                    // Changed since the lookup: look again.
                    continue;
                }
                let pfn = if pte.huge() {
                    pte.pfn() + pte_index(a)
                } else {
                    pte.pfn()
                };
                let pa = PhysAddr(pfn.phys().0 + a % PAGE_SIZE);
                match data {
                    Some(d) => {
                        let off = (a - addr) as usize;
                        self.physmem().write(pa, &d[off..off + in_page as usize])?;
                    }
                    None => {
                        let mut buf = vec![0u8; in_page as usize];
                        self.physmem().read(pa, &mut buf)?;
                        out.extend_from_slice(&buf);
                    }
                }
                break;
            }
            a += in_page;
            *done = a - addr;
        }
        Ok(out)
    }

    /// A process reads `len` bytes at `addr`.
    pub fn user_read(&self, mm: &Arc<Mm>, addr: u64, len: u64) -> KResult<Vec<u8>> {
        self.user_access(mm, addr, len, None, &mut 0)
    }

    /// A process writes `data` at `addr`.
    pub fn user_write(&self, mm: &Arc<Mm>, addr: u64, data: &[u8]) -> KResult<()> {
        self.user_write_partial(mm, addr, data).1
    }

    /// A process writes `data` at `addr`; also returns how many bytes
    /// landed, which on a fault part-way (a read-only page) is the prefix
    /// before it.
    pub fn user_write_partial(&self, mm: &Arc<Mm>, addr: u64, data: &[u8]) -> (u64, KResult<()>) {
        let mut done = 0;
        let r = self.user_access(mm, addr, data.len() as u64, Some(data), &mut done);
        (done, r.map(|_| ()))
    }
}
