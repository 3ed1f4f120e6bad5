# cow.c anon case 5 with partially shared THP (2048 kB): "vmsplice() before
# fork(), unmap in parent after fork()". Set-up: a PTE-mapped THP whose first
# page was shared with a child that is gone (PG_anon_exclusive clear) while
# the others stayed exclusive. The child's write must not show through the
# parent's pipe.
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
P gup v mem 2M get
P fork C
P munmap mem 0 2M
C write mem 2M 0xff
expect v read 0 2M == 0x01
expect C read mem 2M == 0xff
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
