# offline_and_remove_memory() of ZONE_MOVABLE memory holding a page its owner
# keeps (allocated, neither on the LRU nor movable_ops): offline_pages() finds
# no way to migrate it and retries until the caller gets a signal (EINTR), then
# every block is online again and nothing was removed.
machine ram=2G auto_online=online_movable
hotplug add 0x100000000 256M
page alloc stuck pfn=0x108100
expect hotplug offline_and_remove 0x100000000 256M signal_after=50ms fails EINTR
expect sysfs read devices/system/memory/memory32/state == online
expect sysfs read devices/system/memory/memory33/state == online
expect pfn_valid 0x108100 == 1
page free stuck
hotplug offline_and_remove 0x100000000 256M
expect pfn_valid 0x108100 == 0
check
