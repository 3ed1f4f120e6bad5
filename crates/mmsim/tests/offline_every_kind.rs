//! Offlining a ZONE_MOVABLE block moves every kind of user page, as Linux
//! 7.2's `offline_pages()` does (reference kernel-hotplug.md §2.7–2.8):
//! anonymous pages and THPs (`rmap_walk_anon()`), shared anonymous memory
//! and memfd pages (`rmap_walk_file()`, the page-cache slot handed over by
//! `folio_migrate_mapping()`), KSM pages (`rmap_walk_ksm()`), swap-cache
//! pages, pages mremap() moved, in-use hugetlb folios
//! (`unmap_and_move_huge_page()`), and free hugetlb folios
//! (`dissolve_free_hugetlb_folios()`). Nothing in a movable zone makes an
//! offline loop unless something holds it: a pin or another reference
//! keeps each kind where it is until the writer gets a signal (-EINTR).
//!
//! Every user action is mirrored into the oracle, which knows nothing of
//! pages: afterwards every byte each process wrote must read back as the
//! oracle says.

use mmsim::gup::{GupFlags, Pinned};
use mmsim::oracle::Oracle;
use mmsim::page::{Pfn, ZoneType, PAGE_SIZE};
use mmsim::sync::Arc;
use mmsim::vm::mremap::MremapFlags;
use mmsim::vm::{Mm, VM_HUGEPAGE, VM_HUGETLB, VM_READ, VM_SHARED, VM_WRITE};
use mmsim::zone::isolation::IsolateMode;
use mmsim::{Errno, Machine, MachineConfig};
use std::collections::BTreeMap;

mod common;

const RW: u32 = VM_READ | VM_WRITE;
const M: u64 = 1 << 20;
/// The ZONE_MOVABLE block: the top 128 MiB of 1 GiB.
const BLOCK: &str = "devices/system/memory/memory7/state";

/// A machine whose last block is ZONE_MOVABLE, with swap and a hugetlb pool
/// of four folios (which boot puts in ZONE_MOVABLE: 2 MiB hugetlb pages
/// are allocated movable).
fn machine() -> Machine {
    Machine::boot(
        MachineConfig {
            ram: 1 << 30,
            movable: 128 * M,
            swap: 64 * M,
            hugepages: 4,
            ..Default::default()
        },
        Default::default(),
    )
    .expect("boot")
}

/// What backs a mapping.
#[derive(Clone, Copy)]
enum Kind {
    Anon,
    Thp,
    SharedAnon,
    Hugetlb,
    File { file: u32, shared: bool },
}

/// Processes, their mappings and the oracle, driven together.
struct Users {
    m: Machine,
    o: Oracle,
    mms: BTreeMap<&'static str, Arc<Mm>>,
    /// (process, mapping) → (address, size).
    maps: BTreeMap<(&'static str, &'static str), (u64, u64)>,
}

impl Users {
    fn new() -> Users {
        Users {
            m: machine(),
            o: Oracle::new(),
            mms: BTreeMap::new(),
            maps: BTreeMap::new(),
        }
    }

    fn mm(&self, p: &str) -> Arc<Mm> {
        self.mms[p].clone()
    }

    fn at(&self, p: &'static str, map: &'static str) -> (u64, u64) {
        self.maps[&(p, map)]
    }

    fn spawn(&mut self, p: &'static str) {
        self.mms.insert(p, self.m.mm_alloc().unwrap());
        self.o.spawn(p).unwrap();
    }

    fn file(&mut self, name: &str, size: u64) -> u32 {
        self.o.file(name, size).unwrap();
        self.m.file_create(size, false).unwrap()
    }

    fn mmap(&mut self, p: &'static str, map: &'static str, size: u64, kind: Kind, file: &str) {
        let mm = self.mm(p);
        let addr = match kind {
            Kind::Anon => self.m.mmap_anon(&mm, size, RW, false),
            Kind::Thp => self.m.mmap_anon(&mm, size, RW | VM_HUGEPAGE, false),
            Kind::SharedAnon => self.m.mmap_anon(&mm, size, RW | VM_SHARED, false),
            Kind::Hugetlb => self.m.mmap_anon(&mm, size, RW | VM_HUGETLB, false),
            Kind::File { file, shared } => self.m.mmap_file(&mm, file, size, RW, shared),
        }
        .unwrap();
        match kind {
            Kind::SharedAnon => self.o.mmap_shared_anon(p, map, size),
            Kind::File { shared, .. } => self.o.mmap_file(p, map, file, size, shared),
            _ => self.o.mmap_anon(p, map, size),
        }
        .unwrap();
        self.maps.insert((p, map), (addr, size));
    }

