# cow.c anon case 13 with swapped-out, PTE-mapped THP (2048 kB): "R/O GUP pin
# on R/O-mapped exclusive page". Set-up: a PTE-mapped THP swapped out.
# Exclusive but mapped read-only: the pin needs no unshare, the write fault
# reuses, the pin sees it.
machine ram=1G swap=64M
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P mprotect mem ro 4K 4K
P mprotect mem rw 4K 4K
P madvise mem pageout
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=2048 hugetlb_kb=0
P mprotect mem ro 0 2M
P clear_refs
P mprotect mem rw 0 2M
P gup p mem 2M pin longterm
P write mem 2M 0xff
expect p read 0 2M == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
