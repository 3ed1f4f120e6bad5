//! Property test (issue 3): random sequences of process operations — fork,
//! write, read, GUP pin/get (slow and fast) with reads through the pin,
//! unpin, munmap, mprotect, MADV_DONTNEED, MADV_PAGEOUT (swap), KSM, exit — interleaved with offlining and onlining
//! the ZONE_MOVABLE block under them, keep every invariant (`check`) and
//! every read agrees with the oracle. Runs through the scenario interpreter,
//! which compares each process and pin read with the oracle by itself.

// proptest's macros expand to std::sync::Arc; the rule is for model code.
#![allow(clippy::disallowed_types)]

use mmsim::script::interp::{run_sources, RunOptions};
use proptest::prelude::*;

const PROCS: [&str; 3] = ["P0", "P1", "P2"];

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
        2 => Just("ksm run".to_string()),
        1 => Just("sysfs write devices/system/memory/memory15/state offline signal_after=20ms".to_string()),
        1 => Just("sysfs write devices/system/memory/memory15/state online_movable".to_string()),
        1 => Just("check".to_string()),
    ]
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
        let text = format!("{prelude}{}\ncheck\n", ops.join("\n"));
        let r = run_sources(&[("prop.mms".into(), text.clone())], &RunOptions::default())
            .unwrap_or_else(|e| panic!("bad scenario {e}\n{text}"));
        let failures: Vec<String> = r.files.into_iter().flat_map(|f| f.failures).collect();
        prop_assert!(failures.is_empty(), "{}\n--- scenario ---\n{}", failures.join("\n"), text);
    }
}
