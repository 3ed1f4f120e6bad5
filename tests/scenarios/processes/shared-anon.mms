# Shared anonymous memory (mmap(MAP_SHARED|MAP_ANONYMOUS)) is shmem: the
# mapping gets an unnamed shmem file of its size (shmem_zero_setup()), its
# pages are page-cache pages (swapbacked, not anonymous), and a child that
# inherits the mapping shares them: each side sees the other's writes. When
# the last mapping goes the file is truncated and every page is freed.
machine ram=1G
spawn A
A mmap shm 16K anon shared
A write shm 8K 0x11
let p = A pfn shm
expect kpageflags $p has mmap,swapbacked
expect kpageflags $p == uptodate,lru,mmap,swapbacked
A fork B
# fork copies no PTE of a shared mapping (vma_needs_copy(): no anon_vma,
# a fault fills them from the page cache), so B maps the page only once
# it touches it.
expect B pfn shm fails EFAULT
expect kpagecount $p == 1
B touch shm 0 4K
expect B pfn shm == $p
expect kpagecount $p == 2
B write shm+4K "from B"
expect A read shm+4K 6 == "from B"
A write shm "from A"
expect B read shm 6 == "from A"
# A write never copies: both still map the one page.
expect A pte shm == present=1 writable=1 anon_exclusive=0 pfn=$p
expect B pfn shm == $p
# Untouched parts read as zeros, and a read maps the (shared) cache page.
expect B read shm+12K 4K == 0x00
let q = B pfn shm+12K
expect A pfn shm+12K fails EFAULT
expect A read shm+12K 4K == 0x00
expect A pfn shm+12K == $q
A munmap shm
B gup g shm 4K get
expect B read shm+4K 6 == "from B"
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
release g
B exit
A exit
check
