# cow.c anon case 8 with hugetlb (2048 kB): "fork() with an iouring fixed
# buffer". Set-up: a private hugetlb page from the pool. The mm has
# MMF_HAS_PINNED and the pinned memory is exclusive, so fork copies it for
# the child and the parent keeps its pinned pages writable.
machine ram=1G hugepages=4
spawn P
P mmap mem 2M hugetlb
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has huge,compound_head
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=0 hugetlb_kb=2048
P gup buf mem 2M write longterm
P fork C
P write mem 2M 0xff
expect buf read 0 2M == 0xff
expect C read mem 2M == 0x01
release buf
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
