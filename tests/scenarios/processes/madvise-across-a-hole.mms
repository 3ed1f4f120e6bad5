# madvise() over a range with a hole (madvise_walk_vmas()): the advice goes to
# every mapped part, then the call fails with ENOMEM. MADV_DONTNEED has
# discarded both mapped pages; MADV_DONTFORK has kept both out of the child.
machine ram=1G
spawn A
A mmap buf 12K
A write buf 12K 0x11
A munmap buf 4K 4K
expect A madvise buf dontneed 0 12K fails ENOMEM
expect A read buf 4K == 0x00
expect A read buf+8K 4K == 0x00
A write buf 4K 0x22
A write buf+8K 4K 0x33
expect A madvise buf dontfork 0 12K fails ENOMEM
A fork B
expect B read buf 1 fails EFAULT
expect B read buf+8K 1 fails EFAULT
expect A read buf+8K 4K == 0x33
A exit
B exit
check
