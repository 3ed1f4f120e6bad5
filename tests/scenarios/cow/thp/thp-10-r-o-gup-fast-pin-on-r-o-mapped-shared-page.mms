# cow.c anon case 10 with THP (2048 kB): "R/O GUP-fast pin on R/O-mapped
# shared page". Set-up: a PMD-mapped THP. GUP-fast backs off on memory that
# is not exclusive; the slow path unshares.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
expect P smaps mem == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
P fork C
P gup p mem 2M pin longterm fast
P write mem 2M 0xff
expect p read 0 2M == 0xff
expect C read mem 2M == 0x01
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
