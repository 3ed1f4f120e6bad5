//! Running scenarios: what fails a scenario and where it is reported
//! (SCENARIOS.md, "Output and exit status"), the bounds on hostile input, and
//! reads compared as they stream.

use crate::script::interp::{run_sources, RunOptions};
use crate::script::parse::ParseError;
use crate::script::report::RunReport;

fn run_with(text: &str, opts: &RunOptions) -> RunReport {
    run_sources(&[("t.mms".into(), text.into())], opts).unwrap_or_else(|e| panic!("{e}"))
}

fn run(text: &str) -> RunReport {
    run_with(text, &RunOptions::default())
}

fn failures(r: &RunReport) -> Vec<String> {
    r.files
        .iter()
        .flat_map(|f| f.failures.iter().map(|f| f.text.clone()))
        .collect()
}

fn load_error(text: &str) -> ParseError {
    match run_sources(&[("t.mms".into(), text.into())], &RunOptions::default()) {
        Ok(r) => panic!("{text:?} ran: {:?}", failures(&r)),
        Err(e) => e,
    }
}

#[test]
fn expectations_count_and_fail() {
    let r = run("machine ram=512M\nexpect pfn_valid 0 == 1\nexpect pfn_valid 0 == 0\n");
    assert_eq!((r.passed, r.failed), (1, 1));
    assert_eq!(failures(&r), ["t.mms:3: expected 0, got 1"]);
}

/// SCENARIOS.md: a failing command outside `expect` fails the scenario at its
/// line, as under `set -e`, and the run goes on to report every broken line.
#[test]
fn a_failing_command_fails_the_scenario_and_the_run_goes_on() {
    let r = run("machine ram=1G\n\
         sysfs write devices/system/memory/memory99/state online\n\
         spawn A\nA mmap buf 4K\n\
         A read buf+4095 2\n\
         release nopin\n\
         expect pfn_valid 0 == 1\n");
    assert_eq!(
        failures(&r),
        [
            "t.mms:2: sysfs write devices/system/memory/memory99/state online failed: ENOENT",
            "t.mms:5: A read buf+4095 2 failed: EFAULT",
            "t.mms:6: release nopin failed: ENOENT",
        ]
    );
    assert_eq!((r.passed, r.failed, r.exit_code()), (1, 3, 1));
    let r = run("machine ram=1G\nlet x = kpagecount 0x1000000000\nexpect kpagecount 0 == 0\n");
    assert_eq!(failures(&r).len(), 0, "kpagecount of a hole reads 0");
    let r = run("machine ram=1G\nlet x = page show 0x1000000000\n");
    assert_eq!(
        failures(&r),
        ["t.mms:2: page show 0x1000000000 failed: EFAULT"]
    );
}

#[test]
fn verbose_shows_a_failure_next_to_its_command() {
    let opts = RunOptions::new(true);
    let r = run_with(
        "machine ram=1G\nrelease nopin\nexpect pfn_valid 0 == 0\ncheck\n",
        &opts,
    );
    let t = &r.files[0].transcript;
    let at = |needle: &str| t.iter().position(|l| l.contains(needle)).unwrap();
    assert_eq!(
        at("t.mms:2: release nopin failed"),
        at("t.mms:2: release nopin") + 1
    );
    assert_eq!(at("t.mms:3: expected 0, got 1"), at("t.mms:3: expect") + 1);
    assert!(at("t.mms:4: check") > at("t.mms:3: expected 0"));
}

/// SCENARIOS.md: `sysfs ls` prints one entry a line, sorted.
#[test]
fn sysfs_ls_prints_one_entry_a_line() {
    let opts = RunOptions::new(true);
    let r = run_with(
        "machine ram=256M\nsysfs ls devices/system/memory/memory0\n\
         expect sysfs ls devices/system/memory/memory0 == node0 online phys_device phys_index removable state valid_zones\n",
        &opts,
    );
    assert_eq!(failures(&r), Vec::<String>::new());
    let listing = &r.files[0].transcript[0];
    assert!(
        listing.contains("\n    => node0\n    => online\n"),
        "{listing}"
    );
}

#[test]
fn a_read_compared_with_a_pattern_streams_up_to_the_bulk_limit() {
    let r = run(
        "machine ram=1G\nspawn A\nA mmap buf 64M\nA write buf 64M 0x11\n\
         expect A read buf 64M == 0x11\nA write buf+32M 1 0x12\n\
         expect A read buf 64M != 0x11\nexpect A read buf+32M 2 == \"\\x12\\x11\"\n\
         A gup p buf 64M\nexpect p read 0 64M != 0x11\nexpect p read 0 32M == 0x11\n\
         expect kcore read 0 1G != 0x00\nrelease p\n",
    );
    assert_eq!(failures(&r), Vec::<String>::new());
    assert_eq!(r.passed, 6);
}

