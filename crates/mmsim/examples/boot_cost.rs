//! Boots a machine of the given RAM size and prints what it cost:
//! `cargo run --release -p mmsim --example boot_cost -- 1T`.

// It measures host time, outside any explored code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use mmsim::{Machine, MachineConfig};
use std::time::Instant;

fn parse_size(s: &str) -> Option<u64> {
    let (num, shift) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 10),
        'M' => (&s[..s.len() - 1], 20),
        'G' => (&s[..s.len() - 1], 30),
        'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    num.parse::<u64>().ok()?.checked_mul(1 << shift)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "64G".into());
    let Some(ram) = parse_size(&arg) else {
        eprintln!("usage: boot_cost SIZE (e.g. 64G, 1T)");
        std::process::exit(2);
    };
    let before = rss_kib();
    let t = Instant::now();
    let m = match Machine::boot(
        MachineConfig {
            ram,
            max_phys: ram.max(1 << 40),
            ..Default::default()
        },
        Default::default(),
    ) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("boot_cost: {e}");
            std::process::exit(2);
        }
    };
    let took = t.elapsed();
    let (chunks, _) = m.mem().memmap_stats();
    println!(
        "ram {arg}: boot {:.3} s, RSS +{} MiB, {} memmap sections mapped ({} MiB of address space), managed pages {}",
        took.as_secs_f64(),
        (rss_kib().saturating_sub(before)) / 1024,
        chunks,
        chunks * (32768 * 32) / (1 << 20),
        m.totalram_pages()
    );
}
