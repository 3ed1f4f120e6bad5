# cow.c anon case 2 with swapped-out THP (2048 kB): "Basic COW after fork()
# with mprotect() optimization". Set-up: a THP swapped out (split first, as
# reclaim does without THP swap). mprotect(RW) makes nothing writable that is
# not PG_anon_exclusive, so the write still copies.
machine ram=1G swap=64M
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P madvise mem pageout
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=2048 hugetlb_kb=0
P fork C
P mprotect mem ro 0 2M
P mprotect mem rw 0 2M
P write mem 2M 0xff
expect C read mem 2M == 0x01
expect P read mem 2M == 0xff
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
