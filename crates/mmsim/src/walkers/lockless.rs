//! Lockless memmap readers: their RCU section, the use-after-free check they
//! make per PFN, and the hooks tests use to provoke one.
//!
//! # The protocol
//!
//! A lockless reader — kpageflags, kpagecount, kcore, GUP-fast, the
//! compaction scanner — takes no hotplug lock, so a section's memmap may be
//! freed while it looks at a slot. For each PFN it:
//!
//! 1. enters a read-side section ([`Machine::reader_rcu_lock`]);
//! 2. looks the slot up with the guard ([`Machine::pfn_walker_page`], or
//!    [`SparseMem::memmap_slot`](crate::sparse::SparseMem::memmap_slot) for
//!    GUP-fast, which has its PFN from a PTE); the slot borrows from the
//!    guard;
//! 3. uses it;
//! 4. calls [`Machine::memmap_slot_done`] once, after its last use of the
//!    slot and before acting on what it read.
//!
//! Step 4 compares the free generation of the slot's memmap with the one
//! noted at step 2. A change is a use after free, reported as an invariant
//! violation naming the reader and the PFN; the reader then drops what it
//! read. Under `memmap_free=rcu` the free waits for a grace period, which
//! waits for step 1's section, so step 4 never fires; under mainline's
//! `immediate` nothing waits, and step 4 fires whenever a hot-remove freed
//! the memmap between steps 2 and 4 — every time, not by luck of poison
//! values (see [`crate::sparse::memmap`]).
//!
//! Only the slot of the walked PFN is checked. A reader that also reads its
//! folio's head or first tail reads slots of the same memmap except for a
//! gigantic folio that spans sections.
//!
//! # Hooks for tests
//!
//! Two hidden per-machine knobs, off (and nearly free: one Relaxed load)
//! unless a test sets them:
//!
//! * the reader hook ([`Machine::set_memmap_reader_hook`]) runs between
//!   step 2 and step 3, with the PFN: a test hot-removes the section right
//!   there, which makes the race deterministic;
//! * the mutant ([`Machine::set_mutant_reader_outside_rcu`]) hands readers
//!   a guard of a stray RCU domain that no updater waits for — the type
//!   checks, the protection is gone — so that a test shows the check
//!   catching a reader without `rcu_read_lock` under `memmap_free=rcu` too.

use crate::machine::Machine;
use crate::page::Pfn;
use crate::sparse::MemmapSlot;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Mutex, Rcu, RcuReadGuard};

/// A lockless memmap reader, as named in use-after-free reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemmapReader {
    /// /proc/kpageflags (`kpageflags_read()`).
    Kpageflags,
    /// /proc/kpagecount (`kpagecount_read()`).
    Kpagecount,
    /// /proc/kcore's check of a RAM page (`read_kcore_iter()`).
    Kcore,
    /// GUP-fast (`gup_fast_pte_range()`).
    GupFast,
    /// The compaction scanner (`isolate_migratepages_block()`).
    IsolateMigratepages,
}

impl MemmapReader {
    /// The name in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            MemmapReader::Kpageflags => "kpageflags",
            MemmapReader::Kpagecount => "kpagecount",
            MemmapReader::Kcore => "kcore",
            MemmapReader::GupFast => "gup_fast",
            MemmapReader::IsolateMigratepages => "isolate_migratepages",
        }
    }
}

/// What [`Machine::set_memmap_reader_hook`] installs.
pub type MemmapReaderHook = Arc<dyn Fn(&Machine, Pfn) + Send + Sync>;

/// The machine's reader hooks (see the module doc).
#[derive(Default)]
pub struct ReaderHooks {
    /// Whether `hook` is set: the only load a reader makes when it is not.
    armed: AtomicBool,
    /// A leaf lock, taken only when armed.
    hook: Mutex<Option<MemmapReaderHook>>,
    /// The mutant: readers take their guard from `stray`.
    outside_rcu: AtomicBool,
    /// An RCU domain no updater waits for.
    stray: Rcu,
    /// The mutant: `offline_pages()` poisons the memmap without waiting
    /// for the walkers that found `pfn_active` set.
    offline_without_gp: AtomicBool,
}

