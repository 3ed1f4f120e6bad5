# Reference §10 case 2: add_memory() overlapping a System RAM resource fails
# with EEXIST (register_memory_resource).
machine ram=2G
expect hotplug add 0x40000000 128M fails EEXIST
hotplug add 0x100000000 256M
expect hotplug add 0x108000000 128M fails EEXIST
expect hotplug add 0x100000000 256M fails EEXIST
expect sysfs read devices/system/memory/memory33/state == offline
check
