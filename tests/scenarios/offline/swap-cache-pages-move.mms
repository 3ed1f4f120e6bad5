# Offlining a ZONE_MOVABLE block migrates swap-cache pages (issue 9 item 7):
# a page read back in while another process's swap entry still refers to
# its slot stays in the swap cache, mapped or not; migration hands the
# cache slot to the new page under the cache's lock, after checking that
# the old page holds only its mappings', the cache's and its own references
# (folio_migrate_mapping()), so a later swap-in finds the new page.
machine ram=2G movable=128M swap=64M
spawn A
A mmap buf 8K
A write buf 8K 0x5a
A write buf+4K "second page"
A madvise buf pageout
A fork B
# A reads the first page back: it stays cached for B's swap entry.
expect A read buf 4K == 0x5a
let mapped = A pfn buf
expect page show $mapped zone == Movable
expect kpageflags $mapped has swapcache
# B reads the second page back and drops it: only the cache holds it now.
expect B read buf+4K 11 == "second page"
let lone = B pfn buf+4K
expect kpageflags $lone has swapcache
B madvise buf dontneed 4K 4K
sysfs write devices/system/memory/memory15/state offline
expect A pfn buf != $mapped
let moved = A pfn buf
expect kpageflags $moved has swapcache
expect page show $moved zone != Movable
# B's swap-in of the first page finds the migrated page in the cache.
expect B read buf 4K == 0x5a
expect B pfn buf == $moved
# A's swap-in of the second page finds the page the cache alone held.
expect A read buf+4K 11 == "second page"
expect pfn_to_online_page $lone == 0
expect A pfn buf+4K != $lone
expect B read buf+4K 4K == 0x00
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
B exit
check
