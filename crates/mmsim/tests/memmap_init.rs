//! The `memmap_init` variant: what a hot-added memmap starts as
//! (`memmap_init_range(..., MEMINIT_HOTPLUG)`: PageOffline from 6.11 on,
//! PG_reserved before), and what offlining, the invariants, kpageflags and
//! tools/mm/page-types then see (reference §1.1, §2.5, §2.6, §6.2, §8.2).

mod common;

use common::{page_types, page_types_summary};
use mmsim::hotplug::callback::KeepRangeCallback;
use mmsim::hotplug::owner::Mark;
use mmsim::hotplug::{OnlinePageCallback, OnlineType, Task};
use mmsim::page::{PageType, Pfn, PhysAddr};
use mmsim::sparse::PAGES_PER_SECTION;
use mmsim::sync::Arc;
use mmsim::variant::Variants;
use mmsim::walkers::{KPF_BUDDY, KPF_OFFLINE, KPF_RESERVED};
use mmsim::zone::alloc::Gfp;
use mmsim::{Errno, Machine, MachineConfig};
use std::path::PathBuf;
use std::process::Command;

const GIB4: u64 = 4 << 30;
const BLOCK: u64 = 128 << 20;
const START: Pfn = Pfn(GIB4 >> 12);
/// The first pageblock of memory32, which the keep-back callback keeps.
const KEPT: u64 = 512;

fn machine(memmap_init: &str) -> Machine {
    let mut v = Variants::default();
    v.set("memmap_init", memmap_init).unwrap();
    Machine::boot(MachineConfig::default(), v).expect("boot")
}

fn assert_clean(m: &Machine, what: &str) {
    let v = m.check_all();
    assert!(v.is_empty(), "{what}: {v:#?}");
}

// add_memory -> online (a kernel and a movable block) -> use -> offline ->
// remove_memory, twice over (re-adding re-initialises the memmap), with
// every invariant holding after each step, under both values (§2.3–§2.9).
#[test]
fn hotplug_cycle_is_clean_under_both_values() {
    common::model_test(|| {
        for value in ["offline", "reserved"] {
            let m = machine(value);
            for round in 0..2 {
                let what = |s: &str| format!("memmap_init={value} round {round}: {s}");
                m.add_memory(0, PhysAddr(GIB4), 2 * BLOCK).unwrap();
                assert_clean(&m, &what("added"));
                let k = m.hotplug().find_block(32).unwrap();
                let mv = m.hotplug().find_block(33).unwrap();
                m.online_memory_block(&k, OnlineType::OnlineKernel).unwrap();
                m.online_memory_block(&mv, OnlineType::OnlineMovable)
                    .unwrap();
                assert_clean(&m, &what("online"));
                // Nothing is left PG_reserved or PageOffline by onlining.
                for pfn in [START, START + PAGES_PER_SECTION + 7] {
                    assert_eq!(m.kpageflags(pfn), 1 << KPF_BUDDY, "{}", what("flags"));
                }
                m.owner_alloc_contig("x", START + 100, 4).unwrap();
                m.owner_fill("x", 0x5a).unwrap();
                assert_clean(&m, &what("allocated"));
                m.owner_free("x").unwrap();
                m.device_offline(&k, &Task::new()).unwrap();
                m.device_offline(&mv, &Task::new()).unwrap();
                assert_clean(&m, &what("offline"));
                m.remove_memory(PhysAddr(GIB4), 2 * BLOCK).unwrap();
                assert_clean(&m, &what("removed"));
            }
        }
    });
}

/// memory32 added and onlined to ZONE_MOVABLE through a callback that keeps
/// its first pageblock back and does nothing to it.
fn kept_back(value: &str) -> (Machine, Arc<mmsim::hotplug::MemoryBlock>) {
    let m = machine(value);
    m.add_memory(0, PhysAddr(GIB4), BLOCK).unwrap();
    let cb: Arc<dyn OnlinePageCallback> = Arc::new(KeepRangeCallback {
        keep_start: START,
        keep_end: START + KEPT,
    });
    m.set_online_page_callback(cb.clone()).unwrap();
    let blk = m.hotplug().find_block(32).unwrap();
    m.online_memory_block(&blk, OnlineType::OnlineMovable)
        .unwrap();
    m.restore_online_page_callback(&cb).unwrap();
    (m, blk)
}

