# The hugetlb pool (`hugepages=N`): a private hugetlb mapping takes one pool
# page per 2 MiB on first touch (HugePages_Free drops), fork shares it
# write-protected, the first write copies into a second pool page, and the
# pages go back to the pool when their last mapping goes. A fault that finds
# the pool empty fails (SIGBUS in the kernel, EFAULT here).
machine ram=1G hugepages=2
expect meminfo HugePages_Total == 2
expect meminfo HugePages_Free == 2
spawn P
P mmap mem 4M hugetlb
P write mem 2M 0x11
expect meminfo HugePages_Free == 1
let head = P pfn mem
expect kpageflags $head has huge,anon,mmap,compound_head
P fork C
expect P pte mem == present=1 writable=0 anon_exclusive=0 pfn=$head
expect C pfn mem == $head
# The COW copy takes the last pool page.
P write mem 4K 0x22
expect meminfo HugePages_Free == 0
expect P pfn mem != $head
expect C read mem 2M == 0x11
expect P read mem 4K == 0x22
# Nothing left for the second 2 MiB.
expect P write mem+2M 4K 0x33 fails EFAULT
C exit
expect meminfo HugePages_Free == 1
P exit
expect meminfo HugePages_Free == 2
# Hugetlb VMAs split only at 2 MiB boundaries.
spawn Q
Q mmap m 4M hugetlb
expect Q munmap m 0 4K fails EINVAL
expect Q mprotect m ro 2M 1M fails EINVAL
Q munmap m 2M 2M
expect Q mmap odd 3M hugetlb fails EINVAL
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
Q exit
check
