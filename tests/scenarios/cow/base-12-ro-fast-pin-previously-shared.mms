# cow.c anon case 12 on a base page: "R/O GUP-fast pin on R/O-mapped
# previously-shared page": GUP-fast backs off (PG_anon_exclusive is clear),
# the slow path's unshare fault reuses the page.
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
P fork C
C exit
let page = P pfn mem
P gup p mem 4K pin longterm fast
expect P pte mem == present=1 writable=0 anon_exclusive=1 pfn=$page
P write mem 4K 0xff
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
