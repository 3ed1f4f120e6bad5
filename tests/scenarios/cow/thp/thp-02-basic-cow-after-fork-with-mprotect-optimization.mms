# cow.c anon case 2 with THP (2048 kB): "Basic COW after fork() with
# mprotect() optimization". Set-up: a PMD-mapped THP. mprotect(RW) makes
# nothing writable that is not PG_anon_exclusive, so the write still copies.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
expect P smaps mem == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
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
