//! Benchmarks of the scenario layer: parsing and checking a long scenario
//! before it runs, running the acceptance scenarios of one directory, and a
//! 64 MiB process read compared with a pattern as it streams (the read that a
//! 16 MiB print cap used to refuse).
//!
//! Run with `cargo bench -p mmsim --bench script`.

// Set-up shared between benchmark iterations, outside the model.
#![allow(clippy::disallowed_types)]

use mmsim::script::interp::{run_sources, RunOptions};
use mmsim::script::parse::parse;

fn main() {
    divan::main();
}

/// A scenario of 10 000 command lines (a tenth of them using a variable).
fn long_scenario() -> String {
    let mut text =
        String::from("machine ram=1G\nspawn A\nA mmap buf 1M\nlet off = meminfo max_pfn\n");
    for i in 0..10_000u32 {
        text.push_str(&match i % 10 {
            0 => "expect A read buf+$off 0 == \"\"\n".to_owned(),
            1 => format!("A write buf+{} 8 0x{:02x}\n", (i % 256) * 4096, i % 256),
            2 => "expect kpageflags 0x1000 has buddy\n".to_owned(),
            _ => format!("expect pfn_valid {i} == 1\n"),
        });
    }
    text
}

/// Parse and check 10 000 lines (nothing runs).
#[divan::bench(sample_count = 20)]
fn parse_10k_lines(bencher: divan::Bencher) {
    let text = long_scenario();
    bencher.bench(|| parse("long.mms", &text).expect("valid"));
}

/// Boot a 1 GiB machine, write 64 MiB, and read it back through
/// `expect A read buf 64M == 0x11`, compared with the oracle page by page.
#[divan::bench(sample_count = 10)]
fn read_64m_compared_as_it_streams(bencher: divan::Bencher) {
    let text = "machine ram=1G\nspawn A\nA mmap buf 64M\nA write buf 64M 0x11\n\
                expect A read buf 64M == 0x11\n";
    let sources = [("read.mms".to_owned(), text.to_owned())];
    bencher.bench(|| {
        let r = run_sources(&sources, &RunOptions::default()).expect("valid");
        assert_eq!((r.passed, r.failed), (1, 0));
    });
}

/// Every scenario of tests/scenarios/cow/ (the base-page cow.c cases), one
/// machine each.
#[divan::bench(sample_count = 10)]
fn cow_base_page_scenarios(bencher: divan::Bencher) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/scenarios/cow");
    let mut sources: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("scenario dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "mms"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable");
            (p.display().to_string(), text)
        })
        .collect();
    sources.sort();
    bencher.bench(|| {
        let r = run_sources(&sources, &RunOptions::default()).expect("valid");
        assert_eq!(r.failed, 0);
    });
}
