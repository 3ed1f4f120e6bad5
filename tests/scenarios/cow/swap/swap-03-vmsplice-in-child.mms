# cow.c anon case 3 on a swapped-out base page: the child swaps the shared
# slot in (into the swap cache), takes a FOLL_GET reference, unmaps; the
# parent's write must copy.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
P fork C
C gup v mem 4K get
C munmap mem
P write mem 4K 0xff
expect v read 0 4K == 0x01
expect P read mem 4K == 0xff
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
