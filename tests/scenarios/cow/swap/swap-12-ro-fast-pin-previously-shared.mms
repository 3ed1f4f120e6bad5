# cow.c anon case 12 on a swapped-out base page: "R/O GUP-fast pin on R/O-mapped
# previously-shared page": GUP-fast backs off (PG_anon_exclusive is clear),
# the slow path's unshare fault reuses the page.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P fork C
C exit
P gup p mem 4K pin longterm fast
P write mem 4K 0xff
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
