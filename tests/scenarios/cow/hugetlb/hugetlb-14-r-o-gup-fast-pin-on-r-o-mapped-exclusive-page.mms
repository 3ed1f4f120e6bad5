# cow.c anon case 14 with hugetlb (2048 kB): "R/O GUP-fast pin on R/O-mapped
# exclusive page". Set-up: a private hugetlb page from the pool. As case 13
# through GUP-fast, which pins the exclusive memory directly.
machine ram=1G hugepages=4
spawn P
P mmap mem 2M hugetlb
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has huge,compound_head
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=0 hugetlb_kb=2048
P mprotect mem ro 0 2M
P clear_refs
P mprotect mem rw 0 2M
P gup p mem 2M pin longterm fast
P write mem 2M 0xff
expect p read 0 2M == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
