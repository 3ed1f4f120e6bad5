# cow.c anon case 3 with swapped-out, PTE-mapped THP (2048 kB): "vmsplice() +
# unmap in child". Set-up: a PTE-mapped THP swapped out. The child's pipe
# holds FOLL_GET references; after the child unmaps, the parent's page still
# has references beyond its mapping, so the write copies (CVE-2020-29374).
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
P fork C
C gup v mem 2M get
C munmap mem 0 2M
P write mem 2M 0xff
expect v read 0 2M == 0x01
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
