# fsdax: a file on pmem (memremap type=fsdax) mapped shared and private.
# 7.2's rules: ordinary refcounted folios, the PTE is not pte_special, GUP is
# allowed, FOLL_LONGTERM is refused (check_vma_flags(): -EOPNOTSUPP for
# vma_is_fsdax()), a private mapping copies on write.
machine ram=1G
memremap add pmem0 addr=0x100000000 size=16M type=fsdax
file F 1M dax=pmem0
spawn A
A mmap s 1M file=F shared
A mmap p 1M file=F private
A write s 8K 0x5a
expect A pfn s == 0x100000
expect A pfn s+4K == 0x100001
expect A read p 8K == 0x5a
expect memremap show pmem0 free == 4094
# A private write copies into an anonymous page; the pmem page is untouched.
A write p 4K 0x11
expect A read p 4K == 0x11
expect A read s 4K == 0x5a
expect A pagemap p != present=1 swapped=0 exclusive=1 pfn=0x100000
expect A gup g s 8K == 2
expect A gup l s 8K longterm fails EOPNOTSUPP
expect A gup lf s 8K longterm fast fails EOPNOTSUPP
expect A gup f s 8K fast == 2
expect memremap remove pmem0 fails EDEADLK
release g
release f
A munmap s
A munmap p
A exit
expect memremap show pmem0 free == 4096
memremap remove pmem0
expect memremap show pmem0 fails ENOENT
expect pfn_valid 0x100000 == 0
check
