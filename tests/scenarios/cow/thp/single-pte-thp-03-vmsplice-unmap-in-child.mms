# cow.c anon case 3 with single PTE of THP (2048 kB): "vmsplice() + unmap in
# child". Set-up: one PTE mapping the first page of a still-large folio. The
# child's pipe holds FOLL_GET references; after the child unmaps, the
# parent's page still has references beyond its mapping, so the write copies
# (CVE-2020-29374).
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P madvise mem dontneed 4K 2044K
expect P smaps mem == rss_kb=4 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
expect kpageflags $head has thp,compound_head
P fork C
C gup v mem 4K get
C munmap mem 0 4K
P write mem 4K 0xff
expect v read 0 4K == 0x01
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
