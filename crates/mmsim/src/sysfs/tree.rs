//! The shape of the modelled /sys tree and path resolution.
//!
//! Every directory, attribute and symlink is a typed value; a path resolves
//! to one of them against the machine's current state (which blocks exist,
//! which nodes are online) before anything is read or written, so a bad
//! path can never reach a show or store routine. Directories list their
//! children from the same state, and [`Dir::lookup`] and [`Dir::list`] are
//! kept in step by a test that resolves every listed name.

use crate::errno::{Errno, KResult};
use crate::hotplug::notifier::InjectAction;
use crate::machine::Machine;
use crate::zone::NodeState;

/// A directory of the modelled tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// `/sys`.
    Root,
    /// `devices`.
    Devices,
    /// `devices/system`.
    System,
    /// `devices/system/memory`: the memory subsystem root.
    Memory,
    /// `devices/system/memory/memoryN`.
    Block(u64),
    /// `devices/system/node`.
    Nodes,
    /// `devices/system/node/nodeK` (online nodes).
    Node(usize),
    /// `kernel`.
    Kernel,
    /// `kernel/debug`: where debugfs is mounted.
    Debug,
    /// `kernel/debug/notifier-error-inject`.
    NotifierErrorInject,
    /// `kernel/debug/notifier-error-inject/memory`.
    InjectMemory,
    /// `kernel/debug/notifier-error-inject/memory/actions`.
    InjectActions,
    /// `.../actions/MEM_GOING_ONLINE` or `MEM_GOING_OFFLINE`.
    InjectAction(InjectAction),
    /// `kernel/mm`.
    Mm,
    /// `kernel/mm/hugepages`.
    Hugepages,
    /// `kernel/mm/hugepages/hugepages-2048kB`: the one hstate.
    Hstate,
}

/// A per-block attribute file (`devices/system/memory/memoryN/*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockAttr {
    /// `state`.
    State,
    /// `online` (the generic device attribute).
    Online,
    /// `phys_index`.
    PhysIndex,
    /// `removable`.
    Removable,
    /// `valid_zones`.
    ValidZones,
    /// `phys_device`.
    PhysDevice,
}

impl BlockAttr {
    const ALL: [BlockAttr; 6] = [
        BlockAttr::State,
        BlockAttr::Online,
        BlockAttr::PhysIndex,
        BlockAttr::Removable,
        BlockAttr::ValidZones,
        BlockAttr::PhysDevice,
    ];

    const fn name(self) -> &'static str {
        match self {
            BlockAttr::State => "state",
            BlockAttr::Online => "online",
            BlockAttr::PhysIndex => "phys_index",
            BlockAttr::Removable => "removable",
            BlockAttr::ValidZones => "valid_zones",
            BlockAttr::PhysDevice => "phys_device",
        }
    }
}

/// An attribute of the memory subsystem (`devices/system/memory`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryAttr {
    /// `block_size_bytes`.
    BlockSizeBytes,
    /// `auto_online_blocks`.
    AutoOnlineBlocks,
    /// `memoryN/<attr>`.
    Block(u64, BlockAttr),
}

/// An attribute file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attr {
    /// A sysfs attribute of the memory subsystem.
    Memory(MemoryAttr),
    /// `kernel/debug/notifier-error-inject/memory/actions/<action>/error`, a
    /// debugfs file.
    InjectError(InjectAction),
    /// `kernel/mm/hugepages/hugepages-2048kB/<attr>`.
    Hugetlb(HugetlbAttr),
}

/// An attribute of the 2 MiB hstate (mm/hugetlb_sysfs.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HugetlbAttr {
    /// `nr_hugepages`: the persistent pool size; writing resizes it.
    Nr,
    /// `free_hugepages`.
    Free,
    /// `resv_hugepages`: free pages promised to mappings (HugePages_Rsvd).
    Resv,
    /// `surplus_hugepages`: always 0 (the model has no overcommit).
    Surplus,
}

/// The 2 MiB hstate's directory name.
pub const HSTATE_DIR: &str = "hugepages-2048kB";

impl Attr {
    /// The file mode as the kernel declares it (`DEVICE_ATTR_RO` 0444,
    /// `DEVICE_ATTR_RW` 0644, the injection files `S_IRUSR | S_IWUSR`).
    pub const fn mode(self) -> u32 {
        match self {
            Attr::Memory(MemoryAttr::BlockSizeBytes) => 0o444,
            Attr::Memory(MemoryAttr::AutoOnlineBlocks) => 0o644,
            Attr::Memory(MemoryAttr::Block(_, BlockAttr::State | BlockAttr::Online)) => 0o644,
            Attr::Memory(MemoryAttr::Block(_, _)) => 0o444,
            Attr::InjectError(_) => 0o600,
            Attr::Hugetlb(HugetlbAttr::Nr) => 0o644,
            Attr::Hugetlb(HugetlbAttr::Free | HugetlbAttr::Resv | HugetlbAttr::Surplus) => 0o444,
        }
    }
}

