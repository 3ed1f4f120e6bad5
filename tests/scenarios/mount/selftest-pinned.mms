# A machine on which one block cannot be offlined: a process holds a
# FOLL_PIN reference on a page of ZONE_MOVABLE block 7, so offline_pages()
# cannot migrate it and retries until the writer has a signal (EINTR), as
# case 26 of reference §10. The selftest run with `-r 100` against it
# (crates/mmsim-cli/tests/mount.rs) must report "-> Failure" and
# "FAILED - unable to offline some memory blocks, device busy?", exit 1.
machine ram=1G movable=512M
spawn A
A mmap buf 4K populate
A write buf 4K 0x5a
expect A gup p buf 4K pin == 1
expect sysfs write devices/system/memory/memory7/state offline signal_after=50ms fails EINTR
expect sysfs read devices/system/memory/memory7/state == online
