//! The scenario language (SCENARIOS.md): lexer, parser, typed syntax tree and
//! interpreter.

pub mod ast;
pub mod interp;
pub mod lexer;
pub mod parse;
mod process;