/// A symlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// `memoryN/nodeK` → `../../node/nodeK`.
    BlockNode { block: u64, nid: usize },
    /// `node/nodeK/memoryN` → `../../memory/memoryN`.
    NodeBlock { nid: usize, block: u64 },
}

impl Link {
    /// The directory the link points at.
    pub const fn target(self) -> Dir {
        match self {
            Link::BlockNode { nid, .. } => Dir::Node(nid),
            Link::NodeBlock { block, .. } => Dir::Block(block),
        }
    }

    /// The link's text, relative as sysfs makes it (`sysfs_create_link()`).
    pub fn target_text(self) -> String {
        match self {
            Link::BlockNode { nid, .. } => format!("../../node/node{nid}"),
            Link::NodeBlock { block, .. } => format!("../../memory/memory{block}"),
        }
    }
}

/// What a name in a directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir(Dir),
    /// An attribute file.
    Attr(Attr),
    /// A symlink.
    Link(Link),
}

const INJECT_ACTIONS: [(&str, InjectAction); 2] = [
    ("MEM_GOING_OFFLINE", InjectAction::GoingOffline),
    ("MEM_GOING_ONLINE", InjectAction::GoingOnline),
];

/// Parses `<prefix><decimal>` the way the kernel prints it (`memory%u`,
/// `node%d`): no sign, no leading zeros.
fn parse_indexed(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    let n: u64 = digits.parse().ok()?;
    (n.to_string() == digits).then_some(n)
}

fn node_online(m: &Machine, nid: usize) -> bool {
    nid < m.nodes().len() && m.node(nid).state(NodeState::Online)
}

impl Dir {
    /// The parent directory (`..`); the root is its own parent.
    pub const fn parent(self) -> Dir {
        match self {
            Dir::Root | Dir::Devices | Dir::Kernel => Dir::Root,
            Dir::System => Dir::Devices,
            Dir::Memory | Dir::Nodes => Dir::System,
            Dir::Block(_) => Dir::Memory,
            Dir::Node(_) => Dir::Nodes,
            Dir::Debug => Dir::Kernel,
            Dir::NotifierErrorInject => Dir::Debug,
            Dir::InjectMemory => Dir::NotifierErrorInject,
            Dir::InjectActions => Dir::InjectMemory,
            Dir::InjectAction(_) => Dir::InjectActions,
            Dir::Mm => Dir::Kernel,
            Dir::Hugepages => Dir::Mm,
            Dir::Hstate => Dir::Hugepages,
        }
    }

    /// Whether the directory still exists (a block may have been removed,
    /// a node gone offline, since the path was resolved).
    fn exists(self, m: &Machine) -> bool {
        match self {
            Dir::Block(id) => m.hotplug().find_block(id).is_some(),
            Dir::Node(nid) => node_online(m, nid),
            _ => true,
        }
    }

