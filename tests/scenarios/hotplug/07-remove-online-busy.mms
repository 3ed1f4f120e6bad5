# Reference §10 case 7: remove_memory() with any block online fails with EBUSY
# (try_remove_memory) and removes nothing.
machine ram=2G
hotplug add 0x100000000 256M
sysfs write devices/system/memory/memory33/state online
expect hotplug remove 0x100000000 256M fails EBUSY
expect sysfs read devices/system/memory/memory32/state == offline
expect sysfs read devices/system/memory/memory33/state == online
expect pfn_valid 0x100000 == 1
sysfs write devices/system/memory/memory33/state offline
hotplug remove 0x100000000 256M
expect pfn_valid 0x100000 == 0
check
