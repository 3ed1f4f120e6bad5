# Reference §10 case 5: with auto_online_blocks=online_movable new blocks come
# online in ZONE_MOVABLE; changing the policy affects only later additions.
machine ram=2G auto_online=online_movable
expect sysfs read devices/system/memory/auto_online_blocks == online_movable
hotplug add 0x100000000 256M
expect sysfs read devices/system/memory/memory32/state == online
expect sysfs read devices/system/memory/memory33/valid_zones == Movable
expect zoneinfo 0 Movable managed == 65536
sysfs write devices/system/memory/auto_online_blocks offline
expect sysfs write devices/system/memory/auto_online_blocks sometimes fails EINVAL
hotplug add 0x110000000 128M
expect sysfs read devices/system/memory/memory34/state == offline
expect sysfs read devices/system/memory/memory32/state == online
check
