# Reference §10 case 38: adding a 2 MiB-aligned 2 MiB range inside an empty
# section sets one subsection bit; pfn_valid is true only for those 512 PFNs;
# adding it again fails with EEXIST; a misaligned (1 MiB) add with EINVAL.
machine ram=2G
sparse add 0x100200000 2M
expect section 32 == present=1 has_mem_map=1 online=0 early=0 taint_zone_device=0 subsections=0x2 active=0x0
expect pfn_valid 0x100200 == 1
expect pfn_valid 0x1003ff == 1
expect pfn_valid 0x100400 == 0
expect pfn_valid 0x1001ff == 0
expect sparse add 0x100200000 2M fails EEXIST
expect sparse add 0x100500000 1M fails EINVAL
expect sparse add 0x100100000 2M fails EINVAL
check
