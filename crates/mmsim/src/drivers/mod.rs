//! Guest drivers: kernel code that owns memory on behalf of a device.
//!
//! * [`virtio_mem`]: Linux's virtio-mem driver (drivers/virtio/virtio_mem.c),
//!   which plugs and unplugs memory of a paravirtualised memory device in
//!   sub-block (SBM) or big-block (BBM) units and keeps unplugged memory as
//!   fake-offline PageOffline pages.
//! * [`balloon`]: Linux's virtio-balloon driver (drivers/virtio/virtio_balloon.c)
//!   on the balloon core (mm/balloon.c): inflated pages are PageOffline with
//!   movable_ops, so offlining and `alloc_contig_range` migrate them.
//! * [`virtio`]: what a virtio driver needs from its transport (config
//!   space, features, one virtqueue in guest memory, a doorbell).

pub mod balloon;
pub mod virtio;
pub mod virtio_mem;
