//! The typed syntax tree of a scenario (SCENARIOS.md).
//!
//! A [`Script`] is the list of a file's statements, each with its line number. Every
//! command form of the language is one [`Cmd`] variant whose fields are already typed
//! and checked: sizes, addresses and offsets are bytes (`u64`), PFNs are page frame
//! numbers (`u64`), names match `[A-Za-z_][A-Za-z0-9_-]*`, option keywords are enums
//! and options the scenario left out hold their documented defaults. The interpreter
//! therefore never looks at text again, except for one case: a statement that uses
//! `$VAR` cannot be typed before the `let` that binds VAR has run, so it stays
//! [`StmtKind::Deferred`] and is typed by [`super::parse::resolve`] when it is reached.

use std::time::Duration;

use super::lexer::Token;
use crate::errno::Errno;
pub use crate::hotplug::owner::Mark as PageMark;
pub use crate::page::ZoneType;

/// A parsed scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The file name, as given to [`super::parse::parse`] (used in reports).
    pub file: String,
    /// The statements in file order; blank and comment lines have none.
    pub stmts: Vec<Stmt>,
}

/// One line's statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    /// 1-based line number.
    pub line: u32,
    /// What the line says.
    pub kind: StmtKind,
}

/// The statement forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StmtKind {
    /// `COMMAND`.
    Command(Cmd),
    /// `let VAR = COMMAND`: run COMMAND and bind its printed value to VAR.
    Let {
        /// VAR, without `$`.
        var: String,
        /// The command whose printed value is bound.
        cmd: Cmd,
    },
    /// `expect COMMAND (== | != | has | fails | violates) ...`.
    Expect {
        /// The command run.
        cmd: Cmd,
        /// What must hold of it.
        cond: ExpectCond,
    },
    /// A statement that uses `$VAR`: typed at run time, after substitution.
    Deferred(Deferred),
}

/// A statement whose tokens contain `$VAR` references.
///
/// The parser has checked everything that does not depend on a variable's value: the
/// `let`/`expect` structure, the command name, the placement rules, and that every VAR
/// is bound by an earlier `let`. [`super::parse::resolve`] substitutes the values and
/// types the statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deferred {
    /// The whole line's tokens, `$VAR` not yet substituted.
    pub tokens: Vec<Token>,
    /// What the command's first token names, fixed when the line was read.
    pub head: HeadKind,
}

/// What the first token of a command names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKind {
    /// A command keyword (`hotplug`, `sysfs`, `spawn`, ...).
    Keyword,
    /// A process introduced by `spawn P` or `P fork Q`.
    Process,
    /// A pin introduced by `P gup PIN ...`.
    Pin,
}

/// The condition of an `expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectCond {
    /// `== VALUE`: the printed value equals VALUE.
    Eq(Value),
    /// `!= VALUE`: the printed value differs from VALUE.
    Ne(Value),
    /// `has FLAG[,FLAG...]`: every FLAG is among the printed comma-separated names.
    Has(Vec<String>),
    /// `fails ERRNO`: the command fails with exactly this errno.
    Fails(Errno),
    /// `violates oracle|invariant|fatal-access`: the command breaks this check.
    Violates(ViolationKind),
}

/// Which check an `expect ... violates` asks to be broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// `oracle`: a read disagrees with the POSIX-level oracle.
    Oracle,
    /// `invariant`: a kernel-internal invariant is broken.
    Invariant,
    /// `fatal-access`: an access to an inaccessible (e.g. unplugged) block.
    FatalAccess,
}

/// The VALUE of `expect COMMAND == VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The rest of the line as written, runs of blanks folded to one blank.
    pub raw: String,
    /// How the value reads.
    pub kind: ValueKind,
}

/// Classification of a [`Value`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A single `"text"`: the bytes read equal these bytes.
    Text(Vec<u8>),
    /// A single `0xNN` with exactly two hex digits: for a read, every byte is NN;
    /// otherwise compared as text.
    Byte(u8),
    /// Anything else (a number, one or more words): compared with `raw`.
    Words,
}

/// `[OFF LEN]` of a range of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// Offset from the mapping's start, bytes.
    pub off: u64,
    /// Length, bytes.
    pub len: u64,
}

/// `NAME` or `NAME+OFF`: a byte of a process's mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The mapping's name.
    pub mapping: String,
    /// Offset from the mapping's start, bytes (0 for a bare NAME).
    pub off: u64,
}

