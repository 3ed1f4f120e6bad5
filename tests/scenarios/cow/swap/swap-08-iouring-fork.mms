# cow.c anon case 8 on a swapped-out base page: "fork() with an iouring fixed buffer".
# The mm has MMF_HAS_PINNED and the page may be pinned and is exclusive, so
# fork copies it for the child (copy_present_page); the parent keeps its
# pinned page writable and the pin stays coherent.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P gup buf mem 4K write longterm
let pinned = P pfn mem
P fork C
expect P pte mem == present=1 writable=1 anon_exclusive=1 pfn=$pinned
expect C pfn mem != $pinned
P write mem 4K 0xff
expect buf read 0 4K == 0xff
expect C read mem 4K == 0x01
release buf
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
