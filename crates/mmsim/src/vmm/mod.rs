//! The hypervisor's side: devices a VMM provides to the modelled guest.
//!
//! A device here is host code. It reaches guest memory through its own
//! mapping of the physical byte store (as a VMM maps guest RAM), not
//! through the model's accessors, so its accesses are never fatal; and it
//! interrupts the guest by calling back into the driver that registered
//! for it.
//!
//! * [`virtio_mem`]: the `virtio-mem` crate's device on a real split
//!   virtqueue (rust-vmm's `virtio-queue` over `vm-memory`), with physical
//!   memory as its backend: unplugged blocks are discarded (MADV_DONTNEED)
//!   and, with VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, fenced
//!   ([`crate::physmem::fence`]).

pub mod virtio_mem;
