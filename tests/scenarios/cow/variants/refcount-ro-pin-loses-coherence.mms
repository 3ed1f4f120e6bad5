# cow_reuse=refcount (5.8 to 5.18): a R/O pin is never unshared, and the pin
# bias makes the refcount check copy on the next write: the pin keeps the old
# page while the process writes to a new one. cow.c cases 9 and 11 (R/O pin on
# a shared / previously shared page) and 7 (io_uring fixed buffer mapped R/O)
# lose coherence — the oracle's rule "a FOLL_PIN stays coherent with its
# owner's mapping" breaks.
machine ram=1G
variant cow_reuse=refcount
spawn P
P mmap mem 4K
P write mem 4K 0x01
P fork C
P gup p mem 4K pin longterm
P write mem 4K 0xff
expect p read 0 4K violates oracle
release p
C exit
P mmap mem2 4K
P write mem2 4K 0x01
P gup buf mem2 4K write longterm
P mprotect mem2 ro
P mprotect mem2 rw
P write mem2 4K 0xff
expect buf read 0 4K violates oracle
release buf
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
