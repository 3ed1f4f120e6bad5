//! Property tests (issue 3): random sequences of process operations — fork,
//! write, read, GUP pin/get (slow and fast) with reads through the pin,
//! unpin, munmap, mprotect, MADV_DONTNEED, MADV_PAGEOUT (swap), KSM, exit —
//! interleaved with offlining and onlining the ZONE_MOVABLE block under them,
//! keep every invariant (`check`) and every read agrees with the oracle. The
//! second test does the same on THPs and hugetlb pages, adding the partial
//! mprotect/munmap/madvise that split PMDs, folio splits by swap-out,
//! migration and KSM, and MADV_COLLAPSE. The third drives mprotect and
//! madvise (all but MADV_DONTFORK/DOFORK) with unaligned starts and
//! sub-page lengths over small pages and THPs, with fork, GUP, reclaim and
//! KSM, then releases every pin and exits every process, so the leak check
//! must find every page returned. Runs through the scenario
//! interpreter, which compares each process and pin read with the oracle by
//! itself. The last test adds device memory: an fsdax file mapped shared and
//! private, and anonymous memory migrated to device-private pages and
//! faulted back.

// proptest's macros expand to std::sync::Arc; the rule is for model code.
#![allow(clippy::disallowed_types)]

use mmsim::script::interp::{run_sources, RunOptions};
use mmsim::script::report::FailureKind;
use proptest::prelude::*;

const PROCS: [&str; 3] = ["P0", "P1", "P2"];

/// Runs `prelude`, the operations and a final `check` as one scenario;
/// returns its invariant and oracle failures and its text (for the report).
/// Random operations often fail (a process that exited, a pin already
/// released): a failed command is an answer, not a broken property.
fn run_sequence(name: &str, prelude: &str, ops: &[String]) -> (Vec<String>, String) {
    let text = format!("{prelude}{}\ncheck\n", ops.join("\n"));
    let r = run_sources(&[(name.into(), text.clone())], &RunOptions::default())
        .unwrap_or_else(|e| panic!("bad scenario {e}\n{text}"));
    let broken = r
        .files
        .into_iter()
        .flat_map(|f| f.failures)
        .filter(|f| f.kind != FailureKind::Command)
        .map(|f| f.text)
        .collect();
    (broken, text)
}

fn op() -> impl Strategy<Value = String> {
    let p = || 0usize..PROCS.len();
    let off = || (0u64..2).prop_map(|i| i * 4096);
    // m: private anonymous; s: a shared mapping of the memfd f.
    let map = || prop_oneof![3 => Just("m"), 1 => Just("s")];
    prop_oneof![
        4 => (p(), map(), off(), 1u64..4096, any::<u8>())
            .prop_map(|(i, m, o, l, b)| format!("{} write {m}+{o} {l} {b:#04x}", PROCS[i])),
        3 => (p(), map(), off()).prop_map(|(i, m, o)| format!("{} read {m}+{o} 4K", PROCS[i])),
        2 => (p(), p()).prop_map(|(i, j)| format!("{} fork {}", PROCS[i], PROCS[j])),
        1 => p().prop_map(|i| format!("{} exit", PROCS[i])),
        2 => (p(), 0usize..3, off(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(i, k, o, write, get, longterm, fast)| {
                let m = if k == 2 { "s" } else { "m" };
                let kind = if get { "get" } else { "pin" };
                let lt = if longterm && !get { " longterm" } else { "" };
                let w = if write { " write" } else { "" };
                let f = if fast { " fast" } else { "" };
                format!("{} gup g{k} {m}+{o} 4K{w} {kind}{lt}{f}", PROCS[i])
            }
        ),
        3 => (0usize..3).prop_map(|k| format!("g{k} read 0 4K")),
        1 => (0usize..3, any::<u8>()).prop_map(|(k, b)| format!("g{k} write 0 4K {b:#04x}")),
        2 => (0usize..3).prop_map(|k| format!("release g{k}")),
        1 => (p(), any::<bool>()).prop_map(|(i, ro)| format!("{} mprotect m {}", PROCS[i], if ro { "ro" } else { "rw" })),
        1 => (p(), off()).prop_map(|(i, o)| format!("{} madvise m dontneed {o} 4K", PROCS[i])),
        1 => (p(), off()).prop_map(|(i, o)| format!("{} munmap m {o} 4K", PROCS[i])),
        2 => (p(), off()).prop_map(|(i, o)| format!("{} madvise m pageout {o} 4K", PROCS[i])),
        1 => (p(), any::<bool>()).prop_map(|(i, on)| format!("{} madvise m {}", PROCS[i], if on { "mergeable" } else { "unmergeable" })),
        5 => machine_op(),
    ]
}

/// What a sequence does besides its processes: a KSM pass, offlining and
/// onlining the ZONE_MOVABLE block under them, a full check.
fn machine_op() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just("ksm run".to_string()),
        1 => Just("sysfs write devices/system/memory/memory15/state offline signal_after=20ms".to_string()),
        1 => Just("sysfs write devices/system/memory/memory15/state online_movable".to_string()),
        1 => Just("check".to_string()),
    ]
}

