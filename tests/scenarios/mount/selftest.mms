# The machine `mmsim mount` serves to the kernel's
# tools/testing/selftests/memory-hotplug/mem-on-off-test.sh (reference §8.1)
# in crates/mmsim-cli/tests/mount.rs: boot RAM with a ZONE_MOVABLE tail, and
# two hot-added blocks left offline, so the selftest's first step has
# offline blocks to online and its offline steps have free movable blocks.
machine ram=1G movable=512M
hotplug add 0x100000000 256M
expect sysfs read devices/system/memory/memory32/state == offline
expect sysfs read devices/system/memory/memory33/state == offline
expect sysfs read devices/system/memory/memory7/valid_zones == Movable
expect sysfs read devices/system/memory/memory7/removable == 1
expect sysfs read kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error == 0
