# cow.c anon case 9 on a swapped-out base page: a R/O pin of the page shared
# through the swap slot unshares first; the pin sees the parent's write.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
P fork C
P gup p mem 4K pin longterm
P write mem 4K 0xff
expect p read 0 4K == 0xff
expect C read mem 4K == 0x01
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
