//! Physical pages: frame numbers, the memmap slot (`struct page`), page flags
//! and page types, and folio views of compound pages.
//!
//! The memmap itself (where the slots live and how long) belongs to the
//! sparse layer above; this module only says what one slot means, and what a
//! group of slots forming a folio means.

mod flags;
mod folio;
#[allow(clippy::module_inception)]
mod page;
mod pfn;

pub use flags::*;
pub use folio::Folio;
pub use page::{Page, PageTypeClash, SlotImage, MAX_LINKED_PFN, PAGE_POISON_FLAGS};
pub use pfn::*;
