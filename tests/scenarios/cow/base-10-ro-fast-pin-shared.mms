# cow.c anon case 10 on a base page: "R/O GUP-fast pin on R/O-mapped shared
# page". GUP-fast sees a read-only PTE of a page that is not exclusive and
# backs off (gup_must_unshare); the slow path unshares, and the pin then sees
# the parent's write.
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
P fork C
let shared = P pfn mem
P gup p mem 4K pin longterm fast
expect P pfn mem != $shared
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
