# Reference §10 case 23: a balloon page with movable_ops inside the block is
# migrated (do_migrate_range) and the offline succeeds.
machine ram=2G movable=512M
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
page alloc b pfn=0x100010 nr=4
page mark b movable_ops
# PG_movable_ops aliases PG_uptodate (7.2), so kpageflags shows uptodate.
expect kpageflags 0x100010 == uptodate,offline
sysfs write devices/system/memory/memory32/state offline
expect sysfs read devices/system/memory/memory32/state == offline
# The four pages now live in the boot ZONE_MOVABLE, still unmanaged.
expect zoneinfo 0 Movable managed == 131068
check
