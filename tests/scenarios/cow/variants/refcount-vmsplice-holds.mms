# cow_reuse=refcount (5.8 to 5.18): reuse only with refcount 1. The vmsplice
# cases copy (the pipe holds a reference), so nothing leaks.
machine ram=1G
variant cow_reuse=refcount
spawn P
P mmap mem 4K
P write mem 4K 0x01
P fork C
C gup v mem 4K get
C munmap mem
P write mem 4K 0xff
expect v read 0 4K == 0x01
release v
P mmap mem2 4K
P write mem2 4K 0x01
P gup w mem2 4K get
P fork D
P munmap mem2
D write mem2 4K 0xff
expect w read 0 4K == 0x01
release w
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
D exit
check
