# Offlining a ZONE_MOVABLE block migrates page-cache pages (issue 9 item 7):
# shmem allocates them movable and puts them on the LRU, the file's reverse
# map (the VMAs mapping the file at the page's index) finds every mapping —
# shared and private, in every process — and the page-cache slot goes to the
# new page only if the old one holds nothing but its mappings', the cache's
# and the migration core's references (folio_migrate_mapping()). A pinned
# page keeps the block online until the writer is signalled (EINTR).
machine ram=2G movable=128M
spawn A
file F 64K
A mmap s 64K file=F shared
A mmap p 64K file=F private
A write s 64K 0x5a
A write s+4K "file page one"
A touch p
A write p+8K "private copy"
A mmap shm 16K anon shared
A write shm "shared anonymous"
let c = A pfn s
expect page show $c zone == Movable
expect kpageflags $c == uptodate,lru,mmap,swapbacked
expect A pfn p == $c
let a = A pfn shm
expect page show $a zone == Movable
A fork B
# fork copies the private mapping's PTEs but none of a shared mapping's
# (vma_needs_copy(): no anon_vma; a fault fills them): B maps the shared
# pages once it touches them.
expect kpagecount $c == 3
B touch s
B touch shm
expect kpagecount $c == 4
# A pin on the shared mapping's page: it cannot move.
B gup g s 4K pin
expect sysfs write devices/system/memory/memory15/state offline signal_after=100ms fails EINTR
expect A pfn s == $c
release g
sysfs write devices/system/memory/memory15/state offline
expect sysfs read devices/system/memory/memory15/state == offline
# Every mapping of the page — both processes, both mappings — now maps its
# copy, which the cache holds too.
expect A pfn s != $c
let c2 = A pfn s
expect A pfn p == $c2
expect B pfn s == $c2
expect B pfn p == $c2
expect kpagecount $c2 == 4
expect page show $c2 zone != Movable
expect kpageflags $c2 == uptodate,lru,mmap,swapbacked
expect B read p+4K 13 == "file page one"
expect A read p+8K 12 == "private copy"
expect B read p+8K 12 == "private copy"
expect B read p+12K 4K == 0x5a
let a2 = B pfn shm
expect A pfn shm == $a2
expect A pfn shm != $a
expect B read shm 16 == "shared anonymous"
# The file and the shared memory are still shared.
B write s "after"
expect A read p 5 == "after"
A write shm "written by A"
expect B read shm 12 == "written by A"
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
B exit
check
