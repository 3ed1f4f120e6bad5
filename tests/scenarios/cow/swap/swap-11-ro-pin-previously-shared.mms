# cow.c anon case 11 on a swapped-out base page: "R/O GUP pin on R/O-mapped
# previously-shared page". The child is gone, so the unshare fault reuses the
# page (sole reference) and only sets PG_anon_exclusive; the PTE stays
# read-only.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P fork C
C exit
P gup p mem 4K pin longterm
P write mem 4K 0xff
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
