# Device-private memory, HMM style (lib/test_hmm.c's dmirror driver;
# tools/testing/selftests/mm/hmm-tests.c): anonymous pages migrate to
# device-private pages (the PTEs become device-private swap entries) and any
# CPU access faults them back (do_swap_page() -> migrate_to_ram).
machine ram=1G
# Device-private memory is placed above max_phys (request_free_mem_region).
expect memremap add dev0 addr=0 size=4M type=private == 0x10000000
expect memremap show dev0 free == 1024
spawn A
A mmap buf 64K
A write buf 64K 0x33
A write buf+4K "hello"
# hmm-tests "migrate": every written page moves.
expect A migrate_to_device buf 64K dev0 == 16
expect memremap show dev0 free == 1008
# pagemap: swapped, the frame is SWP_DEVICE_WRITE (27) | pfn << 5.
expect A pagemap buf == present=0 swapped=1 exclusive=0 pfn=0x20000001b
# "migrate fault" on read: the page comes back with its bytes.
expect A read buf+4K 5 == "hello"
expect A pagemap buf+4K != present=0 swapped=1 exclusive=0 pfn=0x20000003b
expect memremap show dev0 free == 1009
# on write, too.
A write buf+8K 4K 0x44
expect A read buf+8K 4K == 0x44
# "migrate multiple" / again: pages already on the device are not moved again.
expect A migrate_to_device buf 64K dev0 == 2
# fork of device-private entries (copy_nonpresent_pte()): both share the
# device page, read-only; the child reads it back, the parent writes its own.
A fork B
expect A pagemap buf == present=0 swapped=1 exclusive=0 pfn=0x20000001c
expect B pagemap buf == present=0 swapped=1 exclusive=0 pfn=0x20000001c
expect B read buf 4K == 0x33
A write buf+12K 4K 0x55
expect B read buf+12K 4K == 0x33
expect A read buf+12K 4K == 0x55
# munmap of migrated memory gives the device pages back to the driver.
B exit
A munmap buf
expect memremap show dev0 free == 1024
expect memremap show dev0 refs == 1
memremap remove dev0
A exit
check