/// Only a value that is bound with `let` is capped, and the message names the
/// cap (never an errno).
#[test]
fn let_binds_at_most_the_value_cap() {
    let e = load_error("machine ram=1G\nspawn A\nA mmap buf 64M\nlet x = A read buf 64M\n");
    assert_eq!((e.line, e.column), (4, 9));
    assert!(
        e.message.contains("value cap") && e.message.contains("1M"),
        "{e}"
    );
    let e = load_error("machine ram=1G\nspawn A\nA mmap b 4K\nA gup p b 4K\nlet y = p read 0 2M\n");
    assert!(e.message.contains("value cap"), "{e}");
    let e = load_error("machine ram=1G\nlet x = kcore read 0 2G\n");
    assert_eq!(e.column, 22, "{e}");
    assert!(e.message.contains("bulk limit"), "{e}");
}

#[test]
fn pte_outside_any_mapping_fails_efault() {
    let r = run(
        "machine ram=1G\nspawn A\nA mmap buf 8K\nA munmap buf 4K 4K\n\
         expect A pte buf+4K fails EFAULT\nexpect A pfn buf+4K fails EFAULT\n\
         expect A pte buf == present=0 writable=0 anon_exclusive=0 pfn=0x0\n",
    );
    assert_eq!(failures(&r), Vec::<String>::new());
}

/// Hostile input: a value pasted hundreds of times into one token stops the run
/// with an input error naming the limit, and keeps the earlier files' reports.
#[test]
fn substituted_tokens_are_bounded() {
    let pasted = "$x".repeat(500);
    let sources = [
        (
            "a.mms".to_owned(),
            "machine ram=1G\nexpect pfn_valid 0 == 1\n".to_owned(),
        ),
        (
            "b.mms".to_owned(),
            format!(
                "machine ram=1G\nspawn A\nA mmap buf 1M\nlet x = A read buf 1M\n\
                 expect pfn_valid 0 == 1\nexpect A read buf 1M == {pasted}\n"
            ),
        ),
    ];
    let r = run_sources(&sources, &RunOptions::default()).unwrap();
    let e = r.error.as_ref().expect("an input error");
    assert_eq!((e.file.as_str(), e.line, e.column), ("b.mms", 6, 25), "{e}");
    assert!(e.message.contains("4M"), "{e}");
    assert_eq!(r.files.len(), 2);
    assert_eq!((r.files[0].passed, r.files[1].passed), (1, 1));
    assert_eq!(r.exit_code(), 2);
}

/// Arity and keywords of a line that uses `$VAR` are checked before anything
/// runs; only the values are dynamic.
#[test]
fn lines_with_variables_are_checked_before_running() {
    let e = load_error("machine ram=1G\nlet x = pfn_valid 0\nexpect pfn_valid $x junk == 1\n");
    assert_eq!((e.line, e.column), (3, 21), "{e}");
    let e = load_error("machine ram=1G\nlet x = pfn_valid 0\nsysfs $x devices\n");
    assert_eq!((e.line, e.column), (3, 7), "{e}");
    assert!(e.message.contains("written out"), "{e}");
    let e = load_error("machine ram=1G\nlet x = pfn_valid 0\nspawn A\nA mmap b 4K $x\n");
    assert_eq!((e.line, e.column), (4, 13), "{e}");
    let r = run(
        "machine ram=1G\nlet o = meminfo MemTotal\nspawn A\nA mmap b 8K\n\
         let n = pfn_valid 0\nA write b+$n 1 0x$n$n\nexpect A read b+1 1 == 0x11\n",
    );
    assert_eq!(failures(&r), Vec::<String>::new());
}

#[test]
fn hostile_machine_lines_are_bad_input() {
    for (text, column, words) in [
        ("machine ram=1G block=0x8000000000000000", 22, "2G"),
        ("machine ram=1G block=4G", 22, "2G"),
        ("machine ram=8T max_phys=8T", 13, "at most 2T"),
        ("machine ram=1G hugepages=100000000", 26, "hugepages"),
        ("machine ram=1G max_phys=16T", 25, "8T"),
    ] {
        let e = load_error(text);
        assert_eq!((e.line, e.column), (1, column), "{e}");
        assert!(e.message.contains(words), "{e}");
    }
    let e = load_error(
        "machine ram=1G\nsysfs write devices/system/memory/memory0/state offline signal_after=18446744073709551615s\n",
    );
    assert_eq!(e.column, 70, "{e}");
    assert!(e.message.contains("10s"), "{e}");
}

#[test]
fn unmodelled_commands_are_rejected_before_running() {
    let e = load_error("machine ram=512M hugepages=1\nspawn A\nA mmap buf 2M thp hugetlb\n");
    assert_eq!((e.line, e.column), (3, 1));
    assert!(e.message.contains("not supported yet"), "{e}");
    assert!(e.message.contains("THP and hugetlb"), "{e}");
}

#[test]
fn let_binds_printed_value() {
    let r = run("machine ram=512M\nlet p = page alloc x pfn=0x4000\nexpect kpagecount $p == 0\nexpect pfn_to_online_page $p == 1\n");
    assert_eq!((r.passed, r.failed), (2, 0), "{:?}", failures(&r));
}

#[test]
fn bad_variant_is_bad_input() {
    let e = load_error("machine ram=512M\nvariant cow_reuse=never\n");
    assert_eq!((e.line, e.column), (2, 9));
    let mut opts = RunOptions::default();
    assert!(opts.set_variant("cow_reuse=bogus").is_err());
    assert!(opts.set_variant("cow_reuse").is_err());
    assert!(opts.set_variant("cow_reuse=mapcount").is_ok());
}
