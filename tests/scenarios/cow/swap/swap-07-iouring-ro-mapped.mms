# cow.c anon case 7 on a swapped-out base page: "R/O-mapping a page registered as iouring
# fixed buffer". io_uring registers the buffer with FOLL_WRITE|FOLL_PIN|
# FOLL_LONGTERM. mprotect(R), clear_refs (soft-dirty) and mprotect(RW) leave
# the page mapped read-only — soft-dirty tracking stops mprotect's writable
# upgrade — but exclusive, so the write fault reuses it and the device (a
# read through the pin) sees the process's write.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P gup buf mem 4K write longterm
P mprotect mem ro
P clear_refs
P mprotect mem rw
P write mem 4K 0xff
expect buf read 0 4K == 0xff
release buf
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
