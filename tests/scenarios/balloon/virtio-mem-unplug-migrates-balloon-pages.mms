# Two drivers owning PageOffline pages in one block: balloon pages inflated
# into memory that virtio-mem plugged. When virtio-mem unplugs a sub-block
# of online memory it takes it with alloc_contig_range(), which migrates the
# balloon pages out (page_has_movable_ops: balloon_page_migrate); the
# sub-block becomes virtio-mem's fake-offline PageOffline pages and the
# balloon keeps its size.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=128M
sysfs write devices/system/memory/memory32/state online_movable
# Movable allocations prefer ZONE_MOVABLE: the balloon fills memory32.
expect balloon inflate 128M == 134217728
expect zoneinfo 0 Movable free == 0
expect kpageflags 0x107e00 == uptodate,offline
check
# The highest sub-block of memory32 goes back to the host.
virtio-mem resize vm0 126M
expect virtio-mem driver vm0 memory32 == MOVABLE_PARTIAL 63/64
expect kpageflags 0x107e00 == offline
expect page show 0x107e00 flags == 0x0
expect balloon show == pages=32768 balloon_inflate=32768 balloon_deflate=0 balloon_migrate=512
expect meminfo Balloon == 131072
check
expect balloon deflate 128M == 134217728
check
