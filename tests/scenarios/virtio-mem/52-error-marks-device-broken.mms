# Reference §10 case 52, second half (virtio_mem_run_wq: "unknown error,
# marking device broken"): an ERROR response (-EINVAL) stops the driver for
# good. Here a rogue raw request unplugs a block behind the driver's back:
# on the next config change the driver finds plugged_size different from its
# own count (a WARN, an invariant violation here) and then asks to unplug a
# block that is already unplugged, which the device refuses with ERROR.
# (The NACK -> -EAGAIN -> immediate retry half needs the host to lower
# requested_size between the driver's config check and the device; it is a
# Rust test: crates/mmsim/tests/virtio_mem.rs.)
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=4M
expect virtio-mem driver vm0 memory32 == OFFLINE_PARTIAL 2/64
expect virtio-mem request vm0 unplug 0x100200000 1 == ACK
expect virtio-mem resize vm0 0 violates invariant
expect virtio-mem driver vm0 broken == 1
# A broken driver ignores every later change.
virtio-mem resize vm0 64M
expect virtio-mem show vm0 plugged_size == 2097152
expect virtio-mem driver vm0 timer == none
