//! Real threads at once on the process model: processes writing, reading,
//! forking and pinning their memory (each process one thread, as a process
//! runs one command at a time), while another thread offlines and onlines the
//! ZONE_MOVABLE block under them — migration entries, faults waiting on them,
//! COW and GUP all racing. Afterwards every invariant must hold, and every
//! process must read back exactly what it last wrote. Bounded by iteration
//! counts. The second test runs the same on THPs, adding the PMD splits of
//! partial mprotect and MADV_DONTNEED, folio splits by swap-out and
//! migration, and MADV_COLLAPSE.

mod common;

use common::write_with_signal;
use mmsim::gup::GupFlags;
use mmsim::hotplug::Task;
use mmsim::page::PAGE_SIZE;
use mmsim::sync::atomic::{AtomicBool, Ordering};
use mmsim::sync::{thread, Arc};
use mmsim::vm::huge::HPAGE_PMD_SIZE;
use mmsim::vm::{VM_HUGEPAGE, VM_HUGETLB, VM_READ, VM_SHARED, VM_WRITE};
use mmsim::{Machine, MachineConfig};

const PAGES: u64 = 64;
/// Two THPs.
const THP_PAGES: u64 = 1024;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The hotplug thread: offlines (with a signal after 5 ms) and onlines the
/// ZONE_MOVABLE block until `stop`; returns how often it went offline.
/// A worker's end: its children exit, every page of its region at `a`
/// holds the byte it wrote there last, and it exits.
fn finish_worker<T>(
    m: &Machine,
    mm: &Arc<mmsim::vm::Mm>,
    children: Vec<(Arc<mmsim::vm::Mm>, T)>,
    a: u64,
    expect: &[u8],
) {
    for (c, _) in children {
        m.exit_mmap(&c);
    }
    for (p, &e) in expect.iter().enumerate() {
        let got = m.user_read(mm, a + p as u64 * PAGE_SIZE, 16).unwrap();
        assert_eq!(got, [e; 16], "final page {p}");
    }
    m.exit_mmap(mm);
}

fn spawn_offliner(m: &Arc<Machine>, stop: &Arc<AtomicBool>) -> thread::JoinHandle<u32> {
    let (m, stop) = (m.clone(), stop.clone());
    thread::spawn(move || offline_until(&m, &stop))
}

/// Offlines and onlines memory15 until `stop`; how often it went offline.
fn offline_until(m: &Machine, stop: &AtomicBool) -> u32 {
    let mut offlined = 0;
    // Acquire pairs with the Release store of `stop` by the test.
    while !stop.load(Ordering::Acquire) {
        if write_with_signal(m, "devices/system/memory/memory15/state", "offline", 5).is_ok() {
            offlined += 1;
        }
        let _ = m.sysfs_write(
            "devices/system/memory/memory15/state",
            "online_movable",
            &Task::new(),
        );
    }
    offlined
}

#[test]
fn processes_race_with_offlining_their_memory() {
    race_with_offlining(false);
}

/// The THP run found, among others: MADV_PAGEOUT taking its reference on
/// a THP after dropping the page-table lock (a split and migration in
/// between made it a reference on a freed page), and reclaim unmapping a
/// page the offlining thread had isolated.
#[test]
fn thp_processes_race_with_offlining_their_memory() {
    race_with_offlining(true);
}

