# Reference §10 case 44 (virtio_mem_sbm_unplug_request,
# virtio_mem_sbm_unplug_sb_online, virtio_mem_fake_offline): shrinking by
# 2 MiB with unplug_online=1 picks the highest sub-block of the highest
# block in the order OFFLINE_PARTIAL, OFFLINE, MOVABLE_PARTIAL,
# KERNEL_PARTIAL, MOVABLE, KERNEL; it is taken with alloc_contig_range(),
# marked PageOffline without PG_dirty and leaves the managed pages. If the
# UNPLUG request fails, the pages go back to the buddy.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=256M
sysfs write devices/system/memory/memory32/state online_movable
sysfs write devices/system/memory/memory33/state online_kernel
expect zoneinfo 0 Movable managed == 32768
# MOVABLE comes before KERNEL: memory32's sub-block 63 goes.
virtio-mem resize vm0 254M
expect virtio-mem driver vm0 memory32 == MOVABLE_PARTIAL 63/64
expect virtio-mem driver vm0 memory33 == KERNEL 64/64
expect kpageflags 0x107e00 == offline
expect page show 0x107e00 refcount == 1
expect zoneinfo 0 Movable managed == 32256
expect virtio-mem request vm0 state 0x107e00000 1 == UNPLUGGED
# MOVABLE_PARTIAL before KERNEL again: its next highest sub-block.
virtio-mem resize vm0 252M
expect virtio-mem driver vm0 memory32 == MOVABLE_PARTIAL 62/64
expect kpageflags 0x107c00 == offline
# The host is busy: UNPLUG answers BUSY, the sub-block goes back to the
# buddy, and the driver arms its retry timer (-ETXTBSY).
virtio-mem busy vm0 on
virtio-mem resize vm0 250M
expect virtio-mem driver vm0 memory32 == MOVABLE_PARTIAL 62/64
expect kpageflags 0x107a00 == buddy
expect zoneinfo 0 Movable managed == 31744
expect virtio-mem driver vm0 timer == 50000ms
expect virtio-mem show vm0 plugged_size == 264241152
# When the timer fires with the host no longer busy, the unplug goes through.
virtio-mem busy vm0 off
virtio-mem expire vm0
expect virtio-mem driver vm0 memory32 == MOVABLE_PARTIAL 61/64
expect virtio-mem driver vm0 timer == none
expect virtio-mem driver vm0 retry_timer_ms == 50000
expect virtio-mem show vm0 plugged_size == 262144000
check
