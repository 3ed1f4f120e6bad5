# cow.c anon case 7 on a base page: "R/O-mapping a page registered as iouring
# fixed buffer". io_uring registers the buffer with FOLL_WRITE|FOLL_PIN|
# FOLL_LONGTERM. mprotect(R), clear_refs (soft-dirty) and mprotect(RW) leave
# the page mapped read-only — soft-dirty tracking stops mprotect's writable
# upgrade — but exclusive, so the write fault reuses it and the device (a
# read through the pin) sees the process's write.
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
P gup buf mem 4K write longterm
let page = P pfn mem
P mprotect mem ro
P clear_refs
P mprotect mem rw
expect P pte mem == present=1 writable=0 anon_exclusive=1 pfn=$page
P write mem 4K 0xff
expect P pfn mem == $page
expect buf read 0 4K == 0xff
release buf
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
