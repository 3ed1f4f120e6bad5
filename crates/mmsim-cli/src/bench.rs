//! `mmsim bench`: the model's operations beside the host kernel doing the
//! same user-level work in the same run, and beside the physical floors
//! measured on the spot (memset and memcpy bandwidth, one uncontended atomic
//! increment).
//!
//! Every figure is per unit of work (a 4 KiB page, a PTE, a block) and is
//! the best of a few repetitions (more where one takes under a
//! millisecond, and for the floors), so a noisy neighbour inflates none of
//! them. The model's machines are booted with `prealloc` (the host backs
//! their RAM up front, as QEMU's `prealloc=on` does), so that the host's
//! first-touch faults on the byte store do not count as the model's work;
//! the 1 TiB boot is the exception, since not touching its memory is what
//! that row measures. The host side runs first, in this single-threaded process, before
//! any model machine exists (fork of a process with threads copies only the
//! caller).

use std::hint::black_box;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mmsim::gup::GupFlags;
use mmsim::hotplug::{OnlineType, Task};
use mmsim::page::{PhysAddr, PAGE_SIZE};
use mmsim::vm::{VM_READ, VM_WRITE};
use mmsim::{Machine, MachineConfig};
use serde_json::json;

/// One row of the table.
struct Row {
    name: String,
    unit: &'static str,
    model_ns: f64,
    host_ns: Option<f64>,
    floor_ns: f64,
    floor: &'static str,
}

