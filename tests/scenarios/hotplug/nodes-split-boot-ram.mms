# `nodes=N` splits boot RAM evenly over N nodes (each node gets its own zones
# and memory blocks link to their node); `movable=` carves the top of boot RAM
# into ZONE_MOVABLE of the node that holds it.
machine ram=8G nodes=2 movable=1G
expect nodeinfo 0 start_pfn == 0x0
expect nodeinfo 0 spanned == 1048576
expect nodeinfo 1 start_pfn == 0x100000
expect nodeinfo 1 spanned == 1048576
expect zoneinfo 0 DMA32 spanned == 1044480
expect zoneinfo 0 Normal spanned == 0
expect zoneinfo 1 Normal start_pfn == 0x100000
expect zoneinfo 1 Normal spanned == 786432
expect zoneinfo 1 Movable start_pfn == 0x1c0000
expect zoneinfo 1 Movable managed == 262144
expect sysfs ls devices/system/memory/memory40 has node1
expect sysfs read devices/system/memory/memory40/valid_zones == Normal
expect sysfs read devices/system/memory/memory60/valid_zones == Movable
expect sysfs read devices/system/memory/memory10/valid_zones == DMA32
# Offlining a movable block on node 1 migrates nothing and leaves node 0 alone.
sysfs write devices/system/memory/memory60/state offline
expect zoneinfo 1 Movable managed == 229376
expect nodeinfo 0 has_memory == 1
check
