# cow_reuse=mapcount (Linux up to 5.7): do_wp_page reuses a page mapped once,
# whatever else references it. cow.c case 3 "vmsplice() + unmap in child"
# then leaks the parent's write into the child's pipe (CVE-2020-29374): the
# oracle's rule "a FOLL_GET reference never shows bytes written by another
# process after a fork" breaks.
machine ram=1G
variant cow_reuse=mapcount
spawn P
P mmap mem 4K
P write mem 4K 0x01
P fork C
C gup v mem 4K get
C munmap mem
P write mem 4K 0xff
expect v read 0 4K violates oracle
release v
# Case 5: the child's write leaks into the parent's pipe the same way.
P mmap mem2 4K
P write mem2 4K 0x01
P gup w mem2 4K get
P fork D
P munmap mem2
D write mem2 4K 0xff
expect w read 0 4K violates oracle
release w
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
D exit
check
