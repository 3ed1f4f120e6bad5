# cow.c anon case 3 with partially mremap()'ed THP (2048 kB): "vmsplice() +
# unmap in child". Set-up: mremap (MREMAP_MAYMOVE|MREMAP_FIXED onto a
# PROT_NONE placeholder) moved the upper half of a THP away, which split its
# PMD; the test runs on the lower 1 MiB, and the folio stays large, mapped
# at two places of one process. The child's pipe holds FOLL_GET references;
# after the child unmaps, the parent's page still has references beyond its
# mapping, so the write copies (CVE-2020-29374).
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P mmap upper 1M none
P mremap mem 1M 1M 1M to=upper
expect P smaps mem == rss_kb=1024 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
expect P pte mem == present=1 writable=1 anon_exclusive=1 pfn=$head
let moved = P pfn upper
expect kpageflags $moved has thp,compound_tail
expect P pte upper == present=1 writable=1 anon_exclusive=1 pfn=$moved
P fork C
C gup v mem 1M get
C munmap mem 0 1M
P write mem 1M 0xff
expect v read 0 1M == 0x01
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
