# Reference §10 case 25: a PageReserved page is unmovable even in ZONE_MOVABLE
# (page_is_unmovable rule 1): isolation fails with EBUSY.
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
page alloc r pfn=0x100001
page mark r reserved
notifier add watch
expect sysfs write devices/system/memory/memory32/state offline fails EBUSY
expect notifier log watch == ""
expect sysfs read devices/system/memory/memory32/state == online
page free r
sysfs write devices/system/memory/memory32/state offline
check
