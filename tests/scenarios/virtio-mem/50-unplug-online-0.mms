# Reference §10 case 50 (unplug_online module parameter): with
# unplug_online=0 only offline memory is unplugged; with nothing offline the
# request ends without error (no timer). Offlining a block (MEM_OFFLINE)
# queues the work, which then unplugs from it.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=256M unplug_online=0
sysfs write devices/system/memory/memory32/state online_movable
sysfs write devices/system/memory/memory33/state online_movable
virtio-mem resize vm0 128M
expect virtio-mem show vm0 plugged_size == 268435456
expect virtio-mem driver vm0 timer == none
expect virtio-mem driver vm0 memory33 == MOVABLE 64/64
sysfs write devices/system/memory/memory33/state offline
# The driver unplugged the offline block whole and removed it.
expect virtio-mem show vm0 plugged_size == 134217728
expect virtio-mem driver vm0 memory33 == UNUSED 0/64
expect sysfs read devices/system/memory/memory33/state fails ENOENT
check
