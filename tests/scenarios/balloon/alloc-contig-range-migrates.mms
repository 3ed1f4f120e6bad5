# alloc_contig_range() over balloon pages migrates them out of the range
# (__alloc_contig_migrate_range: movable_ops pages are movable in any
# isolation mode), so it succeeds; the balloon keeps its size. A test-only
# owner's movable_ops pages in the same zone are migrated by their own ops
# when the block goes offline: both owners of PageOffline pages coexist.
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
page alloc mover pfn=0x104000 nr=2
page mark mover movable_ops
expect balloon inflate 128M == 134217728
# 2 of them came from DMA32: the owner holds two frames of the block.
expect zoneinfo 0 Movable managed == 0
expect kpageflags 0x100000 == uptodate,offline
page alloc c pfn=0x100000 nr=512
expect kpageflags 0x100000 == ""
expect kpageflags 0x1001ff == ""
expect balloon show == pages=32768 balloon_inflate=32768 balloon_deflate=0 balloon_migrate=512
expect meminfo Balloon == 131072
# The 512 migrated balloon pages now sit in DMA32, unmanaged there.
expect zoneinfo 0 Movable managed == 512
page free c
check
# Offlining succeeds only if both owners' pages move: a PageOffline page
# with a reference that nobody migrates would make it fail with EBUSY.
sysfs write devices/system/memory/memory32/state offline
expect balloon show balloon_migrate == 32766
check
expect balloon deflate 128M == 134217728
expect meminfo Balloon == 0
check