/// One run: three processes (each a thread) against the hotplug thread.
fn race_with_offlining(thp: bool) {
    let m = Arc::new(
        Machine::boot(
            MachineConfig {
                ram: 2 << 30,
                movable: 128 << 20,
                swap: 16 << 20,
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap(),
    );
    let free = |m: &Machine| -> i64 { common::free_pages(m) };
    // The huge zero folio is allocated on first use and kept for good.
    m.huge_zero_pfn().unwrap();
    let free_at_start = free(&m);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for seed in 1..=3u64 {
        let m = m.clone();
        workers.push(thread::spawn(move || {
            let mut rng = Rng(seed * 0x2545_f491_4f6c_dd1d);
            let mm = m.mm_alloc().unwrap();
            let (pages, flags) = if thp {
                (THP_PAGES, VM_READ | VM_WRITE | VM_HUGEPAGE)
            } else {
                (PAGES, VM_READ | VM_WRITE)
            };
            let a = m.mmap_anon(&mm, pages * PAGE_SIZE, flags, false).unwrap();
            let mut expect = vec![0u8; pages as usize];
            let mut children = Vec::new();
            let iterations = if thp { 20000 } else { 30000 };
            let mut collapsed = 0;
            // (iteration, op, page) of every step, for a failure report.
            let mut hist: Vec<(usize, u64, u64)> = Vec::new();
            for it in 0..iterations {
                let page = rng.next() % pages;
                let addr = a + page * PAGE_SIZE;
                let huge = addr & !(HPAGE_PMD_SIZE - 1);
                let op = rng.next() % if thp { 12 } else { 8 };
                hist.push((it, op, page));
                match op {
                    0..=2 => {
                        let b = (rng.next() % 255 + 1) as u8;
                        m.user_write(&mm, addr, &[b; 16]).unwrap();
                        expect[page as usize] = b;
                    }
                    3 | 4 => {
                        let got = m.user_read(&mm, addr, 16).unwrap();
                        assert_eq!(got, [expect[page as usize]; 16], "page {page}");
                    }
                    5 => {
                        let child = m.dup_mm(&mm).unwrap();
                        children.push((child, expect.clone()));
                        if children.len() > 2 {
                            let (c, e) = children.remove(0);
                            // The child still sees the parent's bytes at fork.
                            let p = (rng.next() % pages) as usize;
                            let got = m.user_read(&c, a + p as u64 * PAGE_SIZE, 16).unwrap();
                            if got != [e[p]; 16] {
                                let near: Vec<_> = hist
                                    .iter()
                                    .filter(|h| h.2 / 512 == p as u64 / 512)
                                    .rev()
                                    .take(80)
                                    .collect();
                                let at = a + p as u64 * PAGE_SIZE;
                                panic!(
                                    "child page {p}: got {}, expected {}; child pte {:?} parent pte {:?}; history (newest first) {near:?}",
                                    got[0], e[p], m.lookup(&c, at), m.lookup(&mm, at)
                                );
                            }
                            m.exit_mmap(&c);
                        }
                    }
                    6 => {
                        let flags = GupFlags {
                            write: rng.next() % 2 == 0,
                            pin: true,
                            longterm: rng.next() % 2 == 0,
                        };
                        let pinned = match m.get_user_pages(&mm, addr, 1, flags) {
                            Ok(p) => p,
                            Err(e) => {
                                let pfn = m.pte_at(&mm, addr).pfn();
                                panic!(
                                    "pin of page {page} ({flags:?}) failed: {e}; pte {:?}; folio order {} refs {} maps {} pins {} swapcache {:?} flags {}",
                                    m.pte_at(&mm, addr),
                                    m.folio_order(pfn),
                                    m.folio_ref_count(pfn),
                                    m.folio_mapcount(pfn),
                                    m.folio_pincount(pfn),
                                    m.swap_cache_slot(pfn),
                                    mmsim::walkers::kpageflags_names(m.kpageflags(pfn)),
                                )
                            }
                        };
                        let mut buf = [0u8; 16];
                        m.physmem().read(pinned.pages[0].phys(), &mut buf).unwrap();
                        assert_eq!(buf, [expect[page as usize]; 16], "pinned page {page}");
                        m.unpin_user_pages(pinned);
                    }
                    7 => {
                        let _ = m.madvise_pageout(&mm, addr, PAGE_SIZE);
                    }
                    // THP only: split the PMD with a partial mprotect, drop
                    // a page, swap a whole THP out, collapse it back.
                    8 => {
                        m.mprotect(&mm, addr, PAGE_SIZE, VM_READ).unwrap();
                        m.mprotect(&mm, addr, PAGE_SIZE, VM_READ | VM_WRITE).unwrap();
                    }
                    9 => {
                        m.madvise_dontneed(&mm, addr, PAGE_SIZE).unwrap();
                        expect[page as usize] = 0;
                    }
                    10 => {
                        let _ = m.madvise_pageout(&mm, huge, HPAGE_PMD_SIZE);
                    }
                    _ => {
                        if std::env::var_os("VMC_NO_COLLAPSE").is_none()
                            && m.madvise_collapse(&mm, huge, HPAGE_PMD_SIZE).is_ok()
                        {
                            collapsed += 1;
                        }
                    }
                }
            }
            finish_worker(&m, &mm, children, a, &expect);
            collapsed
        }));
    }
    let hotplug = spawn_offliner(&m, &stop);
    let collapsed: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    if thp && std::env::var_os("VMC_NO_COLLAPSE").is_none() {
        assert!(collapsed > 0, "no THP was ever collapsed");
    }
    stop.store(true, Ordering::Release); // pairs with the hotplug thread's Acquire
    let offlined = hotplug.join().unwrap();
    let v = m.check_all();
    assert!(v.is_empty(), "{v:#?}");
    // Everybody exited: the block must go offline now.
    let _ = m.sysfs_write(
        "devices/system/memory/memory15/state",
        "online_movable",
        &Task::new(),
    );
    m.sysfs_write(
        "devices/system/memory/memory15/state",
        "offline",
        &Task::new(),
    )
    .unwrap();
    assert!(m.check_all().is_empty());
    // Nothing leaked: with every process gone, every page is free again
    // (the block that went offline took its free pages with it).
    let _ = m.sysfs_write(
        "devices/system/memory/memory15/state",
        "online_movable",
        &Task::new(),
    );
    if free(&m) != free_at_start {
        // Name the pages nobody holds any more, for the report.
        let mut held = Vec::new();
        for pfn in 0..m.max_pfn().0 {
            let pfn = mmsim::page::Pfn(pfn);
            let Some(p) = m.mem().pfn_to_page(pfn) else {
                continue;
            };
            if p.ref_count() > 0 && !p.test(mmsim::page::PG_RESERVED) && p.page_type().is_none() {
                let mapped_subpages = if m.folio_test_large(pfn) {
                    (0..512).filter(|i| m.page(pfn + *i).mapcount() > 0).count()
                } else {
                    0
                };
                held.push(format!(
                    "{pfn}: ref {} map {} folio map {} entire {} pins {} mapped subpages {} anon {:?} flags {}",
                    p.ref_count(),
                    p.mapcount(),
                    m.folio_mapcount(pfn),
                    m.folio_entire_mapcount(pfn),
                    m.folio_pincount(pfn),
                    mapped_subpages,
                    m.anon_location(pfn),
                    mmsim::walkers::kpageflags_names(m.kpageflags(pfn))
                ));
            }
        }
        panic!(
            "pages leaked: {} free, {} at start; held: {:#?}",
            free(&m),
            free_at_start,
            &held[..held.len().min(20)]
        );
    }
    eprintln!("block went offline {offlined} times under the processes ({collapsed} collapses)");
}

/// The same race on memory that is not private anonymous: a memfd mapped
/// shared and private, shared anonymous memory (moved around by mremap()
/// meanwhile) and a hugetlb folio, while the block they live in goes
/// offline and online again. Page-cache pages migrate through the file's
/// reverse map and cache slot, hugetlb folios with PMD migration entries;
/// faults, GUP, fork and mremap meet them half-way.
#[test]
fn shared_and_hugetlb_memory_races_with_offlining() {
    const N: u64 = 8;
    let m = Arc::new(
        Machine::boot(
            MachineConfig {
                ram: 2 << 30,
                movable: 128 << 20,
                hugepages: 6,
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap(),
    );
    let rw = VM_READ | VM_WRITE;
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(mmsim::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for seed in 1..=3u64 {
        let (m, ready) = (m.clone(), ready.clone());
        workers.push(thread::spawn(move || {
            let mut rng = Rng(seed * 0x9e37_79b9_7f4a_7c15);
            let mm = m.mm_alloc().unwrap();
            let f = m.file_create(N * PAGE_SIZE, false).unwrap();
            let fs = m.mmap_file(&mm, f, N * PAGE_SIZE, rw, true).unwrap();
            let fp = m.mmap_file(&mm, f, N * PAGE_SIZE, rw, false).unwrap();
            let mut sh = m
                .mmap_anon(&mm, N * PAGE_SIZE, rw | VM_SHARED, false)
                .unwrap();
            let hu = m
                .mmap_anon(&mm, HPAGE_PMD_SIZE, rw | VM_HUGETLB, false)
                .unwrap();
            // The hugetlb folio is taken before offlining can dissolve the
            // pool under us.
            m.user_write(&mm, hu, &[0; 16]).unwrap();
            // Acquire-Release: pairs with the hotplug thread's Acquire load.
            ready.fetch_add(1, Ordering::AcqRel);
            let (mut ef, mut esh, mut ehu) =
                ([0u8; N as usize], [0u8; N as usize], [0u8; N as usize]);
            let mut epriv: [Option<u8>; N as usize] = [None; N as usize];
            let slot = |i: u64| hu + i * (HPAGE_PMD_SIZE / N);
            for _ in 0..20000 {
                let i = rng.next() % N;
                let off = i * PAGE_SIZE;
                let b = (rng.next() % 255 + 1) as u8;
                match rng.next() % 11 {
                    0 => {
                        m.user_write(&mm, fs + off, &[b; 16]).unwrap();
                        ef[i as usize] = b;
                    }
                    1 => {
                        m.user_write(&mm, fp + off, &[b; 16]).unwrap();
                        epriv[i as usize] = Some(b);
                    }
                    2 => {
                        m.user_write(&mm, sh + off, &[b; 16]).unwrap();
                        esh[i as usize] = b;
                    }
                    3 => {
                        m.user_write(&mm, slot(i), &[b; 16]).unwrap();
                        ehu[i as usize] = b;
                    }
                    4 => {
                        let p = epriv[i as usize].unwrap_or(ef[i as usize]);
                        assert_eq!(
                            m.user_read(&mm, fs + off, 16).unwrap(),
                            [ef[i as usize]; 16]
                        );
                        assert_eq!(m.user_read(&mm, fp + off, 16).unwrap(), [p; 16]);
                        assert_eq!(
                            m.user_read(&mm, sh + off, 16).unwrap(),
                            [esh[i as usize]; 16]
                        );
                        assert_eq!(
                            m.user_read(&mm, slot(i), 16).unwrap(),
                            [ehu[i as usize]; 16]
                        );
                    }
                    5 => {
                        // A child shares the file and the shared memory and
                        // sees their current bytes.
                        let c = m.dup_mm(&mm).unwrap();
                        assert_eq!(m.user_read(&c, fs + off, 16).unwrap(), [ef[i as usize]; 16]);
                        assert_eq!(
                            m.user_read(&c, sh + off, 16).unwrap(),
                            [esh[i as usize]; 16]
                        );
                        assert_eq!(m.user_read(&c, slot(i), 16).unwrap(), [ehu[i as usize]; 16]);
                        m.exit_mmap(&c);
                    }
                    6 | 7 => {
                        let (addr, e) = match rng.next() % 3 {
                            0 => (fs + off, ef[i as usize]),
                            1 => (sh + off, esh[i as usize]),
                            _ => (slot(i), ehu[i as usize]),
                        };
                        let flags = GupFlags {
                            write: false,
                            pin: true,
                            longterm: rng.next() % 2 == 0,
                        };
                        let pinned = match m.get_user_pages(&mm, addr & !(PAGE_SIZE - 1), 1, flags) {
                            Ok(p) => p,
                            Err(e) => {
                                let pte = m.pte_at(&mm, addr);
                                let pfn = pte.pfn();
                                panic!("pin ({flags:?}) of {addr:#x} failed: {e}; pte {pte:?} zone {:?} ref {} map {} flags {} hugetlb {}", m.page(pfn).zonenum(), m.folio_ref_count(pfn), m.folio_mapcount(pfn), mmsim::walkers::kpageflags_names(m.kpageflags(pfn)), m.folio_test_hugetlb(pfn));
                            }
                        };
                        let mut buf = [0u8; 16];
                        let at = pinned.pages[0].phys() + (addr % PAGE_SIZE);
                        m.physmem().read(at, &mut buf).unwrap();
                        assert_eq!(buf, [e; 16], "pinned page");
                        m.unpin_user_pages(pinned);
                    }
                    8 => {
                        // Fresh page-cache pages, in the block again: the
                        // old shared memory's file is truncated meanwhile.
                        m.munmap(&mm, sh, N * PAGE_SIZE).unwrap();
                        sh = m
                            .mmap_anon(&mm, N * PAGE_SIZE, rw | VM_SHARED, false)
                            .unwrap();
                        for (k, &e) in esh.iter().enumerate() {
                            m.user_write(&mm, sh + k as u64 * PAGE_SIZE, &[e; 16])
                                .unwrap();
                        }
                    }
                    9 => {
                        // The private copy goes; the file shows through.
                        m.madvise_dontneed(&mm, fp + off, PAGE_SIZE).unwrap();
                        epriv[i as usize] = None;
                    }
                    _ => {
                        // mremap() the shared memory onto a placeholder.
                        let to = m.mmap_anon(&mm, N * PAGE_SIZE, 0, false).unwrap();
                        let fixed = mmsim::vm::mremap::MremapFlags {
                            maymove: true,
                            fixed: Some(to),
                        };
                        sh = m
                            .mremap(&mm, sh, N * PAGE_SIZE, N * PAGE_SIZE, fixed)
                            .unwrap();
                        assert_eq!(sh, to);
                    }
                }
            }
            m.exit_mmap(&mm);
        }));
    }
    let hotplug = {
        let (m, stop, ready) = (m.clone(), stop.clone(), ready.clone());
        thread::spawn(move || {
            // Acquire pairs with the workers' AcqRel increments.
            while ready.load(Ordering::Acquire) < 3 {
                thread::yield_now();
            }
            offline_until(&m, &stop)
        })
    };
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Release); // pairs with the hotplug thread's Acquire
    let offlined = hotplug.join().unwrap();
    // Every process is gone: invariants and the leak check hold.
    let v = m.check_all();
    assert!(v.is_empty(), "{v:#?}");
    eprintln!("block went offline {offlined} times under shared and hugetlb memory");
}

/// Device memory against offlining (mm/migrate_device.c, do_swap_page()'s
/// device-private branch, lib/test_hmm.c): two processes write, read, fork
/// and migrate their anonymous pages to device-private memory (each access
/// faulting a page back to RAM, possibly into the block being offlined),
/// one of them also writing an fsdax file mapped shared, while another
/// thread offlines and onlines the ZONE_MOVABLE block. Every read returns
/// the last write; afterwards every invariant holds, every device page is
/// back with its driver, both pgmaps go away and no RAM page leaked.
#[test]
fn device_memory_races_with_offlining() {
    use mmsim::memremap::MemoryType;
    use mmsim::page::PhysAddr;
    let m = Arc::new(
        Machine::boot(
            MachineConfig {
                ram: 2 << 30,
                movable: 128 << 20,
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap(),
    );
    let free = |m: &Machine| -> i64 { common::free_pages(m) };
    let dev = m
        .memremap_pages("dev0", PhysAddr(0), 4 << 20, MemoryType::DevicePrivate, 0)
        .unwrap();
    let pmem = m
        .memremap_pages(
            "pmem0",
            PhysAddr(0x1_0000_0000),
            2 << 20,
            MemoryType::FsDax,
            0,
        )
        .unwrap();
    let file = m.file_create_dax(PAGES * PAGE_SIZE, "pmem0").unwrap();
    let free_at_start = free(&m);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for seed in 1..=2u64 {
        let m = m.clone();
        workers.push(thread::spawn(move || {
            let mut rng = Rng(seed * 0x2545_f491_4f6c_dd1d);
            let mm = m.mm_alloc().unwrap();
            let a = m
                .mmap_anon(&mm, PAGES * PAGE_SIZE, VM_READ | VM_WRITE, false)
                .unwrap();
            let d = m
                .mmap_file(&mm, file, PAGES * PAGE_SIZE, VM_READ | VM_WRITE, true)
                .unwrap();
            let mut expect = vec![0u8; PAGES as usize];
            let mut children = Vec::new();
            let mut migrated = 0;
            for _ in 0..20000 {
                let page = rng.next() % PAGES;
                let addr = a + page * PAGE_SIZE;
                match rng.next() % 8 {
                    0 | 1 => {
                        let b = (rng.next() % 255 + 1) as u8;
                        m.user_write(&mm, addr, &[b; 16]).unwrap();
                        expect[page as usize] = b;
                    }
                    2 | 3 => {
                        let got = m.user_read(&mm, addr, 16).unwrap();
                        assert_eq!(got, [expect[page as usize]; 16], "page {page}");
                    }
                    4 | 5 => {
                        let n = (rng.next() % 4 + 1).min(PAGES - page);
                        migrated += m
                            .migrate_to_device(&mm, addr, n * PAGE_SIZE, "dev0")
                            .unwrap_or(0);
                    }
                    6 => {
                        let child = m.dup_mm(&mm).unwrap();
                        children.push((child, expect.clone()));
                        if children.len() > 2 {
                            let (c, e) = children.remove(0);
                            let p = (rng.next() % PAGES) as usize;
                            let got = m.user_read(&c, a + p as u64 * PAGE_SIZE, 16).unwrap();
                            assert_eq!(got, [e[p]; 16], "child page {p}");
                            m.exit_mmap(&c);
                        }
                    }
                    _ => {
                        // Each process its own 16 bytes of every fsdax page.
                        let at = d + page * PAGE_SIZE + seed * 16;
                        let b = (rng.next() % 255 + 1) as u8;
                        m.user_write(&mm, at, &[b; 16]).unwrap();
                        assert_eq!(m.user_read(&mm, at, 16).unwrap(), [b; 16]);
                    }
                }
            }
            finish_worker(&m, &mm, children, a, &expect);
            migrated
        }));
    }
    let hotplug = spawn_offliner(&m, &stop);
    let migrated: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    stop.store(true, Ordering::Release); // pairs with the hotplug thread's Acquire
    let offlined = hotplug.join().unwrap();
    assert!(migrated > 0, "nothing migrated to the device");
    let v = m.check_all();
    assert!(v.is_empty(), "{v:#?}");
    assert_eq!(
        dev.nr_free() as u64,
        dev.nr_pages(),
        "device pages not given back"
    );
    m.memunmap_pages(&dev).unwrap();
    m.memunmap_pages(&pmem).unwrap();
    let _ = m.sysfs_write(
        "devices/system/memory/memory15/state",
        "online_movable",
        &Task::new(),
    );
    assert_eq!(free(&m), free_at_start, "RAM pages leaked");
    eprintln!("{migrated} pages went to the device; the block went offline {offlined} times");
}
