# cow.c anon case 5 with THP (2048 kB): "vmsplice() before fork(), unmap in
# parent after fork()". Set-up: a PMD-mapped THP. The child's write must not
# show through the parent's pipe.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
expect P smaps mem == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
P gup v mem 2M get
P fork C
P munmap mem 0 2M
C write mem 2M 0xff
expect v read 0 2M == 0x01
expect C read mem 2M == 0xff
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
