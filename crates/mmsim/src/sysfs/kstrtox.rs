//! The kernel's string-to-value parsers that sysfs and debugfs stores use
//! (`lib/kstrtox.c`), with their exact acceptance rules: a store sees the
//! written bytes as a C string, so these take `&str` and never trim blanks;
//! only one trailing newline (what `echo` appends) is tolerated.

use crate::errno::{Errno, KResult};

/// `kstrtobool()`: only the first one or two characters count. `1 y Y t T`
/// and `on` are true, `0 n N f F` and `off` are false (so `yes`, `10`, and
/// `offline` parse too); anything else, including the empty string, is
/// -EINVAL.
pub fn kstrtobool(s: &str) -> KResult<bool> {
    let b = s.as_bytes();
    match b.first() {
        Some(b'y' | b'Y' | b't' | b'T' | b'1') => Ok(true),
        Some(b'n' | b'N' | b'f' | b'F' | b'0') => Ok(false),
        Some(b'o' | b'O') => match b.get(1) {
            Some(b'n' | b'N') => Ok(true),
            Some(b'f' | b'F') => Ok(false),
            _ => Err(Errno::EINVAL),
        },
        _ => Err(Errno::EINVAL),
    }
}

/// `_parse_integer_fixup_radix()` for base 0: `0x` followed by a hex digit
/// is hex (the prefix is skipped), a leading `0` is octal, else decimal.
fn fixup_radix(s: &[u8]) -> (u32, &[u8]) {
    match s {
        [b'0', x, d, ..] if x.eq_ignore_ascii_case(&b'x') && d.is_ascii_hexdigit() => (16, &s[2..]),
        [b'0', ..] => (8, s),
        _ => (10, s),
    }
}

/// `_kstrtoull(s, 0)`: digits of the detected radix, then at most one
/// newline. No digits (or anything after them) is -EINVAL, a value that
/// does not fit 64 bits -ERANGE.
fn kstrtoull_base0(s: &[u8]) -> KResult<u64> {
    let (radix, s) = fixup_radix(s);
    let digits = s
        .iter()
        .take_while(|c| char::from(**c).is_digit(radix))
        .count();
    if digits == 0 {
        return Err(Errno::EINVAL);
    }
    let mut val: u64 = 0;
    let mut overflow = false;
    for &c in &s[..digits] {
        let d = u64::from(char::from(c).to_digit(radix).unwrap_or(0));
        match val
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(d))
        {
            Some(v) => val = v,
            None => overflow = true,
        }
    }
    if overflow {
        return Err(Errno::ERANGE);
    }
    match &s[digits..] {
        [] | [b'\n'] => Ok(val),
        _ => Err(Errno::EINVAL),
    }
}

/// `kstrtoll(s, 0, &res)`: an optional `-` (or, without it, `+`), then
/// `kstrtoull` rules; a value outside `i64` is -ERANGE.
pub fn kstrtoll(s: &str) -> KResult<i64> {
    let b = s.as_bytes();
    if let Some(rest) = b.strip_prefix(b"-") {
        let v = kstrtoull_base0(rest)?;
        // The kernel tests `(long long)-tmp > 0`: -2^63 still fits.
        let neg = 0i64.wrapping_sub_unsigned(v);
        if neg > 0 {
            return Err(Errno::ERANGE);
        }
        return Ok(neg);
    }
    let v = kstrtoull_base0(b.strip_prefix(b"+").unwrap_or(b))?;
    i64::try_from(v).map_err(|_| Errno::ERANGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    // lib/kstrtox.c kstrtobool(): first character(s) only.
    #[test]
    fn kstrtobool_follows_the_first_characters() {
        for s in ["1", "y", "Y", "t", "T", "on", "ON", "yes", "1\n", "10"] {
            assert_eq!(kstrtobool(s), Ok(true), "{s:?}");
        }
        for s in [
            "0", "n", "N", "f", "F", "off", "OFF", "no", "0\n", "offline",
        ] {
            assert_eq!(kstrtobool(s), Ok(false), "{s:?}");
        }
        for s in ["", "\n", "o", "ox", "2", " 1", "x"] {
            assert_eq!(kstrtobool(s), Err(Errno::EINVAL), "{s:?}");
        }
    }

    // lib/kstrtox.c kstrtoll(s, 0): radix prefixes, one newline, ranges.
    #[test]
    fn kstrtoll_base0_matches_the_kernel() {
        assert_eq!(kstrtoll("-12"), Ok(-12));
        assert_eq!(kstrtoll("-12\n"), Ok(-12));
        assert_eq!(kstrtoll("+7"), Ok(7));
        assert_eq!(kstrtoll("0x10"), Ok(16));
        assert_eq!(kstrtoll("-0xC"), Ok(-12));
        assert_eq!(kstrtoll("010"), Ok(8));
        assert_eq!(kstrtoll("0"), Ok(0));
        assert_eq!(kstrtoll("-0"), Ok(0));
        assert_eq!(kstrtoll("-9223372036854775808"), Ok(i64::MIN));
        for s in [
            "", "-", "+", "abc", "12 ", " 12", "12\n\n", "08", "0x", "-+1", "+-1",
        ] {
            assert_eq!(kstrtoll(s), Err(Errno::EINVAL), "{s:?}");
        }
        for s in [
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
        ] {
            assert_eq!(kstrtoll(s), Err(Errno::ERANGE), "{s:?}");
        }
    }
}
