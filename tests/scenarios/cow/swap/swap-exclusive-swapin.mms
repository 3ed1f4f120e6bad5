# do_swap_page() restores exclusivity from the swap PTE: an exclusive page
# swapped out and faulted back in by its only user is PG_anon_exclusive and,
# on a write fault, writable at once (no copy).
machine ram=1G swap=64M
spawn P
P mmap mem 8K
P write mem 8K 0x42
P madvise mem pageout
expect P read mem 4K == 0x42
let page = P pfn mem
expect P pte mem == present=1 writable=0 anon_exclusive=1 pfn=$page
P write mem+4K 4K 0x43
let page2 = P pfn mem+4K
expect P pte mem+4K == present=1 writable=1 anon_exclusive=1 pfn=$page2
# A pinned page is not swapped out (try_to_unmap backs off).
P gup p mem 4K pin
P madvise mem pageout 0 4K
expect P pagemap mem == present=1 swapped=0 exclusive=1 pfn=$page
release p
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
