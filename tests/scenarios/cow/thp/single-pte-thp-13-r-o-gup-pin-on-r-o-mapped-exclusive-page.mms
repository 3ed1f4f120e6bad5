# cow.c anon case 13 with single PTE of THP (2048 kB): "R/O GUP pin on
# R/O-mapped exclusive page". Set-up: one PTE mapping the first page of a
# still-large folio. Exclusive but mapped read-only: the pin needs no
# unshare, the write fault reuses, the pin sees it.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P madvise mem dontneed 4K 2044K
expect P smaps mem == rss_kb=4 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
expect kpageflags $head has thp,compound_head
P mprotect mem ro 0 4K
P clear_refs
P mprotect mem rw 0 4K
P gup p mem 4K pin longterm
P write mem 4K 0xff
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
