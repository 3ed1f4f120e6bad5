# cow.c anon case 6 on a swapped-out base page: "vmsplice() + unmap in parent after
# fork()".
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P fork C
P gup v mem 4K get
P munmap mem
C write mem 4K 0xff
expect v read 0 4K == 0x01
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
