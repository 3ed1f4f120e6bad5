# Reference §10 case 55 (virtio_mem_bbm_offline_remove_and_unplug_bb): to
# unplug a big block the driver marks it FAKE_OFFLINE and takes every online
# section from the buddy; if one cannot be taken, what was taken goes back,
# the block is ADDED again and skipped (-EBUSY, the retry timer). Otherwise
# it is offlined and removed and unplugged: UNUSED. Offline big blocks go
# first, then those wholly in ZONE_MOVABLE, then any, highest first.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=128M requested=384M
sysfs write devices/system/memory/memory32/state online_kernel
sysfs write devices/system/memory/memory33/state online_movable
# bb34 is offline: it goes first, although it is the highest anyway.
virtio-mem resize vm0 256M
expect virtio-mem driver vm0 bb34 == UNUSED
expect sysfs read devices/system/memory/memory34/state fails ENOENT
# Next the movable one, although a kernel block is lower.
virtio-mem resize vm0 128M
expect virtio-mem driver vm0 bb33 == UNUSED
expect virtio-mem driver vm0 bb32 == ADDED
# An unmovable kernel page in bb32: fake-offlining fails, rollback.
page alloc stuck pfn=0x100040
virtio-mem resize vm0 0
expect virtio-mem driver vm0 bb32 == ADDED
expect sysfs read devices/system/memory/memory32/state == online
expect kpageflags 0x100000 == buddy
expect zoneinfo 0 Normal managed == 32768
expect virtio-mem driver vm0 timer == 50000ms
page free stuck
virtio-mem expire vm0
expect virtio-mem driver vm0 bb32 == UNUSED
expect virtio-mem show vm0 plugged_size == 0
check
