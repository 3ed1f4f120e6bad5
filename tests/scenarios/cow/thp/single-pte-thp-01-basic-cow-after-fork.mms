# cow.c anon case 1 with single PTE of THP (2048 kB): "Basic COW after
# fork()". Set-up: one PTE mapping the first page of a still-large folio.
# Fork clears PG_anon_exclusive and write-protects; the parent's write
# copies, so it never leaks into the child.
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
P write mem 4K 0xff
expect C read mem 4K == 0x01
expect P read mem 4K == 0xff
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
