# Reference §10 case 45 (virtio_mem_sbm_unplug_any_sb_online,
# virtio_mem_run_wq): a sub-block that cannot be taken from the buddy is
# skipped; the request ends with -EBUSY and the retry timer is armed, 50 s
# at first, doubling on each expiry up to 300 s, back to 50 s after a run
# that succeeds.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=128M
sysfs write devices/system/memory/memory32/state online_kernel
# A kernel allocation pins the last sub-block: unmovable in a kernel zone,
# so alloc_contig_range() fails at once there.
page alloc stuck pfn=0x107fff
virtio-mem resize vm0 0
# The whole block could not go in one shot; all but sub-block 63 did.
expect virtio-mem driver vm0 memory32 == KERNEL_PARTIAL 1/64
expect virtio-mem show vm0 plugged_size == 2097152
expect virtio-mem driver vm0 timer == 50000ms
expect virtio-mem driver vm0 retry_timer_ms == 50000
expect kpageflags 0x107e00 == buddy
expect kpageflags 0x107dff == offline
virtio-mem expire vm0
expect virtio-mem driver vm0 retry_timer_ms == 100000
expect virtio-mem driver vm0 timer == 100000ms
virtio-mem expire vm0
expect virtio-mem driver vm0 retry_timer_ms == 200000
virtio-mem expire vm0
expect virtio-mem driver vm0 retry_timer_ms == 300000
virtio-mem expire vm0
expect virtio-mem driver vm0 retry_timer_ms == 300000
expect virtio-mem driver vm0 timer == 300000ms
# The kernel user lets go; the next expiry unplugs the last sub-block and
# removes the block.
page free stuck
virtio-mem expire vm0
expect virtio-mem show vm0 plugged_size == 0
expect virtio-mem driver vm0 memory32 == UNUSED 0/64
expect virtio-mem driver vm0 timer == none
expect virtio-mem driver vm0 retry_timer_ms == 50000
expect sysfs read devices/system/memory/memory32/state fails ENOENT
expect virtio-mem expire vm0 fails ENOENT
check