    fn write(&mut self, p: &'static str, map: &'static str, off: u64, data: &[u8]) {
        let (addr, _) = self.at(p, map);
        self.m.user_write(&self.mm(p), addr + off, data).unwrap();
        self.o.write(p, map, off, data).unwrap();
    }

    fn fork(&mut self, p: &'static str, c: &'static str) {
        let child = self.m.dup_mm(&self.mm(p)).unwrap();
        self.mms.insert(c, child);
        let inherited: Vec<_> = self
            .maps
            .iter()
            .filter(|((q, _), _)| *q == p)
            .map(|((_, map), at)| (*map, *at))
            .collect();
        for (map, at) in inherited {
            self.maps.insert((c, map), at);
        }
        self.o.fork(p, c, &[]).unwrap();
    }

    /// The PFN mapped at `map + off` in `p`.
    fn pfn(&self, p: &'static str, map: &'static str, off: u64) -> Pfn {
        let (addr, _) = self.at(p, map);
        let pte = self.m.pte_at(&self.mm(p), addr + off);
        assert!(pte.present(), "{p}'s {map}+{off:#x} is not mapped");
        pte.pfn()
    }

    fn zone(&self, pfn: Pfn) -> ZoneType {
        self.m.page(pfn).zonenum()
    }

    /// Every process reads every byte of every mapping it has, page by
    /// page, and the oracle judges each read.
    fn read_everything(&self) {
        for (&(p, map), &(addr, size)) in &self.maps {
            let mm = self.mm(p);
            for off in (0..size).step_by(PAGE_SIZE as usize) {
                let got = self.m.user_read(&mm, addr + off, PAGE_SIZE).unwrap();
                if let Err(e) = self.o.check_read(p, map, off, &got) {
                    panic!("{p} reads {map}+{off:#x}: {e}");
                }
            }
        }
    }

    fn offline(&self, signal_after_ms: u64) -> Result<(), Errno> {
        common::write_with_signal(&self.m, BLOCK, "offline", signal_after_ms)
    }

    fn exit_all(self) -> Machine {
        for mm in self.mms.values() {
            self.m.exit_mmap(mm);
        }
        self.m
    }
}

fn assert_clean(m: &Machine) {
    let v = m.check_all();
    assert!(v.is_empty(), "{v:?}");
}

/// A byte pattern unique to a writer and a place.
fn bytes(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag ^ (i as u8)).collect()
}

