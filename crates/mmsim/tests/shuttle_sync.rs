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
//! Then each primitive alone (issue 11, item 5): RCU grace periods against
//! a nested and a plain reader with a `synchronize_rcu` and a `call_rcu`
//! updater, percpu-rwsem exclusion and sharing, seqcount retry, and
//! `page_ref_freeze` against `get_page_unless_zero`. The rwsem's queueing
//! rules are checked under shuttle in `sync::rwsem`'s own tests, which can
//! see its wait list.
//!
//! Run with
//! `RUSTFLAGS="--cfg mmsim_shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p mmsim --release --test shuttle_sync`
//! (and `--lib sync::` for the primitives' own shuttle tests).

#![cfg(mmsim_shuttle)]

use mmsim::page::Page;
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

// ----- the primitives one by one (issue 11, item 5) ------------------------

/// Runs `scenario` under shuttle's random scheduler and under PCT (depth 3),
/// `schedules` times each.
fn random_and_pct(scenario: fn(), schedules: usize) {
    shuttle::check_random(scenario, schedules);
    shuttle::check_pct(scenario, schedules, 3);
}

/// Ids of the objects an RCU-protected pointer can name: the initial one and
/// one installed by each updater.
const OBJECTS: usize = 3;

/// An RCU-protected "pointer" (an object id) and each object's freed flag.
struct RcuSlot {
    rcu: Rcu,
    current: AtomicU64,
    freed: [AtomicBool; OBJECTS],
}

impl RcuSlot {
    /// `rcu_dereference` inside `_section`: the object named now.
    fn deref(&self, _section: &mmsim::sync::RcuReadGuard<'_>) -> usize {
        // Acquire: pairs with the AcqRel swap in replace.
        self.current.load(Ordering::Acquire) as usize
    }

    fn assert_live(&self, object: usize, who: &str) {
        assert!(
            !self.freed[object].load(Ordering::Relaxed),
            "{who} saw object {object} after its grace period"
        );
    }

    /// `rcu_assign_pointer` of `new`, returning the retired object.
    fn replace(&self, new: usize) -> usize {
        // AcqRel: Release publishes `new` to the Acquire in deref; Acquire
        // orders this updater after the one it replaces.
        self.current.swap(new as u64, Ordering::AcqRel) as usize
    }
}

/// `synchronize_rcu` and `call_rcu` from two updaters against a nested and a
/// plain reader: an object is marked freed only after a grace period that
/// began after it was unpublished, so no reader holding a section that saw
/// it ever sees it freed.
fn rcu_grace_periods_against_nested_and_concurrent_readers() {
    let slot = Arc::new(RcuSlot {
        rcu: Rcu::new(),
        current: AtomicU64::new(0),
        freed: [
            AtomicBool::new(false),
            AtomicBool::new(false),
            AtomicBool::new(false),
        ],
    });
    let nested = {
        let s = Arc::clone(&slot);
        thread::spawn(move || {
            let outer = s.rcu.read_lock();
            let object = {
                let inner = s.rcu.read_lock();
                let object = s.deref(&inner);
                thread::yield_now();
                s.assert_live(object, "nested reader (inner)");
                object
            };
            // Leaving the inner section must not end the outer one.
            thread::yield_now();
            s.assert_live(object, "nested reader (outer)");
            drop(outer);
        })
    };
    let plain = {
        let s = Arc::clone(&slot);
        thread::spawn(move || {
            let section = s.rcu.read_lock();
            let object = s.deref(&section);
            thread::yield_now();
            s.assert_live(object, "plain reader");
        })
    };
    let sync_updater = {
        let s = Arc::clone(&slot);
        thread::spawn(move || {
            let old = s.replace(1);
            s.rcu.synchronize();
            s.freed[old].store(true, Ordering::Relaxed);
        })
    };
    let async_updater = {
        let s = Arc::clone(&slot);
        thread::spawn(move || {
            let old = s.replace(2);
            let cb = Arc::clone(&s);
            s.rcu.call_rcu(Box::new(move || {
                cb.freed[old].store(true, Ordering::Relaxed)
            }));
        })
    };
    for t in [nested, plain, sync_updater, async_updater] {
        t.join().unwrap();
    }
    slot.rcu.barrier();
    let last = slot.current.load(Ordering::Relaxed) as usize;
    for object in 0..OBJECTS {
        assert_eq!(
            slot.freed[object].load(Ordering::Relaxed),
            object != last,
            "object {object}: every retired object is freed once, the live one never"
        );
    }
}

#[test]
fn rcu_grace_periods_against_nested_and_concurrent_readers_random_and_pct() {
    random_and_pct(
        rcu_grace_periods_against_nested_and_concurrent_readers,
        1000,
    );
}

