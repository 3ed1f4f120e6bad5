//! The scenario language (SCENARIOS.md): lexer, parser, typed syntax tree and
//! interpreter.

pub mod ast;
// interp: enabled once sysfs and walkers land

pub mod lexer;
pub mod parse;
