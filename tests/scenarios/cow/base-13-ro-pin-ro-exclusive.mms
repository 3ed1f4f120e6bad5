# cow.c anon case 13 on a base page: "R/O GUP pin on R/O-mapped exclusive
# page". mprotect(R), clear_refs, mprotect(RW) leave the exclusive page mapped
# read-only; PG_anon_exclusive is set, so the pin needs no unshare; the write
# fault reuses the page and the pin sees it.
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
let page = P pfn mem
P mprotect mem ro
P clear_refs
P mprotect mem rw
expect P pte mem == present=1 writable=0 anon_exclusive=1 pfn=$page
P gup p mem 4K pin longterm
expect P pfn mem == $page
P write mem 4K 0xff
expect P pfn mem == $page
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
