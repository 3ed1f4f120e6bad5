//! Which lines the host kernel can express, and why the others are skipped.

use mmsim::script::cmd::hotplug::HotplugCmd;
use mmsim::script::cmd::kernel::KernelCmd;
use mmsim::script::cmd::machine::MachineSpec;
use mmsim::script::cmd::pin::{GupKind, PinCmd};
use mmsim::script::cmd::process::ProcessCmd;
use mmsim::script::cmd::readers::ReaderCmd;
use mmsim::script::cmd::Cmd;

/// Why a line is not run on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// `check`, zoneinfo, meminfo, sysfs reads, page show...: the model's
    /// own view of kernel state, which user space has no window on.
    KernelSide,
    /// Memory hotplug, sysfs writes, virtio-mem, the balloon, ZONE_DEVICE,
    /// page get/put, hwpoison: the host's memory is not the scenario's to
    /// change.
    Hotplug,
    /// A KSM pass (`ksm run`): ksmd runs on its own schedule.
    Ksm,
    /// A GUP form no user interface takes: a R/O FOLL_PIN, a short-term
    /// FOLL_PIN, a write FOLL_GET (the kernel's gup_test would, but it lives
    /// in debugfs). Later lines are skipped too: such a pin unshares or
    /// holds pages, which the host cannot follow.
    GupForm,
    /// /proc/kcore, kpageflags dumps, the compaction scanner: whole-machine
    /// readers whose addresses are the model's.
    MachineReader,
    /// A line after one the host could not follow that changed the model
    /// (hotplug, KSM, a page reference): the two sides no longer describe
    /// the same memory.
    AfterDivergence,
    /// The file selects a protocol variant: the host runs mainline.
    Variant,
    /// The machine needs what the host does not have or has what the
    /// machine does not (swap, hugetlb pages, ZONE_MOVABLE).
    Machine,
}

impl Skip {
    /// Every reason, in report order.
    pub const ALL: [Skip; 8] = [
        Skip::KernelSide,
        Skip::Hotplug,
        Skip::Ksm,
        Skip::GupForm,
        Skip::MachineReader,
        Skip::AfterDivergence,
        Skip::Variant,
        Skip::Machine,
    ];

    /// A short name for the report.
    pub fn name(self) -> &'static str {
        match self {
            Skip::KernelSide => "kernel-side (check, *info, sysfs read, page show)",
            Skip::Hotplug => "hotplug, sysfs write, virtio-mem, balloon, page get/put",
            Skip::Ksm => "ksm run",
            Skip::GupForm => "GUP form without a user interface (R/O or short-term pin, write get)",
            Skip::MachineReader => "kcore, kpageflags dump, compaction scanner",
            Skip::AfterDivergence => "after a line the host cannot follow",
            Skip::Variant => "file selects a protocol variant",
            Skip::Machine => "machine needs swap/hugetlb/movable the host lacks (or has)",
        }
    }
}

/// Whether the host runs `cmd`: `Err((why, diverges))` if not, where
/// `diverges` says the model's state changes in a way the host cannot
/// follow, so later lines are skipped too. `hugetlb_pool` says the file's
/// machine has a hugetlb pool and the host's free pool was of exactly its
/// size when the file began: then the host's `HugePages_*` meminfo lines
/// (machine-wide) describe the file's processes alone and are compared.
pub fn classify(cmd: &Cmd, hugetlb_pool: bool) -> Result<(), (Skip, bool)> {
    match cmd {
        Cmd::Kernel(KernelCmd::Meminfo { field: Some(f) })
            if hugetlb_pool && is_hugetlb_meminfo(f) =>
        {
            Ok(())
        }
        Cmd::Process(ProcessCmd::KsmRun) => Err((Skip::Ksm, true)),
        Cmd::Process(ProcessCmd::File { dax: Some(_), .. }) => Err((Skip::Hotplug, true)),
        Cmd::Process(_) => Ok(()),
        Cmd::Pin(PinCmd::Gup {
            kind,
            write,
            longterm,
            ..
        }) => match (kind, write, longterm) {
            // vmsplice(): FOLL_GET, read-only.
            (GupKind::Get, false, _) => Ok(()),
            // io_uring fixed buffers: FOLL_PIN | FOLL_WRITE | FOLL_LONGTERM.
            (GupKind::Pin, true, true) => Ok(()),
            _ => Err((Skip::GupForm, true)),
        },
        Cmd::Pin(_) => Ok(()),
        Cmd::Reader(
            ReaderCmd::Kpageflags { .. }
            | ReaderCmd::Kpagecount { .. }
            | ReaderCmd::Pagemap { .. }
            | ReaderCmd::Pte { .. }
            | ReaderCmd::Pfn { .. }
            | ReaderCmd::Smaps { .. },
        ) => Ok(()),
        Cmd::Reader(_) => Err((Skip::MachineReader, false)),
        Cmd::Kernel(
            KernelCmd::Check
            | KernelCmd::Section { .. }
            | KernelCmd::PfnValid { .. }
            | KernelCmd::PfnToOnlinePage { .. }
            | KernelCmd::PageShow { .. }
            | KernelCmd::Zoneinfo { .. }
            | KernelCmd::Nodeinfo { .. }
            | KernelCmd::Meminfo { .. },
        ) => Err((Skip::KernelSide, false)),
        Cmd::Hotplug(
            HotplugCmd::SysfsRead { .. }
            | HotplugCmd::SysfsLs { .. }
            | HotplugCmd::SysfsExport { .. }
            | HotplugCmd::NotifierLog { .. },
        ) => Err((Skip::KernelSide, false)),
        Cmd::Kernel(_)
        | Cmd::Hotplug(_)
        | Cmd::Virtio(_)
        | Cmd::Balloon(_)
        | Cmd::Memremap(_)
        | Cmd::Devmem(_) => Err((Skip::Hotplug, true)),
    }
}

