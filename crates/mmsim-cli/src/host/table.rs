//! The known differences between the host kernel and the model: the one
//! table `mmsim run --host` consults (docs/host-oracle.md renders it).
//!
//! Each entry is narrow: it explains one observable (a KPF bit on one kind
//! of page, a field `P pte` cannot read) and is applied to the host's value
//! of a line only where the model's value of the same line differs in
//! exactly that way, before the line's expectation is judged. A line that
//! agrees only through an entry is counted as agreed and says which.

use mmsim::script::cmd::process::{Advice, ProcessCmd};
use mmsim::script::cmd::Cmd;
use mmsim::walkers::{kpf_from_name, KPF_ANON, KPF_DIRTY, KPF_LRU, KPF_SWAPBACKED};
use mmsim::Errno;

/// One known difference.
#[derive(Clone, Copy, Debug)]
pub struct Known {
    /// A short name, printed with the lines it explains.
    pub name: &'static str,
    /// What differs.
    pub what: &'static str,
    /// Why, measured on a 6.18 host.
    pub reason: &'static str,
    /// Where it applies and how the host's value is brought to the model's.
    pub rule: Rule,
}

/// How an entry matches.
#[derive(Clone, Copy, Debug)]
pub enum Rule {
    /// `kpageflags PFN`: the host shows `bit` set (`host_set`) or clear where
    /// the model shows the opposite, on a page whose host flags include
    /// every bit of `all` and none of `none`.
    KpfBit {
        /// The KPF bit.
        bit: u32,
        /// The host's state of it.
        host_set: bool,
        /// KPF bits the page must have on the host.
        all: &'static [u32],
        /// KPF bits it must not have.
        none: &'static [u32],
    },
    /// `P pte PLACE`: `writable` and `anon_exclusive` are not visible to
    /// user space; the model's are taken, `present` and `pfn` compared.
    PteHidden,
    /// `P pagemap PLACE` of a swapped-out page: the swap slot (the `pfn=`
    /// field) is the model's; present, swapped and exclusive are compared.
    SwapSlot,
    /// A command that `matches` succeeds on the host where the model fails
    /// it with `model_errno`.
    HostSucceeds {
        /// The command (a kind of a command: a verb with an option).
        matches: fn(&Cmd) -> bool,
        /// The model's errno.
        model_errno: Errno,
    },
}

/// The table.
pub const KNOWN: &[Known] = &[
    Known {
        name: "lru-batch",
        what: "a freshly faulted anonymous page is not yet KPF_LRU on the host",
        reason: "folio_add_lru_vma() puts a new folio in a per-CPU batch (cpu_fbatches.lru_add) \
                 that is drained to the LRU list only when the batch fills (PAGEVEC_SIZE) or \
                 on lru_add_drain(); the model adds it to the LRU at once, as a drained \
                 batch would",
        rule: Rule::KpfBit {
            bit: KPF_LRU,
            host_set: false,
            all: &[KPF_ANON],
            none: &[],
        },
    },
    Known {
        name: "shmem-lru-batch",
        what: "a freshly added shmem/memfd page-cache page is not yet KPF_LRU on the host",
        reason: "shmem_alloc_and_add_folio() adds the new folio to the LRU through the same \
                 per-CPU batch (folio_add_lru()) as anonymous pages, drained only when it \
                 fills or on lru_add_drain(); the model adds it at once",
        rule: Rule::KpfBit {
            bit: KPF_LRU,
            host_set: false,
            all: &[KPF_SWAPBACKED],
            none: &[KPF_ANON],
        },
    },
    Known {
        name: "shmem-dirty",
        what: "a shmem/memfd page first faulted in by a write through a shared mapping is \
               KPF_DIRTY on the host",
        reason: "do_shared_fault() ends in fault_dirty_shared_page() → folio_mark_dirty(); \
                 the model does not set PG_dirty on page-cache pages (a page first read and \
                 then written is mapped writable by the read fault, so no fault dirties it: \
                 clean on both sides)",
        rule: Rule::KpfBit {
            bit: KPF_DIRTY,
            host_set: true,
            all: &[KPF_SWAPBACKED],
            none: &[KPF_ANON],
        },
    },
    Known {
        name: "pte-hidden",
        what: "`P pte`: writable and anon_exclusive are not readable from user space",
        reason: "/proc/PID/pagemap has no PTE write bit and its bit 56 is \"mapped exactly \
                 once\", not PG_anon_exclusive; present and pfn are compared, the other \
                 two fields are the model's",
        rule: Rule::PteHidden,
    },
    Known {
        name: "swap-slot",
        what: "`P pagemap` of a swapped-out page: the swap type and offset (bits 0-54) differ",
        reason: "the host's swap allocator picks the slot (per-CPU swap clusters, a device \
                 shared with the rest of the host and earlier files), the model's takes the \
                 first free one; which slot holds a page is not what a scenario checks, so \
                 the model's is used and the other fields are compared",
        rule: Rule::SwapSlot,
    },
    Known {
        name: "collapse-read-only",
        what: "`madvise collapse` of a range whose PTEs are all read-only: EINVAL in the \
               model, done on the host",
        reason: "6.12's hpage_collapse_scan_pmd()/__collapse_huge_page_isolate() refuse a \
                 range without a writable PTE (SCAN_PAGE_RO, -EINVAL for MADV_COLLAPSE), \
                 which the model follows (scenario cow/collapse/collapse-02 cites it); the \
                 6.18 host collapses such a range",
        rule: Rule::HostSucceeds {
            matches: |cmd| {
                matches!(
                    cmd,
                    Cmd::Process(ProcessCmd::Madvise {
                        advice: Advice::Collapse,
                        ..
                    })
                )
            },
            model_errno: Errno::EINVAL,
        },
    },
];

