# cmp_and_merge_page(): "If the hash value of the page has changed from the
# last time we calculated it, this page is changing frequently: therefore we
# don't want to insert it in the unstable tree" — ksmd compares
# calc_checksum() with rmap_item->oldchecksum before it searches either tree,
# so two fresh identical pages merge in the second scan, a page written
# between scans waits one more, and so does a new page identical to a KSM
# page.
machine ram=1G
spawn A
A mmap a 12K
A write a 8K 0x11
A madvise a mergeable
expect ksm run == pages_shared=0 pages_sharing=0
A write a 8K 0x22
expect ksm run == pages_shared=0 pages_sharing=0
expect ksm run == pages_shared=1 pages_sharing=1
let k = A pfn a
expect A pfn a+4K == $k
expect A read a 8K == 0x22
A write a+8K 4K 0x22
expect ksm run == pages_shared=1 pages_sharing=1
expect ksm run == pages_shared=1 pages_sharing=2
expect A pfn a+8K == $k
A exit
check
