//! /proc/kcore as a file: the ELF core image `read_kcore_iter()` serves
//! (fs/proc/kcore.c, 6.12 and 7.2 alike), around the RAM bytes of
//! [`Machine::kcore_read`].
//!
//! # Layout
//!
//! ```text
//! 0                      Elf64_Ehdr (ET_CORE, EM_X86_64, e_phnum = 1 + RAM ranges)
//! 64                     Elf64_Phdr[0]: PT_NOTE at notes_offset, notes_len bytes
//! 64 + 56                Elf64_Phdr[i]: PT_LOAD, PF_R|PF_W|PF_X, one per System RAM range:
//!                          p_vaddr  = PAGE_OFFSET + start (the direct map)
//!                          p_paddr  = start
//!                          p_offset = p_vaddr - PAGE_OFFSET + data_offset
//!                          p_filesz = p_memsz = size, p_align = PAGE_SIZE
//! notes_offset           "CORE" NT_PRSTATUS, "CORE" NT_PRPSINFO, "CORE" NT_TASKSTRUCT,
//!                        "VMCOREINFO" notes (4-byte aligned, as append_kcore_note())
//! data_offset            PAGE_ALIGN(64 + phdrs_len + notes_len): byte `phys` of RAM
//!                        is at data_offset + phys
//! get_kcore_size()       data_offset + the highest end of a range
//! ```
//!
//! The model lists only the KCORE_RAM entries (`kcore_ram_list()`): the
//! kernel's text, vmalloc, module and vmemmap entries have no model, so
//! their program headers are absent. The NT_TASKSTRUCT note carries no
//! bytes (the model has no `task_struct`; the kernel copies
//! `arch_task_struct_size` bytes of `current`), and VMCOREINFO carries
//! [`VMCOREINFO`]. Offsets between the headers and the first range, and in
//! holes between ranges, read as zeros, as the kernel's do. A read ends at
//! [`Machine::kcore_file_size`] (the kernel would go on returning zeros past
//! it; a file that `stat` sizes should end there).

use crate::machine::Machine;
use crate::page::{PhysAddr, PAGE_SIZE};
use std::ops::Range;

/// x86-64's `PAGE_OFFSET` with 4-level paging (no KASLR): the direct map's
/// base, where /proc/kcore puts physical address 0.
pub const PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;

/// The model's vmcoreinfo text (`vmcoreinfo_data`).
pub const VMCOREINFO: &str = "OSRELEASE=7.2.0-mmsim\nPAGESIZE=4096\n";

const EHDR_SIZE: u64 = 64;
const PHDR_SIZE: u64 = 56;
/// `sizeof(struct elf_note)`.
const NOTE_HDR: u64 = 12;
/// `sizeof(struct elf_prstatus)` on x86-64.
const PRSTATUS_SIZE: u64 = 336;
/// `sizeof(struct elf_prpsinfo)` on x86-64.
const PRPSINFO_SIZE: u64 = 136;
/// `arch_task_struct_size`, as the model has no task_struct.
const TASK_STRUCT_SIZE: u64 = 0;
const CORE_STR: &[u8] = b"CORE\0";
const VMCOREINFO_NAME: &[u8] = b"VMCOREINFO\0";
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const NT_PRSTATUS: u32 = 1;
const NT_PRPSINFO: u32 = 3;
const NT_TASKSTRUCT: u32 = 4;

const fn align4(n: u64) -> u64 {
    n.next_multiple_of(4)
}

/// The sizes `get_kcore_size()` computes for a RAM list.
struct KcoreLayout {
    nphdr: u64,
    notes_len: u64,
    data_offset: u64,
    size: u64,
}

impl KcoreLayout {
    fn of(ram: &[Range<u64>]) -> KcoreLayout {
        let nphdr = 1 + ram.len() as u64;
        let notes_len = 4 * NOTE_HDR
            + 3 * align4(CORE_STR.len() as u64)
            + align4(VMCOREINFO_NAME.len() as u64)
            + align4(PRSTATUS_SIZE)
            + align4(PRPSINFO_SIZE)
            + align4(TASK_STRUCT_SIZE)
            + align4(VMCOREINFO.len() as u64);
        let data_offset = (EHDR_SIZE + nphdr * PHDR_SIZE + notes_len).next_multiple_of(PAGE_SIZE);
        let end = ram.iter().map(|r| r.end).max().unwrap_or(0);
        KcoreLayout {
            nphdr,
            notes_len,
            data_offset,
            size: data_offset + end,
        }
    }

    fn notes_offset(&self) -> u64 {
        EHDR_SIZE + self.nphdr * PHDR_SIZE
    }

