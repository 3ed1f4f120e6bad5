# Reference §10 case 9: after removal pfn_valid() is false, the memoryN
# directories are gone and max_pfn is unchanged (it is never lowered).
machine ram=2G
let before = meminfo max_pfn
hotplug add 0x100000000 256M
expect meminfo max_pfn == 0x110000
hotplug remove 0x100000000 256M
expect pfn_valid 0x100000 == 0
expect pfn_valid 0x10ffff == 0
expect section 32 == present=0 has_mem_map=0 online=0 early=0 taint_zone_device=0 subsections=0x0 active=0x0
expect sysfs ls devices/system/memory/memory32 fails ENOENT
expect sysfs ls devices/system/memory/memory33 fails ENOENT
expect meminfo max_pfn == 0x110000
expect meminfo max_pfn != $before
check