/// The `machine` line, with SCENARIOS.md's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineSpec {
    /// `ram=SIZE`: boot RAM is `[0, ram)`.
    pub ram: u64,
    /// `block=SIZE` (default 128M): memory block size, a power of two ≥ 128M.
    pub block: u64,
    /// `nodes=N` (default 1, at least 1).
    pub nodes: u32,
    /// `movable=SIZE` (default 0): the top SIZE of boot RAM goes to ZONE_MOVABLE.
    pub movable: u64,
    /// `swap=SIZE` (default 0).
    pub swap: u64,
    /// `hugepages=N` (default 0): preallocated hugetlb pages.
    pub hugepages: u64,
    /// `auto_online=` (default `offline`): `auto_online_blocks`.
    pub auto_online: AutoOnline,
    /// `max_phys=SIZE` (default 1T): hotplug stays below this address.
    pub max_phys: u64,
}

/// `auto_online_blocks` policies (the kernel's `enum mmop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoOnline {
    /// `offline` (MMOP_OFFLINE).
    Offline,
    /// `online` (MMOP_ONLINE).
    Online,
    /// `online_kernel` (MMOP_ONLINE_KERNEL).
    OnlineKernel,
    /// `online_movable` (MMOP_ONLINE_MOVABLE).
    OnlineMovable,
}

/// How `page alloc` allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageAlloc {
    /// `[order=N] [movable] [node=N]`: from the buddy allocator.
    Buddy {
        /// Allocation order (default 0).
        order: u32,
        /// `movable`: a movable allocation (`__GFP_MOVABLE`).
        movable: bool,
        /// `node=N`: the preferred node.
        node: Option<u32>,
    },
    /// `pfn=PFN [nr=N]`: `alloc_contig_range` of exactly these frames.
    Contig {
        /// First frame.
        pfn: u64,
        /// Number of frames (default 1).
        nr: u64,
    },
}

/// What a test memory notifier answers for one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifierAction {
    /// `ok`: NOTIFY_OK.
    Ok,
    /// `bad`: plain NOTIFY_BAD (the operation fails with EPERM).
    Bad,
    /// `ERRNO`: `notifier_from_errno(-ERRNO)`.
    Errno(Errno),
}

/// What backs a mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// `anon` (the default).
    Anon,
    /// `file=F`: the memory-backed file F.
    File(String),
}

/// `private` or `shared`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// `private` (MAP_PRIVATE, the default).
    Private,
    /// `shared` (MAP_SHARED).
    Shared,
}

/// A protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    /// `none` (PROT_NONE).
    None,
    /// `ro` (PROT_READ).
    ReadOnly,
    /// `rw` (PROT_READ | PROT_WRITE, the default).
    ReadWrite,
}

/// A `madvise` advice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// `dontneed` (MADV_DONTNEED).
    DontNeed,
    /// `pageout` (MADV_PAGEOUT).
    PageOut,
    /// `mergeable` (MADV_MERGEABLE).
    Mergeable,
    /// `unmergeable` (MADV_UNMERGEABLE).
    Unmergeable,
    /// `hugepage` (MADV_HUGEPAGE).
    HugePage,
    /// `nohugepage` (MADV_NOHUGEPAGE).
    NoHugePage,
    /// `collapse` (MADV_COLLAPSE).
    Collapse,
    /// `dontfork` (MADV_DONTFORK).
    DontFork,
    /// `dofork` (MADV_DOFORK).
    DoFork,
}

/// What `P write` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteData {
    /// `LEN BYTE`: LEN bytes of value BYTE.
    Fill {
        /// Number of bytes.
        len: u64,
        /// Their value.
        byte: u8,
    },
    /// `"text"`: these bytes.
    Text(Vec<u8>),
}

/// The reference `P gup` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GupKind {
    /// `pin`: FOLL_PIN (the default).
    Pin,
    /// `get`: FOLL_GET, as vmsplice.
    Get,
}

