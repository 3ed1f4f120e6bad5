# cow.c anon case 2 on a swapped-out base page: "Basic COW after fork() with mprotect()
# optimization". mprotect(RW) may only make a PTE writable without a fault
# when the page is PG_anon_exclusive (can_change_pte_writable); a shared page
# stays read-only, so the parent's write still copies.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P fork C
P mprotect mem ro
P mprotect mem rw
P write mem 4K 0xff
expect C read mem 4K == 0x01
expect P read mem 4K == 0xff
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