/// Builds processes holding every kind of user page in the ZONE_MOVABLE
/// block; returns the PFNs that must leave it, by kind.
fn populate(u: &mut Users) -> Vec<(&'static str, Pfn)> {
    let mut at = Vec::new();
    u.spawn("A");
    // Anonymous pages, and a THP.
    u.mmap("A", "anon", 64 * 1024, Kind::Anon, "");
    u.write("A", "anon", 0, &bytes(0x11, 64 * 1024));
    at.push(("anonymous page", u.pfn("A", "anon", 0)));
    u.mmap("A", "thp", 2 * M, Kind::Thp, "");
    u.write("A", "thp", 0, &bytes(0x22, 2 * M as usize));
    at.push(("THP", u.pfn("A", "thp", 0)));
    // Shared anonymous memory (shmem) and a memfd, mapped shared and private.
    u.mmap("A", "shm", 64 * 1024, Kind::SharedAnon, "");
    u.write("A", "shm", 0, &bytes(0x33, 64 * 1024));
    at.push(("shared anonymous page", u.pfn("A", "shm", 0)));
    let f = u.file("F", 64 * 1024);
    u.mmap(
        "A",
        "fs",
        64 * 1024,
        Kind::File {
            file: f,
            shared: true,
        },
        "F",
    );
    u.mmap(
        "A",
        "fp",
        64 * 1024,
        Kind::File {
            file: f,
            shared: false,
        },
        "F",
    );
    u.write("A", "fs", 0, &bytes(0x44, 64 * 1024));
    // The private mapping reads the cache page and owns a copy of another.
    let _ = u.m.user_read(&u.mm("A"), u.at("A", "fp").0, 4096).unwrap();
    u.write("A", "fp", 8192, b"private copy");
    at.push(("memfd page", u.pfn("A", "fs", 0)));
    assert_eq!(u.pfn("A", "fp", 0), u.pfn("A", "fs", 0));
    // KSM: two identical mergeable pages become one.
    u.mmap("A", "ksm", 8192, Kind::Anon, "");
    u.write("A", "ksm", 0, &[0x55; 8192]);
    let (kaddr, _) = u.at("A", "ksm");
    u.m.madvise_mergeable(&u.mm("A"), kaddr, 8192, true)
        .unwrap();
    u.m.ksm_run();
    u.m.ksm_run();
    let k = u.pfn("A", "ksm", 0);
    assert!(u.m.folio_test_ksm(k), "KSM merged nothing");
    assert_eq!(u.pfn("A", "ksm", 4096), k);
    at.push(("KSM page", k));
    // hugetlb: two folios in use, two left free in the pool.
    u.mmap("A", "huge", 4 * M, Kind::Hugetlb, "");
    u.write("A", "huge", 0, &bytes(0x66, 4 * M as usize));
    at.push(("hugetlb folio", u.pfn("A", "huge", 0)));
    // Memory mremap() moved: the upper half of a THP onto a placeholder.
    u.mmap("A", "thp2", 2 * M, Kind::Thp, "");
    u.write("A", "thp2", 0, &bytes(0x77, 2 * M as usize));
    u.mmap("A", "upper", M, Kind::Anon, "");
    let (t2, _) = u.at("A", "thp2");
    let (up, _) = u.at("A", "upper");
    let fixed = MremapFlags {
        maymove: true,
        fixed: Some(up),
    };
    assert_eq!(u.m.mremap(&u.mm("A"), t2 + M, M, M, fixed), Ok(up));
    u.o.mremap("A", "thp2", M, M, M, Some("upper")).unwrap();
    u.maps.insert(("A", "thp2"), (t2, M));
    at.push(("mremap()ed THP page", u.pfn("A", "upper", 0)));
    // A swap-cache page: swapped out, the slot shared by fork, read back
    // by one side (the cache keeps it for the other's swap entry).
    u.mmap("A", "swp", 8192, Kind::Anon, "");
    u.write("A", "swp", 0, &bytes(0x88, 8192));
    let (saddr, _) = u.at("A", "swp");
    u.m.madvise_pageout(&u.mm("A"), saddr, 8192).unwrap();
    u.fork("A", "B");
    // fork maps none of a shared mapping's pages in the child
    // (vma_needs_copy()): B's reads map them, so the offline finds them
    // mapped in both processes.
    for map in ["shm", "fs"] {
        let (addr, _) = u.at("B", map);
        let _ = u.m.user_read(&u.mm("B"), addr, 4096).unwrap();
    }
    let _ = u.m.user_read(&u.mm("A"), saddr, 4096).unwrap();
    let cached = u.pfn("A", "swp", 0);
    assert!(
        u.m.swap_cache_slot(cached).is_some(),
        "not in the swap cache"
    );
    at.push(("swap-cache page", cached));
    // And one the swap cache alone holds: B swaps it in and discards it,
    // while A's swap entry still refers to its slot.
    let _ = u.m.user_read(&u.mm("B"), saddr + 4096, 4096).unwrap();
    let lone = u.pfn("B", "swp", 4096);
    u.m.madvise_dontneed(&u.mm("B"), saddr + 4096, 4096)
        .unwrap();
    u.o.madvise_dontneed("B", "swp", 4096, 4096).unwrap();
    assert!(u.m.swap_cache_slot(lone).is_some(), "not in the swap cache");
    at.push(("unmapped swap-cache page", lone));
    u.write("B", "anon", 0, b"B's own");
    for (kind, pfn) in &at {
        assert_eq!(u.zone(*pfn), ZoneType::Movable, "{kind} at {pfn}");
    }
    at
}

