# Reference §10 case 12: an invalid string written to state fails with EINVAL
# before anything is locked, and the state is unchanged.
machine ram=2G
hotplug add 0x100000000 128M
expect sysfs write devices/system/memory/memory32/state foo fails EINVAL
expect sysfs write devices/system/memory/memory32/state Online fails EINVAL
expect sysfs write devices/system/memory/memory32/online 2 fails EINVAL
expect sysfs read devices/system/memory/memory32/state == offline
# sysfs_streq() tolerates one trailing newline.
sysfs write devices/system/memory/memory32/state "online\n"
expect sysfs read devices/system/memory/memory32/state == online
check
