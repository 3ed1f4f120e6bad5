# cow.c anon case 10 on a swapped-out base page: "R/O GUP-fast pin on R/O-mapped shared
# page". GUP-fast sees a read-only PTE of a page that is not exclusive and
# backs off (gup_must_unshare); the slow path unshares, and the pin then sees
# the parent's write.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P fork C
P gup p mem 4K pin longterm fast
# The pinned page is P's own copy, mapped read-only (FAULT_FLAG_UNSHARE);
# C still maps the swap slot.
let pinned = P pfn mem
expect P pte mem == present=1 writable=0 anon_exclusive=1 pfn=$pinned
expect C pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P write mem 4K 0xff
expect p read 0 4K == 0xff
expect C read mem 4K == 0x01
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
