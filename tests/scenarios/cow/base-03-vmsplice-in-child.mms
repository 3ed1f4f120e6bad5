# cow.c anon case 3 on a base page: "vmsplice() + unmap in child"
# (CVE-2020-29374). The child's pipe holds a FOLL_GET reference; after the
# child unmaps, the parent's page has one mapping but two references, so its
# write copies and the pipe keeps the old bytes.
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
P fork C
expect C gup v mem 4K get == 1
C munmap mem
P write mem 4K 0xff
expect v read 0 4K == 0x01
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
