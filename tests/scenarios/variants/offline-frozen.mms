# offline_skip=frozen: the future the PG_offline_skippable proposal's comment
# describes (reference §1.5). The driver's PageOffline pages carry the flag,
# as under `skippable`, but their refcount is frozen at 0 for as long as the
# driver keeps them: a speculative reference (get_page_unless_zero, `page
# get`) fails on them, so none can be left behind when the block goes
# offline. Under `skippable` the same `page get` succeeds (refcount 1), and
# __offline_isolated_pages() would find refcount 2.
machine ram=2G
variant offline_skip=frozen
hotplug add 0x100000000 256M
sysfs write devices/system/memory/memory32/state online_kernel
page alloc vmem pfn=0x104000 nr=512
page mark vmem fake_offline
expect kpageflags 0x104000 == offline,owner_2
expect page get 0x104000 fails EBUSY
notifier add watch
sysfs write devices/system/memory/memory32/state offline
expect sysfs read devices/system/memory/memory32/state == offline
expect notifier log watch == MEM_GOING_OFFLINE MEM_OFFLINE
expect zoneinfo 0 Normal managed == 0
# An unflagged PageOffline page is unmovable at isolation, as under
# `skippable`.
sysfs write devices/system/memory/memory33/state online_kernel
page alloc stuck pfn=0x108100
page mark stuck offline
expect sysfs write devices/system/memory/memory33/state offline fails EBUSY
check
