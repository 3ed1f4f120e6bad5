# Offline meets processes (issue 3, deliverable 6): offlining a ZONE_MOVABLE
# block full of user pages migrates every page with its bytes (try_to_migrate
# with migration entries, remove_migration_ptes), and every read afterwards
# agrees with the oracle.
machine ram=2G movable=128M
spawn A
A mmap buf 100M
A write buf 100M 0x5a
A write buf+4K "hello from A"
A write buf+99M "and the end"
let first = A pfn buf
expect kpageflags $first has anon,lru,mmap,swapbacked
expect zoneinfo 0 Movable free != 32768
A fork B
B write buf+8K "B's own"
sysfs write devices/system/memory/memory15/state offline
expect sysfs read devices/system/memory/memory15/state == offline
expect A pfn buf != $first
expect A read buf 4K == 0x5a
expect A read buf+4K 12 == "hello from A"
expect B read buf+4K 12 == "hello from A"
expect B read buf+8K 7 == "B's own"
expect A read buf+8K 7 == 0x5a
expect A read buf+99M 11 == "and the end"
# Shared pages are still shared (one page, two mappings) after migration.
let moved = A pfn buf
expect B pfn buf == $moved
expect kpagecount $moved == 2
A write buf 4K 0x11
expect B read buf 4K == 0x5a
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
B exit
check
