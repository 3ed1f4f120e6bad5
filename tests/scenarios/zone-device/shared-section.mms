# A device range sharing a boot section with RAM: move_pfn_range_to_zone()
# taints the section, and pfn_to_online_page() takes the get_dev_pagemap()
# slow path (mm/memory_hotplug.c; reference kernel-hotplug.md §2.10, §4.1).
machine ram=1088M
# RAM ends at 0x44000000, 64M into section 8; the device takes the rest.
expect memremap add pm addr=0x44000000 size=64M type=fsdax == 0x44000
expect section 8 taint_zone_device == 1
expect section 8 online == 1
expect pfn_valid 0x44000 == 1
expect pfn_to_online_page 0x43fff == 1
expect pfn_to_online_page 0x44000 == 0
expect kpageflags 0x44000 == ""
expect kpagecount 0x44000 == 0
expect memremap show pm state == live
expect memremap show pm refs == 16385
# An fsdax page is handed out and holds the pgmap: remove cannot finish.
expect memremap alloc pm == 0x44000
expect memremap remove pm fails EDEADLK
expect memremap show pm state == live
memremap free pm 0x44000
memremap remove pm
expect memremap show pm fails ENOENT
# An early section keeps its boot memmap: pfn_valid() stays true there,
# while the subsection map says the device part is gone.
expect pfn_valid 0x44000 == 1
expect pfn_to_online_page 0x44000 == 0
expect section 8 subsections == 0xffffffff
expect pfn_to_online_page 0x43fff == 1
check