    /// The entry called `name` in this directory.
    pub fn lookup(self, m: &Machine, name: &str) -> Option<Entry> {
        let hp = m.hotplug();
        let entry = match (self, name) {
            (Dir::Root, "devices") => Entry::Dir(Dir::Devices),
            (Dir::Root, "kernel") => Entry::Dir(Dir::Kernel),
            (Dir::Devices, "system") => Entry::Dir(Dir::System),
            (Dir::System, "memory") => Entry::Dir(Dir::Memory),
            (Dir::System, "node") => Entry::Dir(Dir::Nodes),
            (Dir::Memory, "block_size_bytes") => {
                Entry::Attr(Attr::Memory(MemoryAttr::BlockSizeBytes))
            }
            (Dir::Memory, "auto_online_blocks") => {
                Entry::Attr(Attr::Memory(MemoryAttr::AutoOnlineBlocks))
            }
            (Dir::Memory, _) => {
                let id = parse_indexed(name, "memory")?;
                hp.find_block(id)?;
                Entry::Dir(Dir::Block(id))
            }
            (Dir::Block(id), _) => {
                let mem = hp.find_block(id)?;
                if let Some(a) = BlockAttr::ALL.into_iter().find(|a| a.name() == name) {
                    Entry::Attr(Attr::Memory(MemoryAttr::Block(id, a)))
                } else {
                    let nid = usize::try_from(parse_indexed(name, "node")?).ok()?;
                    (nid == mem.nid).then_some(Entry::Link(Link::BlockNode { block: id, nid }))?
                }
            }
            (Dir::Nodes, _) => {
                let nid = usize::try_from(parse_indexed(name, "node")?).ok()?;
                node_online(m, nid).then_some(Entry::Dir(Dir::Node(nid)))?
            }
            (Dir::Node(nid), _) => {
                let block = parse_indexed(name, "memory")?;
                let mem = hp.find_block(block)?;
                (mem.nid == nid).then_some(Entry::Link(Link::NodeBlock { nid, block }))?
            }
            (Dir::Kernel, "debug") => Entry::Dir(Dir::Debug),
            (Dir::Debug, "notifier-error-inject") => Entry::Dir(Dir::NotifierErrorInject),
            (Dir::NotifierErrorInject, "memory") => Entry::Dir(Dir::InjectMemory),
            (Dir::InjectMemory, "actions") => Entry::Dir(Dir::InjectActions),
            (Dir::InjectActions, _) => {
                let (_, a) = INJECT_ACTIONS.into_iter().find(|(n, _)| *n == name)?;
                Entry::Dir(Dir::InjectAction(a))
            }
            (Dir::InjectAction(a), "error") => Entry::Attr(Attr::InjectError(a)),
            (Dir::Kernel, "mm") => Entry::Dir(Dir::Mm),
            (Dir::Mm, "hugepages") => Entry::Dir(Dir::Hugepages),
            (Dir::Hugepages, HSTATE_DIR) => Entry::Dir(Dir::Hstate),
            (Dir::Hstate, "nr_hugepages") => Entry::Attr(Attr::Hugetlb(HugetlbAttr::Nr)),
            (Dir::Hstate, "free_hugepages") => Entry::Attr(Attr::Hugetlb(HugetlbAttr::Free)),
            (Dir::Hstate, "resv_hugepages") => Entry::Attr(Attr::Hugetlb(HugetlbAttr::Resv)),
            (Dir::Hstate, "surplus_hugepages") => Entry::Attr(Attr::Hugetlb(HugetlbAttr::Surplus)),
            _ => return None,
        };
        Some(entry)
    }

