# Reference §10 case 23 with the balloon driver: offlining a ZONE_MOVABLE
# block full of balloon pages migrates them (scan_movable_pages finds
# page_has_movable_ops; do_migrate_range -> balloon_page_migrate /
# virtballoon_migratepage: the new frame joins the balloon, the old one is
# freed) and the bytes of a process in the same block survive.
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
spawn A
A mmap buf 1M
A write buf 1M 0x5a
let p = A pfn buf
expect page show $p zone == Movable
# The rest of the block goes into the balloon (movable allocations prefer
# ZONE_MOVABLE).
expect balloon inflate 127M == 133169152
expect zoneinfo 0 Movable free == 0
expect zoneinfo 0 Movable managed == 256
expect kpageflags 0x100100 == uptodate,offline
expect zoneinfo 0 DMA32 managed == 512000
sysfs write devices/system/memory/memory32/state offline
expect sysfs read devices/system/memory/memory32/state == offline
expect A read buf 1M == 0x5a
expect balloon show == pages=32512 balloon_inflate=32512 balloon_deflate=0 balloon_migrate=32512
expect meminfo Balloon == 130048
# The balloon moved to DMA32 and took its managed pages along.
expect zoneinfo 0 DMA32 managed == 479488
check
A exit
expect balloon deflate 127M == 133169152
expect zoneinfo 0 DMA32 managed == 512000
check
