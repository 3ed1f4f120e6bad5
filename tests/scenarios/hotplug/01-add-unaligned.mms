# Reference §10 case 1: add_memory() of a range not aligned to the memory
# block size fails with EINVAL (check_hotplug_memory_range) and creates nothing.
machine ram=2G
expect hotplug add 0x100000000 64M fails EINVAL
expect hotplug add 0x104000000 128M fails EINVAL
expect hotplug add 0x100000000 0 fails E2BIG
expect sysfs ls devices/system/memory/memory32 fails ENOENT
expect pfn_valid 0x100000 == 0
# The resource was released again: an aligned add of the same range works.
hotplug add 0x100000000 128M
expect sysfs read devices/system/memory/memory32/state == offline
check
