# Reference §10 case 49 (virtio_mem_sbm_try_remove_unplugged_mb,
# virtio_mem_cleanup_pending_mb): once every sub-block of an online block is
# unplugged the driver offlines and removes it, and the memory block
# disappears. If that fails the driver remembers (have_unplugged_mb) and the
# work loop ends with -EBUSY, retrying from its timer.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=256M
sysfs write devices/system/memory/memory32/state online_movable
sysfs write devices/system/memory/memory33/state online_movable
# A notifier that refuses every offline.
notifier add veto priority=-1 going_offline=EBUSY
virtio-mem resize vm0 128M
# memory33's sub-blocks are all unplugged, but it cannot go offline.
expect virtio-mem driver vm0 memory33 == MOVABLE_PARTIAL 0/64
expect sysfs read devices/system/memory/memory33/state == online
expect virtio-mem show vm0 plugged_size == 134217728
expect virtio-mem driver vm0 timer == 50000ms
notifier remove veto
virtio-mem expire vm0
expect virtio-mem driver vm0 memory33 == UNUSED 0/64
expect sysfs read devices/system/memory/memory33/state fails ENOENT
expect virtio-mem driver vm0 timer == none
expect virtio-mem driver vm0 memory32 == MOVABLE 64/64
check
