# Reference §10 case 53 (virtio_mem_could_add_memory): plugging stops with
# -ENOSPC once the memory added but not onlined would exceed the offline
# threshold (default max(2 x 128M, 1G)); no timer is armed. Onlining brings
# the offline memory to half the threshold, and MEM_ONLINE queues the work
# again. The usable region bounds plugging too: blocks past it are -ENOSPC.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=4G block=2M
expect virtio-mem driver vm0 offline_threshold == 1073741824
virtio-mem resize vm0 2G
expect virtio-mem show vm0 plugged_size == 1073741824
expect virtio-mem driver vm0 offline_size == 1073741824
expect virtio-mem driver vm0 timer == none
expect virtio-mem driver vm0 memory39 == OFFLINE 64/64
expect virtio-mem driver vm0 memory40 fails EINVAL
sysfs write devices/system/memory/memory32/state online_movable
sysfs write devices/system/memory/memory33/state online_movable
sysfs write devices/system/memory/memory34/state online_movable
# Still above half the threshold: nothing happens.
expect virtio-mem show vm0 plugged_size == 1073741824
sysfs write devices/system/memory/memory35/state online_movable
# 512M offline now: the driver adds four more blocks.
expect virtio-mem show vm0 plugged_size == 1610612736
expect virtio-mem driver vm0 offline_size == 1073741824
expect virtio-mem driver vm0 memory43 == OFFLINE 64/64
check
