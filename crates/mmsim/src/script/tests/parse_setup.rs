//! `machine`, `variant`, and the lexical rules (SCENARIOS.md, "Machine", "Lexical rules").

use super::*;
use crate::script::args::{self, NumError};
use crate::script::ast::*;
use crate::script::cmd::machine::*;
use crate::script::lexer::{self, TokenKind};

/// The machine line's values, without the columns.
fn machine(text: &str) -> MachineSpec {
    match &parse_ok(text).stmts[0].kind {
        StmtKind::Machine(spec) => MachineSpec {
            columns: Vec::new(),
            ..spec.clone()
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn machine_options_in_any_order_with_defaults() {
    assert_eq!(
        machine(
            "machine swap=1G block=256M ram=2G nodes=2 movable=512M hugepages=4 \
             auto_online=online_movable max_phys=0x10000000000\n",
        ),
        MachineSpec {
            ram: 2 * G,
            block: 256 * M,
            nodes: 2,
            movable: 512 * M,
            swap: G,
            hugepages: 4,
            auto_online: AutoOnline::OnlineMovable,
            max_phys: 1 << 40,
            columns: Vec::new(),
        }
    );
    assert_eq!(
        machine("machine ram=1G"),
        MachineSpec {
            ram: G,
            block: 128 * M,
            nodes: 1,
            movable: 0,
            swap: 0,
            hugepages: 0,
            auto_online: AutoOnline::Offline,
            max_phys: 1 << 40,
            columns: Vec::new(),
        }
    );
}

#[test]
fn machine_errors_point_at_the_value() {
    assert_eq!(error("machine ram=2X").1, 13);
    let (line, column, message) = error("machine ram=2X");
    assert_eq!((line, column), (1, 13), "{message}");
    for (text, needle) in [
        ("machine ram=1G block=64M", "64M"),
        ("machine ram=1G block=192M", "192M"),
        ("machine ram=1G nodes=0", "0"),
        ("machine ram=1G nodes=0x100000000", "0x1"),
        ("machine ram=1G auto_online=sometimes", "sometimes"),
    ] {
        assert_eq!(error(text).1, col(text, needle), "{text}");
    }
    for (text, needle) in [
        ("machine ram=1G ram=2G", "ram=2G"),
        ("machine ram=1G colour=red", "colour"),
        ("machine ram=1G 4G", "4G"),
    ] {
        assert_eq!(error(text).1, col(text, needle), "{text}");
    }
    let (_, column, message) = error("machine block=256M");
    assert_eq!(column, 19);
    assert!(message.contains("ram="), "{message}");
}

#[test]
fn machine_comes_first_and_once() {
    let (line, column, message) = error("# setup\n\n  spawn A\nmachine ram=1G\n");
    assert_eq!((line, column), (3, 3));
    assert!(message.contains("`machine`"), "{message}");
    let (line, column, message) = error("machine ram=1G\nspawn A\nmachine ram=2G\n");
    assert_eq!((line, column), (3, 1));
    assert!(message.contains("line 1"), "{message}");
    assert_eq!(error("expect check violates invariant\n").0, 1);
    assert_eq!(
        error("# nothing\n\n"),
        (1, 1, "a scenario must start with `machine`".to_owned())
    );
    assert_eq!(error("machine ram=1G\nlet x = machine ram=1G").1, 9);
}

#[test]
fn variant_lines_come_right_after_machine() {
    let script = parse_ok(
        "machine ram=1G\n# protocols\nvariant offline_skip=skippable kcore_sync=none\n\
         variant cow_reuse=mapcount\nspawn A\n",
    );
    assert_eq!(
        script.stmts[1].kind,
        StmtKind::Variant(vec![
            VariantSetting {
                key: "offline_skip".to_owned(),
                value: "skippable".to_owned(),
                column: 9,
            },
            VariantSetting {
                key: "kcore_sync".to_owned(),
                value: "none".to_owned(),
                column: 32,
            },
        ])
    );
    assert_eq!(script.stmts[2].line, 4);
    assert_eq!(
        error("machine ram=1G\nspawn A\nvariant cow_reuse=mapcount").0,
        3
    );
    assert_eq!(error("variant cow_reuse=mapcount\nmachine ram=1G").0, 1);
    assert_eq!(error("machine ram=1G\nvariant").1, 8);
    assert_eq!(error("machine ram=1G\nvariant cow_reuse= x=y").1, 9);
    assert_eq!(
        error("machine ram=1G\nexpect variant a=b fails EINVAL").1,
        8
    );
}

#[test]
fn lexical_rules() {
    let words = |line: &str| -> Vec<String> {
        lexer::tokenize(line)
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
            .into_iter()
            .map(|t| t.raw)
            .collect()
    };
    assert_eq!(words("  a\tb  # c d"), ["a", "b"]);
    assert_eq!(words("a#b"), ["a"]);
    assert_eq!(words("# all comment"), Vec::<String>::new());
    assert_eq!(words(r#""x # y" z"#), [r#""x # y""#, "z"]);
    let tokens = lexer::tokenize(r#"é "\"\\\n\x41\xfFé""#).unwrap_or_default();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[1].column, 3);
    assert_eq!(
        tokens[1].kind,
        TokenKind::Str(b"\"\\\nA\xff\xc3\xa9".to_vec())
    );
    assert_eq!(
        lexer::tokenize(r#""""#).map(|t| t[0].kind.clone()),
        Ok(TokenKind::Str(Vec::new()))
    );
    for (line, column) in [
        (r#"a "unterminated"#, 3),
        (r#"a "ends in \"#, 3),
        (r#"é "bad \t escape""#, 8),
        (r#"a "\x4" b"#, 4),
        (r#"a "\xg0""#, 4),
        (r#"a "x"y"#, 6),
        (r#"a b"c""#, 4),
    ] {
        assert_eq!(
            lexer::tokenize(line).map_err(|e| e.column),
            Err(column),
            "{line}"
        );
    }
    let (line, column, _) = error("machine ram=1G\n\n sysfs write x \"abc\n");
    assert_eq!((line, column), (3, 16));
}

#[test]
fn numbers_and_sizes() {
    for (text, value) in [
        ("0", 0),
        ("4096", 4096),
        ("0x1000", 4096),
        ("0xFFff", 0xffff),
        ("4K", 4096),
        ("2M", 2 * M),
        ("3G", 3 * G),
        ("1T", 1 << 40),
        ("0x10K", 16 * K),
        ("16777215T", 16_777_215 << 40),
        ("18446744073709551615", u64::MAX),
    ] {
        assert_eq!(args::size(text).ok(), Some(value), "{text}");
    }
    for text in [
        "", "K", "0x", "0xK", "4k", "4KB", "+4", "-1", "1.5G", "0X10", "4 K",
    ] {
        assert!(matches!(args::size(text), Err(NumError::Bad)), "{text}");
    }
    for text in [
        "16777216T",
        "18446744073709551616",
        "0x10000000000000000",
        "17179869184G",
    ] {
        assert!(
            matches!(args::size(text), Err(NumError::TooLarge)),
            "{text}"
        );
    }
    let line = "kcore read 0x10000000000000000 1";
    let (column, message) = line_error(line);
    assert_eq!(column, col(line, "0x1"));
    assert!(message.contains("too large"), "{message}");
    let line = "balloon inflate 16777216T";
    assert_eq!(line_error(line).0, col(line, "167"));
}
