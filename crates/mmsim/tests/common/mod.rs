//! Helpers shared by the integration tests (each test crate uses some).
#![allow(dead_code)]

use mmsim::hotplug::{with_signal_after, MemoryBlockState, Task};
use mmsim::page::{Pfn, PhysAddr};
use mmsim::sync::atomic::{AtomicBool, Ordering};
use mmsim::sync::{thread, Arc};
use mmsim::{Errno, Machine, MachineConfig};

/// A 512 MiB machine with `swap` bytes of swap and the default variants.
pub fn small_machine(swap: u64) -> Machine {
    Machine::boot(
        MachineConfig {
            ram: 512 << 20,
            swap,
            ..Default::default()
        },
        Default::default(),
    )
    .expect("boot")
}

/// A sysfs write from a task that is signalled after `ms` milliseconds and
/// every millisecond after that until the write returns
/// (`mmsim::hotplug::with_signal_after`: an offline may loop forever on a
/// page another thread holds, and a signal that arrives while the writer
/// waits for device_hotplug_lock is consumed by the syscall restart).
pub fn write_with_signal(m: &Machine, path: &str, value: &str, ms: u64) -> Result<(), Errno> {
    with_signal_after(std::time::Duration::from_millis(ms), |task| {
        m.sysfs_write(path, value, task)
    })
}

/// A tiny xorshift so each thread's choices are reproducible from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Pages of a 128 MiB memory block.
pub const BLOCK_PAGES: u64 = 32768;

/// A default machine with `blocks` memory blocks hot-added from block
/// `first` on and onlined to ZONE_MOVABLE through sysfs.
pub fn machine_with_movable_blocks(first: u64, blocks: u64) -> Arc<Machine> {
    let m = Arc::new(Machine::boot(MachineConfig::default(), Default::default()).unwrap());
    m.add_memory(0, PhysAddr(first * (128 << 20)), blocks * (128 << 20))
        .unwrap();
    for b in first..first + blocks {
        let path = format!("devices/system/memory/memory{b}/state");
        m.sysfs_write(&path, "online_movable", &Task::new())
            .unwrap();
    }
    m
}

/// Joins `workers`, then stops and joins a PFN walker that reads
/// kpageflags, kpagecount and kcore over `blocks` blocks from block `first`
/// until then.
pub fn run_with_pfn_walker(
    m: &Arc<Machine>,
    first: u64,
    blocks: u64,
    workers: Vec<thread::JoinHandle<()>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let walker = {
        let (m, stop) = (m.clone(), stop.clone());
        thread::spawn(move || {
            let mut rng = Rng(99);
            // Acquire pairs with the Release store of `stop` below.
            while !stop.load(Ordering::Acquire) {
                let pfn = Pfn(first * BLOCK_PAGES + rng.below(blocks * BLOCK_PAGES));
                let _ = m.kpageflags(pfn);
                let _ = m.kpagecount(pfn);
                let _ = m.kcore_page(pfn, 0, 64);
            }
        })
    };
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Release); // pairs with the walker's Acquire
    walker.join().unwrap();
}

/// Node 0's free pages: those on the buddy free lists (NR_FREE_PAGES) and
/// those waiting on the per-CPU lists, which `free_unref_page()` keeps out
/// of NR_FREE_PAGES (`account_freepages()`).
pub fn free_pages(m: &Machine) -> i64 {
    let zones = m.nodes()[0].zones.iter();
    zones.map(|z| z.nr_free() + z.pcp.count() as i64).sum()
}

/// Offlines every block of `blocks` from `first` on that is online; each
/// must succeed.
pub fn offline_online_blocks(m: &Machine, first: u64, blocks: u64) {
    for b in first..first + blocks {
        let blk = m.hotplug().find_block(b).unwrap();
        if blk.state() == MemoryBlockState::Online {
            m.device_offline(&blk, &Task::new()).unwrap();
        }
    }
}

/// A `state` write racing other hotplug users, from a task signalled after
/// `ms` milliseconds: it may fail only with EINVAL (the block is not in the
/// state the write expects), EBUSY (isolation, an unmovable page) or EINTR
/// (the signal). Whether it succeeded.
pub fn racing_state_write(m: &Machine, path: &str, value: &str, ms: u64) -> bool {
    match write_with_signal(m, path, value, ms) {
        Ok(()) => true,
        Err(e) => {
            assert!(
                [Errno::EINVAL, Errno::EBUSY, Errno::EINTR].contains(&e),
                "{path} <- {value}: {e}"
            );
            false
        }
    }
}

/// tools/mm/page-types from $MMSIM_PAGE_TYPES or PATH
/// (`.ci/install-page-types` builds it).
pub fn page_types() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("MMSIM_PAGE_TYPES") {
        return Some(std::path::PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("page-types"))
        .find(|p| p.is_file())
}

/// The summary rows of a page-types run: (flags, page count).
pub fn page_types_summary(out: &[u8]) -> Vec<(u64, u64)> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let flags = u64::from_str_radix(cols.next()?.strip_prefix("0x")?, 16).ok()?;
            Some((flags, cols.next()?.parse().ok()?))
        })
        .collect()
}

/// Runs a test body: directly on real threads; in the explorer build
/// (`--cfg mmsim_shuttle`) as one shuttle execution under a random schedule
/// seeded by `name` (FNV-1a), without a step bound, so every atomic and
/// lock of the model is a scheduling point and the body's threads are
/// shuttle tasks. Returns what the body returned.
pub fn model_run<R: Send + 'static>(name: &str, body: impl Fn() -> R + Send + Sync + 'static) -> R {
    #[cfg(not(mmsim_shuttle))]
    {
        let _ = name;
        body()
    }
    #[cfg(mmsim_shuttle)]
    {
        #![allow(clippy::disallowed_types)] // the result leaves the execution
        use std::sync::{Arc, Mutex};
        let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let result = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&result);
        let mut config = shuttle::Config::new();
        config.max_steps = shuttle::MaxSteps::None;
        shuttle::Runner::new(
            shuttle::scheduler::RandomScheduler::new_from_seed(seed, 1),
            config,
        )
        .run(move || *slot.lock().unwrap() = Some(body()));
        let r = result.lock().unwrap().take();
        r.expect("the execution ran")
    }
}

/// [`model_run`] of a `#[test]` body, seeded by the test's name.
pub fn model_test(body: impl Fn() + Send + Sync + 'static) {
    let name = std::thread::current().name().unwrap_or("test").to_owned();
    model_run(&name, body)
}

/// How many 1 ms sleeps [`wait_until`] allows: at least 60 s on real
/// threads; under shuttle a sleep is one yield, and the awaited task may
/// need hundreds of thousands of steps.
const WAIT_POLLS: u64 = if cfg!(mmsim_shuttle) {
    100_000_000
} else {
    60_000
};

/// Polls until `cond` holds. The bound (at least 60 s of 1 ms sleeps) only
/// turns a hang into a failure; orderings are asserted with flags, never
/// with time.
#[allow(dead_code)]
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..WAIT_POLLS {
        if cond() {
            return;
        }
        thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(cond(), "gave up waiting until {what}");
}