// online_pages_range(): pages the callback keeps stay as memmap init left
// them — PageOffline (kpageflags OFFLINE, bit 23) from 6.11 on, PG_reserved
// (RESERVED, bit 32) before — unmanaged, with their initial reference; the
// checker accepts both, and the block cannot go offline under either:
// 7.2 fails in scan_movable_pages() (a referenced PageOffline page), the old
// kernels already at isolation (has_unmovable_pages() stops at PG_reserved,
// which dumps the page).
#[test]
fn kept_back_pages_under_each_value() {
    common::model_test(|| {
        for (value, kpf, isolation_fails) in [
            ("offline", 1u64 << KPF_OFFLINE, false),
            ("reserved", 1u64 << KPF_RESERVED, true),
        ] {
            let (m, blk) = kept_back(value);
            for pfn in [START, START + (KEPT - 1)] {
                assert_eq!(m.kpageflags(pfn), kpf, "{value} {pfn}");
                assert_eq!(m.page(pfn).ref_count(), 1, "{value}");
            }
            assert_eq!(m.kpageflags(START + KEPT), 1 << KPF_BUDDY, "{value}");
            let zone = m.zone(0, mmsim::page::ZoneType::Movable);
            assert_eq!(zone.managed_pages(), (PAGES_PER_SECTION - KEPT) as i64);
            assert_clean(&m, value);
            let before = m.dmesg().len();
            assert_eq!(
                m.device_offline(&blk, &Task::new()),
                Err(Errno::EBUSY),
                "{value}"
            );
            let dumped = m.dmesg()[before..]
                .iter()
                .any(|l| l.contains("page dumped because"));
            assert_eq!(dumped, isolation_fails, "{value}: {:?}", m.dmesg());
            assert_clean(&m, value);
        }
    });
}

// The checker's memmap-init rule: under 7.2 nothing but a kernel user that
// owns a hot-added page may set PG_reserved on it; a page left PG_reserved
// without an owner is a memmap init 7.2 does not do. Under the old kernels
// it is the normal state of a kept-back page.
#[test]
fn stray_pg_reserved_on_hot_added_memory_breaks_memmap_init_rule() {
    common::model_test(|| {
        let (m, _) = kept_back("offline");
        let p = m.page(START);
        p.clear_type(PageType::Offline);
        p.set(mmsim::page::PG_RESERVED);
        let v = m.check_all();
        assert!(v.iter().any(|v| v.rule == "memmap-init"), "{v:#?}");
        // An owner that marks its own page PG_reserved is fine in both.
        for value in ["offline", "reserved"] {
            let m = machine(value);
            m.add_memory(0, PhysAddr(GIB4), BLOCK).unwrap();
            let blk = m.hotplug().find_block(32).unwrap();
            m.online_memory_block(&blk, OnlineType::OnlineMovable)
                .unwrap();
            m.owner_alloc("r", 0, Gfp::MOVABLE, 0).unwrap();
            m.owner_mark("r", Mark::Reserved).unwrap();
            assert_clean(&m, value);
        }
    });
}

// ----- page-types ------------------------------------------------------------

/// `page-types [-r] -a START,END -F FILE`: the summary rows (flags, count).
fn page_types_rows(tool: &PathBuf, file: &PathBuf, raw: bool) -> Vec<(u64, u64)> {
    let mut cmd = Command::new(tool);
    if raw {
        cmd.arg("-r");
    }
    let range = format!("{:#x},{:#x}", START.0, START.0 + PAGES_PER_SECTION);
    let out = cmd
        .args(["-a", &range, "-F"])
        .arg(file)
        .output()
        .expect("run page-types");
    assert!(out.status.success(), "{out:?}");
    page_types_summary(&out.stdout)
}

// What page-types sees of memory32 with a kept-back pageblock (§8.2): under
// 7.2 a row `o:offline` of 512 pages, with or without -r; under the old
// kernels the kept-back pages carry only RESERVED (bit 32), which page-types
// clears without -r, so they are counted under flags 0 — the row of holes
// and offline sections — and show as `r:reserved` only with -r.
#[test]
fn page_types_on_kept_back_pages() {
    common::model_test(|| {
        let Some(tool) = page_types() else {
            eprintln!("skipped: page-types not on PATH and MMSIM_PAGE_TYPES unset (.ci/install-page-types builds it)");
            return;
        };
        let free = PAGES_PER_SECTION - KEPT;
        for (value, cooked, raw) in [
            ("offline", 1u64 << KPF_OFFLINE, 1u64 << KPF_OFFLINE),
            ("reserved", 0, 1u64 << KPF_RESERVED),
        ] {
            let (m, _) = kept_back(value);
            let file = std::env::temp_dir().join(format!(
                "mmsim-memmap-init-{value}-{}.bin",
                std::process::id()
            ));
            m.kpageflags_dump(&file).unwrap();
            let rows = page_types_rows(&tool, &file, false);
            let mut want = vec![(cooked, KEPT), (1 << KPF_BUDDY, free)];
            want.sort();
            let mut got = rows.clone();
            got.sort();
            assert_eq!(got, want, "{value} cooked");
            let mut got = page_types_rows(&tool, &file, true);
            got.sort();
            let mut want = vec![(raw, KEPT), (1 << KPF_BUDDY, free)];
            want.sort();
            assert_eq!(got, want, "{value} raw");
            std::fs::remove_file(&file).unwrap();
        }
    });
}
