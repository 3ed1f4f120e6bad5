//! Unit tests of memremap_pages / memunmap_pages (mm/memremap.c).

use super::*;
use crate::machine::MachineConfig;
use crate::sparse::{PAGES_PER_SUBSECTION, SECTION_TAINT_ZONE_DEVICE};
use crate::sync::thread;

fn machine(ram: u64) -> Machine {
    let cfg = MachineConfig {
        ram,
        ..Default::default()
    };
    Machine::boot(cfg, Default::default()).unwrap()
}

const G: u64 = 1 << 30;
const M: u64 = 1 << 20;

// mm/mm_init.c __init_zone_device_page(): ZONE_DEVICE, PG_reserved, refcount
// 0 (1 for generic); pagemap_range() takes one pgmap reference per page for
// the types with initial references.
#[test]
fn memmap_init_zone_device_flags_and_refs() {
    let m = machine(2 * G);
    let fs = m
        .memremap_pages("pm", PhysAddr(4 * G), 4 * M, MemoryType::FsDax, 0)
        .unwrap();
    let p = m.page(fs.range().start);
    assert_eq!(p.zonenum(), ZoneType::Device);
    assert!(p.test(PG_RESERVED));
    assert_eq!(p.ref_count(), 0);
    assert_eq!(fs.refs(), 1 + 1024, "initial ref + one per page");
    let g = m
        .memremap_pages("dd", PhysAddr(5 * G), 2 * M, MemoryType::Generic, 0)
        .unwrap();
    assert_eq!(m.page(g.range().start).ref_count(), 1);
    let pr = m
        .memremap_pages("hmm", PhysAddr(0), 2 * M, MemoryType::DevicePrivate, 0)
        .unwrap();
    assert_eq!(pr.refs(), 1, "private: no initial page references");
    assert_eq!(pr.range().start.phys().0, m.config().max_phys);
    assert!(m
        .physmem()
        .read(pr.range().start.phys(), &mut [0u8; 8])
        .is_err());
    let (zs, ze) = m.zone(0, ZoneType::Device).span();
    assert_eq!((zs, ze), (fs.range().start, pr.range().end));
    assert_eq!(m.zone(0, ZoneType::Device).present_pages(), 0);
}

// memremap_pages()/pagemap_range() refusals.
#[test]
fn memremap_pages_refusals() {
    let m = machine(2 * G);
    let t = MemoryType::FsDax;
    assert_eq!(
        m.memremap_pages("a", PhysAddr(4 * G), 0, t, 0).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        m.memremap_pages("a", PhysAddr(4 * G), M, t, 0).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        m.memremap_pages("a", PhysAddr(4 * G + M), 2 * M, t, 0)
            .unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        m.memremap_pages("a", PhysAddr(G), 2 * M, t, 0).unwrap_err(),
        Errno::ENXIO
    );
    let top = m.config().max_phys;
    assert_eq!(
        m.memremap_pages("a", PhysAddr(top), 2 * M, t, 0)
            .unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        m.memremap_pages("a", PhysAddr(4 * G), 2 * M, t, 99)
            .unwrap_err(),
        Errno::EINVAL
    );
    m.memremap_pages("a", PhysAddr(4 * G), 4 * M, t, 0).unwrap();
    assert_eq!(
        m.memremap_pages("a", PhysAddr(5 * G), 2 * M, t, 0)
            .unwrap_err(),
        Errno::EEXIST
    );
    assert_eq!(
        m.memremap_pages("b", PhysAddr(4 * G + 2 * M), 4 * M, t, 0)
            .unwrap_err(),
        Errno::EBUSY
    );
    // Refused attempts leave nothing behind.
    assert!(m.get_dev_pagemap(Pfn((5 * G) >> PAGE_SHIFT)).is_none());
    assert!(!m.mem().pfn_valid(Pfn((5 * G) >> PAGE_SHIFT)));
}

// mm/memory_hotplug.c move_pfn_range_to_zone() taints a section shared with
// RAM; pfn_to_online_page() then takes the get_dev_pagemap() slow path.
#[test]
fn shared_section_taint_and_slow_path() {
    let m = machine(G + 64 * M);
    let pm = m
        .memremap_pages("pm", PhysAddr(G + 64 * M), 64 * M, MemoryType::FsDax, 0)
        .unwrap();
    let ms = m.mem().pfn_section(pm.range().start).unwrap();
    assert!(ms.flags() & SECTION_TAINT_ZONE_DEVICE != 0 && ms.online() && ms.early());
    let ram = pm.range().start - 1;
    assert!(m.mem().pfn_to_online_page(ram).is_some());
    assert!(m.mem().pfn_to_online_page(pm.range().start).is_none());
    assert!(m.mem().pfn_valid(pm.range().start));
    m.memunmap_pages(&pm).unwrap();
    assert!(m.mem().pfn_to_online_page(ram).is_some());
    assert!(m.mem().pfn_to_online_page(pm.range().start).is_none());
}

