# cow.c anon case 11 with partially shared THP (2048 kB): "R/O GUP pin on
# R/O-mapped previously-shared page". Set-up: a PTE-mapped THP whose first
# page was shared with a child that is gone (PG_anon_exclusive clear) while
# the others stayed exclusive. The child is gone; the unshare fault makes the
# memory exclusive (reusing or copying it) and the pin sees the write.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
expect kpageflags $head has thp,compound_head
P madvise mem dontfork 4K 2044K
P fork X
X exit
P madvise mem dofork
expect P pte mem == present=1 writable=0 anon_exclusive=0 pfn=$head
let second = P pfn mem+4K
expect P pte mem+4K == present=1 writable=1 anon_exclusive=1 pfn=$second
P fork C
C exit
P gup p mem 2M pin longterm
P write mem 2M 0xff
expect p read 0 2M == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