/// The end of a sequence that must return every page: every pin released,
/// every process gone (what is already gone fails, and the scenario goes
/// on).
fn with_teardown(mut ops: Vec<String>) -> Vec<String> {
    ops.extend(
        [
            "release g0",
            "release g1",
            "release g2",
            "P0 exit",
            "P1 exit",
            "P2 exit",
        ]
        .map(String::from),
    );
    ops
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn process_sequences_keep_invariants_and_oracle(ops in proptest::collection::vec(op(), 1..60)) {
        // The prelude introduces every process and pin name (the parser
        // wants names introduced before use) and leaves only P0 alive.
        let prelude = "machine ram=1G movable=128M swap=64M\nspawn P0\nP0 mmap m 8K\nP0 write m 8K 0x01\nfile f 8K\nP0 mmap s 8K file=f shared\n\
            P0 fork P1\nP0 fork P2\nP1 exit\nP2 exit\n\
            P0 gup g0 m 4K get\nP0 gup g1 m 4K get\nP0 gup g2 m 4K get\nrelease g0\nrelease g1\nrelease g2\n";
        let (failures, text) = run_sequence("prop.mms", prelude, &ops);
        prop_assert!(failures.is_empty(), "{}\n--- scenario ---\n{}", failures.join("\n"), text);
    }
}

/// Offsets into the 4 MiB THP mapping `t`: both THPs, their first, second
/// and last pages.
const THP_OFFS: [u64; 6] = [
    0,
    4096,
    2 * 1024 * 1024 - 4096,
    2 * 1024 * 1024,
    2 * 1024 * 1024 + 4096,
    4 * 1024 * 1024 - 4096,
];

