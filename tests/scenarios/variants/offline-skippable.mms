# The offline_skip variant: mainline's refcount protocol against the May 2025
# PG_offline_skippable proposal (reference §1.5), on the same block.
#
# Under `skippable` the driver's PageOffline pages keep refcount 1 and carry
# PG_offline_skippable (an alias of PG_owner_2, shown by kpageflags as
# owner_2); the core skips them without any notifier work.
machine ram=2G
variant offline_skip=skippable
hotplug add 0x100000000 256M
sysfs write devices/system/memory/memory32/state online_kernel
page alloc vmem pfn=0x104000 nr=512
page mark vmem fake_offline
expect kpageflags 0x104000 == offline,owner_2
notifier add watch
sysfs write devices/system/memory/memory32/state offline
expect sysfs read devices/system/memory/memory32/state == offline
expect notifier log watch == MEM_GOING_OFFLINE MEM_OFFLINE
expect zoneinfo 0 Normal managed == 0
# A PageOffline page without the flag is now unmovable already at isolation
# in a kernel zone: MEM_GOING_OFFLINE is never sent (mainline sends it and
# fails later in scan_movable_pages, see hotplug/21-*.mms).
sysfs write devices/system/memory/memory33/state online_kernel
page alloc stuck pfn=0x108100
page mark stuck offline
notifier add watch33
expect sysfs write devices/system/memory/memory33/state offline fails EBUSY
expect notifier log watch33 == ""
check