// memunmap_pages(): the memmap goes, the pgmap leaves the table; the device
// zone keeps its span (remove_pfn_range_from_zone does not shrink it).
#[test]
fn memunmap_pages_removes_memmap() {
    let m = machine(2 * G);
    let pm = m
        .memremap_pages("pm", PhysAddr(4 * G), 128 * M, MemoryType::Generic, 0)
        .unwrap();
    let start = pm.range().start;
    assert!(m.mem().pfn_active(start) && m.pfn_to_device_page(start).is_some());
    m.memunmap_pages(&pm).unwrap();
    assert_eq!(pm.state(), PgmapState::Dead);
    assert!(!m.mem().pfn_valid(start) && !m.mem().pfn_active(start));
    assert!(m.get_dev_pagemap(start).is_none() && m.dev_pagemap("pm").is_none());
    assert_eq!(m.mem().pfn_section(start).unwrap().flags(), 0);
    assert_eq!(m.memunmap_pages(&pm), Err(Errno::EINVAL));
    // The range can be mapped again.
    m.memremap_pages("pm", PhysAddr(4 * G), 128 * M, MemoryType::Generic, 0)
        .unwrap();
}

// The model's EDEADLK: an allocated device-private page holds the pgmap
// reference (zone_device_page_init); the refused unmap leaves it live.
#[test]
fn memunmap_nowait_edeadlk_then_retry() {
    let m = machine(2 * G);
    let pm = m
        .memremap_pages("hmm", PhysAddr(0), 2 * M, MemoryType::DevicePrivate, 0)
        .unwrap();
    let pfn = m.zone_device_page_alloc(&pm).unwrap();
    assert_eq!(pfn, pm.range().start);
    assert_eq!((m.page(pfn).ref_count(), pm.refs()), (1, 2));
    assert_eq!(m.memunmap_pages_nowait(&pm), Err(Errno::EDEADLK));
    assert_eq!((pm.state(), pm.refs()), (PgmapState::Live, 2));
    assert!(m.get_dev_pagemap(pfn).is_some_and(|p| {
        m.put_dev_pagemap(&p);
        true
    }));
    m.folio_put(pfn);
    assert_eq!(
        (pm.refs(), pm.nr_free()),
        (1, PAGES_PER_SUBSECTION as usize)
    );
    m.memunmap_pages_nowait(&pm).unwrap();
    assert!(!m.mem().pfn_valid(pfn));
}

// wait_for_completion(&pgmap->done): a real-thread caller waits until another
// thread drops the last folio reference, then unmaps.
#[test]
fn memunmap_waits_for_another_thread() {
    let m = Arc::new(machine(2 * G));
    let pm = m
        .memremap_pages("pm", PhysAddr(4 * G), 2 * M, MemoryType::DeviceCoherent, 0)
        .unwrap();
    let pfn = m.zone_device_page_alloc(&pm).unwrap();
    let (m2, pm2) = (m.clone(), pm.clone());
    let t = thread::spawn(move || m2.memunmap_pages(&pm2));
    // The killed ref refuses new users while the unmapper waits.
    while !pm.pgref.is_dying() {
        thread::yield_now();
    }
    assert_eq!(m.zone_device_page_alloc(&pm), Err(Errno::ENODEV));
    m.folio_put(pfn);
    t.join().unwrap().unwrap();
    assert!(!m.mem().pfn_valid(pfn));
}

// free_zone_device_folio(): generic pages go back to refcount 1.
#[test]
fn generic_page_last_put_resets_to_one() {
    let m = machine(2 * G);
    let pm = m
        .memremap_pages("dd", PhysAddr(4 * G), 2 * M, MemoryType::Generic, 0)
        .unwrap();
    let pfn = pm.range().start;
    assert_eq!(m.zone_device_page_alloc(&pm), Err(Errno::EINVAL));
    m.page(pfn).ref_inc();
    m.folio_put(pfn);
    assert_eq!(m.page(pfn).ref_count(), 1);
    m.folio_put(pfn);
    assert_eq!(
        m.page(pfn).ref_count(),
        1,
        "reset, never freed to the buddy"
    );
}
