# cow.c anon case 7 with single PTE of swapped-out THP (2048 kB):
# "R/O-mapping a page registered as iouring fixed buffer". Set-up: the single
# PTE of a THP, swapped out. A R/W longterm pin keeps the memory exclusive;
# mapped read-only again (soft-dirty stops mprotect's upgrade), the write
# fault reuses it and the pin sees the write.
machine ram=1G swap=64M
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P madvise mem dontneed 4K 2044K
P madvise mem pageout 0 4K
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=4 hugetlb_kb=0
P gup buf mem 4K write longterm
P mprotect mem ro 0 4K
P clear_refs
P mprotect mem rw 0 4K
P write mem 4K 0xff
expect buf read 0 4K == 0xff
release buf
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