fn thp_op() -> impl Strategy<Value = String> {
    let p = || 0usize..PROCS.len();
    let off = || (0usize..THP_OFFS.len()).prop_map(|i| THP_OFFS[i]);
    // t: two THPs; h: one hugetlb page.
    let map = || prop_oneof![4 => Just("t"), 1 => Just("h")];
    // A range of t: one page, or a whole 2 MiB half.
    let range = || {
        prop_oneof![
            2 => off().prop_map(|o| format!("{o} 4K")),
            1 => (0u64..2).prop_map(|h| format!("{} 2M", h * 2 * 1024 * 1024)),
        ]
    };
    prop_oneof![
        4 => (p(), map(), off(), 1u64..8192, any::<u8>()).prop_map(|(i, m, o, l, b)| {
            let o = if m == "h" { o % (2 << 20) } else { o };
            let l = l.min((if m == "h" { 2 << 20 } else { 4 << 20 }) - o);
            format!("{} write {m}+{o} {l} {b:#04x}", PROCS[i])
        }),
        3 => (p(), off()).prop_map(|(i, o)| format!("{} read t+{o} 4K", PROCS[i])),
        1 => p().prop_map(|i| format!("{} read h 2M", PROCS[i])),
        2 => (p(), p()).prop_map(|(i, j)| format!("{} fork {}", PROCS[i], PROCS[j])),
        1 => p().prop_map(|i| format!("{} exit", PROCS[i])),
        2 => (p(), 0usize..3, off(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(i, k, o, write, get, longterm, fast)| {
                let (m, o) = if k == 2 { ("h", o % (2 << 20)) } else { ("t", o) };
                let kind = if get { "get" } else { "pin" };
                let lt = if longterm && !get { " longterm" } else { "" };
                let w = if write { " write" } else { "" };
                let f = if fast { " fast" } else { "" };
                format!("{} gup g{k} {m}+{o} 4K{w} {kind}{lt}{f}", PROCS[i])
            }
        ),
        3 => (0usize..3).prop_map(|k| format!("g{k} read 0 4K")),
        1 => (0usize..3, any::<u8>()).prop_map(|(k, b)| format!("g{k} write 0 4K {b:#04x}")),
        2 => (0usize..3).prop_map(|k| format!("release g{k}")),
        2 => (p(), any::<bool>(), range()).prop_map(|(i, ro, r)| format!("{} mprotect t {} {r}", PROCS[i], if ro { "ro" } else { "rw" })),
        1 => (p(), any::<bool>()).prop_map(|(i, ro)| format!("{} mprotect h {}", PROCS[i], if ro { "ro" } else { "rw" })),
        1 => (p(), range()).prop_map(|(i, r)| format!("{} madvise t dontneed {r}", PROCS[i])),
        1 => (p(), range()).prop_map(|(i, r)| format!("{} munmap t {r}", PROCS[i])),
        2 => (p(), range()).prop_map(|(i, r)| format!("{} madvise t pageout {r}", PROCS[i])),
        2 => p().prop_map(|i| format!("{} madvise t collapse", PROCS[i])),
        1 => (p(), any::<bool>(), range()).prop_map(|(i, f, r)| format!("{} madvise t {} {r}", PROCS[i], if f { "dontfork" } else { "dofork" })),
        1 => (p(), any::<bool>()).prop_map(|(i, on)| format!("{} madvise t {}", PROCS[i], if on { "mergeable" } else { "unmergeable" })),
        5 => machine_op(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn thp_and_hugetlb_sequences_keep_invariants_and_oracle(ops in proptest::collection::vec(thp_op(), 1..40)) {
        let prelude = "machine ram=1G movable=128M swap=64M hugepages=8\nspawn P0\nP0 mmap t 4M thp\nP0 write t 4M 0x01\n\
            P0 mmap h 2M hugetlb\nP0 write h 2M 0x02\n\
            P0 fork P1\nP0 fork P2\nP1 exit\nP2 exit\n\
            P0 gup g0 t 4K get\nP0 gup g1 t 4K get\nP0 gup g2 h 4K get\nrelease g0\nrelease g1\nrelease g2\n";
        let (failures, text) = run_sequence("thp-prop.mms", prelude, &ops);
        prop_assert!(failures.is_empty(), "{}\n--- scenario ---\n{}", failures.join("\n"), text);
    }
}

/// A place in `m` (16 KiB, small pages) or `t` (4 MiB, two THPs) for
/// madvise and mprotect: mostly page-aligned, sometimes not (the range
/// check's EINVAL), with lengths from one byte to past a THP (PAGE_ALIGN).
fn syscall_range() -> impl Strategy<Value = (&'static str, u64, u64)> {
    const T_PAGES: [u64; 7] = [0, 1, 255, 511, 512, 513, 1023];
    const DELTAS: [u64; 7] = [0, 0, 0, 0, 1, 2048, 4095];
    const LENS: [u64; 10] = [
        1,
        100,
        4095,
        4096,
        4097,
        8192,
        12288,
        (2 << 20) - 4096,
        2 << 20,
        (2 << 20) + 1,
    ];
    (any::<bool>(), 0usize..7, 0usize..7, 0usize..10).prop_map(|(small, p, d, l)| {
        let (map, size, page) = if small {
            ("m", 16u64 << 10, (p as u64) % 4)
        } else {
            ("t", 4u64 << 20, T_PAGES[p])
        };
        let off = page * 4096 + DELTAS[d];
        let len = LENS[l].min(size - off);
        (map, off, len)
    })
}

fn teardown_op() -> impl Strategy<Value = String> {
    let p = || 0usize..PROCS.len();
    let advice = prop_oneof![
        3 => Just("dontneed"),
        1 => Just("dontfork"),
        1 => Just("dofork"),
        2 => Just("pageout"),
        2 => Just("mergeable"),
        1 => Just("unmergeable"),
        1 => Just("hugepage"),
        1 => Just("nohugepage"),
        1 => Just("collapse"),
    ];
    let prot = prop_oneof![Just("none"), Just("ro"), Just("rw")];
    let place = || {
        prop_oneof![
            (0u64..4).prop_map(|i| ("m", i * 4096)),
            (0u64..1024).prop_map(|i| ("t", i * 4096)),
        ]
    };
    prop_oneof![
        4 => (p(), place(), 1u64..8192, any::<u8>()).prop_map(|(i, (m, o), l, b)| {
            let size = if m == "m" { 16 << 10 } else { 4 << 20 };
            format!("{} write {m}+{o} {} {b:#04x}", PROCS[i], l.min(size - o))
        }),
        2 => (p(), place()).prop_map(|(i, (m, o))| format!("{} read {m}+{o} 4K", PROCS[i])),
        2 => (p(), p()).prop_map(|(i, j)| format!("{} fork {}", PROCS[i], PROCS[j])),
        1 => p().prop_map(|i| format!("{} exit", PROCS[i])),
        2 => (p(), 0usize..3, place(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(i, k, (m, o), write, get, longterm, fast)| {
                let kind = if get { "get" } else { "pin" };
                let lt = if longterm && !get { " longterm" } else { "" };
                let w = if write { " write" } else { "" };
                let f = if fast { " fast" } else { "" };
                format!("{} gup g{k} {m}+{o} 4K{w} {kind}{lt}{f}", PROCS[i])
            }
        ),
        2 => (0usize..3).prop_map(|k| format!("g{k} read 0 4K")),
        2 => (0usize..3).prop_map(|k| format!("release g{k}")),
        4 => (p(), advice, syscall_range())
            .prop_map(|(i, a, (m, o, l))| format!("{} madvise {m} {a} {o} {l}", PROCS[i])),
        2 => (p(), prot, syscall_range())
            .prop_map(|(i, pr, (m, o, l))| format!("{} mprotect {m} {pr} {o} {l}", PROCS[i])),
        1 => (p(), syscall_range())
            .prop_map(|(i, (m, o, l))| format!("{} munmap {m} {o} {l}", PROCS[i])),
        2 => Just("ksm run".to_string()),
        1 => Just("check".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    // munmap/mprotect/madvise range checks (vm::vma::UserRange, do_madvise()),
    // VMA splits over THPs (__split_vma() with vma_adjust_trans_huge()),
    // reclaim, KSM, fork, GUP and exit in any order; then every pin is
    // released and every process exits, and the leak check (check/leak.rs)
    // must find every page returned. A madvise over a hole left by munmap
    // advises the mapped parts and fails with ENOMEM; the oracle hears what
    // was applied.
    #[test]
    fn syscall_ranges_then_teardown_return_every_page(ops in proptest::collection::vec(teardown_op(), 1..40)) {
        let prelude = "machine ram=1G swap=64M\nspawn P0\nP0 mmap m 16K\nP0 write m 16K 0x01\n\
            P0 mmap t 4M thp\nP0 write t 4M 0x02\n\
            P0 fork P1\nP0 fork P2\nP1 exit\nP2 exit\n\
            P0 gup g0 m 4K get\nP0 gup g1 m 4K get\nP0 gup g2 m 4K get\nrelease g0\nrelease g1\nrelease g2\n";
        let (failures, text) = run_sequence("teardown-prop.mms", prelude, &with_teardown(ops));
        prop_assert!(failures.is_empty(), "{}\n--- scenario ---\n{}", failures.join("\n"), text);
    }
}

/// Operations on every kind of memory but THPs: private anonymous `m` (KSM
/// may merge it), shared anonymous `a`, and the memfd `f` mapped shared (`s`)
/// and private (`q`); mappings move under mremap() — whole, grown, shrunk,
/// or in part — while the block they live in goes offline and online.
fn kinds_op() -> impl Strategy<Value = String> {
    let p = || 0usize..PROCS.len();
    let off = || (0u64..4).prop_map(|i| i * 4096);
    let map = || prop_oneof![Just("m"), Just("a"), Just("s"), Just("q")];
    prop_oneof![
        4 => (p(), map(), off(), 1u64..4096, any::<u8>())
            .prop_map(|(i, m, o, l, b)| format!("{} write {m}+{o} {l} {b:#04x}", PROCS[i])),
        3 => (p(), map(), off()).prop_map(|(i, m, o)| format!("{} read {m}+{o} 4K", PROCS[i])),
        2 => (p(), p()).prop_map(|(i, j)| format!("{} fork {}", PROCS[i], PROCS[j])),
        1 => p().prop_map(|i| format!("{} exit", PROCS[i])),
        2 => (p(), 0usize..3, map(), off(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(i, k, m, o, write, get, longterm)| {
                let kind = if get { "get" } else { "pin" };
                let lt = if longterm && !get { " longterm" } else { "" };
                let w = if write { " write" } else { "" };
                format!("{} gup g{k} {m}+{o} 4K{w} {kind}{lt}", PROCS[i])
            }
        ),
        2 => (0usize..3).prop_map(|k| format!("g{k} read 0 4K")),
        2 => (0usize..3).prop_map(|k| format!("release g{k}")),
        // A whole mapping moves twice and keeps its name.
        2 => (p(), map()).prop_map(|(i, m)| {
            let p = PROCS[i];
            format!("{p} mmap tmp 16K none\n{p} mremap {m} 16K to=tmp\n{p} mmap {m} 16K none\n{p} mremap tmp 16K to={m}")
        }),
        1 => (p(), map(), any::<bool>()).prop_map(|(i, m, grow)| {
            format!("{} mremap {m} {}", PROCS[i], if grow { "32K" } else { "8K" })
        }),
        // A part moves onto a new mapping (named per process, reused). Not
        // of `q`, which MADV_DONTNEED would then apply to across its hole,
        // to whatever mapping fills it by then.
        1 => (p(), prop_oneof![Just("m"), Just("a"), Just("s")], off()).prop_map(|(i, m, o)| {
            let p = PROCS[i];
            format!("{p} munmap part\n{p} mmap part 4K none\n{p} mremap {m} 4K {o} 4K to=part\n{p} read part 4K")
        }),
        1 => (p(), off()).prop_map(|(i, o)| format!("{} madvise q dontneed {o} 4K", PROCS[i])),
        1 => (p(), any::<bool>()).prop_map(|(i, on)| format!("{} madvise m {}", PROCS[i], if on { "mergeable" } else { "unmergeable" })),
        7 => machine_op(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    // Offlining migrates page-cache, shared anonymous and KSM pages and pages
    // mremap() moved (rmap_walk_file(), rmap_walk_ksm(), rmap_walk_anon()
    // over vm_pgoff): with fork, GUP, KSM and mremap in any order, every
    // invariant holds and every read agrees with the oracle; after every
    // pin is released and every process exits, the leak check finds every
    // page returned (a shared anonymous mapping's file with it).
    #[test]
    fn every_kind_of_memory_keeps_invariants_and_oracle(ops in proptest::collection::vec(kinds_op(), 1..40)) {
        let prelude = "machine ram=1G movable=128M swap=64M\nspawn P0\n\
            P0 mmap m 16K\nP0 write m 16K 0x01\nP0 mmap a 16K anon shared\nP0 write a 16K 0x02\n\
            file f 16K\nP0 mmap s 16K file=f shared\nP0 write s 16K 0x03\nP0 mmap q 16K file=f private\n\
            P0 mmap tmp 4K\nP0 munmap tmp\nP0 mmap part 4K\n\
            P0 fork P1\nP0 fork P2\nP1 exit\nP2 exit\n\
            P0 gup g0 m 4K get\nP0 gup g1 m 4K get\nP0 gup g2 m 4K get\nrelease g0\nrelease g1\nrelease g2\n";
        let (failures, text) = run_sequence("kinds-prop.mms", prelude, &with_teardown(ops));
        prop_assert!(failures.is_empty(), "{}\n--- scenario ---\n{}", failures.join("\n"), text);
    }
}

/// Device memory among the other actors: `m` private anonymous memory that
/// migrates to device-private pages of `dev0` and faults back on any access
/// (`P migrate_to_device`), `d` and `e` the fsdax file `x` on `pmem0` mapped
/// shared and private — with fork, GUP (longterm on fsdax fails), reclaim,
/// munmap, mprotect and the ZONE_MOVABLE block going offline and online.
fn device_op() -> impl Strategy<Value = String> {
    let p = || 0usize..PROCS.len();
    let off = || (0u64..4).prop_map(|i| i * 4096);
    let map = || prop_oneof![3 => Just("m"), 1 => Just("d"), 1 => Just("e")];
    prop_oneof![
        4 => (p(), map(), off(), 1u64..4096, any::<u8>())
            .prop_map(|(i, m, o, l, b)| format!("{} write {m}+{o} {l} {b:#04x}", PROCS[i])),
        3 => (p(), map(), off()).prop_map(|(i, m, o)| format!("{} read {m}+{o} 4K", PROCS[i])),
        4 => (p(), off(), 1u64..4).prop_map(|(i, o, n)| {
            format!("{} migrate_to_device m+{o} {}K dev0", PROCS[i], n * 4)
        }),
        2 => (p(), p()).prop_map(|(i, j)| format!("{} fork {}", PROCS[i], PROCS[j])),
        1 => p().prop_map(|i| format!("{} exit", PROCS[i])),
        2 => (p(), 0usize..3, map(), off(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(i, k, m, o, write, get, longterm, fast)| {
                let kind = if get { "get" } else { "pin" };
                let lt = if longterm && !get { " longterm" } else { "" };
                let w = if write { " write" } else { "" };
                let f = if fast { " fast" } else { "" };
                format!("{} gup g{k} {m}+{o} 4K{w} {kind}{lt}{f}", PROCS[i])
            }
        ),
        2 => (0usize..3).prop_map(|k| format!("g{k} read 0 4K")),
        2 => (0usize..3).prop_map(|k| format!("release g{k}")),
        1 => (p(), any::<bool>()).prop_map(|(i, ro)| format!("{} mprotect m {}", PROCS[i], if ro { "ro" } else { "rw" })),
        1 => (p(), off()).prop_map(|(i, o)| format!("{} madvise m dontneed {o} 4K", PROCS[i])),
        1 => (p(), off()).prop_map(|(i, o)| format!("{} madvise m pageout {o} 4K", PROCS[i])),
        1 => (p(), prop_oneof![Just("m"), Just("d")], off()).prop_map(|(i, m, o)| format!("{} munmap {m} {o} 4K", PROCS[i])),
        5 => machine_op(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    // mm/migrate_device.c and do_swap_page()'s device-private branch with
    // fork (copy_nonpresent_pte()), zap and reclaim; fsdax folios under
    // fork, COW and GUP (check_vma_flags(): FOLL_LONGTERM -EOPNOTSUPP).
    // Every read agrees with the oracle; after teardown every device page is
    // back with its driver or idle, and the leak check finds every RAM page
    // returned.
    #[test]
    fn device_memory_keeps_invariants_and_oracle(ops in proptest::collection::vec(device_op(), 1..40)) {
        let prelude = "machine ram=1G movable=128M swap=64M\n\
            memremap add pmem0 addr=0x100000000 size=2M type=fsdax\n\
            memremap add dev0 addr=0x200000000 size=2M type=private\n\
            file x 16K dax=pmem0\nspawn P0\n\
            P0 mmap m 16K\nP0 write m 16K 0x01\nP0 mmap d 16K file=x shared\nP0 write d 16K 0x02\n\
            P0 mmap e 16K file=x private\n\
            P0 fork P1\nP0 fork P2\nP1 exit\nP2 exit\n\
            P0 gup g0 m 4K get\nP0 gup g1 m 4K get\nP0 gup g2 m 4K get\nrelease g0\nrelease g1\nrelease g2\n";
        let mut ops = with_teardown(ops);
        ops.extend([
            "expect memremap show dev0 refs == 1",
            "expect memremap show dev0 free == 512",
            "expect memremap show pmem0 free == 512",
            "memremap remove dev0",
            "memremap remove pmem0",
        ].map(String::from));
        let (failures, text) = run_sequence("device-prop.mms", prelude, &ops);
        prop_assert!(failures.is_empty(), "{}\n--- scenario ---\n{}", failures.join("\n"), text);
    }
}