/// `percpu_down_write` excludes readers and `percpu_down_read` readers
/// exclude nobody: the writer updates a pair no reader may see torn, and
/// each reader finishes a nested wait for the other reader while inside.
fn percpu_rwsem_writer_excludes_readers_readers_share() {
    let sem = Arc::new(PercpuRwSem::new());
    let pair = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let reader_in = Arc::new(AtomicBool::new(false));
    let first_reader = {
        let (sem, pair, reader_in) = (Arc::clone(&sem), Arc::clone(&pair), Arc::clone(&reader_in));
        thread::spawn(move || {
            let _read = sem.down_read();
            reader_in.store(true, Ordering::SeqCst);
            let (a, b) = (
                pair.0.load(Ordering::Relaxed),
                pair.1.load(Ordering::Relaxed),
            );
            assert_eq!(a, b, "reader inside while the writer was mid-update");
            reader_in.store(false, Ordering::SeqCst);
        })
    };
    let writer = {
        let (sem, pair, reader_in) = (Arc::clone(&sem), Arc::clone(&pair), Arc::clone(&reader_in));
        thread::spawn(move || {
            let _write = sem.down_write();
            assert!(sem.is_write_locked());
            assert!(
                !reader_in.load(Ordering::SeqCst),
                "writer entered beside a reader"
            );
            pair.0.fetch_add(1, Ordering::Relaxed);
            thread::yield_now();
            pair.1.fetch_add(1, Ordering::Relaxed);
        })
    };
    // The main thread is a second reader, concurrent with both.
    {
        let _read = sem.down_read();
        let (a, b) = (
            pair.0.load(Ordering::Relaxed),
            pair.1.load(Ordering::Relaxed),
        );
        assert_eq!(a, b, "reader inside while the writer was mid-update");
    }
    first_reader.join().unwrap();
    writer.join().unwrap();
    // Readers share: a reader holding the lock waits for another reader to
    // get in and out (a deadlock here if readers excluded each other; only
    // with no writer around, as a writer queued in between would make the
    // kernel's percpu_down_read deadlock too).
    let outer = sem.down_read();
    let other = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || drop(sem.down_read()))
    };
    other.join().unwrap();
    drop(outer);
    assert_eq!(pair.0.load(Ordering::Relaxed), 1);
}

#[test]
fn percpu_rwsem_writer_excludes_readers_readers_share_random_and_pct() {
    random_and_pct(percpu_rwsem_writer_excludes_readers_readers_share, 1000);
}

/// `read_seqcount_begin`/`read_seqcount_retry`: a reader accepts a pair
/// only if no write overlapped it, so it never accepts a torn one, however
/// the two writes interleave with it.
fn seqcount_reader_never_accepts_a_torn_pair() {
    let seq = Arc::new(SeqCount::new());
    let pair = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let writer = {
        let (seq, pair) = (Arc::clone(&seq), Arc::clone(&pair));
        thread::spawn(move || {
            for round in 1..=2 {
                seq.write_begin();
                pair.0.store(round, Ordering::Relaxed);
                thread::yield_now();
                pair.1.store(round, Ordering::Relaxed);
                seq.write_end();
            }
        })
    };
    let mut last = 0;
    for _ in 0..3 {
        let (a, b) = loop {
            let start = seq.read_begin();
            let a = pair.0.load(Ordering::Relaxed);
            let b = pair.1.load(Ordering::Relaxed);
            if !seq.read_retry(start) {
                break (a, b);
            }
        };
        assert_eq!(a, b, "reader accepted a torn pair");
        assert!(a >= last, "reader went back in time");
        last = a;
    }
    writer.join().unwrap();
}

#[test]
fn seqcount_reader_never_accepts_a_torn_pair_random_and_pct() {
    random_and_pct(seqcount_reader_never_accepts_a_torn_pair, 1000);
}

/// `page_ref_freeze` against `get_page_unless_zero`: while the count is
/// frozen no speculative get succeeds; a get that succeeded first makes the
/// freeze fail; `page_ref_unfreeze` lets gets succeed again.
fn page_ref_freeze_against_try_get() {
    let page = Arc::new(Page::new());
    page.set_ref_count(1);
    let frozen = Arc::new(AtomicBool::new(false));
    let getter = {
        let (page, frozen) = (Arc::clone(&page), Arc::clone(&frozen));
        thread::spawn(move || {
            for _ in 0..2 {
                if page.try_get() {
                    assert!(
                        !frozen.load(Ordering::SeqCst),
                        "try_get succeeded on a frozen page"
                    );
                    thread::yield_now();
                    assert!(!page.ref_dec_and_test(), "the owner's reference vanished");
                }
            }
        })
    };
    let owner_froze = page.ref_freeze(1);
    if owner_froze {
        frozen.store(true, Ordering::SeqCst);
        assert_eq!(page.ref_count(), 0);
        thread::yield_now();
        assert!(!page.try_get(), "try_get succeeded on a frozen page");
        frozen.store(false, Ordering::SeqCst);
        page.ref_unfreeze(1);
    }
    getter.join().unwrap();
    assert_eq!(page.ref_count(), 1, "unfreeze restores the owner's count");
    assert!(page.try_get(), "a get after unfreeze succeeds");
    assert_eq!(page.ref_count(), 2);
}

#[test]
fn page_ref_freeze_against_try_get_random_and_pct() {
    random_and_pct(page_ref_freeze_against_try_get, 1000);
}

/// Reachability of both `page_ref_freeze` outcomes, so the test above
/// exercises each: some schedule has the getter's reference make the freeze
/// fail.
#[test]
#[should_panic(expected = "a held speculative reference made the freeze fail")]
fn page_ref_freeze_can_fail_against_a_held_reference() {
    shuttle::check_random(
        || {
            let page = Arc::new(Page::new());
            page.set_ref_count(1);
            let getter = {
                let page = Arc::clone(&page);
                thread::spawn(move || {
                    if page.try_get() {
                        thread::yield_now();
                        page.ref_dec();
                    }
                })
            };
            let froze = page.ref_freeze(1);
            if froze {
                page.ref_unfreeze(1);
            }
            getter.join().unwrap();
            assert!(froze, "a held speculative reference made the freeze fail");
        },
        1000,
    );
}
