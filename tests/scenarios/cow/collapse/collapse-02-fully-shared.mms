# cow.c THP collapse case "Basic COW after fork() when collapsing after
# fork() (fully shared)": after fork every PTE of the parent's PTE-mapped THP
# is read-only, and collapse_huge_page() in 6.12 refuses a range without a
# writable PTE (SCAN_PAGE_RO, -EINVAL; cow.c reports SKIP there). Either
# way the COW property is what matters: the parent's write never reaches the
# child.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
P mprotect mem ro 4K 4K
P mprotect mem rw 4K 4K
P fork C
expect P madvise mem collapse fails EINVAL
P write mem 2M 0xff
expect C read mem 2M == 0x01
expect P read mem 2M == 0xff
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
