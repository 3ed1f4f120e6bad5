//! The `sync` primitives composed the way the machine composes them, under
//! shuttle's schedulers, through the public API only.
//!
//! The scenario is a miniature of hot-remove against lockless PFN walkers
//! (`memmap_free=rcu`, `pfn_walker=active`): the remover takes
//! `mem_hotplug_lock` for writing, clears the section's online bit, updates
//! the zone span under a seqcount, releases the lock, waits for an RCU grace
//! period and only then poisons the section's memmap. A walker that checks
//! the online bit inside an RCU read-side section must never read poison;
//! readers of the span must never see it torn; readers holding
//! `mem_hotplug_lock` for reading must see the online count and bits agree.
//!
//! Run with
//! `RUSTFLAGS="--cfg mmsim_shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p mmsim --test shuttle_sync`.

#![cfg(mmsim_shuttle)]

use mmsim::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use mmsim::sync::{thread, Arc, Mutex, PercpuRwSem, Rcu, SeqCount, SpinLock};

const SECTIONS: usize = 2;
const VALID: u64 = 0x600d;
const POISON: u64 = 0xdead;

struct MiniMachine {
    rcu: Rcu,
    mem_hotplug_lock: PercpuRwSem,
    /// Per section: online (read locklessly under RCU by walkers).
    online: [AtomicBool; SECTIONS],
    /// Per section: one word standing for its memmap.
    memmap: [AtomicU64; SECTIONS],
    /// Online sections, kept equal to the number of set `online` bits by
    /// writers of `mem_hotplug_lock`.
    nr_online: Mutex<usize>,
    /// Zone span `[start, end)` in sections, under `span_seq`; writers
    /// serialise on `span_lock` (the zone's span_seqlock pairs a spinlock
    /// with a seqcount).
    span_lock: SpinLock<()>,
    span_seq: SeqCount,
    span_start: AtomicU64,
    span_end: AtomicU64,
}

impl MiniMachine {
    fn boot() -> Self {
        Self {
            rcu: Rcu::new(),
            mem_hotplug_lock: PercpuRwSem::new(),
            online: [AtomicBool::new(true), AtomicBool::new(true)],
            memmap: [AtomicU64::new(VALID), AtomicU64::new(VALID)],
            nr_online: Mutex::new(SECTIONS),
            span_lock: SpinLock::new(()),
            span_seq: SeqCount::new(),
            span_start: AtomicU64::new(0),
            span_end: AtomicU64::new(SECTIONS as u64),
        }
    }

    /// Offline and remove the last section, freeing its memmap after a
    /// grace period.
    fn remove_last_section(&self) {
        let section = SECTIONS - 1;
        {
            let _hotplug = self.mem_hotplug_lock.down_write();
            // Release: pairs with the Acquire load in pfn_walk.
            self.online[section].store(false, Ordering::Release);
            *self.nr_online.lock() -= 1;
            let _span = self.span_lock.lock();
            self.span_seq.write_begin();
            self.span_end.store(0, Ordering::Relaxed);
            thread::yield_now();
            self.span_end.store(section as u64, Ordering::Relaxed);
            self.span_seq.write_end();
        }
        self.rcu.synchronize();
        self.memmap[section].store(POISON, Ordering::Relaxed);
    }

    /// A lockless walker: every online section's memmap is valid.
    fn pfn_walk(&self) {
        for section in 0..SECTIONS {
            let _rcu = self.rcu.read_lock();
            // Acquire: pairs with the Release store in remove_last_section.
            if self.online[section].load(Ordering::Acquire) {
                thread::yield_now();
                assert_eq!(
                    self.memmap[section].load(Ordering::Relaxed),
                    VALID,
                    "walker touched a freed memmap"
                );
            }
        }
    }

    /// A span reader: `[start, end)` is never torn.
    fn read_span(&self) -> (u64, u64) {
        loop {
            let seq = self.span_seq.read_begin();
            let start = self.span_start.load(Ordering::Relaxed);
            let end = self.span_end.load(Ordering::Relaxed);
            if !self.span_seq.read_retry(seq) {
                assert!(start < end, "torn zone span [{start}, {end})");
                return (start, end);
            }
        }
    }

    /// A `get_online_mems` reader: the count matches the bits.
    fn count_online(&self) {
        let _hotplug = self.mem_hotplug_lock.down_read();
        let bits = self
            .online
            .iter()
            .filter(|online| online.load(Ordering::Relaxed))
            .count();
        assert_eq!(
            *self.nr_online.lock(),
            bits,
            "online count and bits disagree"
        );
    }
}

fn hot_remove_against_walkers() {
    let machine = Arc::new(MiniMachine::boot());
    let actors: Vec<_> = (0..3)
        .map(|role| {
            let m = Arc::clone(&machine);
            thread::spawn(move || match role {
                0 => m.pfn_walk(),
                1 => {
                    m.read_span();
                }
                _ => m.count_online(),
            })
        })
        .collect();
    machine.remove_last_section();
    for actor in actors {
        actor.join().unwrap();
    }
    assert_eq!(machine.read_span(), (0, 1));
    machine.count_online();
}

#[test]
fn hot_remove_against_walkers_random() {
    shuttle::check_random(hot_remove_against_walkers, 2000);
}

#[test]
fn hot_remove_against_walkers_pct() {
    shuttle::check_pct(hot_remove_against_walkers, 2000, 3);
}
