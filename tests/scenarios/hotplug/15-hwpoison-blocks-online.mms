# Reference §10 case 15: a block with a recorded hwpoisoned page cannot be
# onlined again (memory_block_online: memblk_nr_poison → EHWPOISON).
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
hwpoison 0x104000
expect kpageflags 0x104000 has hwpoison
# Offlining accepts the HWPoison page (test_pages_isolated, MEM_OFFLINE mode).
sysfs write devices/system/memory/memory32/state offline
expect sysfs write devices/system/memory/memory32/state online fails EHWPOISON
expect sysfs read devices/system/memory/memory32/state == offline
check
