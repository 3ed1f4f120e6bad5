# Reference §10 case 19: online_movable puts a block in ZONE_MOVABLE,
# online_kernel in Normal, or in DMA32 when the block lies inside DMA32's span
# (zone_for_pfn_range, default_kernel_zone_for_pfn).
machine ram=2G
hotplug add 0x100000000 256M
sysfs write devices/system/memory/memory32/state online_movable
expect sysfs read devices/system/memory/memory32/valid_zones == Movable
sysfs write devices/system/memory/memory33/state online_kernel
expect sysfs read devices/system/memory/memory33/valid_zones == Normal
# Take boot block 8 (inside DMA32's span) away and plug it back: the hole
# still belongs to DMA32, which is now the default zone.
sysfs write devices/system/memory/memory8/state offline
expect sysfs read devices/system/memory/memory8/valid_zones == DMA32 Movable
hotplug remove 0x40000000 128M
hotplug add 0x40000000 128M
expect sysfs read devices/system/memory/memory8/valid_zones == DMA32 Movable
sysfs write devices/system/memory/memory8/state online_kernel
expect sysfs read devices/system/memory/memory8/valid_zones == DMA32
expect zoneinfo 0 DMA32 spanned == 520192
check