/// A raw virtio-mem guest request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioMemRequest {
    /// `plug ADDR NB_BLOCKS` (VIRTIO_MEM_REQ_PLUG).
    Plug {
        /// Guest physical address of the first block.
        addr: u64,
        /// Number of device blocks.
        nb_blocks: u16,
    },
    /// `unplug ADDR NB_BLOCKS` (VIRTIO_MEM_REQ_UNPLUG).
    Unplug {
        /// Guest physical address of the first block.
        addr: u64,
        /// Number of device blocks.
        nb_blocks: u16,
    },
    /// `unplug_all` (VIRTIO_MEM_REQ_UNPLUG_ALL; ADDR and NB_BLOCKS may be written and
    /// are not part of this request on the wire).
    UnplugAll,
    /// `state ADDR NB_BLOCKS` (VIRTIO_MEM_REQ_STATE).
    State {
        /// Guest physical address of the first block.
        addr: u64,
        /// Number of device blocks.
        nb_blocks: u16,
    },
}

/// One command: every form of SCENARIOS.md plus the model's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `machine ram=SIZE [block=SIZE] [nodes=N] [movable=SIZE] [swap=SIZE]
    /// [hugepages=N] [auto_online=...] [max_phys=SIZE]`.
    Machine(MachineSpec),
    /// `variant KEY=VALUE ...`: protocol variants, checked by the machine.
    Variant {
        /// The `(KEY, VALUE)` pairs in line order.
        settings: Vec<(String, String)>,
    },

    /// `hotplug add ADDR SIZE [node=N]`: `add_memory()`, then auto-online per policy.
    HotplugAdd {
        /// Start address.
        addr: u64,
        /// Size, bytes.
        size: u64,
        /// Target node (default: the machine's choice).
        node: Option<u32>,
    },
    /// `hotplug remove ADDR SIZE`: `remove_memory()`.
    HotplugRemove {
        /// Start address.
        addr: u64,
        /// Size, bytes.
        size: u64,
    },
    /// `hotplug offline_and_remove ADDR SIZE`: `offline_and_remove_memory()`.
    HotplugOfflineAndRemove {
        /// Start address.
        addr: u64,
        /// Size, bytes.
        size: u64,
    },

    /// `sysfs read PATH`.
    SysfsRead {
        /// Path below `/sys`, without leading or trailing `/`.
        path: String,
    },
    /// `sysfs write PATH VALUE [signal_after=DURATION]`.
    SysfsWrite {
        /// Path below `/sys`, without leading or trailing `/`.
        path: String,
        /// The bytes written (a word as written, or a string's bytes).
        value: Vec<u8>,
        /// Deliver a signal to the writer after this long.
        signal_after: Option<Duration>,
    },
    /// `sysfs ls PATH`.
    SysfsLs {
        /// Path below `/sys`, without leading or trailing `/`.
        path: String,
    },
    /// `sysfs export DIR`.
    SysfsExport {
        /// Host directory.
        dir: String,
    },

    /// `sparse add ADDR SIZE [node=N]`: arch `__add_pages()` only, no memory blocks.
    SparseAdd {
        /// Start address.
        addr: u64,
        /// Size, bytes.
        size: u64,
        /// Node of the memmap (default: the machine's choice).
        node: Option<u32>,
    },
    /// `sparse remove ADDR SIZE`: arch `__remove_pages()`.
    SparseRemove {
        /// Start address.
        addr: u64,
        /// Size, bytes.
        size: u64,
    },
    /// `section NR [FIELD]`: a mem_section's flags.
    Section {
        /// Section number.
        nr: u64,
        /// One field only.
        field: Option<String>,
    },
    /// `pfn_valid PFN`.
    PfnValid {
        /// The frame.
        pfn: u64,
    },
    /// `pfn_to_online_page PFN`.
    PfnToOnlinePage {
        /// The frame.
        pfn: u64,
    },

    /// `page alloc NAME ...`.
    PageAlloc {
        /// Name of the allocation, for `page free` and `page mark`.
        name: String,
        /// Buddy or contiguous-range allocation.
        how: PageAlloc,
    },
    /// `page free NAME`.
    PageFree {
        /// The allocation.
        name: String,
    },
    /// `page mark NAME MARK...`.
    PageMark {
        /// The allocation.
        name: String,
        /// The marks, in line order, no repeats.
        marks: Vec<PageMark>,
    },
    /// `page get PFN`: `get_page_unless_zero()` by a kernel user.
    /// `page fill NAME BYTE`: the owner writes BYTE over its pages.
    PageFill {
        /// The allocation.
        name: String,
        /// The byte written.
        byte: u8,
    },
    PageGet {
        /// The frame.
        pfn: u64,
    },
    /// `page put PFN`: drops a reference taken by `page get`.
    PagePut {
        /// The frame.
        pfn: u64,
    },
    /// `page show PFN`: the model's dump of one `struct page`.
    PageShow {
        /// The frame.
        pfn: u64,
        /// One field alone (`flags`, `type`, `refcount`, `mapcount`, `zone`, `node`).
        field: Option<String>,
    },
    /// `hwpoison PFN`: `memory_failure()`.
    Hwpoison {
        /// The frame.
        pfn: u64,
    },

    /// `notifier add NAME [priority=N] [going_online=...] [going_offline=...]`.
    NotifierAdd {
        /// The notifier's name.
        name: String,
        /// Chain priority (default 0; higher runs first).
        priority: i32,
        /// Answer to MEM_GOING_ONLINE (default `ok`).
        going_online: NotifierAction,
        /// Answer to MEM_GOING_OFFLINE (default `ok`).
        going_offline: NotifierAction,
    },
    /// `notifier remove NAME`.
    NotifierRemove {
        /// The notifier.
        name: String,
    },
    /// `notifier log NAME`: the events the notifier saw.
    NotifierLog {
        /// The notifier.
        name: String,
    },

    /// `online_page_callback set NAME [keep=ADDR,SIZE]`.
    OnlinePageCallbackSet {
        /// The callback's owner.
        name: String,
        /// `(addr, size)`: pages kept back (left PageOffline) when onlined.
        keep: Option<(u64, u64)>,
    },
    /// `online_page_callback restore NAME`.
    OnlinePageCallbackRestore {
        /// The callback's owner.
        name: String,
    },

    /// `zoneinfo NODE ZONE [FIELD]`.
    Zoneinfo {
        /// Node id.
        node: u32,
        /// The zone.
        zone: ZoneType,
        /// One field only.
        field: Option<String>,
    },
    /// `nodeinfo NODE [FIELD]`.
    Nodeinfo {
        /// Node id.
        node: u32,
        /// One field only.
        field: Option<String>,
    },
    /// `meminfo [FIELD]`.
    Meminfo {
        /// One field only.
        field: Option<String>,
    },

    /// `kcore read ADDR LEN`.
    KcoreRead {
        /// Physical address.
        addr: u64,
        /// Bytes.
        len: u64,
    },
    /// `kcore page PFN [OFF] LEN`.
    KcorePage {
        /// The frame.
        pfn: u64,
        /// Offset in the frame (default 0).
        off: u64,
        /// Bytes.
        len: u64,
    },
    /// `kpageflags PFN`.
    Kpageflags {
        /// The frame.
        pfn: u64,
    },
    /// `kpageflags dump FILE`.
    KpageflagsDump {
        /// Host file.
        file: String,
    },
    /// `kpagecount PFN`.
    Kpagecount {
        /// The frame.
        pfn: u64,
    },

    /// `spawn P`.
    Spawn {
        /// The new process.
        proc: String,
    },
    /// `file F SIZE`: a zero-filled memory-backed file.
    File {
        /// The file's name.
        name: String,
        /// Size, bytes.
        size: u64,
        /// `hugetlb` (an extension): a hugetlbfs file, as
        /// `memfd_create(MFD_HUGETLB)` makes, backed by the hugetlb pool.
        hugetlb: bool,
    },
    /// `P mmap NAME SIZE [anon|file=F] [private|shared] [ro|rw|none] [thp] [hugetlb]
    /// [populate]`.
    Mmap {
        /// The process.
        proc: String,
        /// The mapping's name.
        name: String,
        /// Size, bytes.
        size: u64,
        /// `anon` (default) or `file=F`.
        backing: Backing,
        /// `private` (default) or `shared`.
        sharing: Sharing,
        /// `rw` (default), `ro` or `none`.
        prot: Prot,
        /// `thp`: PMD-map THPs where the range allows it.
        thp: bool,
        /// `hugetlb`: back with hugetlb pages.
        hugetlb: bool,
        /// `populate`: MAP_POPULATE.
        populate: bool,
    },
    /// `P munmap NAME [OFF LEN]`.
    Munmap {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
        /// Part of the mapping (default all).
        range: Option<ByteRange>,
    },
    /// `P mprotect NAME none|ro|rw [OFF LEN]`.
    Mprotect {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
        /// The new protection.
        prot: Prot,
        /// Part of the mapping (default all).
        range: Option<ByteRange>,
    },
    /// `P madvise NAME ADVICE [OFF LEN]`.
    Madvise {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
        /// The advice.
        advice: Advice,
        /// Part of the mapping (default all).
        range: Option<ByteRange>,
    },
    /// `P touch NAME [OFF LEN]`: read every page.
    Touch {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
        /// Part of the mapping (default all).
        range: Option<ByteRange>,
    },
    /// `P write PLACE LEN BYTE` or `P write PLACE "text"`.
    Write {
        /// The process.
        proc: String,
        /// Where the write starts.
        place: Place,
        /// What is written.
        data: WriteData,
    },
    /// `P read PLACE LEN`.
    Read {
        /// The process.
        proc: String,
        /// Where the read starts.
        place: Place,
        /// Bytes.
        len: u64,
    },
    /// `P fork Q`.
    Fork {
        /// The parent.
        proc: String,
        /// The new child.
        child: String,
    },
    /// `P exit`.
    /// `P clear_refs`: `echo 4 > /proc/P/clear_refs` (clear soft-dirty).
    ClearRefs {
        /// The process.
        proc: String,
    },
    Exit {
        /// The process.
        proc: String,
    },
    /// `P gup PIN PLACE LEN [write] [get|pin] [fast] [longterm]`.
    Gup {
        /// The process whose memory is pinned.
        proc: String,
        /// Name of the new pin.
        pin: String,
        /// Where the pinned range starts.
        place: Place,
        /// Bytes.
        len: u64,
        /// `write`: FOLL_WRITE.
        write: bool,
        /// `pin` (default) or `get`.
        kind: GupKind,
        /// `fast`: GUP-fast first.
        fast: bool,
        /// `longterm`: FOLL_LONGTERM.
        longterm: bool,
    },
    /// `PIN read OFF LEN`: a DMA read through the pin.
    PinRead {
        /// The pin.
        pin: String,
        /// Offset from the pinned range's start.
        off: u64,
        /// Bytes.
        len: u64,
    },
    /// `PIN write OFF LEN BYTE`: a DMA write through a write pin.
    PinWrite {
        /// The pin.
        pin: String,
        /// Offset from the pinned range's start.
        off: u64,
        /// Bytes.
        len: u64,
        /// Their value.
        byte: u8,
    },
    /// `release PIN`: `put_page()` / `unpin_user_pages()`.
    Release {
        /// The pin.
        pin: String,
    },
    /// `ksm run`: one full KSM pass.
    KsmRun,
    /// `P pagemap PLACE`.
    Pagemap {
        /// The process.
        proc: String,
        /// The page.
        place: Place,
    },
    /// `P pte PLACE`.
    Pte {
        /// The process.
        proc: String,
        /// The page.
        place: Place,
    },
    /// `P pfn PLACE`.
    Pfn {
        /// The process.
        proc: String,
        /// The page.
        place: Place,
    },
    /// `P smaps NAME`: the mapping's /proc/PID/smaps counters (an extension
    /// of SCENARIOS.md).
    Smaps {
        /// The process.
        proc: String,
        /// The mapping.
        name: String,
    },

    /// `virtio-mem add DEV addr=ADDR size=SIZE block=SIZE [node=N] [requested=SIZE]
    /// [inaccessible] [nodriver]`.
    VirtioMemAdd {
        /// The device's name.
        dev: String,
        /// Start of the device region.
        addr: u64,
        /// Size of the device region.
        size: u64,
        /// Device block size.
        block: u64,
        /// Node (default: the machine's choice).
        node: Option<u32>,
        /// Initial requested_size (default 0).
        requested: u64,
        /// Offer VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE.
        inaccessible: bool,
        /// Leave the device without a guest driver.
        nodriver: bool,
    },
    /// `virtio-mem resize DEV SIZE`: the host sets requested_size.
    VirtioMemResize {
        /// The device.
        dev: String,
        /// The new requested_size.
        size: u64,
    },
    /// `virtio-mem show DEV [FIELD]`.
    VirtioMemShow {
        /// The device.
        dev: String,
        /// One field only.
        field: Option<String>,
    },
    /// `virtio-mem request DEV KIND ...`: a raw guest request.
    VirtioMemRequest {
        /// The device.
        dev: String,
        /// The request.
        req: VirtioMemRequest,
    },
    /// `balloon inflate SIZE`.
    BalloonInflate {
        /// Bytes.
        size: u64,
    },
    /// `balloon deflate SIZE`.
    BalloonDeflate {
        /// Bytes.
        size: u64,
    },

    /// `check`: run every invariant now.
    Check,
}

