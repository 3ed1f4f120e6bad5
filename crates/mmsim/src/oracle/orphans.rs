//! Orphans: pages that no mapping shows any more but pins still hold.
//!
//! When a process lets go of memory — munmap, MADV_DONTNEED, exit — a pin on
//! it keeps the memory, not the mapping: it goes on reading the bytes it had
//! (and a write pin goes on DMA-writing them), while the process's later
//! accesses reach new memory.

use super::frame::{Frame, MapId, OrphanId};
use super::pin::Pin;
use super::store::{zero_page, Page, SparsePages};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

#[derive(Debug, Default)]
pub(super) struct Orphans {
    pages: BTreeMap<OrphanId, Box<Page>>,
    next: u64,
}

impl Orphans {
    pub fn get(&self, o: OrphanId) -> Option<&Page> {
        self.pages.get(&o).map(|p| &**p)
    }

    pub fn get_mut(&mut self, o: OrphanId) -> Option<&mut Page> {
        self.pages.get_mut(&o).map(|p| &mut **p)
    }

    /// Moves every pin page that holds page `p` in `pages` of mapping `map`
    /// (whose private contents are `private`) to an orphan with the bytes it
    /// has now. Pins holding the same page share the orphan, so a DMA write
    /// through one shows in the others.
    pub fn adopt(
        &mut self,
        pins: &mut BTreeMap<String, Pin>,
        map: MapId,
        private: &SparsePages,
        pages: Range<u64>,
    ) {
        let mut made: BTreeMap<u64, OrphanId> = BTreeMap::new();
        for pin in pins.values_mut() {
            for pp in &mut pin.pages {
                let Frame::Private { map: m, page } = pp.frame else {
                    continue;
                };
                if m != map || !pages.contains(&page) {
                    continue;
                }
                let o = *made.entry(page).or_insert_with(|| {
                    self.next += 1;
                    let o = OrphanId(self.next);
                    let bytes = private.get(page).map_or_else(zero_page, |p| Box::new(*p));
                    self.pages.insert(o, bytes);
                    o
                });
                pp.frame = Frame::Orphan(o);
            }
        }
    }

    /// Drops the orphans no pin holds any more.
    pub fn collect(&mut self, pins: &BTreeMap<String, Pin>) {
        let held: BTreeSet<OrphanId> = pins
            .values()
            .flat_map(|p| &p.pages)
            .filter_map(|pp| match pp.frame {
                Frame::Orphan(o) => Some(o),
                Frame::Private { .. } | Frame::File { .. } => None,
            })
            .collect();
        self.pages.retain(|o, _| held.contains(o));
    }
}
