# Shared file mappings: two processes mapping one memfd shared see each
# other's writes (the page cache page itself is mapped); a private mapping
# sees the file until it writes a page. Fork keeps sharing.
machine ram=1G
spawn A
spawn B
file f 8K
A mmap s 8K file=f shared
B mmap s 8K file=f shared
B mmap p 8K file=f private
A write s 4K 0x11
expect B read s 4K == 0x11
expect B read p 4K == 0x11
B write p+4K 4K 0x22
A write s+4K 4K 0x33
expect B read p+4K 4K == 0x22
expect B read s+4K 4K == 0x33
A fork C
C write s 4K 0x44
expect A read s 4K == 0x44
expect B read p 4K == 0x44
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
B exit
C exit
check
