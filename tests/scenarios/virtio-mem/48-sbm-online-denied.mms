# Reference §10 case 48 (virtio_mem_sbm_notify_going_online): the driver
# refuses MEM_GOING_ONLINE for a memory block of its region that it does not
# track as OFFLINE or OFFLINE_PARTIAL, so the write fails with -EPERM
# (NOTIFY_BAD) and the block stays offline. Here someone else added memory
# inside the device region, past the blocks the driver prepared.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=128M
hotplug add 0x118000000 128M
expect sysfs write devices/system/memory/memory35/state online fails EPERM
expect sysfs read devices/system/memory/memory35/state == offline
# The driver's own block onlines.
sysfs write devices/system/memory/memory32/state online
expect virtio-mem driver vm0 memory32 == KERNEL 64/64
check
