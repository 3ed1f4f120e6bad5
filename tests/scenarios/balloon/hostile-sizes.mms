# Hostile sizes. The host counts in 4 KiB balloon pages (the virtio config's
# num_pages), so a size that is not whole pages is EINVAL and moves nothing;
# 0 moves nothing; more than RAM inflates whatever balloon_page_alloc() gets
# (__GFP_NORETRY: it fails instead of reclaiming) and stops; deflate never
# gives back more than the balloon holds (leak_balloon: min(num, num_pages)).
machine ram=1G
expect balloon inflate 4097 fails EINVAL
expect balloon deflate 1 fails EINVAL
expect balloon show pages == 0
expect balloon inflate 0 == 0
expect balloon deflate 0 == 0
expect balloon deflate 1G == 0
# Everything the allocator has: the managed pages of the whole machine.
expect balloon inflate 100G == 1039790080
expect meminfo MemFree == 0
expect meminfo MemTotal == 0
expect zoneinfo 0 DMA free == 0
expect zoneinfo 0 DMA32 free == 0
expect balloon inflate 4K == 0
check
expect balloon deflate 100G == 1039790080
expect balloon deflate 4K == 0
expect meminfo MemTotal == 1015420
check
