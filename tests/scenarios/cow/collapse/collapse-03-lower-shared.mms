# cow.c THP collapse case "Basic COW after fork() when collapsing after
# fork() (lower shared)": only the lower half is shared with the child
# (MADV_DONTFORK on the upper half). The parent collapses the whole THP:
# collapse must not hand the parent the child's pages exclusively — it copies
# into a new THP, and the child's lower half never changes.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
P mprotect mem ro 4K 4K
P mprotect mem rw 4K 4K
P madvise mem dontfork 1M 1M
P fork C
P madvise mem dofork
P madvise mem collapse
expect P smaps mem == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
let head = P pfn mem
expect P pte mem == present=1 writable=1 anon_exclusive=1 pfn=$head
P write mem 2M 0xff
expect C read mem 1M == 0x01
expect P read mem 2M == 0xff
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
