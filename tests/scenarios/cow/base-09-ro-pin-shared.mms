# cow.c anon case 9 on a base page: "R/O GUP pin on R/O-mapped shared page".
# gup_must_unshare(): the page is not exclusive, so GUP triggers an unshare
# fault, which copies (the child still maps the page) and maps the copy
# read-only and exclusive; the parent's later write reuses it, and the pin
# sees the write.
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
P fork C
let shared = P pfn mem
P gup p mem 4K pin longterm
expect P pfn mem != $shared
let copy = P pfn mem
expect P pte mem == present=1 writable=0 anon_exclusive=1 pfn=$copy
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
