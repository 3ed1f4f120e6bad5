//! hugetlb reservations (`vm::hugetlb_resv`).
//!
//! * `hugetlb-resv` (cheap): `HugePages_Rsvd` never exceeds
//!   `HugePages_Free` — every reservation is a free folio set aside
//!   (`gather_surplus_pages()` refuses a reservation that would not fit;
//!   a fault that consumes one takes a free folio with it).
//! * `hugetlb-resv-count` (full): `HugePages_Rsvd` is what the maps
//!   promise: the unconsumed huge pages of every live private owner VMA
//!   plus the entries of every hugetlbfs inode's map that have no folio in
//!   its cache yet.
//!
//! The leak check (`leak.rs`) adds `hugetlb-resv-leak`.

use super::Report;
use crate::machine::Machine;

impl Machine {
    /// `hugetlb-resv`.
    pub(super) fn check_hugetlb_resv_fits(&self, r: &mut Report) {
        let (_, free) = self.hugetlb_counts();
        let resv = self.hugetlb_resv_pages();
        if resv > free {
            r.fail(
                "hugetlb-resv",
                format!("HugePages_Rsvd {resv} exceeds HugePages_Free {free}"),
            );
        }
    }

    /// `hugetlb-resv-count`.
    pub(super) fn check_hugetlb_resv_count(&self, r: &mut Report) {
        let resv = self.hugetlb_resv_pages();
        let promised = self.hugetlb_resv_promised();
        if resv != promised {
            r.fail(
                "hugetlb-resv-count",
                format!("HugePages_Rsvd {resv}, the reservation maps promise {promised}"),
            );
        }
    }
}
