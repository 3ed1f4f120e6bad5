# cow.c THP collapse case "Basic COW after fork() when collapsing before
# fork()": a PTE-mapped THP is collapsed back into one PMD mapping
# (MADV_COLLAPSE copies it into a new exclusive THP), then fork shares the
# PMD write-protected and the parent's write must not leak into the child.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
P mprotect mem ro 4K 4K
P mprotect mem rw 4K 4K
expect P smaps mem == rss_kb=2048 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
P madvise mem collapse
expect P smaps mem == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
let head = P pfn mem
expect P pte mem == present=1 writable=1 anon_exclusive=1 pfn=$head
P fork C
expect P pte mem == present=1 writable=0 anon_exclusive=0 pfn=$head
P write mem 2M 0xff
expect C read mem 2M == 0x01
expect P read mem 2M == 0xff
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
