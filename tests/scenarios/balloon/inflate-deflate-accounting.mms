# virtio_balloon fill_balloon()/leak_balloon() on 7.2's balloon core: every
# page inflated leaves the zone's managed pages (adjust_managed_page_count(-1),
# no VIRTIO_BALLOON_F_DEFLATE_ON_OOM) and counts in NR_BALLOON_PAGES
# (meminfo Balloon); deflating reverses both and frees the pages.
machine ram=1G
expect meminfo MemTotal == 1015420
expect meminfo Balloon == 0
expect zoneinfo 0 DMA32 managed == 249856
expect balloon inflate 64M == 67108864
expect meminfo Balloon == 65536
expect meminfo MemTotal == 949884
# MemFree leaves out pages on the pcp lists (account_freepages()): drain them.
drain_all_pages
expect meminfo MemFree == 949884
# GFP_HIGHUSER_MOVABLE: the highest zone this machine has.
expect zoneinfo 0 DMA32 managed == 233472
expect zoneinfo 0 DMA32 present == 258048
expect balloon show == pages=16384 balloon_inflate=16384 balloon_deflate=0 balloon_migrate=0
check
expect balloon deflate 16M == 16777216
expect meminfo Balloon == 49152
expect meminfo MemTotal == 966268
expect balloon show == pages=12288 balloon_inflate=16384 balloon_deflate=4096 balloon_migrate=0
check
expect balloon deflate 48M == 50331648
expect meminfo MemTotal == 1015420
# free_unref_page() put the deflated pages on the pcp lists: drain them.
drain_all_pages
expect meminfo MemFree == 1015420
expect zoneinfo 0 DMA32 managed == 249856
expect balloon show pages == 0
check
