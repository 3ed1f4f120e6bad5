//! No input makes mmsim panic: random scenario lines — well-formed commands
//! with hostile numbers, and arbitrary text — run against a small machine.
//! Errors are fine (errno values, bad-input reports); panics are not.

// proptest's macros expand to std::sync::Arc; the rule is for model code.
#![allow(clippy::disallowed_types)]

use mmsim::script::interp::{run_sources, RunOptions};
use proptest::prelude::*;

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..64).prop_map(|n| n.to_string()),
        (0u64..0x200000).prop_map(|n| format!("{n:#x}")),
        Just("0x100000".to_string()),
        Just("0x8000".to_string()),
        Just("0xffffffffffffffff".to_string()),
        Just("0x7fffffffffffffff".to_string()),
        any::<u64>().prop_map(|n| format!("{n:#x}")),
    ]
}

fn size() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("128M".to_string()),
        Just("2M".to_string()),
        Just("4K".to_string()),
        Just("0".to_string()),
        Just("16T".to_string()),
        Just("0xffffffffffff".to_string()),
        (1u64..4096).prop_map(|n| n.to_string()),
    ]
}

fn line() -> impl Strategy<Value = String> {
    let n = || number();
    prop_oneof![
        (n(), size()).prop_map(|(a, s)| format!("hotplug add {a} {s}")),
        (n(), size()).prop_map(|(a, s)| format!("hotplug remove {a} {s}")),
        (n(), size()).prop_map(|(a, s)| format!("hotplug offline_and_remove {a} {s}")),
        (n(), size()).prop_map(|(a, s)| format!("sparse add {a} {s}")),
        (n(), size()).prop_map(|(a, s)| format!("sparse remove {a} {s}")),
        n().prop_map(|x| format!("section {x}")),
        n().prop_map(|x| format!("pfn_valid {x}")),
        n().prop_map(|x| format!("pfn_to_online_page {x}")),
        (0u8..4, n(), n()).prop_map(|(i, p, q)| format!("page alloc a{i} pfn={p} nr={q}")),
        (0u8..4, 0u32..14).prop_map(|(i, o)| format!("page alloc b{i} order={o} movable")),
        (0u8..4, 0usize..6).prop_map(|(i, k)| format!(
            "page mark a{i} {}",
            [
                "reserved",
                "offline",
                "fake_offline",
                "movable_ops",
                "table",
                "slab"
            ][k]
        )),
        (0u8..4).prop_map(|i| format!("page free a{i}")),
        (0u8..4).prop_map(|i| format!("page fill a{i} 0x5a")),
        n().prop_map(|x| format!("page get {x}")),
        n().prop_map(|x| format!("page put {x}")),
        n().prop_map(|x| format!("page show {x}")),
        n().prop_map(|x| format!("hwpoison {x}")),
        (n(), n()).prop_map(|(a, l)| format!("kcore read {a} {l}")),
        (n(), n(), n()).prop_map(|(p, o, l)| format!("kcore page {p} {o} {l}")),
        n().prop_map(|x| format!("kpageflags {x}")),
        n().prop_map(|x| format!("kpagecount {x}")),
        (32u64..36, 0usize..5).prop_map(|(b, k)| format!(
            "sysfs write devices/system/memory/memory{b}/state {} signal_after=5ms",
            [
                "online",
                "online_kernel",
                "online_movable",
                "offline",
                "bogus"
            ][k]
        )),
        (32u64..36).prop_map(|b| format!(
            "sysfs write devices/system/memory/memory{b}/state offline signal_after=5ms"
        )),
        (0u32..40, 0usize..4).prop_map(|(nd, z)| format!(
            "zoneinfo {nd} {}",
            ["DMA", "DMA32", "Normal", "Movable"][z]
        )),
        (0u32..40).prop_map(|nd| format!("nodeinfo {nd}")),
        (n(), size()).prop_map(|(a, s)| format!("online_page_callback set cb keep={a},{s}")),
        Just("online_page_callback restore cb".to_string()),
        Just("notifier add n going_online=EBUSY going_offline=bad".to_string()),
        Just("notifier remove n".to_string()),
        Just("check".to_string()),
        // Processes, with hostile sizes and places.
        (size(), any::<bool>())
            .prop_map(|(s, p)| format!("A mmap x {s}{}", if p { " populate" } else { "" })),
        (size(), 0usize..3).prop_map(|(s, k)| format!(
            "A mmap {} {s} file=f {}",
            ["y", "z", "x"][k],
            if k == 0 { "shared" } else { "private" }
        )),
        (n(), size()).prop_map(|(o, l)| format!("A write buf+{o} {l} 0x33")),
        (n(), size()).prop_map(|(o, l)| format!("A read buf+{o} {l}")),
        (n(), size()).prop_map(|(o, l)| format!("A munmap buf {o} {l}")),
        (n(), size()).prop_map(|(o, l)| format!("A mprotect buf ro {o} {l}")),
        size().prop_map(|s| format!("A mremap buf {s}")),
        (size(), n(), size(), 0usize..3).prop_map(|(s, o, l, k)| format!(
            "A mremap buf {s} {o} {l} to={}",
            ["x", "y", "buf"][k]
        )),
        (size(), 0usize..2).prop_map(|(s, k)| format!("A mremap {} {s} to=buf", ["x", "y"][k])),
        (size(), any::<bool>()).prop_map(|(s, h)| format!(
            "A mmap w {s} anon shared{}",
            if h { " hugetlb" } else { "" }
        )),
        (n(), size(), 0usize..6).prop_map(|(o, l, k)| format!(
            "A madvise buf {} {o} {l}",
            [
                "dontneed",
                "pageout",
                "mergeable",
                "unmergeable",
                "dontfork",
                "dofork"
            ][k]
        )),
        Just("A touch buf".to_string()),
        Just("A fork B".to_string()),
        Just("B exit".to_string()),
        Just("ksm run".to_string()),
        (n(), size(), any::<bool>(), any::<bool>()).prop_map(|(o, l, f, g)| format!(
            "A gup p buf+{o} {l}{}{}",
            if f { " fast" } else { "" },
            if g { " get" } else { " write longterm" }
        )),
        (n(), size()).prop_map(|(o, l)| format!("p read {o} {l}")),
        (n(), size()).prop_map(|(o, l)| format!("p write {o} {l} 0x44")),
        Just("release p".to_string()),
        (n(), size()).prop_map(|(s, _)| format!("file g {s}")),
        Just("A pagemap buf".to_string()),
        Just("A pte buf+4K".to_string()),
        Just("A pfn buf".to_string()),
        "[ -~]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_scenarios_never_panic(lines in proptest::collection::vec(line(), 1..25)) {
        let text = format!(
            "machine ram=256M max_phys=16G swap=8M\nhotplug add 0x100000000 512M\n\
             spawn A\nA mmap buf 64K\nfile f 16K\nA fork B\nB exit\nA gup p buf 4K get\nrelease p\n{}\n",
            lines.join("\n")
        );
        // Bad input is a value; so is every failed expectation.
        let _ = run_sources(&[("fuzz.mms".into(), text)], &RunOptions::default());
    }
}
