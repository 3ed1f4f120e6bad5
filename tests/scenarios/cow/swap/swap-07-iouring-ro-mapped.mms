# cow.c anon case 7 on a swapped-out base page: "R/O-mapping a page registered as iouring
# fixed buffer". io_uring registers the buffer with FOLL_WRITE|FOLL_PIN|
# FOLL_LONGTERM; the page is then mapped read-only but stays exclusive, so
# the write fault reuses it and the device (a read through the pin) sees the
# process's write.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P gup buf mem 4K write longterm
let page = P pfn mem
P mprotect mem ro
expect P pte mem == present=1 writable=0 anon_exclusive=1 pfn=$page
P mprotect mem rw
P write mem 4K 0xff
expect buf read 0 4K == 0xff
release buf
check
