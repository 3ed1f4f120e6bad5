# Reference §10 case 26: in ZONE_MOVABLE, isolation lets an unmovable,
# non-PageOffline page through; offline_pages() then loops (no timeout) until
# a signal is pending: EINTR ("signal backoff"), state back to online.
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
page alloc pinned pfn=0x103000
page mark pinned slab
notifier add watch
expect sysfs write devices/system/memory/memory32/state offline signal_after=50ms fails EINTR
expect sysfs read devices/system/memory/memory32/state == online
expect notifier log watch == MEM_GOING_OFFLINE MEM_CANCEL_OFFLINE
expect zoneinfo 0 Movable nr_isolate_pageblock == 0
page free pinned
sysfs write devices/system/memory/memory32/state offline signal_after=5s
expect sysfs read devices/system/memory/memory32/state == offline
check
