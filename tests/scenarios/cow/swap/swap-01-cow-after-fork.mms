# cow.c anon case 1 on a swapped-out base page. MADV_PAGEOUT unmaps the
# exclusive page into a swap PTE with the exclusive bit; fork clears the bit
# in the parent and shares the slot; the parent's write swaps the page in
# through the swap cache, read-only and not exclusive, and do_wp_page copies.
machine ram=1G swap=64M
spawn P
P mmap mem 4K
P write mem 4K 0x01
P madvise mem pageout
expect P pagemap mem == present=0 swapped=1 exclusive=0 pfn=0x20
P fork C
P write mem 4K 0xff
expect C read mem 4K == 0x01
expect P read mem 4K == 0xff
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
