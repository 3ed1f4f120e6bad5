# do_madvise(), do_mprotect_pkey(), do_vmi_munmap(): the start must be
# page-aligned (EINVAL) and len is rounded up to whole pages, all checked
# before anything is touched. An unaligned MADV_DONTNEED used to zap a page,
# and MADV_DONTFORK used to split the VMA at a non-page address, after which
# fork mapped an exclusive page twice and exit leaked it.
machine ram=1G
spawn A
A mmap buf 16K
A write buf 16K 0xaa
expect A madvise buf dontneed 4097 1 fails EINVAL
expect A read buf+4096 4K == 0xaa
expect A madvise buf dontfork 4097 1 fails EINVAL
expect A madvise buf mergeable 4097 4K fails EINVAL
expect A mprotect buf ro 4097 1 fails EINVAL
expect A munmap buf 4097 1 fails EINVAL
A fork B
expect B read buf+4096 4K == 0xaa
# One byte at a page boundary covers that page: PAGE_ALIGN(len).
A madvise buf dontneed 4096 1
expect A read buf+4096 4K == 0x00
expect A read buf+8192 4K == 0xaa
A mprotect buf ro 4096 1
expect A write buf+4096 1 0xbb fails EFAULT
A write buf+8192 1 0xbb
B exit
A exit
check
