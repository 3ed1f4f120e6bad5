# Reference §10 case 3: add_memory() beyond mhp_get_pluggable_range() fails
# with E2BIG (mhp_range_allowed).
machine ram=2G max_phys=8G
expect hotplug add 0x200000000 128M fails E2BIG
expect hotplug add 0x1f8000000 256M fails E2BIG
hotplug add 0x1f8000000 128M
expect sysfs read devices/system/memory/memory63/state == offline
check
