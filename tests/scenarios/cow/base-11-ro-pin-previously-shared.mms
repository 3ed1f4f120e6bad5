# cow.c anon case 11 on a base page: "R/O GUP pin on R/O-mapped
# previously-shared page". The child is gone, so the unshare fault reuses the
# page (sole reference) and only sets PG_anon_exclusive; the PTE stays
# read-only.
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
P fork C
C exit
let page = P pfn mem
expect P pte mem == present=1 writable=0 anon_exclusive=0 pfn=$page
P gup p mem 4K pin longterm
expect P pte mem == present=1 writable=0 anon_exclusive=1 pfn=$page
P write mem 4K 0xff
expect P pfn mem == $page
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
