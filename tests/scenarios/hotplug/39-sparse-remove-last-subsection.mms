# Reference §10 case 39: removing the last subsection of a section clears
# PRESENT, HAS_MEM_MAP, ONLINE and EARLY (section_deactivate).
machine ram=2G
sparse add 0x100200000 4M
sparse remove 0x100200000 2M
expect section 32 == present=1 has_mem_map=1 online=0 early=0 taint_zone_device=0 subsections=0x4 active=0x0
expect pfn_valid 0x100200 == 0
expect pfn_valid 0x100400 == 1
sparse remove 0x100400000 2M
expect section 32 == present=0 has_mem_map=0 online=0 early=0 taint_zone_device=0 subsections=0x0 active=0x0
expect pfn_valid 0x100400 == 0
expect sparse remove 0x100400000 2M fails EINVAL
check
