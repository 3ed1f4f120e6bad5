# Reference §10 case 40: early (boot) sections are valid over the whole
# section even when their subsection map is partial (pfn_valid: early_section).
machine ram=2G
expect section 8 == present=1 has_mem_map=1 online=1 early=1 taint_zone_device=0 subsections=0xffffffffffffffff active=0xffffffffffffffff
sysfs write devices/system/memory/memory8/state offline
sparse remove 0x40000000 2M
expect section 8 subsections == 0xfffffffffffffffe
expect section 8 early == 1
expect pfn_valid 0x40000 == 1
expect pfn_valid 0x401ff == 1
check