    /// The bytes before `data_offset`: headers, notes, zero padding.
    fn headers(&self, ram: &[Range<u64>]) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.data_offset as usize);
        // Elf64_Ehdr: ELFMAG, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE.
        b.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&4u16.to_le_bytes()); // e_type = ET_CORE
        b.extend_from_slice(&62u16.to_le_bytes()); // e_machine = EM_X86_64
        b.extend_from_slice(&1u32.to_le_bytes()); // e_version
        b.extend_from_slice(&0u64.to_le_bytes()); // e_entry
        b.extend_from_slice(&EHDR_SIZE.to_le_bytes()); // e_phoff
        b.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
        b.extend_from_slice(&0u32.to_le_bytes()); // e_flags = ELF_CORE_EFLAGS
        b.extend_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
        b.extend_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        b.extend_from_slice(&(self.nphdr as u16).to_le_bytes());
        b.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
        let phdr = |b: &mut Vec<u8>, kind: u32, flags: u32, fields: [u64; 6]| {
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&flags.to_le_bytes());
            for f in fields {
                b.extend_from_slice(&f.to_le_bytes());
            }
        };
        phdr(
            &mut b,
            PT_NOTE,
            0,
            [self.notes_offset(), 0, 0, self.notes_len, 0, 0],
        );
        for r in ram {
            let size = r.end - r.start;
            let vaddr = PAGE_OFFSET + r.start;
            let offset = vaddr - PAGE_OFFSET + self.data_offset;
            phdr(
                &mut b,
                PT_LOAD,
                7, // PF_R | PF_W | PF_X
                [offset, vaddr, r.start, size, size, PAGE_SIZE],
            );
        }
        let mut prpsinfo = [0u8; PRPSINFO_SIZE as usize];
        prpsinfo[1] = b'R'; // pr_sname
        prpsinfo[40..47].copy_from_slice(b"vmlinux"); // pr_fname
        prpsinfo[56..61].copy_from_slice(b"mmsim"); // pr_psargs
        let notes: [(&[u8], u32, &[u8]); 4] = [
            (CORE_STR, NT_PRSTATUS, &[0; PRSTATUS_SIZE as usize]),
            (CORE_STR, NT_PRPSINFO, &prpsinfo),
            (CORE_STR, NT_TASKSTRUCT, &[]),
            (VMCOREINFO_NAME, 0, VMCOREINFO.as_bytes()),
        ];
        for (name, kind, desc) in notes {
            // append_kcore_note(): header, name and desc each padded to 4.
            b.extend_from_slice(&(name.len() as u32).to_le_bytes());
            b.extend_from_slice(&(desc.len() as u32).to_le_bytes());
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(name);
            b.resize(align4(b.len() as u64) as usize, 0);
            b.extend_from_slice(desc);
            b.resize(align4(b.len() as u64) as usize, 0);
        }
        debug_assert_eq!(b.len() as u64, self.notes_offset() + self.notes_len);
        b.resize(self.data_offset as usize, 0);
        b
    }
}

impl Machine {
    /// `i_size` of /proc/kcore: `get_kcore_size()` over the current RAM list.
    pub fn kcore_file_size(&self) -> u64 {
        KcoreLayout::of(&self.kcore_ram_list()).size
    }

    /// `pread()` of /proc/kcore: `len` bytes at file offset `offset` (fewer
    /// at the end of the file, none past it). Headers and notes come from
    /// the RAM list of this moment; RAM bytes from [`Machine::kcore_read`].
    ///
    /// ```
    /// use mmsim::page::PhysAddr;
    /// use mmsim::walkers::kcore_elf::PAGE_OFFSET;
    /// use mmsim::{Machine, MachineConfig};
    ///
    /// let m = Machine::boot(MachineConfig::default(), Default::default()).unwrap();
    /// assert_eq!(&m.kcore_file_read(0, 4)[..], b"\x7fELF");
    /// m.physmem().write(PhysAddr(0x4000_0000), b"kcore").unwrap();
    /// // The second PT_LOAD's p_offset, read from its program header.
    /// let phdr = m.kcore_file_read(64 + 2 * 56, 56);
    /// let off = u64::from_le_bytes(phdr[8..16].try_into().unwrap());
    /// let vaddr = u64::from_le_bytes(phdr[16..24].try_into().unwrap());
    /// let at = off + (PAGE_OFFSET + 0x4000_0000 - vaddr);
    /// assert_eq!(m.kcore_file_read(at, 5), b"kcore");
    /// ```
    pub fn kcore_file_read(&self, offset: u64, len: u64) -> Vec<u8> {
        let ram = self.kcore_ram_list();
        let layout = KcoreLayout::of(&ram);
        let end = offset.saturating_add(len).min(layout.size);
        if offset >= end {
            return Vec::new();
        }
        let mut out = Vec::with_capacity((end - offset) as usize);
        if offset < layout.data_offset {
            let headers = layout.headers(&ram);
            let upto = end.min(layout.data_offset);
            out.extend_from_slice(&headers[offset as usize..upto as usize]);
        }
        let from = offset.max(layout.data_offset);
        if from < end {
            let phys = from - layout.data_offset;
            out.extend(self.kcore_read(PhysAddr(phys), end - from));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // get_kcore_size(): notes_len and data_offset for two RAM ranges.
    #[test]
    fn layout_follows_get_kcore_size() {
        let l = KcoreLayout::of(&[0x1000..0x9f000, 0x100000..0x4000_0000]);
        assert_eq!(l.nphdr, 3);
        assert_eq!(
            l.notes_len,
            4 * 12 + 3 * 8 + 12 + 336 + 136 + align4(VMCOREINFO.len() as u64)
        );
        assert_eq!(l.data_offset, 4096);
        assert_eq!(l.size, 4096 + 0x4000_0000);
        let h = l.headers(&[0x1000..0x9f000, 0x100000..0x4000_0000]);
        assert_eq!(h.len(), 4096);
        // Phdr 1: p_offset = vaddr - PAGE_OFFSET + data_offset.
        let p1 = &h[64 + 56..64 + 112];
        assert_eq!(u32::from_le_bytes(p1[0..4].try_into().unwrap()), PT_LOAD);
        assert_eq!(
            u64::from_le_bytes(p1[8..16].try_into().unwrap()),
            0x1000 + 4096
        );
        assert_eq!(
            u64::from_le_bytes(p1[16..24].try_into().unwrap()),
            PAGE_OFFSET + 0x1000
        );
    }
}
