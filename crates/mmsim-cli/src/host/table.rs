//! The known differences between the host kernel and the model: the one
//! table `mmsim run --host` consults (docs/host-oracle.md renders it).
//!
//! Each entry is narrow: it explains one observable (a KPF bit on one kind
//! of page, a field `P pte` cannot read) and is applied to the host's value
//! of a line only where the model's value of the same line differs in
//! exactly that way, before the line's expectation is judged. A line that
//! agrees only through an entry is counted as agreed and says which.

use mmsim::walkers::{kpf_from_name, KPF_ANON, KPF_DIRTY, KPF_LRU, KPF_SWAPBACKED, KPF_UPTODATE};

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
}

/// The table.
pub const KNOWN: &[Known] = &[
    Known {
        name: "lru-batch",
        what: "a freshly faulted anonymous page is not yet KPF_LRU on the host",
        reason: "folio_add_lru() puts a new folio in a per-CPU batch (cpu_fbatches.lru_add) \
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
        name: "anon-uptodate",
        what: "anonymous pages carry KPF_UPTODATE on the host",
        reason: "the fault path marks a new anonymous folio uptodate \
                 (__folio_mark_uptodate() in alloc_anon_folio()/do_anonymous_page() and on \
                 COW copies) before mapping it; the model does not model PG_uptodate on \
                 anonymous pages",
        rule: Rule::KpfBit {
            bit: KPF_UPTODATE,
            host_set: true,
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
        what: "a shmem/memfd page written through a shared mapping is KPF_DIRTY on the host",
        reason: "a write fault on a shared mapping dirties the folio \
                 (do_shared_fault()/wp_page_shared() → fault_dirty_shared_page() → \
                 folio_mark_dirty()); the model does not track PG_dirty on page-cache pages",
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
];

/// A kpageflags value as bits (unknown names are ignored: both sides name
/// bits the same way).
pub fn kpf_bits(names: &str) -> u64 {
    names
        .split(',')
        .filter_map(kpf_from_name)
        .fold(0, |acc, bit| acc | 1 << bit)
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
