# The same driver pages under mainline's refcount protocol (offline_skip=
# refcount, the default): the owner drops each page's reference to 0 in
# MEM_GOING_OFFLINE, and the unflagged PageOffline page fails late, after
# MEM_GOING_OFFLINE, in scan_movable_pages.
machine ram=2G
variant offline_skip=refcount
hotplug add 0x100000000 256M
sysfs write devices/system/memory/memory32/state online_kernel
page alloc vmem pfn=0x104000 nr=512
page mark vmem fake_offline
expect kpageflags 0x104000 == offline
notifier add watch
sysfs write devices/system/memory/memory32/state offline
expect sysfs read devices/system/memory/memory32/state == offline
expect notifier log watch == MEM_GOING_OFFLINE MEM_OFFLINE
expect zoneinfo 0 Normal managed == 0
sysfs write devices/system/memory/memory33/state online_kernel
page alloc stuck pfn=0x108100
page mark stuck offline
notifier add watch33
expect sysfs write devices/system/memory/memory33/state offline fails EBUSY
expect notifier log watch33 == MEM_GOING_OFFLINE MEM_CANCEL_OFFLINE
check
