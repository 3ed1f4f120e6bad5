//! Reading a scenario file: bounded in size, UTF-8, one line per `\n`.
//!
//! A scenario is text a person wrote, so anything a person cannot see is reported
//! where it is, readably: a byte that is not UTF-8, a byte-order mark, a carriage
//! return that does not end a line (old Mac line endings), a control character.
//! `\r\n` line endings are accepted. A file larger than [`MAX_SCENARIO_BYTES`] is
//! refused without reading the rest, so `mmsim run /dev/zero` ends at once.

use std::io::Read;
use std::path::Path;

use super::args::format_size;
use super::parse::ParseError;

/// The largest scenario file accepted, in bytes.
pub const MAX_SCENARIO_BYTES: u64 = 16 << 20;

/// Reads a scenario from `path` (`-` is standard input) and checks its text.
/// Returns the name to report it under and the text.
pub fn read_scenario(path: &Path) -> Result<(String, String), ParseError> {
    let name = path.display().to_string();
    let at_start = |message: String| ParseError {
        file: name.clone(),
        line: 1,
        column: 1,
        message,
    };
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_SCENARIO_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_SCENARIO_BYTES + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| at_start(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(at_start(format!(
            "larger than {} (the largest scenario accepted)",
            format_size(MAX_SCENARIO_BYTES)
        )));
    }
    let text = check_text(&name, &bytes)?;
    Ok((name, text))
}

/// Every `.mms` file below `dir`, in sorted path order (directories walked
/// depth first, in name order).
pub fn find_scenarios(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        if p.is_dir() {
            out.extend(find_scenarios(&p)?);
        } else if p.extension().is_some_and(|x| x == "mms") {
            out.push(p);
        }
    }
    Ok(out)
}

/// Checks that `bytes` are scenario text (see the module doc) and returns it.
pub fn check_text(file: &str, bytes: &[u8]) -> Result<String, ParseError> {
    let error = |at: usize, message: String| {
        let (line, column) = position(bytes, at);
        ParseError {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.valid_up_to();
            return Err(error(
                at,
                format!(
                    "byte {:#04x} is not UTF-8 (a scenario is UTF-8 text)",
                    bytes[at]
                ),
            ));
        }
    };
    if text.starts_with('\u{feff}') {
        return Err(error(
            0,
            "the file starts with a byte-order mark (U+FEFF); save it as UTF-8 without one"
                .to_owned(),
        ));
    }
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\n' | '\t' => {}
            '\r' if chars.peek().is_some_and(|&(_, next)| next == '\n') => {}
            '\r' => {
                return Err(error(
                    at,
                    "carriage return (\\r) that does not end a line: lines end with \\n or \\r\\n"
                        .to_owned(),
                ))
            }
            c if c.is_control() => {
                return Err(error(
                    at,
                    format!("control character {} in the text", c.escape_default()),
                ))
            }
            _ => {}
        }
    }
    Ok(text.to_owned())
}

/// 1-based line and column (in characters) of byte `at`.
fn position(bytes: &[u8], at: usize) -> (u32, u32) {
    let before = &bytes[..at];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &[u8]) -> (u32, u32, String) {
        let e = check_text("t.mms", bytes).unwrap_err();
        (e.line, e.column, e.message)
    }

    #[test]
    fn crlf_is_a_line_end() {
        assert_eq!(
            check_text("t.mms", b"machine ram=1G\r\ncheck\r\n").map(|t| t.lines().count()),
            Ok(2)
        );
    }

    #[test]
    fn invisible_and_broken_text_is_reported_where_it_is() {
        let (line, column, message) = err(b"machine ram=1G\ncheck \xff\n");
        assert_eq!((line, column), (2, 7));
        assert!(message.contains("0xff"), "{message}");
        let (line, column, message) = err("\u{feff}machine ram=1G\n".as_bytes());
        assert_eq!((line, column), (1, 1));
        assert!(message.contains("byte-order mark"), "{message}");
        let (line, column, message) = err(b"machine ram=1G\rcheck\r");
        assert_eq!((line, column), (1, 15));
        assert!(message.contains("\\r"), "{message}");
        let (line, column, message) = err("é\ncheck\0\n".as_bytes());
        assert_eq!((line, column), (2, 6));
        assert!(message.contains("\\u{0}"), "{message}");
    }

    #[test]
    fn size_is_bounded_before_reading_everything() {
        let e = read_scenario(Path::new("/dev/zero")).unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));
        assert!(e.message.contains("16M"), "{}", e.message);
    }
}
