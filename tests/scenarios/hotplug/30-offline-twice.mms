# Reference §10 case 30: `echo offline > state` on an offline block fails with
# EINVAL; `echo 0 > online` succeeds.
machine ram=2G
hotplug add 0x100000000 128M
expect sysfs write devices/system/memory/memory32/state offline fails EINVAL
sysfs write devices/system/memory/memory32/online 0
sysfs write devices/system/memory/memory32/online 1
expect sysfs read devices/system/memory/memory32/state == online
sysfs write devices/system/memory/memory32/online off
expect sysfs read devices/system/memory/memory32/state == offline
check