// offline_pages() of a ZONE_MOVABLE block holding every kind of user page:
// scan_movable_pages() + do_migrate_range() move them all,
// dissolve_free_hugetlb_folios() frees the rest of the pool there, and the
// block goes offline; every process reads back what it wrote.
#[test]
fn offline_pages_moves_every_kind_of_user_page() {
    common::model_test(|| {
        let mut u = Users::new();
        let moved = populate(&mut u);
        assert_eq!(u.m.hugetlb_counts(), (4, 2));
        u.offline(10_000).expect("offline");
        for (kind, old) in moved {
            // Nothing is left in the block: every page lives elsewhere now.
            assert!(
                u.m.mem().pfn_to_online_page(old).is_none(),
                "{kind}: pfn {old} still online"
            );
        }
        // Migrated where no pool folio was left (fresh temporary targets), the
        // two in-use hugetlb folios keep their place in the pool; the two free
        // ones were dissolved and not replaced.
        assert_eq!(u.m.hugetlb_counts(), (2, 0));
        // The identities moved with the pages.
        let k = u.pfn("A", "ksm", 0);
        assert!(u.m.folio_test_ksm(k));
        assert_eq!(u.pfn("B", "ksm", 4096), k);
        assert_eq!(u.pfn("A", "fp", 0), u.pfn("A", "fs", 0));
        assert_eq!(u.pfn("B", "shm", 0), u.pfn("A", "shm", 0));
        assert_ne!(u.zone(u.pfn("A", "huge", 0)), ZoneType::Movable);
        u.read_everything();
        // Writes after the move still reach the other side of shared memory.
        u.write("B", "shm", 100, b"after the offline");
        u.write("A", "fs", 100, b"after the offline");
        u.read_everything();
        assert_clean(&u.m);
        let m = u.exit_all();
        assert_clean(&m);
    });
}

// alloc_contig_range() (what virtio-mem's unplug uses) empties a ZONE_MOVABLE
// range the same way: __alloc_contig_migrate_range() migrates every kind of
// user page, and a free hugetlb folio is replaced by a fresh one from
// outside the range (alloc_and_dissolve_hugetlb_folio()), so the pool keeps
// its size; every page of the range ends up allocated.
#[test]
fn alloc_contig_range_moves_every_kind_of_user_page() {
    common::model_test(|| {
        let mut u = Users::new();
        let moved = populate(&mut u);
        let (start, end) = u.m.zone(0, ZoneType::Movable).span();
        u.m.alloc_contig_range(start, end, IsolateMode::Other)
            .expect("alloc_contig_range");
        for (kind, old) in &moved {
            assert_eq!(u.m.page(*old).ref_count(), 1, "{kind}: pfn {old} not taken");
            assert!(
                !u.m.folio_test_anon(*old),
                "{kind}: pfn {old} still anonymous"
            );
        }
        assert_eq!(u.m.hugetlb_counts(), (4, 2));
        u.read_everything();
        u.m.free_contig_range(start, end - start);
        assert_clean(&u.m);
        let m = u.exit_all();
        assert_clean(&m);
    });
}

/// One page of each kind, with the means to hold it: a FOLL_PIN where the
/// kernel lets one stay on the page, a FOLL_GET reference where a read-only
/// pin would first unshare it (a KSM page is copied for a pin).
fn hold(u: &Users, kind: &str) -> (Pfn, Pinned) {
    let (p, map, off, pin) = match kind {
        "anonymous page" => ("A", "anon", 0, true),
        "THP" => ("A", "thp", 4096, true),
        "shared anonymous page" => ("A", "shm", 0, true),
        "memfd page" => ("A", "fs", 0, true),
        "KSM page" => ("A", "ksm", 0, false),
        "hugetlb folio" => ("A", "huge", 0, true),
        "mremap()ed THP page" => ("A", "upper", 0, true),
        "swap-cache page" => ("A", "swp", 0, false),
        other => panic!("{other}"),
    };
    let (addr, _) = u.at(p, map);
    let flags = GupFlags {
        write: false,
        pin,
        longterm: false,
    };
    let pinned = u.m.get_user_pages(&u.mm(p), addr + off, 1, flags).unwrap();
    (u.pfn(p, map, off), pinned)
}

