# Reference §10 case 24: outside ZONE_MOVABLE an unmovable page (slab, page
# table) makes isolation fail: EBUSY ("failure to isolate range") and
# MEM_GOING_OFFLINE is never sent.
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_kernel
page alloc s pfn=0x102000
page mark s slab
expect kpageflags 0x102000 == slab
notifier add watch
expect sysfs write devices/system/memory/memory32/state offline fails EBUSY
expect notifier log watch == ""
page free s
page alloc t pfn=0x107000
page mark t table
expect kpageflags 0x107000 == pgtable
expect sysfs write devices/system/memory/memory32/state offline fails EBUSY
expect notifier log watch == ""
expect sysfs read devices/system/memory/memory32/state == online
check
