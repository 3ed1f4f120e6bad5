# cow.c anon case 7 with single PTE of THP (2048 kB): "R/O-mapping a page
# registered as iouring fixed buffer". Set-up: one PTE mapping the first page
# of a still-large folio. A R/W longterm pin keeps the memory exclusive;
# mapped read-only again (soft-dirty stops mprotect's upgrade), the write
# fault reuses it and the pin sees the write.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P madvise mem dontneed 4K 2044K
expect P smaps mem == rss_kb=4 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
expect kpageflags $head has thp,compound_head
P gup buf mem 4K write longterm
P mprotect mem ro 0 4K
P clear_refs
P mprotect mem rw 0 4K
P write mem 4K 0xff
expect buf read 0 4K == 0xff
release buf
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
