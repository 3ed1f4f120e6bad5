# The hugetlb pool (`hugepages=N`) with a pool of exactly the mapping's size.
# A private hugetlb mapping reserves its 2 MiB pages at mmap
# (hugetlb_reserve_pages(): HugePages_Rsvd grows, HugePages_Free does not);
# the first touch of a page consumes its reservation (both drop). fork gives
# the child no reservation (reset_vma_resv_huge_pages()). When the parent,
# which owns the reservations, must copy a page the child shares and every
# free page is reserved, the kernel takes the page from the child instead
# (hugetlb_wp() → unmap_ref_private()): the child's mapping of it goes, its
# VMA is marked HPAGE_RESV_UNMAPPED, and its next fault there is SIGBUS (the
# model's EFAULT); the parent, now the only mapper, writes the page in place.
# `mmsim run --host` agrees line by line.
machine ram=1G hugepages=2
expect meminfo HugePages_Total == 2
expect meminfo HugePages_Free == 2
expect meminfo HugePages_Rsvd == 0
spawn P
P mmap mem 4M hugetlb
expect meminfo HugePages_Free == 2
expect meminfo HugePages_Rsvd == 2
P write mem 2M 0x11
expect meminfo HugePages_Free == 1
expect meminfo HugePages_Rsvd == 1
let head = P pfn mem
expect kpageflags $head has huge,anon,mmap,compound_head
P fork C
expect meminfo HugePages_Rsvd == 1
expect P pte mem == present=1 writable=0 anon_exclusive=0 pfn=$head
expect C pfn mem == $head
# The parent's COW may not take the last free page: it is reserved for
# mem+2M. The child loses the page, the parent keeps writing it.
P write mem 4K 0x22
expect meminfo HugePages_Free == 1
expect meminfo HugePages_Rsvd == 1
expect P pfn mem == $head
expect P pte mem == present=1 writable=1 anon_exclusive=1 pfn=$head
expect C pfn mem fails EFAULT
expect C read mem 4K fails EFAULT
expect P read mem 4K == 0x22
expect P read mem+4K 4K == 0x11
# The second 2 MiB consumes the last reservation.
P write mem+2M 4K 0x33
expect meminfo HugePages_Free == 0
expect meminfo HugePages_Rsvd == 0
C exit
expect meminfo HugePages_Free == 0
P exit
expect meminfo HugePages_Free == 2
expect meminfo HugePages_Rsvd == 0
# Hugetlb VMAs split only at 2 MiB boundaries.
spawn Q
Q mmap m 4M hugetlb
expect Q munmap m 0 4K fails EINVAL
expect Q mprotect m ro 2M 1M fails EINVAL
Q munmap m 2M 2M
expect meminfo HugePages_Rsvd == 1
Q munmap m 0 2M
expect meminfo HugePages_Rsvd == 0
# mmap() rounds a hugetlb length up to whole huge pages (ksys_mmap_pgoff()),
# so the 3M asked for is a 4M VMA, which a 3M munmap would split inside a
# huge page.
Q mmap odd 3M hugetlb
expect meminfo HugePages_Rsvd == 2
expect Q munmap odd fails EINVAL
check

# Teardown: with every pin released and every process gone, all memory
# returns and so do the reservations (check/leak.rs).
Q exit
expect meminfo HugePages_Rsvd == 0
check
