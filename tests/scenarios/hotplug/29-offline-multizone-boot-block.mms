# Reference §10 case 29: an early block spanning two zones (DMA and DMA32) has
# no zone: valid_zones reads none and offlining fails with EINVAL
# (memory_block_offline: !mem->zone).
machine ram=2G
expect sysfs read devices/system/memory/memory0/valid_zones == none
expect sysfs write devices/system/memory/memory0/state offline fails EINVAL
expect sysfs read devices/system/memory/memory0/state == online
expect sysfs read devices/system/memory/memory1/valid_zones == DMA32
check
