# cow.c anon case 1 with hugetlb (2048 kB): "Basic COW after fork()". Set-up:
# a private hugetlb page from the pool. Fork clears PG_anon_exclusive and
# write-protects; the parent's write copies, so it never leaks into the
# child.
machine ram=1G hugepages=4
spawn P
P mmap mem 2M hugetlb
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has huge,compound_head
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=0 hugetlb_kb=2048
P fork C
P write mem 2M 0xff
expect C read mem 2M == 0x01
expect P read mem 2M == 0xff
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
