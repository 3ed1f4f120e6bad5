//! Guest drivers: kernel code that owns memory on behalf of a device.
//!
//! * [`virtio_mem`]: Linux's virtio-mem driver (drivers/virtio/virtio_mem.c),
//!   which plugs and unplugs memory of a paravirtualised memory device in
//!   sub-block (SBM) or big-block (BBM) units and keeps unplugged memory as
//!   fake-offline PageOffline pages.
//! * [`virtio`]: what a virtio driver needs from its transport (config
//!   space, features, one virtqueue in guest memory, a doorbell).

pub mod virtio;
pub mod virtio_mem;
