//! The scenario language (SCENARIOS.md; the user's guide is docs/scenarios.md).
//!
//! A scenario goes through these layers, one file each:
//!
//! | file | what it does |
//! |---|---|
//! | `source.rs` | reads a file: bounded in size, UTF-8, every invisible character reported where it is |
//! | `lexer.rs` | cuts a line into words and `"strings"`, finds `$VAR` references |
//! | `args.rs` | reads a command's arguments: numbers, sizes, names, places, keywords, options |
//! | `parse.rs` | the statement frame (`let`, `expect`), names in scope, lines with variables |
//! | `cmd/` | the commands, one file per family: each its command type, parser, runner and help |
//! | `ast.rs` | the typed statements |
//! | `interp.rs` | runs statements: boots the machine, checks invariants after every command, evaluates `expect`, fails loudly |
//! | `output.rs` | what a command prints; reads streamed into a sink shaped by the statement |
//! | `world.rs` | a running scenario's state: the machine, processes, pins, the oracle |
//! | `report.rs` | per-file reports, totals, exit status |

pub mod args;
pub mod ast;
pub mod cmd;
pub mod interp;
pub mod lexer;
pub mod map;
pub mod output;
pub mod parse;
pub mod report;
pub mod source;
mod world;

#[cfg(test)]
mod tests;
