//! mmsim: an executable model of Linux's physical-page lifecycle under memory
//! hotplug.
//!
//! A [`Machine`] owns everything: the sparse memmap, nodes and zones with their
//! buddy allocators, memory blocks, the hotplug locks, an RCU domain and the byte
//! store behind physical addresses. Kernel paths are methods named after the
//! kernel functions they model and return `Result<_, Errno>`.

#![deny(missing_docs)]

pub mod check;
pub mod drivers;
pub mod errno;
pub mod gup;
pub mod hostfs;
pub mod hostmem;
pub mod hotplug;
pub mod machine;
pub mod memremap;
pub mod oracle;
pub mod page;
pub mod physmem;
pub mod race;
pub mod script;
pub mod sparse;
pub mod stress;
pub mod sync;
pub mod sysfs;
pub mod variant;
pub mod vm;
pub mod vmm;
pub mod walkers;
pub mod zone;

pub use errno::{Errno, KResult};
pub use machine::{Machine, MachineConfig};
