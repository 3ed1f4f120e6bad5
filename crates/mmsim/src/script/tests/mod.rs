//! Tests of the scenario layer: the parser (every command family, the
//! statement frame, variables), the interpreter and the lexical rules. Each
//! follows SCENARIOS.md; the names say which rule.

mod interp;
mod parse_commands;
mod parse_process;
mod parse_setup;
mod parse_statements;

use super::args::Place;
use super::ast::{Script, StmtKind};
use super::cmd::Cmd;
use super::lexer;
use super::parse::parse_forms;

pub(super) const K: u64 = 1 << 10;
pub(super) const M: u64 = 1 << 20;
pub(super) const G: u64 = 1 << 30;

/// The lines every command test starts from: a machine, a process `A` with a
/// mapping `buf` and a pin `p`.
pub(super) const PRELUDE: &str = "machine ram=4G\nspawn A\nA mmap buf 1M\nA gup p buf 4K\n";

/// `text` parsed, with the forms of commands this build does not run.
pub(super) fn parse_ok(text: &str) -> Script {
    parse_forms("t.mms", text).unwrap_or_else(|e| panic!("{e}"))
}

/// The statements after [`PRELUDE`].
pub(super) fn body(lines: &str) -> Vec<StmtKind> {
    let script = parse_ok(&format!("{PRELUDE}{lines}"));
    script.stmts.into_iter().skip(4).map(|s| s.kind).collect()
}

/// The one command `line` (after [`PRELUDE`]).
pub(super) fn cmd(line: &str) -> Cmd {
    match body(line).as_slice() {
        [StmtKind::Command(cmd)] => cmd.clone(),
        other => panic!("{line:?} parsed as {other:?}"),
    }
}

/// The error for `text`, as (line, column, message).
pub(super) fn error(text: &str) -> (u32, u32, String) {
    match parse_forms("t.mms", text) {
        Ok(script) => panic!("{text:?} parsed as {script:?}"),
        Err(e) => (e.line, e.column, e.message),
    }
}

/// The error for `line` after [`PRELUDE`], as (column, message); checks it is
/// reported on that line.
pub(super) fn line_error(line: &str) -> (u32, String) {
    let (at, column, message) = error(&format!("{PRELUDE}{line}"));
    assert_eq!(at, 5, "{line:?}: {message}");
    (column, message)
}

/// 1-based column (in characters) of the first `needle` in `line` that does not
/// continue a word.
pub(super) fn col(line: &str, needle: &str) -> u32 {
    let at = line
        .match_indices(needle)
        .map(|(at, _)| at)
        .find(|&at| {
            !line[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .unwrap_or_else(|| panic!("{needle:?} in {line:?}"));
    lexer::char_count(&line[..at]) + 1
}

pub(super) fn place(mapping: &str, off: u64) -> Place {
    Place {
        mapping: mapping.to_owned(),
        off,
    }
}
