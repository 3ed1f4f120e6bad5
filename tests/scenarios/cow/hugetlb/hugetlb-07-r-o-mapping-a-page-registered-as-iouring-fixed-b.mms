# cow.c anon case 7 with hugetlb (2048 kB): "R/O-mapping a page registered as
# iouring fixed buffer". Set-up: a private hugetlb page from the pool. A R/W
# longterm pin keeps the memory exclusive; mapped read-only again (soft-dirty
# stops mprotect's upgrade), the write fault reuses it and the pin sees the
# write.
machine ram=1G hugepages=4
spawn P
P mmap mem 2M hugetlb
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has huge,compound_head
expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=0 hugetlb_kb=2048
P gup buf mem 2M write longterm
P mprotect mem ro 0 2M
P clear_refs
P mprotect mem rw 0 2M
P write mem 2M 0xff
expect buf read 0 2M == 0xff
release buf
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
