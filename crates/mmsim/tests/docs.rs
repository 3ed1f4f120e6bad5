//! The user's guide (docs/scenarios.md) is kept in step with the parser:
//! every command form the parser's families register, with the exact syntax
//! `mmsim help commands` prints, appears in it, and every command word the
//! parser accepts has a form.

use mmsim::script::cmd::{command_docs, command_words};

fn guide() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/scenarios.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_guide_shows_every_command_form() {
    let guide = guide();
    let lines: Vec<&str> = guide.lines().map(str::trim_end).collect();
    let missing: Vec<&str> = command_docs()
        .map(|doc| doc.syntax)
        .filter(|syntax| !lines.contains(syntax))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/scenarios.md lacks these forms (as lines of their own):\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_command_word_has_a_form_and_a_summary() {
    for word in command_words() {
        let has_form =
            command_docs().any(|doc| doc.syntax.split([' ', '|']).any(|token| token == word));
        assert!(has_form, "`{word}` is parsed but has no form in the help");
    }
    for doc in command_docs() {
        assert!(!doc.summary.is_empty(), "{} has no summary", doc.syntax);
    }
}
