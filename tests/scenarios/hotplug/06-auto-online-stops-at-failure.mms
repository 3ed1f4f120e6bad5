# Reference §10 case 6: add_memory() auto-onlines block by block
# (walk_memory_blocks -> online_memory_block) and the walk stops at the first
# block that fails; add_memory_resource() ignores the walk's result, so the
# add succeeds: block 1 online, blocks 2 and 3 offline.
machine ram=2G auto_online=online
# A memory notifier that vetoes MEM_GOING_ONLINE of the second block only.
notifier add veto going_online=bad range=0x108000000,128M
hotplug add 0x100000000 384M
expect sysfs read devices/system/memory/memory32/state == online
expect sysfs read devices/system/memory/memory33/state == offline
expect sysfs read devices/system/memory/memory34/state == offline
# Block 1 went online; block 2 was vetoed and cancelled; nobody asked block 3.
expect notifier log veto == MEM_GOING_ONLINE MEM_ONLINE MEM_GOING_ONLINE MEM_CANCEL_ONLINE
expect pfn_to_online_page 0x100000 == 1
expect pfn_to_online_page 0x108000 == 0
expect pfn_to_online_page 0x110000 == 0
# Block 3 is fine: it onlines by hand.
sysfs write devices/system/memory/memory34/state online
expect sysfs write devices/system/memory/memory33/state online fails EPERM
check