// A page the kernel may not move — pinned (folio_maybe_dma_pinned() stops
// try_to_migrate_one() or a THP split) or holding a reference beyond its
// mappings and caches (folio_migrate_mapping()'s count) — keeps its block
// online: offline_pages() retries until a signal ends it with -EINTR, for
// every kind. Once the reference goes, the same offline succeeds.
#[test]
fn a_held_page_of_any_kind_keeps_offline_looping_until_a_signal() {
    common::model_test(|| {
        for kind in [
            "anonymous page",
            "THP",
            "shared anonymous page",
            "memfd page",
            "KSM page",
            "hugetlb folio",
            "mremap()ed THP page",
            "swap-cache page",
        ] {
            let mut u = Users::new();
            populate(&mut u);
            let (pfn, pinned) = hold(&u, kind);
            assert_eq!(u.zone(pfn), ZoneType::Movable, "{kind}");
            assert_eq!(u.offline(50), Err(Errno::EINTR), "{kind}");
            assert_eq!(u.pfn_of_held(kind), pfn, "{kind} moved while held");
            u.m.unpin_user_pages(pinned);
            u.offline(10_000)
                .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            u.read_everything();
            let m = u.exit_all();
            assert_clean(&m);
        }
    });
}

impl Users {
    /// Where the page [`hold`] holds for `kind` is mapped now.
    fn pfn_of_held(&self, kind: &str) -> Pfn {
        let (p, map, off) = match kind {
            "anonymous page" => ("A", "anon", 0),
            "THP" => ("A", "thp", 4096),
            "shared anonymous page" => ("A", "shm", 0),
            "memfd page" => ("A", "fs", 0),
            "KSM page" => ("A", "ksm", 0),
            "hugetlb folio" => ("A", "huge", 0),
            "mremap()ed THP page" => ("A", "upper", 0),
            "swap-cache page" => ("A", "swp", 0),
            other => panic!("{other}"),
        };
        self.pfn(p, map, off)
    }
}

// __gup_longterm_locked(): a FOLL_LONGTERM pin never stays in ZONE_MOVABLE —
// GUP migrates each kind of page out first
// (check_and_migrate_movable_pages()), so the block goes offline under the
// pin, and the pin stays coherent with the mapping.
#[test]
fn a_longterm_pin_moves_its_page_out_of_zone_movable_first() {
    common::model_test(|| {
        for (map, off) in [("anon", 0), ("shm", 0), ("fs", 0), ("huge", 0), ("thp", 0)] {
            let mut u = Users::new();
            populate(&mut u);
            let (addr, _) = u.at("A", map);
            let flags = GupFlags {
                write: true,
                pin: true,
                longterm: true,
            };
            let pinned =
                u.m.get_user_pages(&u.mm("A"), addr + off, 1, flags)
                    .unwrap();
            assert_ne!(u.zone(pinned.pages[0]), ZoneType::Movable, "{map}");
            assert_eq!(u.pfn("A", map, off), pinned.pages[0], "{map}");
            u.offline(10_000).unwrap_or_else(|e| panic!("{map}: {e:?}"));
            assert_eq!(u.pfn("A", map, off), pinned.pages[0], "{map}");
            u.m.unpin_user_pages(pinned);
            u.read_everything();
            let m = u.exit_all();
            assert_clean(&m);
        }
    });
}

// The harness can fail: a byte the oracle did not expect is reported.
#[test]
fn the_harness_catches_a_wrong_byte() {
    common::model_test(|| {
        let mut u = Users::new();
        u.spawn("A");
        u.mmap("A", "anon", 4096, Kind::Anon, "");
        u.write("A", "anon", 0, b"one");
        let (addr, _) = u.at("A", "anon");
        // A store the oracle never heard of.
        u.m.user_write(&u.mm("A"), addr, b"two").unwrap();
        let got = u.m.user_read(&u.mm("A"), addr, 3).unwrap();
        assert!(u.o.check_read("A", "anon", 0, &got).is_err());
        let m = u.exit_all();
        assert_clean(&m);
    });
}