/// The /proc/meminfo fields of the default hugetlb pool that the host
/// compares (`HugePages_Total`, `_Free`, `_Rsvd`, `_Surp`).
pub fn is_hugetlb_meminfo(field: &str) -> bool {
    matches!(
        field,
        "HugePages_Total" | "HugePages_Free" | "HugePages_Rsvd" | "HugePages_Surp"
    )
}

/// What the host lacks (or has) that the machine of a file depends on, if
/// anything: then the file's lines are all skipped.
pub fn machine_mismatch(spec: &MachineSpec, host: &HostResources) -> Option<String> {
    if (spec.swap > 0) != host.swap {
        return Some(if host.swap {
            "the host has swap and the machine none".to_owned()
        } else {
            format!("the machine has swap={} and the host none", spec.swap)
        });
    }
    // The pool's size is observable (a fault that finds it empty fails).
    if spec.hugepages > 0 && spec.hugepages != host.free_hugepages {
        return Some(format!(
            "the machine has hugepages={} and the host {} free",
            spec.hugepages, host.free_hugepages
        ));
    }
    if let Some(why) = &host.thp_mismatch {
        return Some(why.clone());
    }
    if spec.movable > 0 {
        return Some("the machine has ZONE_MOVABLE (longterm pins migrate out of it)".to_owned());
    }
    None
}

/// What the host offers.
#[derive(Clone, Debug)]
pub struct HostResources {
    /// Some swap device is on.
    pub swap: bool,
    /// HugePages_Free of the default (2 MiB) size.
    pub free_hugepages: u64,
    /// How the host's THP settings differ from the model's (THPs where
    /// MADV_HUGEPAGE asks, PMD-sized only, none in shmem, the huge zero
    /// page), if they do.
    pub thp_mismatch: Option<String>,
}

impl HostResources {
    /// Reads /proc/swaps and /proc/meminfo.
    pub fn probe() -> HostResources {
        let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let free_hugepages = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("HugePages_Free:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        HostResources {
            swap: swaps.lines().count() > 1,
            free_hugepages,
            thp_mismatch: thp_mismatch(),
        }
    }
}

/// Reads (never writes) /sys/kernel/mm/transparent_hugepage: the model
/// behaves as `enabled=madvise`, `shmem_enabled=never`, `use_zero_page=1`,
/// with no multi-size THP but the PMD size.
fn thp_mismatch() -> Option<String> {
    const DIR: &str = "/sys/kernel/mm/transparent_hugepage";
    // The bracketed choice of a sysfs selector, or the whole value.
    let setting = |file: &str| -> Option<String> {
        let text = std::fs::read_to_string(format!("{DIR}/{file}")).ok()?;
        let text = text.trim();
        Some(match (text.find('['), text.find(']')) {
            (Some(a), Some(b)) if a < b => text[a + 1..b].to_owned(),
            _ => text.to_owned(),
        })
    };
    let mut wants = vec![
        ("enabled".to_owned(), vec!["madvise"]),
        ("shmem_enabled".to_owned(), vec!["never", "deny"]),
        ("use_zero_page".to_owned(), vec!["1"]),
    ];
    if let Ok(dir) = std::fs::read_dir(DIR) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("hugepages-") {
                let ok = if name == "hugepages-2048kB" {
                    vec!["inherit", "madvise"]
                } else {
                    vec!["never"]
                };
                wants.push((format!("{name}/enabled"), ok));
            }
        }
    }
    wants.into_iter().find_map(|(file, ok)| {
        let got = setting(&file)?;
        (!ok.contains(&got.as_str())).then(|| {
            format!(
                "the host's THP setting {file} is {got}, the model behaves as {}",
                ok[0]
            )
        })
    })
}
