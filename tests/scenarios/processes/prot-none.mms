# PROT_NONE: mprotect() makes every PTE pte_modify(pte, PAGE_NONE) — still
# present for the kernel, so the pages stay mapped with their bytes — and
# every access faults: the process's loads and stores (x86 access_error():
# SIGSEGV, EFAULT here), GUP (check_vma_flags() without FOLL_FORCE: -EFAULT)
# and GUP-fast, which falls back on pte_protnone() to the slow path that
# then fails. mprotect() back gives access again with the bytes intact.
machine ram=1G swap=64M
spawn A
A mmap buf 8K
A write buf 8K 0xaa
let f = A pfn buf
A mprotect buf none
expect A read buf 1 fails EFAULT
expect A write buf 1 0xbb fails EFAULT
expect A gup p buf 4K fails EFAULT
expect A gup p buf 4K fast fails EFAULT
expect A gup p buf 4K get fails EFAULT
expect A gup p buf 4K write fast fails EFAULT
expect A pagemap buf == present=1 swapped=0 exclusive=1 pfn=$f
expect A pte buf == present=1 writable=0 anon_exclusive=1 pfn=$f
A mprotect buf rw
expect A pfn buf == $f
expect A read buf 8K == 0xaa
# can_change_pte_writable(): the exclusive page is writable at once.
expect A pte buf == present=1 writable=1 anon_exclusive=1 pfn=$f
# Never touched: a read does not map the zero page.
A mmap n 4K none
expect A read n 1 fails EFAULT
expect A gup q n 4K fast fails EFAULT
expect A pagemap n == present=0 swapped=0 exclusive=0 pfn=0x0
# A PMD-mapped THP stays PMD-mapped (change_huge_pmd()).
A mmap t 2M thp
A write t 2M 0xcc
A mprotect t none
expect A smaps t == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
expect A read t+1M 1 fails EFAULT
expect A gup p t 4K fast fails EFAULT
A mprotect t ro
expect A read t 2M == 0xcc
expect A write t 1 0xdd fails EFAULT
# fork copies PROT_NONE entries as they are.
A mprotect buf none
A fork B
expect B read buf 1 fails EFAULT
B mprotect buf ro
expect B read buf 8K == 0xaa
A mprotect buf rw
A write buf 8K 0xee
expect B read buf 8K == 0xaa
# Reclaim takes PROT_NONE pages too; they come back once access returns.
A mmap s 4K
A write s 4K 0x11
A mprotect s none
A madvise s pageout
expect A smaps s == rss_kb=0 anon_huge_kb=0 swap_kb=4 hugetlb_kb=0
expect A read s 1 fails EFAULT
A mprotect s rw
expect A read s 4K == 0x11
B exit
A exit
check
