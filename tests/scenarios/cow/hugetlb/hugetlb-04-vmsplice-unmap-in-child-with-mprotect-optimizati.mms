# cow.c anon case 4 with hugetlb (2048 kB): "vmsplice() + unmap in child with
# mprotect() optimization". Set-up: a private hugetlb page from the pool.
# hugetlb_wp() reuses a page whose mapcount is 1 even while a pipe references
# it, so the write leaks into the pipe: cow.c expects this case to fail on
# hugetlb (XFAIL), and so does this scenario.
machine ram=1G hugepages=4
spawn P
P mmap mem 2M hugetlb
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has huge,compound_head
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=0 hugetlb_kb=2048
P fork C
C gup v mem 2M get
C munmap mem 0 2M
P mprotect mem ro 0 2M
P mprotect mem rw 0 2M
P write mem 2M 0xff
expect v read 0 2M violates oracle
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