impl Machine {
    /// `rcu_read_lock()` for a lockless memmap reader: the machine's domain
    /// (or, under the hidden mutant, a stray one).
    pub fn reader_rcu_lock(&self) -> RcuReadGuard<'_> {
        let hooks = self.reader_hooks();
        if hooks.outside_rcu.load(Ordering::Relaxed) {
            return hooks.stray.read_lock();
        }
        self.rcu().read_lock()
    }

    /// The end of a lockless reader's use of `slot` (step 4 of the module
    /// doc): true if the memmap was not freed since the lookup; otherwise
    /// reports `memmap use-after-free: READER read PFN 0x... after its
    /// memmap was freed by FREER` through [`Machine::report_bug`] and
    /// returns false, and the reader must drop what it read. Under
    /// `pfn_walker=active` a PFN walker's slot must also still be
    /// initialised (not poisoned by an offline), as `pfn_active` promises.
    pub fn memmap_slot_done(
        &self,
        _rcu: &RcuReadGuard<'_>,
        slot: &MemmapSlot<'_>,
        reader: MemmapReader,
    ) -> bool {
        if slot.freed_since_lookup() {
            self.report_bug(format!(
                "memmap use-after-free: {} read PFN {:#x} after its memmap was freed by {}",
                reader.as_str(),
                slot.pfn().0,
                slot.freed_by()
            ));
            return false;
        }
        // pfn_active's promise to a walker that found the bit set inside
        // its read-side section: the memmap is not invalidated before that
        // section ends (the bit is cleared, then a grace period, then the
        // poisoning). GUP-fast finds its page through a PTE, not the bit.
        if reader != MemmapReader::GupFast
            && self.variants().pfn_walker == crate::variant::PfnWalker::Active
            && slot.page().is_poisoned()
        {
            self.report_bug(format!(
                "pfn_active: {} read PFN {:#x} after its memmap was invalidated inside the \
                 read-side section that found it active",
                reader.as_str(),
                slot.pfn().0
            ));
            return false;
        }
        true
    }

    /// Runs the reader hook, if one is set, between a lookup of `pfn` and
    /// its use.
    pub(crate) fn memmap_reader_hook(&self, pfn: Pfn) {
        let hooks = self.reader_hooks();
        if !hooks.armed.load(Ordering::Relaxed) {
            return;
        }
        let hook = hooks.hook.lock().clone();
        if let Some(hook) = hook {
            hook(self, pfn);
        }
    }

    /// Test hook: `hook(machine, pfn)` runs in every lockless reader between
    /// its lookup of a slot and its use (inside the read-side section, so
    /// it must not wait for a grace period of the machine's domain); `None`
    /// removes it.
    #[doc(hidden)]
    pub fn set_memmap_reader_hook(&self, hook: Option<MemmapReaderHook>) {
        let hooks = self.reader_hooks();
        let armed = hook.is_some();
        *hooks.hook.lock() = hook;
        hooks.armed.store(armed, Ordering::Relaxed);
    }

    /// Mutant: under `pfn_walker=active`, `offline_pages()` skips the grace
    /// period between clearing the range's `pfn_active` bits and poisoning
    /// its memmap.
    #[doc(hidden)]
    pub fn set_mutant_offline_without_gp(&self, on: bool) {
        self.reader_hooks()
            .offline_without_gp
            .store(on, Ordering::Relaxed);
    }

    /// Whether `offline_pages()` waits for pfn_active walkers before it
    /// poisons the memmap: the proposal does, mainline has nothing to wait
    /// for.
    pub(crate) fn offline_waits_for_pfn_walkers(&self) -> bool {
        self.variants().pfn_walker == crate::variant::PfnWalker::Active
            && !self
                .reader_hooks()
                .offline_without_gp
                .load(Ordering::Relaxed)
    }

    /// Mutant: lockless readers run outside the machine's RCU domain.
    #[doc(hidden)]
    pub fn set_mutant_reader_outside_rcu(&self, on: bool) {
        self.reader_hooks().outside_rcu.store(on, Ordering::Relaxed);
    }
}
