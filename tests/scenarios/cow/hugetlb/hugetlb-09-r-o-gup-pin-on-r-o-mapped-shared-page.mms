# cow.c anon case 9 with hugetlb (2048 kB): "R/O GUP pin on R/O-mapped shared
# page". Set-up: a private hugetlb page from the pool. gup_must_unshare():
# the memory is not exclusive, so the R/O pin unshares (copies) first and
# then sees the parent's write.
machine ram=1G hugepages=4
spawn P
P mmap mem 2M hugetlb
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has huge,compound_head
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=0 hugetlb_kb=2048
P fork C
P gup p mem 2M pin longterm
P write mem 2M 0xff
expect p read 0 2M == 0xff
expect C read mem 2M == 0x01
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