/// A host success the table explains where the model failed with
/// `model`: the entry's name and the errno to judge the host's line with.
pub fn host_succeeds(cmd: &Cmd, model: &str) -> Option<(&'static str, Errno)> {
    KNOWN.iter().find_map(|k| match k.rule {
        Rule::HostSucceeds {
            matches,
            model_errno,
        } if matches(cmd) && model_errno.name() == model => Some((k.name, model_errno)),
        _ => None,
    })
}

/// A kpageflags value as bits (unknown names are ignored: both sides name
/// bits the same way).
pub fn kpf_bits(names: &str) -> u64 {
    names
        .split(',')
        .filter_map(kpf_from_name)
        .fold(0, |acc, bit| acc | 1 << bit)
}

/// `P pagemap` of a swapped-out page on both sides: the host's fields with
/// the model's swap slot.
pub fn pagemap_with_model_slot(host: &str, model: Option<&str>) -> Option<String> {
    let model = model?;
    let swapped = |v: &str| v.split_whitespace().any(|w| w == "swapped=1");
    if !swapped(host) || !swapped(model) {
        return None;
    }
    let slot = model.split_whitespace().find(|w| w.starts_with("pfn="))?;
    Some(
        host.split_whitespace()
            .map(|w| if w.starts_with("pfn=") { slot } else { w })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Brings the host's KPF bits of a page toward the model's where an entry
/// explains the difference; returns the new bits and the entries used.
pub fn adjust_kpageflags(host: u64, model: u64) -> (u64, Vec<&'static str>) {
    let mut out = host;
    let mut used = Vec::new();
    for k in KNOWN {
        let Rule::KpfBit {
            bit,
            host_set,
            all,
            none,
        } = k.rule
        else {
            continue;
        };
        let mask = 1u64 << bit;
        let has = |b: u32| host & (1 << b) != 0;
        if (host & mask != 0) == host_set
            && (model & mask != 0) != host_set
            && all.iter().all(|&b| has(b))
            && !none.iter().any(|&b| has(b))
        {
            out ^= mask;
            used.push(k.name);
        }
    }
    (out, used)
}

/// `P pte`: the host's `present` and `pfn` with the model's `writable` and
/// `anon_exclusive` (from the model's value of the same line), if the model
/// printed one.
pub fn pte_with_hidden_fields(present: bool, pfn: u64, model: Option<&str>) -> Option<String> {
    let field = |key: &str| {
        model?
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    Some(format!(
        "present={} writable={} anon_exclusive={} pfn={pfn:#x}",
        u8::from(present),
        field("writable")?,
        field("anon_exclusive")?
    ))
}

/// The table as Markdown (docs/host-oracle.md, `mmsim help host`).
pub fn markdown() -> String {
    let mut s = String::from("| entry | what differs | why |\n|---|---|---|\n");
    for k in KNOWN {
        s.push_str(&format!(
            "| `{}` | {} | {} |\n",
            k.name,
            k.what,
            k.reason.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    s
}