/// The best of `reps` runs of `f`, which returns how many units it did.
fn best(reps: u32, mut f: impl FnMut() -> u64) -> f64 {
    (0..reps.max(1))
        .map(|_| {
            let start = Instant::now();
            let units = f().max(1);
            start.elapsed().as_nanos() as f64 / units as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Physical floors: ns per byte written (memset), per byte copied
/// (memcpy), and per uncontended atomic increment.
struct Floors {
    memset: f64,
    memcpy: f64,
    atomic: f64,
}

fn floors(reps: u32) -> Floors {
    const LEN: usize = 64 << 20;
    let mut a = vec![1u8; LEN];
    let b = vec![2u8; LEN];
    let memset = best(reps, || {
        a.fill(black_box(3));
        black_box(&a);
        LEN as u64
    });
    let memcpy = best(reps, || {
        a.copy_from_slice(black_box(&b));
        black_box(&a);
        LEN as u64
    });
    let counter = std::sync::atomic::AtomicU64::new(0);
    let atomic = best(reps, || {
        for _ in 0..1_000_000 {
            black_box(&counter).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        1_000_000
    });
    Floors {
        memset,
        memcpy,
        atomic,
    }
}

/// The host kernel: mmap + first touch, per page.
fn host_first_touch(pages: usize, reps: u32) -> Option<f64> {
    let mut ok = true;
    let ns = best(reps, || {
        match HostMapping::new(pages, false) {
            Some(map) => map.touch(1),
            None => ok = false,
        }
        pages as u64
    });
    ok.then_some(ns)
}

/// A private anonymous host mapping of whole pages, unmapped on drop.
struct HostMapping(*mut u8, usize);

impl HostMapping {
    /// `pages` pages, faulted in already if `populate` (MAP_POPULATE).
    fn new(pages: usize, populate: bool) -> Option<HostMapping> {
        let len = pages * PAGE_SIZE as usize;
        let flags =
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | if populate { libc::MAP_POPULATE } else { 0 };
        // SAFETY: a fresh anonymous mapping; this value owns it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        (p != libc::MAP_FAILED).then(|| HostMapping(p.cast(), len))
    }

    /// Writes `byte` at the start of every page (a fault each if the page
    /// is not there yet, or is shared copy-on-write).
    fn touch(&self, byte: u8) {
        for off in (0..self.1).step_by(PAGE_SIZE as usize) {
            // SAFETY: inside the mapping this value owns.
            unsafe { self.0.add(off).write_volatile(byte) };
        }
    }
}

impl Drop for HostMapping {
    fn drop(&mut self) {
        // SAFETY: the mapping `new` made, unmapped once, here.
        unsafe { libc::munmap(self.0.cast(), self.1) };
    }
}

/// The host kernel: fork of a process with `pages` populated, per PTE; with
/// `cow`, the child waits on a pipe while the parent writes every page (a
/// COW fault each), and that is what is timed, per page.
fn host_fork(pages: usize, reps: u32, cow: bool) -> Option<f64> {
    let map = HostMapping::new(pages, true)?;
    let mut least = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let timed = host_fork_once(&map, cow)?;
        least = least.min(timed.as_nanos() as f64 / pages as f64);
    }
    Some(least)
}

/// One fork (and COW pass) of [`host_fork`]: its timed part.
fn host_fork_once(map: &HostMapping, cow: bool) -> Option<Duration> {
    let mut fds = [0; 2];
    // SAFETY: plain syscalls; the child only blocks on the pipe and
    // _exits, touching nothing of the parent's Rust state; the writes stay
    // inside the mapping `map` owns.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return None;
        }
        let start = Instant::now();
        let pid = libc::fork();
        if pid == 0 {
            // Its copy of the write end closed, the read ends when the
            // parent closes its own.
            libc::close(fds[1]);
            let mut byte = 0u8;
            libc::read(fds[0], (&raw mut byte).cast(), 1);
            libc::_exit(0);
        }
        if pid < 0 {
            libc::close(fds[0]);
            libc::close(fds[1]);
            return None;
        }
        let forked = start.elapsed();
        let timed = if cow {
            let t = Instant::now();
            map.touch(7);
            t.elapsed()
        } else {
            forked
        };
        libc::close(fds[1]);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        libc::close(fds[0]);
        Some(timed)
    }
}

/// Whether the host has a swap device (a line past the header of
/// /proc/swaps): without one MADV_PAGEOUT reclaims nothing.
fn host_has_swap() -> bool {
    std::fs::read_to_string("/proc/swaps").is_ok_and(|s| s.lines().count() > 1)
}

/// The host kernel: MADV_PAGEOUT of a populated mapping, then the swap-in
/// fault of every page, each per page; `None` without swap.
fn host_pageout(pages: usize, reps: u32) -> Option<(f64, f64)> {
    if !host_has_swap() {
        return None;
    }
    let (mut out, mut back) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps.max(1) {
        let map = HostMapping::new(pages, true)?;
        map.touch(5);
        let t = Instant::now();
        // SAFETY: advice on the mapping `map` owns.
        if unsafe { libc::madvise(map.0.cast(), map.1, libc::MADV_PAGEOUT) } != 0 {
            return None;
        }
        out = out.min(t.elapsed().as_nanos() as f64 / pages as f64);
        let t = Instant::now();
        map.touch(6);
        back = back.min(t.elapsed().as_nanos() as f64 / pages as f64);
    }
    Some((out, back))
}

/// The host kernel: FOLL_GET through GUP-fast, per page. vmsplice(2) of a
/// populated buffer into a pipe takes a reference on each page
/// (`iov_iter_get_pages2()`), and splice(2) of the pipe to /dev/null drops
/// them without copying a byte.
fn host_vmsplice(pages: usize, reps: u32) -> Option<f64> {
    use std::os::fd::AsRawFd;
    const CHUNK: usize = 256; // pages per pipe fill: a 1 MiB pipe
    let chunk_len = CHUNK * PAGE_SIZE as usize;
    let map = HostMapping::new(pages, true)?;
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .ok()?;
    // The pipes `run --host` pins through.
    let (r, w) = crate::host::sys::pipe_for(chunk_len as u64).ok()?;
    let mut ok = true;
    let ns = best(reps, || {
        let mut off = 0;
        while ok && off < map.1 {
            let len = chunk_len.min(map.1 - off);
            let iov = libc::iovec {
                // SAFETY: inside the mapping `map` owns.
                iov_base: unsafe { map.0.add(off) }.cast(),
                iov_len: len,
            };
            // SAFETY: plain syscalls on the pipe and /dev/null, which this
            // function owns; vmsplice reads only inside `map`.
            let (put, drained) = unsafe {
                (
                    libc::vmsplice(w.as_raw_fd(), &iov, 1, 0),
                    libc::splice(
                        r.as_raw_fd(),
                        std::ptr::null_mut(),
                        null.as_raw_fd(),
                        std::ptr::null_mut(),
                        len,
                        0,
                    ),
                )
            };
            ok = put == len as isize && drained == len as isize;
            off += len;
        }
        pages as u64
    });
    ok.then_some(ns)
}

/// The host kernel: FOLL_PIN | FOLL_LONGTERM through io_uring fixed buffers,
/// per page: IORING_REGISTER_BUFFERS pins the whole buffer
/// (`io_pin_pages()` → `pin_user_pages_fast()`), IORING_UNREGISTER_BUFFERS
/// unpins it (`crate::host::uring`, which `run --host` pins through). `None`
/// where io_uring is unavailable or disabled.
fn host_io_uring_pin(pages: usize, reps: u32) -> Option<f64> {
    use crate::host::uring;
    let map = HostMapping::new(pages, true)?;
    let ring = uring::setup().ok()?;
    let mut ok = true;
    let ns = best(reps, || {
        ok &= uring::register_buffer(&ring, map.0 as u64, map.1 as u64)
            .and_then(|()| uring::unregister(&ring))
            .is_ok();
        pages as u64
    });
    // The ring goes before the mapping it pinned.
    drop(ring);
    ok.then_some(ns)
}

/// A machine whose RAM the host backs up front (`prealloc`, QEMU's
/// prealloc=on), as a real machine's is: the host's first-touch faults are
/// not the model's work, and without it they land in whichever repetition
/// writes a page first (a migration's copy, a COW's copy).
fn machine(ram: u64) -> Machine {
    machine_with_swap(ram, 0)
}

fn machine_with_swap(ram: u64, swap: u64) -> Machine {
    boot(ram, swap, true)
}

fn boot(ram: u64, swap: u64, prealloc: bool) -> Machine {
    Machine::boot(
        MachineConfig {
            ram,
            swap,
            prealloc,
            ..Default::default()
        },
        Default::default(),
    )
    .expect("the bench machine boots")
}

/// Runs the benchmark and prints its table (or JSON).
pub fn bench(quick: bool, json: bool) -> ExitCode {
    if cfg!(mmsim_shuttle) {
        eprintln!(
            "mmsim: this is the explorer build (--cfg mmsim_shuttle): bench with the normal build"
        );
        return ExitCode::from(2);
    }
    let reps = if quick { 2 } else { 5 };
    let pages: usize = if quick { 4096 } else { 65536 };
    // A spinner naming the step, on a terminal after a second, as `run` has.
    let spinner = (!json && std::io::stderr().is_terminal()).then(crate::RunSpinner::start);
    let step = |what: &str| {
        if let Some(s) = &spinner {
            s.say(what);
        }
    };
    step("floors: memset, memcpy, atomic increment");
    // The floors are what every ratio divides by: a noisy one flatters the
    // model, so they get the most repetitions.
    let f = floors(reps * 4);
    step("host: first touch, fork, COW");

    // Host first: no model thread exists yet when it forks.
    let host_touch = host_first_touch(pages, reps);
    // A fork takes well under a millisecond in --quick: the best of more
    // of them, on both sides.
    let fork_reps = reps * 4;
    let host_fork_pte = host_fork(pages, fork_reps, false);
    let host_cow = host_fork(pages, fork_reps, true);
    step("host: GUP through vmsplice and io_uring, MADV_PAGEOUT");
    let host_get = host_vmsplice(pages, reps);
    let host_pin = host_io_uring_pin(pages, reps);
    let host_swap = host_pageout(pages, reps);

    step("model: first touch, fork, COW");
    let len = pages as u64 * PAGE_SIZE;
    // Room for the mapping, its COW copies and the page tables; all of it
    // is preallocated, so no more than that.
    let ram = (4 * len).next_multiple_of(128 << 20).max(512 << 20);
    let m = machine_with_swap(ram, 2 * len);
    let mm = m.mm_alloc().expect("mm");
    let rw = VM_READ | VM_WRITE;
    let model_touch = best(reps, || {
        let a = m.mmap_anon(&mm, len, rw, false).expect("mmap");
        for i in 0..pages as u64 {
            m.user_write(&mm, a + i * PAGE_SIZE, &[1]).expect("write");
        }
        m.munmap(&mm, a, len).expect("munmap");
        pages as u64
    });
    let a = m.mmap_anon(&mm, len, rw, true).expect("mmap populated");
    let mut fork_ns = f64::INFINITY;
    let mut cow_ns = f64::INFINITY;
    for _ in 0..fork_reps {
        let t = Instant::now();
        let child = m.dup_mm(&mm).expect("fork");
        fork_ns = fork_ns.min(t.elapsed().as_nanos() as f64 / pages as f64);
        let t = Instant::now();
        for i in 0..pages as u64 {
            m.user_write(&mm, a + i * PAGE_SIZE, &[7]).expect("COW");
        }
        cow_ns = cow_ns.min(t.elapsed().as_nanos() as f64 / pages as f64);
        m.exit_mmap(&child);
    }
    step("model: GUP, MADV_PAGEOUT and swap-in");
    let gup = |flags: GupFlags| {
        best(reps, || {
            let taken = m
                .get_user_pages_fast(&mm, a, pages as u64, flags)
                .expect("GUP");
            m.unpin_user_pages(taken);
            pages as u64
        })
    };
    let model_get = gup(GupFlags::default());
    let model_pin = gup(GupFlags {
        write: true,
        pin: true,
        longterm: true,
    });
    let (mut pageout, mut swapin) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        let t = Instant::now();
        m.madvise_pageout(&mm, a, len).expect("MADV_PAGEOUT");
        let elapsed = t.elapsed();
        // Per page that really went out (a pinned or shared one stays).
        let out = (0..pages as u64)
            .filter(|i| m.pte_at(&mm, a + i * PAGE_SIZE).swap_entry().is_some())
            .count()
            .max(1);
        pageout = pageout.min(elapsed.as_nanos() as f64 / out as f64);
        let t = Instant::now();
        for i in 0..pages as u64 {
            m.user_write(&mm, a + i * PAGE_SIZE, &[6]).expect("swap-in");
        }
        swapin = swapin.min(t.elapsed().as_nanos() as f64 / out as f64);
    }
    m.exit_mmap(&mm);
    drop(m);

    step("model: online and offline of a 128 MiB block");
    let m = machine(512 << 20);
    let block = 128u64 << 20;
    m.add_memory(0, PhysAddr(4 << 30), block).expect("add");
    let blk = m.hotplug().find_block(32).expect("block");
    let task = Task::new();
    // A cycle takes a fraction of a millisecond, where one timer interrupt
    // or a page of host reclaim shows: the best of many, at little cost.
    let online_offline = best(reps * 20, || {
        m.online_memory_block(&blk, OnlineType::OnlineMovable)
            .expect("online");
        m.device_offline(&blk, &task).expect("offline");
        1
    });
    // An offline that migrates 64 MiB of anonymous memory.
    let migrate_bytes = 64u64 << 20;
    let mut migrate = f64::INFINITY;
    let mut moved_pages = 0;
    let in_block = PhysAddr(4 << 30).pfn()..PhysAddr((4 << 30) + block).pfn();
    for _ in 0..reps {
        m.online_memory_block(&blk, OnlineType::OnlineMovable)
            .expect("online");
        let mm = m.mm_alloc().expect("mm");
        // ZONE_MOVABLE serves user memory first: the block fills.
        let a = m.mmap_anon(&mm, migrate_bytes, rw, true).expect("populate");
        // What the offline will move: the mapping's pages in the block.
        moved_pages = (0..migrate_bytes / PAGE_SIZE)
            .filter(|i| in_block.contains(&m.pte_at(&mm, a + i * PAGE_SIZE).pfn()))
            .count() as u64;
        let t = Instant::now();
        m.device_offline(&blk, &task).expect("offline");
        migrate = migrate.min(t.elapsed().as_nanos() as f64);
        m.exit_mmap(&mm);
    }
    drop(m);
    let memmap_bytes = (block / PAGE_SIZE) as f64 * 64.0;

    let two_atomics = 2.0 * f.atomic;
    let page_copy = f.memcpy * PAGE_SIZE as f64;
    let mut rows = vec![
        Row {
            name: "mmap + first touch".into(),
            unit: "page",
            model_ns: model_touch,
            host_ns: host_touch,
            floor_ns: f.memset * PAGE_SIZE as f64,
            floor: "memset of 4 KiB",
        },
        Row {
            name: "fork of a populated mapping".into(),
            unit: "PTE",
            model_ns: fork_ns,
            host_ns: host_fork_pte,
            floor_ns: f.atomic + f.memcpy * 8.0,
            floor: "an atomic increment and an 8-byte copy",
        },
        Row {
            name: "COW fault after fork".into(),
            unit: "page",
            model_ns: cow_ns,
            host_ns: host_cow,
            floor_ns: page_copy,
            floor: "memcpy of 4 KiB",
        },
        Row {
            name: "GUP FOLL_GET (host: vmsplice)".into(),
            unit: "page",
            model_ns: model_get,
            host_ns: host_get,
            floor_ns: two_atomics,
            floor: "two atomic increments (get and put)",
        },
        Row {
            name: "GUP FOLL_PIN|LONGTERM (host: io_uring)".into(),
            unit: "page",
            model_ns: model_pin,
            host_ns: host_pin,
            floor_ns: two_atomics,
            floor: "two atomic increments (pin and unpin)",
        },
        Row {
            name: "MADV_PAGEOUT to swap".into(),
            unit: "page",
            model_ns: pageout,
            host_ns: host_swap.map(|(out, _)| out),
            floor_ns: page_copy,
            floor: "memcpy of 4 KiB",
        },
        Row {
            name: "swap-in fault".into(),
            unit: "page",
            model_ns: swapin,
            host_ns: host_swap.map(|(_, back)| back),
            floor_ns: page_copy,
            floor: "memcpy of 4 KiB",
        },
        Row {
            name: "online + offline of a free 128 MiB block".into(),
            unit: "block",
            model_ns: online_offline,
            host_ns: None,
            floor_ns: f.memset * memmap_bytes,
            floor: "writing its 2 MiB memmap",
        },
        Row {
            name: format!("offline migrating {} MiB", (moved_pages * PAGE_SIZE) >> 20),
            unit: "offline",
            model_ns: migrate,
            host_ns: None,
            floor_ns: f.memcpy * (moved_pages * PAGE_SIZE) as f64,
            floor: "memcpy of the bytes it moves",
        },
    ];
    step("model: order-0 alloc + free");
    rows.push(order0_alloc_free(&f, reps));
    if !quick {
        step("model: boot of 1 TiB");
        let t = Instant::now();
        // Not preallocated: booting a terabyte that nothing writes costs the
        // host next to nothing, which is the point of the row.
        drop(boot(1 << 40, 0, false));
        // One order-10 free-list head (a 64-byte struct page) per 4 MiB.
        let heads = (1u64 << 40) / (4 << 20);
        rows.push(Row {
            name: "boot of 1 TiB".into(),
            unit: "boot",
            model_ns: t.elapsed().as_nanos() as f64,
            host_ns: None,
            floor_ns: f.memset * (heads * 64) as f64,
            floor: "writing its free-list heads (64 B per 4 MiB)",
        });
    }
    drop(spinner);
    print_rows(&rows, &f, json)
}

