# cow.c anon case 4 on a base page: "vmsplice() + unmap in child with
# mprotect() optimization".
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
P fork C
C gup v mem 4K get
C munmap mem
P mprotect mem ro
P mprotect mem rw
P write mem 4K 0xff
expect v read 0 4K == 0x01
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
