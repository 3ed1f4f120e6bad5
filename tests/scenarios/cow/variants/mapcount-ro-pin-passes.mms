# cow_reuse=mapcount: a R/O pin taken in the parent after fork is not
# unshared (no gup_must_unshare before 5.19), but once the child is gone the
# parent reuses the page (mapcount 1), so cow.c case 11 still sees the write.
machine ram=1G
variant cow_reuse=mapcount
spawn P
P mmap mem 4K
P write mem 4K 0x01
P fork C
C exit
P gup p mem 4K pin longterm
P write mem 4K 0xff
expect p read 0 4K == 0xff
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
