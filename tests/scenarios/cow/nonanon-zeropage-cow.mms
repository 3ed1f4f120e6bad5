# cow.c non-anonymous cases on the shared zero page: "Basic COW" (a write to
# the private mapping copies away from the zero page, which never changes)
# and "R/O longterm GUP pin" (gup_must_unshare: a longterm R/O pin of the zero
# page in a COW mapping unshares first, so the pin sees later writes).
machine ram=1G
spawn P
P mmap mem 4K
P mmap smem 4K ro
P touch mem
P touch smem
let zero = P pfn smem
expect P pfn mem == $zero
expect kpageflags $zero has zero_page
P write mem 4K 0xff
expect P read smem 4K == 0x00
expect kcore page $zero 0 4K == 0x00
P mmap mem2 4K
P touch mem2
P gup p mem2 4K pin longterm
expect P pfn mem2 != $zero
P write mem2 4K 0xff
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
