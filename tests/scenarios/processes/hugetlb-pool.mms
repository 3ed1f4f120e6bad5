# The hugetlb pool (`hugepages=N`): a private hugetlb mapping takes one pool
# page per 2 MiB on first touch (HugePages_Free drops), fork shares it
# write-protected, the first write copies into a second pool page, and the
# pages go back to the pool when their last mapping goes. The kernel also
# reserves a private mapping's pages at mmap (resv_map), which the model does
# not: with a pool of exactly the mapping's size the kernel would refuse the
# COW to the parent's reservation and unmap the child (unmap_ref_private()),
# so the pool here has one page to spare (`mmsim run --host` agrees).
machine ram=1G hugepages=3
expect meminfo HugePages_Total == 3
expect meminfo HugePages_Free == 3
spawn P
P mmap mem 4M hugetlb
P write mem 2M 0x11
expect meminfo HugePages_Free == 2
let head = P pfn mem
expect kpageflags $head has huge,anon,mmap,compound_head
P fork C
expect P pte mem == present=1 writable=0 anon_exclusive=0 pfn=$head
expect C pfn mem == $head
# The COW copy takes the spare pool page.
P write mem 4K 0x22
expect meminfo HugePages_Free == 1
expect P pfn mem != $head
expect C read mem 2M == 0x11
expect P read mem 4K == 0x22
# The second 2 MiB takes the last one.
P write mem+2M 4K 0x33
expect meminfo HugePages_Free == 0
C exit
expect meminfo HugePages_Free == 1
P exit
expect meminfo HugePages_Free == 3
# Hugetlb VMAs split only at 2 MiB boundaries.
spawn Q
Q mmap m 4M hugetlb
expect Q munmap m 0 4K fails EINVAL
expect Q mprotect m ro 2M 1M fails EINVAL
Q munmap m 2M 2M
Q munmap m 0 2M
# mmap() rounds a hugetlb length up to whole huge pages (ksys_mmap_pgoff()),
# so the 3M asked for is a 4M VMA, which a 3M munmap would split inside a
# huge page.
Q mmap odd 3M hugetlb
expect Q munmap odd fails EINVAL
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
Q exit
check
