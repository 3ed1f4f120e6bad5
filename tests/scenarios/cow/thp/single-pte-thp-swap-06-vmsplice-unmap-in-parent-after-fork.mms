# cow.c anon case 6 with single PTE of swapped-out THP (2048 kB): "vmsplice()
# + unmap in parent after fork()". Set-up: the single PTE of a THP, swapped
# out. The child's write must not show through the parent's pipe.
machine ram=1G swap=64M
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P madvise mem dontneed 4K 2044K
P madvise mem pageout 0 4K
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=4 hugetlb_kb=0
P fork C
P gup v mem 4K get
P munmap mem 0 4K
C write mem 4K 0xff
expect v read 0 4K == 0x01
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
