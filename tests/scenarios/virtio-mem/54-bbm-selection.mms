# Reference §10 case 54 (virtio_mem_init_hotplug): a device block at least
# as large as a memory block, or force_bbm=1, selects big-block mode with
# bb_size = max(device block, memory block), or bbm_block_size if that is a
# larger power of two; each big block is added with one add_memory().
machine ram=2G block=128M
virtio-mem add big addr=0x100000000 size=1G block=128M
expect virtio-mem driver big mode == bbm
expect virtio-mem driver big unit == 134217728
virtio-mem resize big 256M
expect virtio-mem driver big == mode=bbm unit=134217728 plugged_size=268435456 offline_size=268435456 offline_threshold=1073741824 retry_timer_ms=50000 timer=none broken=0 bb32=ADDED bb33=ADDED
virtio-mem add forced addr=0x200000000 size=1G block=2M force_bbm=1 bbm_block_size=256M
expect virtio-mem driver forced mode == bbm
expect virtio-mem driver forced unit == 268435456
virtio-mem resize forced 512M
# Two 256M big blocks: four memory blocks, added two at a time.
expect virtio-mem driver forced bb32 == ADDED
expect virtio-mem driver forced bb33 == ADDED
expect sysfs read devices/system/memory/memory67/state == offline
expect virtio-mem show forced plugged_size == 536870912
# A bbm_block_size that is not a power of two is ignored with a warning.
virtio-mem add odd addr=0x300000000 size=1G block=2M force_bbm=1 bbm_block_size=384M
expect virtio-mem driver odd unit == 134217728
check
