# Reference §10 case 4: with auto_online_blocks=offline, adding three blocks
# creates memory32..34 offline; valid_zones starts with the default zone.
machine ram=2G
expect sysfs read devices/system/memory/auto_online_blocks == offline
hotplug add 0x100000000 384M
expect sysfs read devices/system/memory/memory32/state == offline
expect sysfs read devices/system/memory/memory33/state == offline
expect sysfs read devices/system/memory/memory34/state == offline
expect sysfs read devices/system/memory/memory34/online == 0
expect sysfs read devices/system/memory/memory32/valid_zones == Normal Movable
expect sysfs read devices/system/memory/memory32/phys_index == 00000020
expect sysfs read devices/system/memory/memory34/removable == 1
expect sysfs read devices/system/memory/memory34/phys_device == 0
expect sysfs ls devices/system/memory/memory35 fails ENOENT
# Added but not onlined: a memmap exists, no online page.
expect pfn_valid 0x100000 == 1
expect pfn_to_online_page 0x100000 == 0
expect kpageflags 0x100000 == ""
check
