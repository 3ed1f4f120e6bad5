//! `expect`, `let` and `$VAR`, names in scope, and the SCENARIOS.md example.

use super::*;
use crate::errno::Errno;
use crate::script::ast::*;
use crate::script::cmd::hotplug::*;
use crate::script::cmd::kernel::*;
use crate::script::cmd::pin::*;
use crate::script::cmd::process::*;
use crate::script::cmd::readers::*;
use crate::script::lexer::{self};
use crate::script::parse::{parse, resolve};
use std::collections::HashMap;

#[test]
fn expect_conditions() {
    let expect = |line: &str| match body(line).as_slice() {
        [StmtKind::Expect { cond, .. }] => cond.clone(),
        other => panic!("{line:?} parsed as {other:?}"),
    };
    let words = |raw: &str| Value {
        raw: raw.to_owned(),
        kind: ValueKind::Words,
    };
    assert_eq!(
        expect("expect A pagemap buf ==   present=1\tswapped=0  exclusive=1 # after fork"),
        ExpectCond::Eq(words("present=1 swapped=0 exclusive=1"))
    );
    assert_eq!(
        expect("expect kpagecount 0x10 != 0"),
        ExpectCond::Ne(words("0"))
    );
    assert_eq!(
        expect("expect A read buf 1 == 0xaa"),
        ExpectCond::Eq(Value {
            raw: "0xaa".to_owned(),
            kind: ValueKind::Byte(0xaa),
        })
    );
    assert_eq!(
        expect("expect A read buf 1 == 0xaaa"),
        ExpectCond::Eq(words("0xaaa"))
    );
    assert_eq!(
        expect("expect A read buf 1 == 0xa"),
        ExpectCond::Eq(words("0xa"))
    );
    assert_eq!(
        expect(r#"expect A read buf 5 == "a #b\n""#),
        ExpectCond::Eq(Value {
            raw: r#""a #b\n""#.to_owned(),
            kind: ValueKind::Text(b"a #b\n".to_vec()),
        })
    );
    assert_eq!(
        expect(r#"expect sysfs read kernel/x == "a  b"  c"#),
        ExpectCond::Eq(words(r#""a  b" c"#))
    );
    assert_eq!(
        expect("expect kpageflags 0x10 has buddy,zero_page"),
        ExpectCond::Has(vec!["buddy".to_owned(), "zero_page".to_owned()])
    );
    assert_eq!(
        expect("expect sysfs write devices/system/memory/memory8/state online fails EINVAL"),
        ExpectCond::Fails(Errno::EINVAL)
    );
    assert_eq!(
        expect("expect p read 0 1 violates fatal-access"),
        ExpectCond::Violates(ViolationKind::FatalAccess)
    );
    assert_eq!(
        body("expect check violates invariant"),
        vec![StmtKind::Expect {
            cmd: Cmd::Kernel(KernelCmd::Check),
            cond: ExpectCond::Violates(ViolationKind::Invariant),
        }]
    );
    assert_eq!(
        body("check"),
        vec![StmtKind::Command(Cmd::Kernel(KernelCmd::Check))]
    );
    // The first terminator ends the command, even where an argument was wanted.
    let line = "expect sysfs read == online";
    let (column, message) = line_error(line);
    assert_eq!(column, col(line, "=="));
    assert!(message.contains("PATH"), "{message}");
    // A quoted terminator is a string, not a terminator.
    let line = r#"expect sysfs write kernel/x "fails" fails EBUSY"#;
    assert_eq!(
        body(line),
        vec![StmtKind::Expect {
            cmd: Cmd::Hotplug(HotplugCmd::SysfsWrite {
                path: "kernel/x".to_owned(),
                value: b"fails".to_vec(),
                signal_after: None,
            }),
            cond: ExpectCond::Fails(Errno::EBUSY),
        }]
    );
    for (line, at) in [
        ("expect A read buf 1 fails ENOPE", "ENOPE"),
        ("expect A read buf 1 fails einval", "einval"),
        ("expect A read buf 1 fails EINVAL EBUSY", "EBUSY"),
        ("expect A read buf 1 violates sanity", "sanity"),
        ("expect A read buf 1 has a,,b", ",b"),
        ("expect == 1", "=="),
        ("expect A read buf 1 0xaa", "0xaa"),
    ] {
        let column = match at {
            "0xaa" => lexer::char_count(line) + 1,
            _ => col(line, at),
        };
        assert_eq!(line_error(line).0, column, "{line}");
    }
    let line = "expect A read buf 1 ==";
    assert_eq!(line_error(line).0, lexer::char_count(line) + 1);
}

#[test]
fn let_binds_and_dollar_defers() {
    let stmts = body("let f = A pfn buf+4K\nkpageflags $f\nexpect kpagecount $f == 1\n");
    assert_eq!(
        stmts[0],
        StmtKind::Let {
            var: "f".to_owned(),
            cmd: Cmd::Reader(ReaderCmd::Pfn {
                proc: "A".to_owned(),
                place: place("buf", 4 * K),
            }),
        }
    );
    let StmtKind::Deferred(deferred) = &stmts[1] else {
        panic!("{:?}", stmts[1]);
    };
    assert_eq!(deferred.head, HeadKind::Keyword);
    let vars = HashMap::from([("f".to_owned(), "0x12345".to_owned())]);
    assert_eq!(
        resolve("t.mms", 6, deferred, &vars),
        Ok(StmtKind::Command(Cmd::Reader(ReaderCmd::Kpageflags {
            pfn: 0x12345
        })))
    );
    let StmtKind::Deferred(deferred) = &stmts[2] else {
        panic!("{:?}", stmts[2]);
    };
    assert_eq!(
        resolve("t.mms", 7, deferred, &vars),
        Ok(StmtKind::Expect {
            cmd: Cmd::Reader(ReaderCmd::Kpagecount { pfn: 0x12345 }),
            cond: ExpectCond::Eq(Value {
                raw: "1".to_owned(),
                kind: ValueKind::Words,
            }),
        })
    );
    // A value is substituted inside a token, and a bad value is a run-time error
    // at that token.
    let stmts = body("let off = meminfo Foo\nA write buf+$off 4K 0xaa\n");
    let StmtKind::Deferred(deferred) = &stmts[1] else {
        panic!("{:?}", stmts[1]);
    };
    assert_eq!(deferred.head, HeadKind::Process);
    let vars = HashMap::from([("off".to_owned(), "8K".to_owned())]);
    assert_eq!(
        resolve("t.mms", 6, deferred, &vars),
        Ok(StmtKind::Command(Cmd::Process(ProcessCmd::Write {
            proc: "A".to_owned(),
            place: place("buf", 8 * K),
            data: WriteData::Fill {
                len: 4 * K,
                byte: 0xaa
            },
        })))
    );
    let vars = HashMap::from([("off".to_owned(), "lots".to_owned())]);
    let error = resolve("t.mms", 6, deferred, &vars).unwrap_err();
    assert_eq!((error.line, error.column), (6, 13), "{error}");
    let error = resolve("t.mms", 6, deferred, &HashMap::new()).unwrap_err();
    assert_eq!(error.to_string(), "t.mms:6:13: `$off` has no value");
    // A value with blanks stays one token; as an expected value it is folded.
    let stmts = body("let m = A pagemap buf\nexpect A pagemap buf+4K == $m\n");
    let StmtKind::Deferred(deferred) = &stmts[1] else {
        panic!("{:?}", stmts[1]);
    };
    let vars = HashMap::from([("m".to_owned(), "present=1\n  swapped=0".to_owned())]);
    match resolve("t.mms", 6, deferred, &vars) {
        Ok(StmtKind::Expect {
            cond: ExpectCond::Eq(value),
            ..
        }) => assert_eq!(value.raw, "present=1 swapped=0"),
        other => panic!("{other:?}"),
    }
    // Strings are never substituted.
    let stmts = body("let v = meminfo\nsysfs write $v \"$v\"\n");
    let StmtKind::Deferred(deferred) = &stmts[1] else {
        panic!("{:?}", stmts[1]);
    };
    let vars = HashMap::from([("v".to_owned(), "kernel/x".to_owned())]);
    assert_eq!(
        resolve("t.mms", 6, deferred, &vars),
        Ok(StmtKind::Command(Cmd::Hotplug(HotplugCmd::SysfsWrite {
            path: "kernel/x".to_owned(),
            value: b"$v".to_vec(),
            signal_after: None,
        })))
    );
}

#[test]
fn dollar_errors() {
    let line = "kpageflags $x";
    let (column, message) = line_error(line);
    assert_eq!(column, 12);
    assert!(message.contains("`$x`"), "{message}");
    // Bound only from the next line on.
    let line = "let x = A pfn buf+$x";
    assert_eq!(line_error(line).0, col(line, "$x"));
    for (line, at) in [
        ("let y = meminfo\n$y read 0 1", "$y"),
        ("let y = meminfo\nkcore read $ 1", "$"),
        ("let y = meminfo\nkcore read $-y 1", "$"),
        ("let y = meminfo\nspawn $y", "$y"),
        ("let y = meminfo\nA fork $y", "$y"),
        ("let y = meminfo\nA gup $y buf $y", "$y"),
        ("let y = meminfo\nfoo $y", "foo"),
        ("let $y = meminfo", "$y"),
        ("let y meminfo", "meminfo"),
        ("let y =", "="),
    ] {
        let (line_nr, column, message) = error(&format!("{PRELUDE}{line}"));
        let last = line.lines().last().unwrap_or_default();
        let expected = if at == "=" {
            lexer::char_count(last) + 1
        } else {
            col(last, at)
        };
        assert_eq!(
            (line_nr, column),
            (
                4 + u32::try_from(line.lines().count()).unwrap_or(0),
                expected
            ),
            "{line}: {message}"
        );
    }
}

#[test]
fn names_of_processes_and_pins() {
    // `B` is a process only once `A fork B` introduced it.
    let line = "B exit";
    let (column, message) = line_error(line);
    assert_eq!(column, 1);
    assert_eq!(message, "unknown command `B`");
    assert_eq!(body("expect A fork B fails ENOMEM\nB exit").len(), 2);
    for (line, at) in [
        ("spawn page", "page"),
        ("spawn has", "has"),
        ("spawn let", "let"),
        ("spawn p", "p"),
        ("A gup A buf 4K", "A buf"),
        ("A fork 2B", "2B"),
        ("spawn \"B\"", "\"B\""),
    ] {
        assert_eq!(line_error(line).0, col(line, at), "{line}");
    }
    for keyword in crate::script::cmd::command_keywords() {
        if let Err(e) = parse("t.mms", &format!("{PRELUDE}{keyword}")) {
            assert!(!e.message.starts_with("unknown command"), "{e}");
        }
        assert!(crate::script::cmd::is_reserved(keyword));
    }
}

#[test]
fn unknown_command_and_extra_arguments() {
    let text = "machine ram=1G\n\thotplgu add 0 1G\n";
    assert_eq!(
        parse("x.mms", text).unwrap_err().to_string(),
        "x.mms:2:2: unknown command `hotplgu`"
    );
    let line = "meminfo MemFree MemTotal";
    let (column, message) = line_error(line);
    assert_eq!(column, col(line, "MemTotal"));
    assert_eq!(message, "unexpected `MemTotal`");
    let line = "\"check\"";
    assert_eq!(line_error(line).0, 1);
    let line = "let x = expect check violates oracle";
    assert_eq!(line_error(line).0, col(line, "expect"));
}

/// SCENARIOS.md, "Example".
#[test]
fn scenarios_md_example_parses() {
    let script = parse_ok(
        "machine ram=2G block=128M auto_online=online_movable
spawn A
A mmap buf 4K
A write buf 4K 0xaa
A fork B
A gup p buf 4K pin longterm fast     # R/O pin of a now-shared page: must unshare
expect p read 0 1 == 0xaa
A write buf 4K 0xbb
expect p read 0 4K == 0xbb           # the pin stays coherent with A's mapping
expect B read buf 4K == 0xaa         # B never sees A's write
hotplug add 0x100000000 256M
expect sysfs read devices/system/memory/memory32/state == online
expect sysfs write devices/system/memory/memory32/state online fails EINVAL
",
    );
    let lines: Vec<u32> = script.stmts.iter().map(|s| s.line).collect();
    assert_eq!(lines, (1..=13).collect::<Vec<_>>());
    let byte = |b| {
        ExpectCond::Eq(Value {
            raw: format!("0x{b:02x}"),
            kind: ValueKind::Byte(b),
        })
    };
    assert_eq!(
        script.stmts[5].kind,
        StmtKind::Command(Cmd::Pin(PinCmd::Gup {
            proc: "A".to_owned(),
            pin: "p".to_owned(),
            place: place("buf", 0),
            len: 4 * K,
            write: false,
            kind: GupKind::Pin,
            fast: true,
            longterm: true,
        }))
    );
    assert_eq!(
        script.stmts[8].kind,
        StmtKind::Expect {
            cmd: Cmd::Pin(PinCmd::Read {
                pin: "p".to_owned(),
                off: 0,
                len: 4 * K,
            }),
            cond: byte(0xbb),
        }
    );
    assert_eq!(
        script.stmts[9].kind,
        StmtKind::Expect {
            cmd: Cmd::Process(ProcessCmd::Read {
                proc: "B".to_owned(),
                place: place("buf", 0),
                len: 4 * K,
            }),
            cond: byte(0xaa),
        }
    );
    assert_eq!(
        script.stmts[12].kind,
        StmtKind::Expect {
            cmd: Cmd::Hotplug(HotplugCmd::SysfsWrite {
                path: "devices/system/memory/memory32/state".to_owned(),
                value: b"online".to_vec(),
                signal_after: None,
            }),
            cond: ExpectCond::Fails(Errno::EINVAL),
        }
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Characters that matter to the lexer and parser, plus any character.
    fn line() -> impl Strategy<Value = String> {
        let interesting = prop::sample::select(vec![
            " ",
            "\t",
            "#",
            "\"",
            "\\",
            "\\x",
            "$",
            "$x",
            "=",
            "==",
            "+",
            ",",
            "0x",
            "K",
            "G",
            "ms",
            "s",
            "-",
            "é",
            "machine",
            "ram=",
            "let x = ",
            "expect ",
            "has",
            "fails",
            "violates",
            "A",
            "p",
            "buf",
            "spawn",
            "mmap",
            "gup",
            "read",
            "write",
            "page",
            "alloc",
            "pfn=",
            "virtio-mem",
            "request",
            "sysfs",
            "/sys/",
            "1",
            "9",
            "18446744073709551616",
            "4K",
            "E",
            "EINVAL",
        ])
        .prop_map(str::to_owned);
        let part = (any::<bool>(), interesting, any::<char>()).prop_map(|(pick, text, c)| {
            if pick {
                text
            } else {
                c.to_string()
            }
        });
        prop::collection::vec(part, 0..24).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn arbitrary_lines_never_panic(lines in prop::collection::vec(line(), 0..4)) {
            let text = format!("{PRELUDE}let x = meminfo\n{}", lines.join("\n"));
            if let Ok(script) = parse("p.mms", &text) {
                let vars = HashMap::from([("x".to_owned(), lines.concat())]);
                for stmt in &script.stmts {
                    if let StmtKind::Deferred(deferred) = &stmt.kind {
                        let _ = resolve("p.mms", stmt.line, deferred, &vars);
                    }
                }
            }
            let _ = parse("p.mms", &lines.join("\n"));
        }

        #[test]
        fn any_string_never_panics(text in any::<String>()) {
            let _ = parse("p.mms", &text);
            let _ = parse("p.mms", &format!("{PRELUDE}{text}"));
        }
    }
}
