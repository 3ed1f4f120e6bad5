# KSM (mm/ksm.c): identical pages of MADV_MERGEABLE ranges merge into one
# write-protected KSM page, never PG_anon_exclusive; a write copies it again
# (do_wp_page never reuses a KSM page); MADV_UNMERGEABLE breaks the sharing.
# cmp_and_merge_page() only considers a page whose checksum is unchanged
# since the previous scan, so fresh pages merge in the second scan.
machine ram=1G
spawn A
spawn B
A mmap a 8K
B mmap b 4K
A write a 8K 0x5a
B write b 4K 0x5a
A madvise a mergeable
B madvise b mergeable
expect ksm run == pages_shared=0 pages_sharing=0
expect ksm run == pages_shared=1 pages_sharing=2
let k = A pfn a
expect A pfn a+4K == $k
expect B pfn b == $k
expect A pte a == present=1 writable=0 anon_exclusive=0 pfn=$k
expect kpageflags $k has ksm,anon,mmap
expect kpagecount $k == 3
B write b 1 0x01
expect B pfn b != $k
expect B read b 2 == "\x01\x5a"
expect A read a 8K == 0x5a
expect kpagecount $k == 2
A madvise a unmergeable
expect A pfn a != $k
expect ksm run == pages_shared=0 pages_sharing=0
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
B exit
check
