//! The memory notifier error-injection files of the kernel selftest
//! (`lib/memory-notifier-error-inject.c` on `lib/notifier-error-inject.c`):
//! `kernel/debug/notifier-error-inject/memory/actions/<ACTION>/error`.
//!
//! Each file is a debugfs "errno" attribute (`fops_errno`, a signed
//! simple_attr): a read prints the value with `%lld\n`; a write is parsed
//! with `kstrtoll(buf, 0)` (decimal, `0x` hex, `0` octal; -EINVAL or
//! -ERANGE on bad input) and then **clamped**, not refused:
//! `debugfs_errno_set()` stores `clamp_t(int, val, -MAX_ERRNO, 0)`, so `5`
//! reads back `0` and `-5000` reads back `-4095`. The selftest checks the
//! range itself before writing.

use super::kstrtox::kstrtoll;
use crate::errno::KResult;
use crate::hotplug::notifier::InjectAction;
use crate::machine::Machine;

/// `MAX_ERRNO`.
const MAX_ERRNO: i32 = 4095;

/// `simple_attr_read()` of `debugfs_errno_get()`.
pub(super) fn show(m: &Machine, which: InjectAction) -> String {
    format!("{}\n", m.hotplug().inject_error(which))
}

/// `simple_attr_write_signed()` of `debugfs_errno_set()`.
pub(super) fn store(m: &Machine, which: InjectAction, buf: &str) -> KResult<()> {
    let val = kstrtoll(buf)?;
    // clamp_t(int, ...) first truncates the 64-bit value to an int.
    let err = (val as i32).clamp(-MAX_ERRNO, 0);
    m.hotplug().set_inject_error(which, err)
}