    /// The directory's entries, sorted by name (byte order, as `ls` in the
    /// C locale: `memory10` before `memory2`).
    pub fn list(self, m: &Machine) -> Vec<(String, Entry)> {
        let hp = m.hotplug();
        let fixed = |names: &[(&str, Entry)]| -> Vec<(String, Entry)> {
            names.iter().map(|(n, e)| (n.to_string(), *e)).collect()
        };
        let mut out = match self {
            Dir::Root => fixed(&[
                ("devices", Entry::Dir(Dir::Devices)),
                ("kernel", Entry::Dir(Dir::Kernel)),
            ]),
            Dir::Devices => fixed(&[("system", Entry::Dir(Dir::System))]),
            Dir::System => fixed(&[
                ("memory", Entry::Dir(Dir::Memory)),
                ("node", Entry::Dir(Dir::Nodes)),
            ]),
            Dir::Memory => {
                let mut v = fixed(&[
                    (
                        "auto_online_blocks",
                        Entry::Attr(Attr::Memory(MemoryAttr::AutoOnlineBlocks)),
                    ),
                    (
                        "block_size_bytes",
                        Entry::Attr(Attr::Memory(MemoryAttr::BlockSizeBytes)),
                    ),
                ]);
                v.extend(
                    hp.blocks()
                        .iter()
                        .map(|b| (format!("memory{}", b.id), Entry::Dir(Dir::Block(b.id)))),
                );
                v
            }
            Dir::Block(id) => match hp.find_block(id) {
                Some(mem) => {
                    let mut v: Vec<_> = BlockAttr::ALL
                        .into_iter()
                        .map(|a| {
                            (
                                a.name().to_string(),
                                Entry::Attr(Attr::Memory(MemoryAttr::Block(id, a))),
                            )
                        })
                        .collect();
                    v.push((
                        format!("node{}", mem.nid),
                        Entry::Link(Link::BlockNode {
                            block: id,
                            nid: mem.nid,
                        }),
                    ));
                    v
                }
                None => Vec::new(),
            },
            Dir::Nodes => (0..m.nodes().len())
                .filter(|&nid| node_online(m, nid))
                .map(|nid| (format!("node{nid}"), Entry::Dir(Dir::Node(nid))))
                .collect(),
            Dir::Node(nid) => hp
                .blocks()
                .iter()
                .filter(|b| b.nid == nid)
                .map(|b| {
                    (
                        format!("memory{}", b.id),
                        Entry::Link(Link::NodeBlock { nid, block: b.id }),
                    )
                })
                .collect(),
            Dir::Kernel => fixed(&[
                ("debug", Entry::Dir(Dir::Debug)),
                ("mm", Entry::Dir(Dir::Mm)),
            ]),
            Dir::Mm => fixed(&[("hugepages", Entry::Dir(Dir::Hugepages))]),
            Dir::Hugepages => fixed(&[(HSTATE_DIR, Entry::Dir(Dir::Hstate))]),
            Dir::Hstate => fixed(&[
                (
                    "free_hugepages",
                    Entry::Attr(Attr::Hugetlb(HugetlbAttr::Free)),
                ),
                ("nr_hugepages", Entry::Attr(Attr::Hugetlb(HugetlbAttr::Nr))),
                (
                    "resv_hugepages",
                    Entry::Attr(Attr::Hugetlb(HugetlbAttr::Resv)),
                ),
                (
                    "surplus_hugepages",
                    Entry::Attr(Attr::Hugetlb(HugetlbAttr::Surplus)),
                ),
            ]),
            Dir::Debug => fixed(&[(
                "notifier-error-inject",
                Entry::Dir(Dir::NotifierErrorInject),
            )]),
            Dir::NotifierErrorInject => fixed(&[("memory", Entry::Dir(Dir::InjectMemory))]),
            Dir::InjectMemory => fixed(&[("actions", Entry::Dir(Dir::InjectActions))]),
            Dir::InjectActions => INJECT_ACTIONS
                .iter()
                .map(|(n, a)| (n.to_string(), Entry::Dir(Dir::InjectAction(*a))))
                .collect(),
            Dir::InjectAction(a) => fixed(&[("error", Entry::Attr(Attr::InjectError(a)))]),
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// How the last component of a path is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// A final symlink is followed (open, stat, opendir).
    Yes,
    /// A final symlink is returned as itself (readlink, lstat).
    No,
}

/// Resolves `path` below /sys. A leading `/sys/` or `/` is optional; empty
/// and `.` components are skipped and `..` goes up, after symlinks are
/// followed (physical resolution, as the kernel does). Errors are the VFS's:
/// a missing name is ENOENT, a file used as a directory ENOTDIR.
pub fn resolve(m: &Machine, path: &str, follow: Follow) -> KResult<Entry> {
    let rel = match path.strip_prefix("/sys") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    };
    let trailing_slash = rel.ends_with('/');
    let names: Vec<&str> = rel
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut cur = Entry::Dir(Dir::Root);
    for (i, name) in names.iter().enumerate() {
        let dir = match cur {
            Entry::Dir(d) => d,
            Entry::Link(l) => l.target(),
            Entry::Attr(_) => return Err(Errno::ENOTDIR),
        };
        cur = if *name == ".." {
            Entry::Dir(dir.parent())
        } else {
            dir.lookup(m, name).ok_or(Errno::ENOENT)?
        };
        let last = i + 1 == names.len();
        if let Entry::Link(l) = cur {
            if !last || follow == Follow::Yes || trailing_slash {
                if !l.target().exists(m) {
                    return Err(Errno::ENOENT);
                }
                cur = Entry::Dir(l.target());
            }
        }
    }
    if trailing_slash && matches!(cur, Entry::Attr(_)) {
        return Err(Errno::ENOTDIR);
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::PhysAddr;
    use crate::MachineConfig;

    fn walk(m: &Machine, dir: Dir, path: &str, seen: &mut usize) {
        for (name, entry) in dir.list(m) {
            assert_eq!(dir.lookup(m, &name), Some(entry), "{path}/{name}");
            let full = format!("{path}/{name}");
            assert_eq!(resolve(m, &full, Follow::No), Ok(entry), "{full}");
            *seen += 1;
            if let Entry::Dir(d) = entry {
                assert_eq!(d.parent(), dir, "{full}/..");
                walk(m, d, &full, seen);
            }
        }
    }

    // Every listed name resolves to what the listing says, and back up.
    #[test]
    fn list_and_lookup_agree() {
        let m = Machine::boot(
            MachineConfig {
                ram: 1 << 30,
                nodes: 2,
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap();
        m.add_memory(1, PhysAddr(4 << 30), 256 << 20).unwrap();
        let mut seen = 0;
        walk(&m, Dir::Root, "", &mut seen);
        assert!(seen > 100, "walked only {seen} entries");
    }

    #[test]
    fn indexed_names_are_canonical() {
        assert_eq!(parse_indexed("memory32", "memory"), Some(32));
        assert_eq!(parse_indexed("memory0", "memory"), Some(0));
        for bad in [
            "memory",
            "memory032",
            "memory+3",
            "memory-1",
            "memory3x",
            "node1",
        ] {
            assert_eq!(parse_indexed(bad, "memory"), None, "{bad}");
        }
    }
}
