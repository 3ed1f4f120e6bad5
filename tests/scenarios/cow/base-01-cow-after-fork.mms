# cow.c anon case 1 on a base page: "Basic COW after fork()". Fork clears
# PG_anon_exclusive and write-protects both PTEs; the parent's write copies
# (two references), so it never leaks into the child.
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
let old = P pfn mem
expect P pte mem == present=1 writable=1 anon_exclusive=1 pfn=$old
P fork C
expect P pte mem == present=1 writable=0 anon_exclusive=0 pfn=$old
expect C pfn mem == $old
expect kpagecount $old == 2
P write mem 4K 0xff
expect P pfn mem != $old
let new = P pfn mem
expect P pte mem == present=1 writable=1 anon_exclusive=1 pfn=$new
expect C read mem 4K == 0x01
expect P read mem 4K == 0xff
# The child's page is its own now: the last mapper reuses it.
C write mem 4K 0x02
expect C pfn mem == $old
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
