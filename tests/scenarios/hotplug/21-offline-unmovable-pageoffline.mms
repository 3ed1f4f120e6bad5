# Reference §10 case 21: a block holding an unmovable PageOffline page with
# refcount 1 whose owner keeps its reference fails to offline with EBUSY
# ("unmovable page", scan_movable_pages); MEM_CANCEL_OFFLINE is sent, the
# state is back to online and the isolation is undone.
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_kernel
let p = page alloc balloon pfn=0x100800
page mark balloon offline
notifier add watch
expect sysfs write devices/system/memory/memory32/state offline fails EBUSY
expect sysfs read devices/system/memory/memory32/state == online
expect notifier log watch == MEM_GOING_OFFLINE MEM_CANCEL_OFFLINE
expect zoneinfo 0 Normal nr_isolate_pageblock == 0
expect kpageflags $p == offline
# Isolation is undone: the free pages can be allocated again.
page alloc again pfn=0x100000 nr=512
check
