# cow.c anon case 14 on a swapped-out base page: "R/O GUP-fast pin on R/O-mapped
# exclusive page": PG_anon_exclusive is set, so GUP-fast pins it directly (no
# fallback); the write fault reuses the page and the pin sees it.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P mprotect mem ro
P clear_refs
P mprotect mem rw
P gup p mem 4K pin longterm fast
P write mem 4K 0xff
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
