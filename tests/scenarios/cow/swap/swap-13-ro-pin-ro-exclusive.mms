# cow.c anon case 13 on a swapped-out base page: "R/O GUP pin on R/O-mapped exclusive
# page". mprotect(R), clear_refs, mprotect(RW) leave the exclusive page mapped
# read-only; PG_anon_exclusive is set, so the pin needs no unshare; the write
# fault reuses the page and the pin sees it.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P mprotect mem ro
P clear_refs
P mprotect mem rw
P gup p mem 4K pin longterm
P write mem 4K 0xff
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
