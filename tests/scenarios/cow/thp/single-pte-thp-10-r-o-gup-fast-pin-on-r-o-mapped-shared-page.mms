# cow.c anon case 10 with single PTE of THP (2048 kB): "R/O GUP-fast pin on
# R/O-mapped shared page". Set-up: one PTE mapping the first page of a
# still-large folio. GUP-fast backs off on memory that is not exclusive; the
# slow path unshares.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P madvise mem dontneed 4K 2044K
expect P smaps mem == rss_kb=4 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
expect kpageflags $head has thp,compound_head
P fork C
P gup p mem 4K pin longterm fast
P write mem 4K 0xff
expect p read 0 4K == 0xff
expect C read mem 4K == 0x01
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
