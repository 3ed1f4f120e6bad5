# cow.c anon case 11 with partially mremap()'ed THP (2048 kB): "R/O GUP pin
# on R/O-mapped previously-shared page". Set-up: mremap
# (MREMAP_MAYMOVE|MREMAP_FIXED onto a PROT_NONE placeholder) moved the upper
# half of a THP away, which split its PMD; the test runs on the lower 1 MiB,
# and the folio stays large, mapped at two places of one process. The child
# is gone; the unshare fault makes the memory exclusive (reusing or copying
# it) and the pin sees the write.
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
C exit
P gup p mem 1M pin longterm
P write mem 1M 0xff
expect p read 0 1M == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
