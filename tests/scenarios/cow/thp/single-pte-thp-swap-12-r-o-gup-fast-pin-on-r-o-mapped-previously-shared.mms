# cow.c anon case 12 with single PTE of swapped-out THP (2048 kB): "R/O
# GUP-fast pin on R/O-mapped previously-shared page". Set-up: the single PTE
# of a THP, swapped out. As case 11 through GUP-fast, which backs off to the
# slow path.
machine ram=1G swap=64M
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P madvise mem dontneed 4K 2044K
P madvise mem pageout 0 4K
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=4 hugetlb_kb=0
P fork C
C exit
P gup p mem 4K pin longterm fast
P write mem 4K 0xff
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
