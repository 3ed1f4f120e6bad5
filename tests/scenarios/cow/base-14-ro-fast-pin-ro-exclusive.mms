# cow.c anon case 14 on a base page: "R/O GUP-fast pin on R/O-mapped
# exclusive page": PG_anon_exclusive is set, so GUP-fast pins it directly (no
# fallback); the write fault reuses the page and the pin sees it.
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
let page = P pfn mem
P mprotect mem ro
P clear_refs
P mprotect mem rw
expect P pte mem == present=1 writable=0 anon_exclusive=1 pfn=$page
P gup p mem 4K pin longterm fast
expect P pfn mem == $page
expect kpagecount $page == 1
P write mem 4K 0xff
expect P pfn mem == $page
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