impl Cmd {
    /// The command's name as written, for messages (`"hotplug add"`, `"mmap"`).
    pub fn name(&self) -> &'static str {
        match self {
            Cmd::Machine(_) => "machine",
            Cmd::Variant { .. } => "variant",
            Cmd::HotplugAdd { .. } => "hotplug add",
            Cmd::HotplugRemove { .. } => "hotplug remove",
            Cmd::HotplugOfflineAndRemove { .. } => "hotplug offline_and_remove",
            Cmd::SysfsRead { .. } => "sysfs read",
            Cmd::SysfsWrite { .. } => "sysfs write",
            Cmd::SysfsLs { .. } => "sysfs ls",
            Cmd::SysfsExport { .. } => "sysfs export",
            Cmd::SparseAdd { .. } => "sparse add",
            Cmd::SparseRemove { .. } => "sparse remove",
            Cmd::Section { .. } => "section",
            Cmd::PfnValid { .. } => "pfn_valid",
            Cmd::PfnToOnlinePage { .. } => "pfn_to_online_page",
            Cmd::PageAlloc { .. } => "page alloc",
            Cmd::PageFree { .. } => "page free",
            Cmd::PageMark { .. } => "page mark",
            Cmd::PageFill { .. } => "page fill",
            Cmd::PageGet { .. } => "page get",
            Cmd::PagePut { .. } => "page put",
            Cmd::PageShow { .. } => "page show",
            Cmd::Hwpoison { .. } => "hwpoison",
            Cmd::NotifierAdd { .. } => "notifier add",
            Cmd::NotifierRemove { .. } => "notifier remove",
            Cmd::NotifierLog { .. } => "notifier log",
            Cmd::OnlinePageCallbackSet { .. } => "online_page_callback set",
            Cmd::OnlinePageCallbackRestore { .. } => "online_page_callback restore",
            Cmd::Zoneinfo { .. } => "zoneinfo",
            Cmd::Nodeinfo { .. } => "nodeinfo",
            Cmd::Meminfo { .. } => "meminfo",
            Cmd::KcoreRead { .. } => "kcore read",
            Cmd::KcorePage { .. } => "kcore page",
            Cmd::Kpageflags { .. } => "kpageflags",
            Cmd::KpageflagsDump { .. } => "kpageflags dump",
            Cmd::Kpagecount { .. } => "kpagecount",
            Cmd::Spawn { .. } => "spawn",
            Cmd::File { .. } => "file",
            Cmd::Mmap { .. } => "mmap",
            Cmd::Munmap { .. } => "munmap",
            Cmd::Mprotect { .. } => "mprotect",
            Cmd::Madvise { .. } => "madvise",
            Cmd::Touch { .. } => "touch",
            Cmd::Write { .. } => "write",
            Cmd::Read { .. } => "read",
            Cmd::Fork { .. } => "fork",
            Cmd::ClearRefs { .. } => "clear_refs",
            Cmd::Exit { .. } => "exit",
            Cmd::Gup { .. } => "gup",
            Cmd::PinRead { .. } => "pin read",
            Cmd::PinWrite { .. } => "pin write",
            Cmd::Release { .. } => "release",
            Cmd::KsmRun => "ksm run",
            Cmd::Pagemap { .. } => "pagemap",
            Cmd::Pte { .. } => "pte",
            Cmd::Pfn { .. } => "pfn",
            Cmd::Smaps { .. } => "smaps",
            Cmd::VirtioMemAdd { .. } => "virtio-mem add",
            Cmd::VirtioMemResize { .. } => "virtio-mem resize",
            Cmd::VirtioMemShow { .. } => "virtio-mem show",
            Cmd::VirtioMemRequest { .. } => "virtio-mem request",
            Cmd::BalloonInflate { .. } => "balloon inflate",
            Cmd::BalloonDeflate { .. } => "balloon deflate",
            Cmd::Check => "check",
        }
    }
}
