# cow.c anon case 2 on a base page: "Basic COW after fork() with mprotect()
# optimization". mprotect(RW) may only make a PTE writable without a fault
# when the page is PG_anon_exclusive (can_change_pte_writable); a shared page
# stays read-only, so the parent's write still copies.
machine ram=1G
spawn P
P mmap mem 4K
P write mem 4K 0x01
let page = P pfn mem
P fork C
P mprotect mem ro
P mprotect mem rw
expect P pte mem == present=1 writable=0 anon_exclusive=0 pfn=$page
P write mem 4K 0xff
expect C read mem 4K == 0x01
expect P read mem 4K == 0xff
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
