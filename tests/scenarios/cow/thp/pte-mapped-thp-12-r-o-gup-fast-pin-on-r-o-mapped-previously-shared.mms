# cow.c anon case 12 with PTE-mapped THP (2048 kB): "R/O GUP-fast pin on
# R/O-mapped previously-shared page". Set-up: a THP mapped by 512 PTEs
# (mprotect of one page split the PMD). As case 11 through GUP-fast, which
# backs off to the slow path.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P mprotect mem ro 4K 4K
P mprotect mem rw 4K 4K
expect P smaps mem == rss_kb=2048 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
let tail = P pfn mem+2044K
expect kpageflags $tail has thp,compound_tail
P fork C
C exit
P gup p mem 2M pin longterm fast
P write mem 2M 0xff
expect p read 0 2M == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
