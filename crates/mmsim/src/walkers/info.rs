//! Snapshots of kernel state as `KEY=VALUE` fields: what /proc/meminfo,
//! /proc/zoneinfo, a node's sysfs directory and `dump_page()` would tell, plus a
//! mem_section's flags. Each is a [`Fields`] list, read once; like every walker
//! here it may be stale the moment it is returned.

use std::fmt;

use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{PageType, Pfn, ZoneType, PAGEFLAGS_MASK, PAGE_SIZE};
use crate::zone::NodeState;

/// Named values in a fixed order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(&'static str, String)>);

impl Fields {
    pub(super) fn push(&mut self, key: &'static str, value: impl ToString) {
        self.0.push((key, value.to_string()));
    }

    /// The value of field `key`: EINVAL if there is no such field.
    pub fn get(&self, key: &str) -> KResult<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .ok_or(Errno::EINVAL)
    }
}

/// `KEY=VALUE KEY=VALUE ...`.
impl fmt::Display for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl Machine {
    /// A mem_section's state: `present`, `has_mem_map`, `online`, `early` (0/1)
    /// and the `subsections` bitmap. EINVAL beyond the section table.
    pub fn section_info(&self, nr: u64) -> KResult<Fields> {
        let ms = self.mem().section(nr).ok_or(Errno::EINVAL)?;
        let mut f = Fields::default();
        f.push("present", u8::from(ms.present()));
        f.push("has_mem_map", u8::from(ms.valid()));
        f.push("online", u8::from(ms.online()));
        f.push("early", u8::from(ms.early()));
        f.push(
            "taint_zone_device",
            u8::from(ms.flags() & crate::sparse::SECTION_TAINT_ZONE_DEVICE != 0),
        );
        f.push("subsections", format!("{:#x}", ms.subsection_map()));
        f.push("active", format!("{:#x}", ms.active_map()));
        Ok(f)
    }

    /// `dump_page()` of a frame with a memmap: `flags` (hex, without the
    /// zone/node bits), `type`, `refcount`, `mapcount`, `zone`, `node`. EFAULT
    /// for a frame without one.
    pub fn page_dump(&self, pfn: Pfn) -> KResult<Fields> {
        let p = self.mem().pfn_to_page(pfn).ok_or(Errno::EFAULT)?;
        let mut f = Fields::default();
        f.push("flags", format!("{:#x}", p.flags_raw() & PAGEFLAGS_MASK));
        f.push("type", p.page_type().map_or("none", PageType::name));
        f.push("refcount", p.ref_count());
        f.push("mapcount", p.mapcount());
        f.push("zone", p.zonenum().name());
        f.push("node", p.nid());
        Ok(f)
    }

    /// A zone's counters, as /proc/zoneinfo has them (in pages). EINVAL for a
    /// node id beyond MAX_NUMNODES.
    pub fn zoneinfo(&self, nid: usize, zt: ZoneType) -> KResult<Fields> {
        if nid >= self.nodes().len() {
            return Err(Errno::EINVAL);
        }
        let i = self.zone(nid, zt).info();
        let mut f = Fields::default();
        f.push("start_pfn", format!("{:#x}", i.start_pfn));
        f.push("spanned", i.spanned);
        f.push("present", i.present);
        f.push("present_early", i.present_early);
        f.push("managed", i.managed);
        f.push("free", i.free);
        f.push("nr_isolate_pageblock", i.nr_isolate_pageblock);
        Ok(f)
    }

    /// A node's states (`N_ONLINE`, `N_MEMORY`, `N_NORMAL_MEMORY`), span and
    /// page counts, and the node notifier events it saw. EINVAL beyond
    /// MAX_NUMNODES.
    pub fn nodeinfo(&self, nid: usize) -> KResult<Fields> {
        if nid >= self.nodes().len() {
            return Err(Errno::EINVAL);
        }
        let n = self.node(nid);
        let (start, end) = n.span();
        let events: Vec<&str> = self
            .hotplug()
            .node_events()
            .iter()
            .filter(|(_, id)| *id == nid)
            .map(|(a, _)| a.name())
            .collect();
        let mut f = Fields::default();
        f.push("online", u8::from(n.state(NodeState::Online)));
        f.push("has_memory", u8::from(n.state(NodeState::Memory)));
        f.push(
            "has_normal_memory",
            u8::from(n.state(NodeState::NormalMemory)),
        );
        f.push("start_pfn", start);
        f.push("spanned", end - start);
        f.push("present", n.present_pages());
        f.push("managed", n.managed_pages());
        f.push(
            "events",
            if events.is_empty() {
                "none".to_owned()
            } else {
                events.join(",")
            },
        );
        Ok(f)
    }

    /// /proc/meminfo's lines the model keeps (kB, as there; `Balloon` is
    /// NR_BALLOON_PAGES, 6.15 on), and `max_pfn`.
    pub fn meminfo(&self) -> Fields {
        let kb = PAGE_SIZE as i64 / 1024;
        let free: i64 = self
            .nodes()
            .iter()
            .flat_map(|n| n.zones.iter())
            .map(|z| z.nr_free())
            .sum();
        let (huge_total, huge_free) = self.hugetlb_counts();
        let mut f = Fields::default();
        f.push("MemTotal", self.totalram_pages() * kb);
        f.push("MemFree", free * kb);
        f.push("Balloon", self.balloon().nr_balloon_pages() as i64 * kb);
        f.push("max_pfn", self.max_pfn());
        f.push("HugePages_Total", huge_total);
        f.push("HugePages_Free", huge_free);
        // resv_huge_pages: reserved at mmap, not yet faulted in.
        f.push("HugePages_Rsvd", self.hugetlb_resv_pages());
        // The model has no overcommit (nr_overcommit_hugepages 0).
        f.push("HugePages_Surp", 0);
        f.push("Hugepagesize", 2048);
        f
    }
}
