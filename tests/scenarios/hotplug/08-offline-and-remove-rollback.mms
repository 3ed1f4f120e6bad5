# Reference §10 case 8: offline_and_remove_memory() where block 2 of 3 cannot
# be offlined returns that error, re-onlines block 1 with its previous zone
# type, and removes nothing.
machine ram=2G auto_online=online_movable
hotplug add 0x100000000 384M
# An unmovable PageOffline page that its owner does not release, in memory33.
let p = page alloc stuck pfn=0x108100
page mark stuck offline
expect hotplug offline_and_remove 0x100000000 384M fails EBUSY
expect sysfs read devices/system/memory/memory32/state == online
expect sysfs read devices/system/memory/memory32/valid_zones == Movable
expect sysfs read devices/system/memory/memory33/state == online
expect sysfs read devices/system/memory/memory34/state == online
expect pfn_valid 0x100000 == 1
page free stuck
hotplug offline_and_remove 0x100000000 384M
expect sysfs ls devices/system/memory/memory33 fails ENOENT
check
