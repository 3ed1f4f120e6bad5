# cow.c anon case 9 with single PTE of swapped-out THP (2048 kB): "R/O GUP
# pin on R/O-mapped shared page". Set-up: the single PTE of a THP, swapped
# out. gup_must_unshare(): the memory is not exclusive, so the R/O pin
# unshares (copies) first and then sees the parent's write.
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
P gup p mem 4K pin longterm
P write mem 4K 0xff
expect p read 0 4K == 0xff
expect C read mem 4K == 0x01
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
