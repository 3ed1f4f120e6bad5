//! A mutation fuzz over `tests/scenarios`: each case takes an acceptance
//! scenario, breaks it the way hostile or careless input does — a token
//! replaced by a huge, zero, negative, unaligned or malformed value, a token or
//! line dropped, lines swapped, a line pasted many times, invisible or
//! non-UTF-8 bytes inserted, the file cut short — and runs `mmsim run` on it.
//! Whatever the scenario now means, the binary must not panic, must not run
//! past [`DEADLINE`], and must exit 0, 1 or 2.
//!
//! The cases are drawn from a fixed seed, so a failure replays:
//! `MMSIM_FUZZ_SEED=S MMSIM_FUZZ_CASES=N cargo test --release -p mmsim-cli
//! --test mutation_fuzz`. Each failing case is saved under
//! `target/mutation-fuzz/` with its seed in the name.

// A test harness outside the model: the rule keeping std::sync inside sync/ is
// for model code.
#![allow(clippy::disallowed_types)]

use mmsim::script::source::find_scenarios;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest a case may run.
const DEADLINE: Duration = Duration::from_secs(10);

/// Cases CI runs; more with MMSIM_FUZZ_CASES.
const DEFAULT_CASES: u64 = 160;

/// SplitMix64: a small, well-mixed generator, enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values a careless or hostile writer puts where a token was.
const HOSTILE: &[&str] = &[
    "0",
    "1",
    "-1",
    "4097",
    "0x8000000000000000",
    "18446744073709551615",
    "18446744073709551616",
    "0xffffffffffffffff",
    "16T",
    "8T",
    "4G",
    "2G",
    "1T",
    "0x100000000",
    "0x7fffffffffff",
    "4K",
    "1M",
    "0x1",
    "",
    "$x",
    "==",
    "fails",
    "expect",
    "let",
    "\"",
    "\"unterminated",
    "\\x",
    "#",
    "é",
    "\u{200b}",
    "\u{feff}",
    "A",
    "buf+4095",
    "buf+0xffffffffffffffff",
    "signal_after=18446744073709551615s",
    "signal_after=0ms",
    "block=0x8000000000000000",
    "ram=8T",
    "hugepages=99999999",
    "nodes=64",
    "order=99",
    "nr=0xffffffff",
];

/// Bytes inserted somewhere.
const RAW: &[&[u8]] = &[
    b"\r",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\t",
    b"\x1b[31m",
    b"\n\n",
    b"\r\n",
];

/// One mutation of a scenario's text.
fn mutate(text: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let n = lines.len();
    match rng.below(8) {
        0 | 1 => {
            // Replace one token by a hostile value.
            let l = rng.below(n);
            let mut words: Vec<Vec<u8>> =
                lines[l].split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
            let w = rng.below(words.len());
            words[w] = rng.pick(HOSTILE).as_bytes().to_vec();
            lines[l] = words.join(&b' ');
        }
        2 => {
            // Drop one token.
            let l = rng.below(n);
            let mut words: Vec<Vec<u8>> =
                lines[l].split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
            words.remove(rng.below(words.len()));
            lines[l] = words.join(&b' ');
        }
        3 => {
            lines.remove(rng.below(n));
        }
        4 => {
            let (a, b) = (rng.below(n), rng.below(n));
            lines.swap(a, b);
        }
        5 => {
            // Paste a line many times.
            let l = rng.below(n);
            let copies = 1 + rng.below(20);
            let line = lines[l].clone();
            for _ in 0..copies {
                lines.insert(l, line.clone());
            }
        }
        6 => {
            let l = rng.below(n);
            let at = rng.below(lines[l].len() + 1);
            let raw = rng.pick(RAW);
            lines[l].splice(at..at, raw.iter().copied());
        }
        _ => {
            let keep = rng.below(n);
            lines.truncate(keep.max(1));
        }
    }
    lines.join(&b'\n')
}

/// Runs `mmsim run FILE` in FILE's directory (a scratch directory: a mutated
/// `sysfs export` or `kpageflags dump` path lands there); the exit status, or
/// why the case failed.
fn run_case(file: &Path) -> Result<i32, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmsim"))
        .arg("run")
        .arg(file)
        .current_dir(file.parent().unwrap_or(Path::new(".")))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            return match status.code() {
                Some(code @ 0..=2) if !err.contains("panicked") => Ok(code),
                Some(code) => Err(format!("exit status {code}: {err}")),
                None => Err(format!("killed by a signal: {err}")),
            };
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {}s", DEADLINE.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_scenarios_never_panic_hang_or_exit_strangely() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let files = find_scenarios(&root).expect("tests/scenarios");
    let seed = env_u64("MMSIM_FUZZ_SEED", 0x006d_6d73_696d);
    let cases = env_u64("MMSIM_FUZZ_CASES", DEFAULT_CASES);
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mutation-fuzz");
    std::fs::create_dir_all(&out_dir).expect("scratch dir");
    let next = AtomicUsize::new(0);
    let problems = Mutex::new(Vec::new());
    let codes = Mutex::new([0u32; 3]);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let case = next.fetch_add(1, Ordering::Relaxed) as u64;
                if case >= cases {
                    return;
                }
                let case_seed = seed.wrapping_add(case.wrapping_mul(0x2545_f491_4f6c_dd1d));
                let mut rng = Rng(case_seed);
                let source = rng.pick(&files).clone();
                let mut text = std::fs::read(&source).expect("scenario");
                for _ in 0..1 + rng.below(3) {
                    text = mutate(&text, &mut rng);
                }
                let file = out_dir.join(format!("case-{case_seed:016x}.mms"));
                std::fs::write(&file, &text).expect("write case");
                match run_case(&file) {
                    Ok(code) => {
                        codes.lock().unwrap()[code as usize] += 1;
                        let _ = std::fs::remove_file(&file);
                    }
                    Err(why) => problems.lock().unwrap().push(format!(
                        "{} (from {}): {why}",
                        file.display(),
                        source.display()
                    )),
                }
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let codes = codes.into_inner().unwrap();
    println!(
        "{cases} cases: exit 0 {}, 1 {}, 2 {}",
        codes[0], codes[1], codes[2]
    );
    // The mutations must reach the running machine, not only the parser.
    assert!(
        codes[0] + codes[1] > 0,
        "every case was refused as bad input"
    );
}