/// Model-only: one order-0 `alloc_pages()` and the `put_page()` that frees
/// it, on one thread, in a loop (the per-CPU lists' fast path once they are
/// warm). The floor is two uncontended atomic increments: taking a page off
/// a list and putting it back each touch one shared word at least.
fn order0_alloc_free(f: &Floors, reps: u32) -> Row {
    use mmsim::zone::alloc::Gfp;
    const PAIRS: u64 = 1 << 20;
    let m = machine(1 << 30);
    let ns = best(reps, || {
        for _ in 0..PAIRS {
            let pfn = m.alloc_pages(Gfp::MOVABLE, 0, 0).expect("order-0 page");
            m.put_pages(black_box(pfn), 0);
        }
        PAIRS
    });
    Row {
        name: "order-0 alloc + free".into(),
        unit: "pair",
        model_ns: ns,
        host_ns: None,
        floor_ns: 2.0 * f.atomic,
        floor: "two uncontended atomic increments",
    }
}

fn human_ns(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.2} s", n / 1e9),
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.2} µs", n / 1e3),
        n => format!("{n:.1} ns"),
    }
}

fn print_rows(rows: &[Row], f: &Floors, json: bool) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = if json {
        let doc = json!({
            "floors": {
                "memset_gib_s": 1.0 / f.memset / 1.073_741_824,
                "memcpy_gib_s": 1.0 / f.memcpy / 1.073_741_824,
                "atomic_increment_ns": f.atomic,
            },
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
            "host_swap": host_has_swap(),
            "model_prealloc": true,
            "rows": rows.iter().map(|r| json!({
                "operation": r.name,
                "unit": r.unit,
                "model_ns": r.model_ns,
                "host_ns": r.host_ns,
                "floor_ns": r.floor_ns,
                "floor": r.floor,
                "model_over_host": r.host_ns.map(|h| r.model_ns / h),
                "model_over_floor": r.model_ns / r.floor_ns,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc:#}")
    } else {
        let header = format!(
            "floors: memset {:.1} GiB/s, memcpy {:.1} GiB/s, atomic increment {:.1} ns; model RAM preallocated; host kernel {}{}",
            1.0 / f.memset / 1.073_741_824,
            1.0 / f.memcpy / 1.073_741_824,
            f.atomic,
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim(),
            if host_has_swap() {
                ""
            } else {
                " (no swap: MADV_PAGEOUT rows have no host figure)"
            }
        );
        writeln!(out, "{header}").and_then(|()| {
            writeln!(
                out,
                "{:<42} {:>7} {:>11} {:>11} {:>11} {:>11} {:>11}  floor",
                "operation", "per", "model", "host", "floor", "model/host", "model/floor"
            )?;
            rows.iter().try_for_each(|r| {
                writeln!(
                    out,
                    "{:<42} {:>7} {:>11} {:>11} {:>11} {:>11} {:>11}  {}",
                    r.name,
                    r.unit,
                    human_ns(r.model_ns),
                    r.host_ns.map_or("-".into(), human_ns),
                    human_ns(r.floor_ns),
                    r.host_ns
                        .map_or("-".into(), |h| format!("{:.1}x", r.model_ns / h)),
                    format!("{:.1}x", r.model_ns / r.floor_ns),
                    r.floor
                )
            })
        })
    };
    crate::finish(written, 0)
}
