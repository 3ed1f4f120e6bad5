# cow.c anon case 2 with single PTE of swapped-out THP (2048 kB): "Basic COW
# after fork() with mprotect() optimization". Set-up: the single PTE of a
# THP, swapped out. mprotect(RW) makes nothing writable that is not
# PG_anon_exclusive, so the write still copies.
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
P mprotect mem ro 0 4K
P mprotect mem rw 0 4K
P write mem 4K 0xff
expect C read mem 4K == 0x01
expect P read mem 4K == 0xff
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
