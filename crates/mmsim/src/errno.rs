//! Linux errno values.
//!
//! Kernel paths in the model return `Result<T, Errno>`; the names and numbers are
//! those of `include/uapi/asm-generic/errno-base.h` and `errno.h` on x86-64, so a
//! failed sysfs write prints exactly what a shell on Linux would report.

use std::fmt;

macro_rules! errnos {
    ($($name:ident = $num:expr, $msg:expr;)*) => {
        /// A Linux error number.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Errno {
            $(#[doc = $msg] $name,)*
        }

        impl Errno {
            /// All errno values the model knows.
            pub const ALL: &'static [Errno] = &[$(Errno::$name,)*];

            /// The positive errno number (`EBUSY` is 16).
            pub const fn number(self) -> i32 {
                match self { $(Errno::$name => $num,)* }
            }

            /// The macro name, e.g. `"EBUSY"`.
            pub const fn name(self) -> &'static str {
                match self { $(Errno::$name => stringify!($name),)* }
            }

            /// strerror() text, e.g. `"Device or resource busy"`.
            pub const fn message(self) -> &'static str {
                match self { $(Errno::$name => $msg,)* }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    ESRCH = 3, "No such process";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    ENXIO = 6, "No such device or address";
    E2BIG = 7, "Argument list too long";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    ETXTBSY = 26, "Text file busy";
    ENOSPC = 28, "No space left on device";
    ERANGE = 34, "Numerical result out of range";
    EDEADLK = 35, "Resource deadlock avoided";
    ENOSYS = 38, "Function not implemented";
    EOPNOTSUPP = 95, "Operation not supported";
    EHWPOISON = 133, "Memory page has hardware error";
}

impl Errno {
    /// Looks an errno up by its macro name (`"EBUSY"`).
    pub fn from_name(name: &str) -> Option<Errno> {
        Errno::ALL.iter().copied().find(|e| e.name() == name)
    }

    /// Looks an errno up by its number, positive or negative (`-12` is `ENOMEM`).
    pub fn from_number(n: i32) -> Option<Errno> {
        let n = n.checked_abs()?;
        Errno::ALL.iter().copied().find(|e| e.number() == n)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Errno {}

/// Result of a kernel path.
pub type KResult<T> = Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    // include/uapi/asm-generic/errno-base.h and errno.h on x86-64.
    #[test]
    fn errno_numbers_match_linux_uapi() {
        assert_eq!(Errno::EPERM.number(), 1);
        assert_eq!(Errno::EINTR.number(), 4);
        assert_eq!(Errno::ENOMEM.number(), 12);
        assert_eq!(Errno::EBUSY.number(), 16);
        assert_eq!(Errno::EEXIST.number(), 17);
        assert_eq!(Errno::EINVAL.number(), 22);
        assert_eq!(Errno::EHWPOISON.number(), 133);
        assert_eq!(Errno::from_number(-12), Some(Errno::ENOMEM));
        assert_eq!(Errno::from_name("E2BIG"), Some(Errno::E2BIG));
        assert_eq!(Errno::from_name("ENOPE"), None);
    }
}
