//! The scenario parser: text → [`Script`] (SCENARIOS.md).
//!
//! Everything is parsed before anything runs, so bad input (exit status 2) is reported
//! as `FILE:LINE:COLUMN: message` and never leaves a machine half-driven. A line goes
//! through three steps:
//!
//! 1. [`lexer::tokenize`] cuts it into tokens;
//! 2. the statement's frame is split off: `let VAR =`, or `expect` up to the first
//!    token that is exactly `==`, `!=`, `has`, `fails` or `violates`;
//! 3. the command is typed according to its first token, which is a keyword, a
//!    process (named by an earlier `spawn P` or `P fork Q`) or a pin (named by an
//!    earlier `P gup PIN ...`). Which of the three it is depends on the lines above,
//!    so the parser keeps a scope of the names introduced so far.
//!
//! Rules across lines are checked here too: `machine` first and once, `variant` lines
//! right after it, and every `$VAR` bound by an earlier `let`. A line that uses a
//! `$VAR` is checked as far as it can be without the value and kept as
//! [`StmtKind::Deferred`]; [`resolve`] types it when the interpreter reaches it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::ast::{
    Advice, AutoOnline, Backing, ByteRange, Cmd, Deferred, ExpectCond, GupKind, HeadKind,
    MachineSpec, NotifierAction, PageAlloc, PageMark, Place, Prot, Script, Sharing, Stmt, StmtKind,
    Value, ValueKind, ViolationKind, VirtioMemRequest, WriteData, ZoneType,
};
use super::lexer::{self, ColumnError, Token, TokenKind};
use crate::errno::Errno;

/// A scenario that cannot run, located as `FILE:LINE:COLUMN`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ParseError {
    /// The scenario file.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// Locates a column error on `line` of `file`.
    pub fn new(file: &str, line: u32, error: ColumnError) -> ParseError {
        ParseError {
            file: file.to_owned(),
            line,
            column: error.column,
            message: error.message,
        }
    }
}

type Parsed<T> = Result<T, ColumnError>;

/// Parses a whole scenario file.
pub fn parse(file: &str, text: &str) -> Result<Script, ParseError> {
    let mut scope = Scope::default();
    let mut stmts = Vec::new();
    for (index, source) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let at = |error| ParseError::new(file, line, error);
        let tokens = lexer::tokenize(source).map_err(at)?;
        if tokens.is_empty() {
            continue;
        }
        let kind = scope.statement(line, tokens).map_err(at)?;
        stmts.push(Stmt { line, kind });
    }
    if scope.machine_line.is_none() {
        let error = ColumnError::new(1, "a scenario must start with `machine`");
        return Err(ParseError::new(file, 1, error));
    }
    Ok(Script {
        file: file.to_owned(),
        stmts,
    })
}

/// Replaces every `$NAME` in the bare words of `tokens` by `vars[NAME]`. A substituted
/// word stays one token, whatever the value contains; strings are left alone.
pub fn substitute(
    tokens: &[Token],
    vars: &HashMap<String, String>,
) -> Result<Vec<Token>, ColumnError> {
    tokens
        .iter()
        .map(|token| {
            let refs = lexer::var_refs(token)?;
            if refs.is_empty() {
                return Ok(token.clone());
            }
            let mut raw = String::new();
            let mut done = 0;
            for var in &refs {
                let value = vars.get(var.name).ok_or_else(|| {
                    ColumnError::new(var.column, format!("`${}` has no value", var.name))
                })?;
                raw.push_str(&token.raw[done..var.span.start]);
                raw.push_str(value);
                done = var.span.end;
            }
            raw.push_str(&token.raw[done..]);
            Ok(Token {
                column: token.column,
                raw,
                kind: TokenKind::Word,
            })
        })
        .collect()
}

/// Types a statement whose variables have been substituted; `head` is what its
/// command's first token named when the line was read ([`Deferred::head`]).
pub fn parse_substituted(
    file: &str,
    line: u32,
    head: HeadKind,
    tokens: &[Token],
) -> Result<StmtKind, ParseError> {
    split(tokens)
        .and_then(|frame| typed(head, &frame))
        .map_err(|error| ParseError::new(file, line, error))
}

/// Substitutes the current values of the variables into a deferred statement and
/// types it.
pub fn resolve(
    file: &str,
    line: u32,
    deferred: &Deferred,
    vars: &HashMap<String, String>,
) -> Result<StmtKind, ParseError> {
    let tokens =
        substitute(&deferred.tokens, vars).map_err(|error| ParseError::new(file, line, error))?;
    parse_substituted(file, line, deferred.head, &tokens)
}

/// What the lines read so far have established.
#[derive(Default)]
struct Scope {
    /// Names introduced by `spawn P` and `P fork Q`.
    processes: HashSet<String>,
    /// Names introduced by `P gup PIN ...`.
    pins: HashSet<String>,
    /// Variables bound by `let`.
    vars: HashSet<String>,
    /// Line of the `machine` command, once seen.
    machine_line: Option<u32>,
    /// Whether a command other than `machine` and `variant` has been seen.
    setup_done: bool,
}

/// Which kind of name a command introduces.
#[derive(Clone, Copy)]
enum NameKind {
    Process,
    Pin,
}

impl Scope {
    fn statement(&mut self, line: u32, tokens: Vec<Token>) -> Parsed<StmtKind> {
        let frame = split(&tokens)?;
        let head = self.head_kind(&frame.cmd[0])?;
        self.check_placement(line, &tokens[0], &frame, head)?;
        let deferred = self.check_vars(&tokens)?;
        let kind = if deferred {
            StmtKind::Deferred(Deferred {
                tokens: tokens.clone(),
                head,
            })
        } else {
            typed(head, &frame)?
        };
        if let Some((name_kind, token)) = introduced_name(head, frame.cmd) {
            self.introduce(name_kind, token)?;
        }
        if let Shape::Let { var } = frame.shape {
            self.vars.insert(var.raw.clone());
        }
        Ok(kind)
    }

    fn head_kind(&self, token: &Token) -> Parsed<HeadKind> {
        let Some(word) = token.word() else {
            return Err(ColumnError::new(
                token.column,
                "a command starts with a word, not a string",
            ));
        };
        if word.contains('$') {
            Err(ColumnError::new(
                token.column,
                "a command's first word must be written out, not taken from a variable",
            ))
        } else if self.processes.contains(word) {
            Ok(HeadKind::Process)
        } else if self.pins.contains(word) {
            Ok(HeadKind::Pin)
        } else if command_parser(word).is_some() {
            Ok(HeadKind::Keyword)
        } else if word == "let" || word == "expect" {
            Err(ColumnError::new(
                token.column,
                format!("`{word}` cannot stand inside another statement"),
            ))
        } else {
            Err(ColumnError::new(
                token.column,
                format!("unknown command `{word}`"),
            ))
        }
    }

    /// `machine` first and once; `variant` only right after it; both alone on their
    /// lines.
    fn check_placement(
        &mut self,
        line: u32,
        first: &Token,
        frame: &Frame<'_>,
        head: HeadKind,
    ) -> Parsed<()> {
        let head_token = &frame.cmd[0];
        let keyword = match head {
            HeadKind::Keyword => head_token.raw.as_str(),
            HeadKind::Process | HeadKind::Pin => "",
        };
        let at = |message: String| Err(ColumnError::new(head_token.column, message));
        match keyword {
            "machine" | "variant" if !matches!(frame.shape, Shape::Plain) => {
                at(format!("`{keyword}` must stand alone on its line"))
            }
            "machine" => match self.machine_line.replace(line) {
                Some(first_line) => at(format!(
                    "`machine` may appear only once (first on line {first_line})"
                )),
                None => Ok(()),
            },
            _ if self.machine_line.is_none() => Err(ColumnError::new(
                first.column,
                "the first command must be `machine`",
            )),
            "variant" if self.setup_done => {
                at("`variant` lines must come right after `machine`".to_owned())
            }
            "variant" => Ok(()),
            _ => {
                self.setup_done = true;
                Ok(())
            }
        }
    }

    /// Checks that every `$VAR` was bound by an earlier `let`; tells whether there is
    /// any.
    fn check_vars(&self, tokens: &[Token]) -> Parsed<bool> {
        let mut any = false;
        for token in tokens {
            for var in lexer::var_refs(token)? {
                if !self.vars.contains(var.name) {
                    return Err(ColumnError::new(
                        var.column,
                        format!("`${}` is not bound by an earlier `let`", var.name),
                    ));
                }
                any = true;
            }
        }
        Ok(any)
    }

    fn introduce(&mut self, kind: NameKind, token: &Token) -> Parsed<()> {
        let name = token.raw.as_str();
        let at = |message: String| Err(ColumnError::new(token.column, message));
        if name.contains('$') {
            return at(format!(
                "a new process or pin name must be written out, not taken from a variable (`{name}`)"
            ));
        }
        if !lexer::is_name(name) {
            return at(format!(
                "bad name `{name}` (a name is [A-Za-z_][A-Za-z0-9_-]*)"
            ));
        }
        if is_reserved(name) {
            return at(format!("`{name}` is a command word and cannot be a name"));
        }
        let (mine, other, other_kind) = match kind {
            NameKind::Process => (&mut self.processes, &self.pins, "pin"),
            NameKind::Pin => (&mut self.pins, &self.processes, "process"),
        };
        if other.contains(name) {
            return at(format!("`{name}` already names a {other_kind}"));
        }
        mine.insert(name.to_owned());
        Ok(())
    }
}

/// The name a command introduces: `spawn P`, `P fork Q`, `P gup PIN ...`.
fn introduced_name(head: HeadKind, cmd: &[Token]) -> Option<(NameKind, &Token)> {
    let verb = cmd.get(1)?;
    match head {
        HeadKind::Keyword if cmd[0].is_word("spawn") => Some((NameKind::Process, verb)),
        HeadKind::Process if verb.is_word("fork") => Some((NameKind::Process, cmd.get(2)?)),
        HeadKind::Process if verb.is_word("gup") => Some((NameKind::Pin, cmd.get(2)?)),
        _ => None,
    }
}

const TERMINATORS: [&str; 5] = ["==", "!=", "has", "fails", "violates"];

fn is_reserved(name: &str) -> bool {
    name == "let"
        || name == "expect"
        || TERMINATORS.contains(&name)
        || command_parser(name).is_some()
}

/// A statement cut into its frame and its command.
struct Frame<'t> {
    shape: Shape<'t>,
    /// The command's tokens (never empty).
    cmd: &'t [Token],
    /// Where a missing argument of the command is reported: the token after the
    /// command, or the end of the line.
    cmd_end: u32,
}

enum Shape<'t> {
    Plain,
    Let {
        var: &'t Token,
    },
    /// `cond` starts with the terminator token.
    Expect {
        cond: &'t [Token],
    },
}

fn split(tokens: &[Token]) -> Parsed<Frame<'_>> {
    let first = tokens
        .first()
        .ok_or_else(|| ColumnError::new(1, "missing command"))?;
    let line_end = tokens[tokens.len() - 1].end_column();
    if first.is_word("let") {
        let mut args = Args::new(tokens, line_end);
        args.next = 1;
        let var = args.token("VAR in `let VAR = COMMAND`")?;
        if !var.word().is_some_and(lexer::is_name) {
            return Err(ColumnError::new(
                var.column,
                format!("bad variable name `{}` in `let VAR = COMMAND`", var.raw),
            ));
        }
        let eq = args.token("`=` in `let VAR = COMMAND`")?;
        if !eq.is_word("=") {
            return Err(ColumnError::new(
                eq.column,
                format!("expected `=` in `let VAR = COMMAND`, found `{}`", eq.raw),
            ));
        }
        args.token("COMMAND in `let VAR = COMMAND`")?;
        Ok(Frame {
            shape: Shape::Let { var },
            cmd: &tokens[3..],
            cmd_end: line_end,
        })
    } else if first.is_word("expect") {
        let at = tokens
            .iter()
            .position(|t| t.word().is_some_and(|w| TERMINATORS.contains(&w)))
            .ok_or_else(|| {
                ColumnError::new(
                    line_end,
                    "`expect COMMAND` needs `==`, `!=`, `has`, `fails` or `violates`",
                )
            })?;
        if at == 1 {
            return Err(ColumnError::new(
                tokens[1].column,
                "missing COMMAND in `expect COMMAND ...`",
            ));
        }
        Ok(Frame {
            shape: Shape::Expect {
                cond: &tokens[at..],
            },
            cmd: &tokens[1..at],
            cmd_end: tokens[at].column,
        })
    } else {
        Ok(Frame {
            shape: Shape::Plain,
            cmd: tokens,
            cmd_end: line_end,
        })
    }
}

fn typed(head: HeadKind, frame: &Frame<'_>) -> Parsed<StmtKind> {
    let cmd = command(head, frame.cmd, frame.cmd_end)?;
    Ok(match frame.shape {
        Shape::Plain => StmtKind::Command(cmd),
        Shape::Let { var } => StmtKind::Let {
            var: var.raw.clone(),
            cmd,
        },
        Shape::Expect { cond } => StmtKind::Expect {
            cmd,
            cond: expect_cond(cond)?,
        },
    })
}

fn expect_cond(tokens: &[Token]) -> Parsed<ExpectCond> {
    let line_end = tokens.last().map_or(1, Token::end_column);
    let mut args = Args::new(tokens, line_end);
    let op = args.word("`==`, `!=`, `has`, `fails` or `violates`")?;
    let cond = match op.text {
        "==" | "!=" => {
            let rest = args.rest();
            if rest.is_empty() {
                return Err(ColumnError::new(line_end, "missing VALUE"));
            }
            let value = value(rest);
            if op.text == "==" {
                ExpectCond::Eq(value)
            } else {
                ExpectCond::Ne(value)
            }
        }
        "has" => {
            let flags = args.word("FLAG[,FLAG...]")?;
            ExpectCond::Has(
                flags
                    .pieces(',')
                    .map(|flag| flag.name("flag name"))
                    .collect::<Parsed<_>>()?,
            )
        }
        "fails" => ExpectCond::Fails(args.word("ERRNO")?.errno()?),
        "violates" => ExpectCond::Violates(args.word("a check")?.keyword(VIOLATIONS)?),
        other => {
            return Err(ColumnError::new(
                op.column,
                format!("expected `==`, `!=`, `has`, `fails` or `violates`, found `{other}`"),
            ))
        }
    };
    args.finish()?;
    Ok(cond)
}

/// The VALUE of `expect COMMAND == VALUE`.
fn value(tokens: &[Token]) -> Value {
    let raw = tokens
        .iter()
        .flat_map(|token| match token.kind {
            TokenKind::Word => token.raw.split_whitespace().collect(),
            TokenKind::Str(_) => vec![token.raw.as_str()],
        })
        .collect::<Vec<_>>()
        .join(" ");
    let kind = match tokens {
        [token] => match &token.kind {
            TokenKind::Str(bytes) => ValueKind::Text(bytes.clone()),
            TokenKind::Word => byte_literal(&token.raw).map_or(ValueKind::Words, ValueKind::Byte),
        },
        _ => ValueKind::Words,
    };
    Value { raw, kind }
}

/// `0xNN`, exactly two hex digits.
fn byte_literal(text: &str) -> Option<u8> {
    let digits = text.strip_prefix("0x")?;
    if digits.len() == 2 && digits.chars().all(|c| c.is_ascii_hexdigit()) {
        u8::from_str_radix(digits, 16).ok()
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------
// Commands

type CommandParser = fn(&mut Args<'_>) -> Parsed<Cmd>;

/// The command keywords and their parsers; a command's first token is looked up here
/// unless it names a process or a pin.
const COMMANDS: &[(&str, CommandParser)] = &[
    ("machine", machine),
    ("variant", variant),
    ("hotplug", hotplug),
    ("sysfs", sysfs),
    ("sparse", sparse),
    ("section", section),
    ("pfn_valid", |a| {
        Ok(Cmd::PfnValid {
            pfn: a.number("PFN")?,
        })
    }),
    ("pfn_to_online_page", |a| {
        Ok(Cmd::PfnToOnlinePage {
            pfn: a.number("PFN")?,
        })
    }),
    ("page", page),
    ("hwpoison", |a| {
        Ok(Cmd::Hwpoison {
            pfn: a.number("PFN")?,
        })
    }),
    ("notifier", notifier),
    ("online_page_callback", online_page_callback),
    ("zoneinfo", zoneinfo),
    ("nodeinfo", |a| {
        Ok(Cmd::Nodeinfo {
            node: a.word("NODE")?.small()?,
            field: a.field()?,
        })
    }),
    ("meminfo", |a| Ok(Cmd::Meminfo { field: a.field()? })),
    ("kcore", kcore),
    ("kpageflags", kpageflags),
    ("kpagecount", |a| {
        Ok(Cmd::Kpagecount {
            pfn: a.number("PFN")?,
        })
    }),
    ("spawn", |a| Ok(Cmd::Spawn { proc: a.name("P")? })),
    ("file", |a| {
        let name = a.name("F")?;
        let size = a.size("SIZE")?;
        let mut hugetlb = None;
        for token in a.rest() {
            match as_word(token, "a file option")?.text {
                "hugetlb" => set_once(&mut hugetlb, (), token)?,
                _ => return Err(as_word(token, "a file option")?.unknown_option("file")),
            }
        }
        Ok(Cmd::File {
            name,
            size,
            hugetlb: hugetlb.is_some(),
        })
    }),
    ("release", |a| {
        Ok(Cmd::Release {
            pin: a.name("PIN")?,
        })
    }),
    ("ksm", |a| {
        let sub = a.word("`run`")?;
        match sub.text {
            "run" => Ok(Cmd::KsmRun),
            _ => Err(sub.unknown("ksm")),
        }
    }),
    ("virtio-mem", virtio_mem),
    ("balloon", balloon),
    ("check", |_| Ok(Cmd::Check)),
];

fn command_parser(keyword: &str) -> Option<CommandParser> {
    COMMANDS
        .iter()
        .find(|(name, _)| *name == keyword)
        .map(|&(_, parser)| parser)
}

fn command(head: HeadKind, tokens: &[Token], end: u32) -> Parsed<Cmd> {
    let mut args = Args::new(tokens, end);
    let first = args.word("a command")?;
    let cmd = match head {
        HeadKind::Keyword => {
            let parser = command_parser(first.text).ok_or_else(|| {
                ColumnError::new(first.column, format!("unknown command `{}`", first.text))
            })?;
            parser(&mut args)?
        }
        HeadKind::Process => process_command(first.text.to_owned(), &mut args)?,
        HeadKind::Pin => pin_command(first.text.to_owned(), &mut args)?,
    };
    args.finish()?;
    Ok(cmd)
}

const DEFAULT_BLOCK: u64 = 128 << 20;
const MIN_BLOCK: u64 = 128 << 20;
const DEFAULT_MAX_PHYS: u64 = 1 << 40;

fn machine(a: &mut Args<'_>) -> Parsed<Cmd> {
    let mut ram = None;
    let mut block = None;
    let mut nodes = None;
    let mut movable = None;
    let mut swap = None;
    let mut hugepages = None;
    let mut auto_online = None;
    let mut max_phys = None;
    for token in a.rest() {
        let (key, value) = key_value(token, "a machine option KEY=VALUE")?;
        match key {
            "ram" => set_once(&mut ram, value.size()?, token)?,
            "block" => {
                let size = value.size()?;
                if !size.is_power_of_two() || size < MIN_BLOCK {
                    return Err(ColumnError::new(
                        value.column,
                        format!(
                            "block size `{}` must be a power of two of at least 128M",
                            value.text
                        ),
                    ));
                }
                set_once(&mut block, size, token)?;
            }
            "nodes" => {
                let n: u32 = value.small()?;
                if n == 0 {
                    return Err(ColumnError::new(value.column, "nodes must be at least 1"));
                }
                set_once(&mut nodes, n, token)?;
            }
            "movable" => set_once(&mut movable, value.size()?, token)?,
            "swap" => set_once(&mut swap, value.size()?, token)?,
            "hugepages" => set_once(&mut hugepages, value.number()?, token)?,
            "auto_online" => set_once(&mut auto_online, value.keyword(AUTO_ONLINE)?, token)?,
            "max_phys" => set_once(&mut max_phys, value.size()?, token)?,
            _ => {
                return Err(ColumnError::new(
                    token.column,
                    format!("unknown machine option `{key}`"),
                ))
            }
        }
    }
    Ok(Cmd::Machine(MachineSpec {
        ram: ram.ok_or_else(|| ColumnError::new(a.end, "missing `ram=SIZE`"))?,
        block: block.unwrap_or(DEFAULT_BLOCK),
        nodes: nodes.unwrap_or(1),
        movable: movable.unwrap_or(0),
        swap: swap.unwrap_or(0),
        hugepages: hugepages.unwrap_or(0),
        auto_online: auto_online.unwrap_or(AutoOnline::Offline),
        max_phys: max_phys.unwrap_or(DEFAULT_MAX_PHYS),
    }))
}

fn variant(a: &mut Args<'_>) -> Parsed<Cmd> {
    if a.peek().is_none() {
        return Err(ColumnError::new(a.end, "missing KEY=VALUE"));
    }
    let settings = a
        .rest()
        .iter()
        .map(|token| {
            let (key, value) = key_value(token, "a variant KEY=VALUE")?;
            if !lexer::is_name(key) || value.text.is_empty() {
                return Err(ColumnError::new(
                    token.column,
                    format!("bad variant `{}` (expected KEY=VALUE)", token.raw),
                ));
            }
            Ok((key.to_owned(), value.text.to_owned()))
        })
        .collect::<Parsed<_>>()?;
    Ok(Cmd::Variant { settings })
}

fn hotplug(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`add`, `remove` or `offline_and_remove`")?;
    let (addr, size) = match sub.text {
        "add" | "remove" | "offline_and_remove" => (a.number("ADDR")?, a.size("SIZE")?),
        _ => return Err(sub.unknown("hotplug")),
    };
    Ok(match sub.text {
        "add" => Cmd::HotplugAdd {
            addr,
            size,
            node: a.node()?,
        },
        "remove" => Cmd::HotplugRemove { addr, size },
        _ => Cmd::HotplugOfflineAndRemove { addr, size },
    })
}

fn sysfs(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`read`, `write`, `ls` or `export`")?;
    Ok(match sub.text {
        "read" => Cmd::SysfsRead {
            path: a.word("PATH")?.sys_path()?,
        },
        "write" => Cmd::SysfsWrite {
            path: a.word("PATH")?.sys_path()?,
            value: match a.token("VALUE")? {
                Token {
                    kind: TokenKind::Str(bytes),
                    ..
                } => bytes.clone(),
                word => word.raw.as_bytes().to_vec(),
            },
            signal_after: a.option("signal_after").map(Word::duration).transpose()?,
        },
        "ls" => Cmd::SysfsLs {
            path: a.word("PATH")?.sys_path()?,
        },
        "export" => Cmd::SysfsExport {
            dir: a.host_path("DIR")?,
        },
        _ => return Err(sub.unknown("sysfs")),
    })
}

fn sparse(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`add` or `remove`")?;
    Ok(match sub.text {
        "add" => Cmd::SparseAdd {
            addr: a.number("ADDR")?,
            size: a.size("SIZE")?,
            node: a.node()?,
        },
        "remove" => Cmd::SparseRemove {
            addr: a.number("ADDR")?,
            size: a.size("SIZE")?,
        },
        _ => return Err(sub.unknown("sparse")),
    })
}

fn section(a: &mut Args<'_>) -> Parsed<Cmd> {
    Ok(Cmd::Section {
        nr: a.number("NR")?,
        field: a.field()?,
    })
}

fn page(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`alloc`, `free`, `mark`, `fill`, `get`, `put` or `show`")?;
    Ok(match sub.text {
        "alloc" => page_alloc(a)?,
        "free" => Cmd::PageFree {
            name: a.name("NAME")?,
        },
        "mark" => {
            let name = a.name("NAME")?;
            if a.peek().is_none() {
                return Err(ColumnError::new(a.end, "missing MARK"));
            }
            let mut marks = Vec::new();
            for token in a.rest() {
                let mark = as_word(token, "a page mark")?.keyword(PAGE_MARKS)?;
                if marks.contains(&mark) {
                    return Err(repeated(token));
                }
                marks.push(mark);
            }
            Cmd::PageMark { name, marks }
        }
        "fill" => Cmd::PageFill {
            name: a.name("NAME")?,
            byte: a.word("BYTE")?.byte()?,
        },
        "get" => Cmd::PageGet {
            pfn: a.number("PFN")?,
        },
        "put" => Cmd::PagePut {
            pfn: a.number("PFN")?,
        },
        "show" => Cmd::PageShow {
            pfn: a.number("PFN")?,
            field: a.field()?,
        },
        _ => return Err(sub.unknown("page")),
    })
}

/// `page alloc NAME [order=N] [movable] [node=N]` or `page alloc NAME pfn=PFN [nr=N]`.
fn page_alloc(a: &mut Args<'_>) -> Parsed<Cmd> {
    let name = a.name("NAME")?;
    let mut order = None;
    let mut movable = None;
    let mut node = None;
    let mut pfn = None;
    let mut nr = None;
    // Whether an option of each form was seen, to report mixing them.
    let mut buddy_seen = false;
    let mut contig_seen = false;
    for token in a.rest() {
        let word = as_word(token, "a page alloc option")?;
        let is_contig = match word.text {
            "movable" => {
                set_once(&mut movable, (), token)?;
                false
            }
            _ => match word.option() {
                Some(("order", value)) => {
                    set_once(&mut order, value.small()?, token)?;
                    false
                }
                Some(("node", value)) => {
                    set_once(&mut node, value.small()?, token)?;
                    false
                }
                Some(("pfn", value)) => {
                    set_once(&mut pfn, value.number()?, token)?;
                    true
                }
                Some(("nr", value)) => {
                    set_once(&mut nr, value.number()?, token)?;
                    true
                }
                _ => return Err(word.unknown_option("page alloc")),
            },
        };
        let (mine, other) = if is_contig {
            (&mut contig_seen, buddy_seen)
        } else {
            (&mut buddy_seen, contig_seen)
        };
        if other {
            return Err(ColumnError::new(
                token.column,
                "`order=`, `movable` and `node=` (buddy) do not mix with `pfn=` and `nr=` (contiguous range)",
            ));
        }
        *mine = true;
    }
    let how = match (pfn, nr) {
        (Some(pfn), nr) => PageAlloc::Contig {
            pfn,
            nr: nr.unwrap_or(1),
        },
        (None, Some(_)) => return Err(ColumnError::new(a.end, "missing `pfn=PFN` for `nr=`")),
        (None, None) => PageAlloc::Buddy {
            order: order.unwrap_or(0),
            movable: movable.is_some(),
            node,
        },
    };
    Ok(Cmd::PageAlloc { name, how })
}

fn notifier(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`add`, `remove` or `log`")?;
    let name = match sub.text {
        "add" | "remove" | "log" => a.name("NAME")?,
        _ => return Err(sub.unknown("notifier")),
    };
    Ok(match sub.text {
        "add" => {
            let mut priority = None;
            let mut going_online = None;
            let mut going_offline = None;
            for token in a.rest() {
                let word = as_word(token, "a notifier option")?;
                match word.option() {
                    Some(("priority", value)) => set_once(&mut priority, value.int()?, token)?,
                    Some(("going_online", value)) => {
                        set_once(&mut going_online, value.notifier_action()?, token)?
                    }
                    Some(("going_offline", value)) => {
                        set_once(&mut going_offline, value.notifier_action()?, token)?
                    }
                    _ => return Err(word.unknown_option("notifier add")),
                }
            }
            Cmd::NotifierAdd {
                name,
                priority: priority.unwrap_or(0),
                going_online: going_online.unwrap_or(NotifierAction::Ok),
                going_offline: going_offline.unwrap_or(NotifierAction::Ok),
            }
        }
        "remove" => Cmd::NotifierRemove { name },
        _ => Cmd::NotifierLog { name },
    })
}

fn online_page_callback(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`set` or `restore`")?;
    Ok(match sub.text {
        "set" => Cmd::OnlinePageCallbackSet {
            name: a.name("NAME")?,
            keep: a
                .option("keep")
                .map(|value| {
                    let mut parts = value.pieces(',');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(addr), Some(size), None) => Ok((addr.number()?, size.size()?)),
                        _ => Err(ColumnError::new(
                            value.column,
                            format!("expected keep=ADDR,SIZE, found keep={}", value.text),
                        )),
                    }
                })
                .transpose()?,
        },
        "restore" => Cmd::OnlinePageCallbackRestore {
            name: a.name("NAME")?,
        },
        _ => return Err(sub.unknown("online_page_callback")),
    })
}

fn zoneinfo(a: &mut Args<'_>) -> Parsed<Cmd> {
    Ok(Cmd::Zoneinfo {
        node: a.word("NODE")?.small()?,
        zone: a.word("ZONE")?.keyword(ZONES)?,
        field: a.field()?,
    })
}

fn kcore(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`read` or `page`")?;
    Ok(match sub.text {
        "read" => Cmd::KcoreRead {
            addr: a.number("ADDR")?,
            len: a.size("LEN")?,
        },
        "page" => {
            let pfn = a.number("PFN")?;
            let first = a.size("LEN")?;
            let (off, len) = match a.peek() {
                Some(_) => (first, a.size("LEN")?),
                None => (0, first),
            };
            Cmd::KcorePage { pfn, off, len }
        }
        _ => return Err(sub.unknown("kcore")),
    })
}

fn kpageflags(a: &mut Args<'_>) -> Parsed<Cmd> {
    if a.peek().is_some_and(|token| token.is_word("dump")) {
        a.next += 1;
        Ok(Cmd::KpageflagsDump {
            file: a.host_path("FILE")?,
        })
    } else {
        Ok(Cmd::Kpageflags {
            pfn: a.number("PFN")?,
        })
    }
}

fn virtio_mem(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`add`, `resize`, `show` or `request`")?;
    let dev = match sub.text {
        "add" | "resize" | "show" | "request" => a.name("DEV")?,
        _ => return Err(sub.unknown("virtio-mem")),
    };
    Ok(match sub.text {
        "add" => virtio_mem_add(dev, a)?,
        "resize" => Cmd::VirtioMemResize {
            dev,
            size: a.size("SIZE")?,
        },
        "show" => Cmd::VirtioMemShow {
            dev,
            field: a.field()?,
        },
        _ => {
            let kind = a.word("`plug`, `unplug`, `unplug_all` or `state`")?;
            let req = match kind.text {
                // VIRTIO_MEM_REQ_UNPLUG_ALL carries no range on the wire; one written
                // as in the other requests is accepted and checked, not sent.
                "unplug_all" => {
                    if a.peek().is_some() {
                        a.number("ADDR")?;
                        a.word("NB_BLOCKS")?.small::<u16>()?;
                    }
                    VirtioMemRequest::UnplugAll
                }
                "plug" | "unplug" | "state" => {
                    let addr = a.number("ADDR")?;
                    let nb_blocks = a.word("NB_BLOCKS")?.small()?;
                    match kind.text {
                        "plug" => VirtioMemRequest::Plug { addr, nb_blocks },
                        "unplug" => VirtioMemRequest::Unplug { addr, nb_blocks },
                        _ => VirtioMemRequest::State { addr, nb_blocks },
                    }
                }
                _ => return Err(kind.unknown("virtio-mem request")),
            };
            Cmd::VirtioMemRequest { dev, req }
        }
    })
}

/// `virtio-mem add DEV addr=ADDR size=SIZE block=SIZE [node=N] [requested=SIZE]
/// [inaccessible] [nodriver]`.
fn virtio_mem_add(dev: String, a: &mut Args<'_>) -> Parsed<Cmd> {
    let mut addr = None;
    let mut size = None;
    let mut block = None;
    let mut node = None;
    let mut requested = None;
    let mut inaccessible = None;
    let mut nodriver = None;
    for token in a.rest() {
        let word = as_word(token, "a virtio-mem option")?;
        match word.text {
            "inaccessible" => set_once(&mut inaccessible, (), token)?,
            "nodriver" => set_once(&mut nodriver, (), token)?,
            _ => match word.option() {
                Some(("addr", value)) => set_once(&mut addr, value.number()?, token)?,
                Some(("size", value)) => set_once(&mut size, value.size()?, token)?,
                Some(("block", value)) => set_once(&mut block, value.size()?, token)?,
                Some(("node", value)) => set_once(&mut node, value.small()?, token)?,
                Some(("requested", value)) => set_once(&mut requested, value.size()?, token)?,
                _ => return Err(word.unknown_option("virtio-mem add")),
            },
        }
    }
    let missing = |what: &str| ColumnError::new(a.end, format!("missing `{what}`"));
    Ok(Cmd::VirtioMemAdd {
        dev,
        addr: addr.ok_or_else(|| missing("addr=ADDR"))?,
        size: size.ok_or_else(|| missing("size=SIZE"))?,
        block: block.ok_or_else(|| missing("block=SIZE"))?,
        node,
        requested: requested.unwrap_or(0),
        inaccessible: inaccessible.is_some(),
        nodriver: nodriver.is_some(),
    })
}

fn balloon(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub = a.word("`inflate` or `deflate`")?;
    Ok(match sub.text {
        "inflate" => Cmd::BalloonInflate {
            size: a.size("SIZE")?,
        },
        "deflate" => Cmd::BalloonDeflate {
            size: a.size("SIZE")?,
        },
        _ => return Err(sub.unknown("balloon")),
    })
}

/// `P VERB ...`, P a process.
fn process_command(proc: String, a: &mut Args<'_>) -> Parsed<Cmd> {
    let verb = a.word("a process command (mmap, write, read, fork, gup, ...)")?;
    Ok(match verb.text {
        "mmap" => mmap(proc, a)?,
        "munmap" => Cmd::Munmap {
            proc,
            name: a.name("NAME")?,
            range: a.range()?,
        },
        "mprotect" => Cmd::Mprotect {
            proc,
            name: a.name("NAME")?,
            prot: a.word("none, ro or rw")?.keyword(PROTS)?,
            range: a.range()?,
        },
        "madvise" => Cmd::Madvise {
            proc,
            name: a.name("NAME")?,
            advice: a.word("an advice")?.keyword(ADVICES)?,
            range: a.range()?,
        },
        "touch" => Cmd::Touch {
            proc,
            name: a.name("NAME")?,
            range: a.range()?,
        },
        "write" => {
            let place = a.place()?;
            let data = match a.peek() {
                Some(Token {
                    kind: TokenKind::Str(bytes),
                    ..
                }) => {
                    a.next += 1;
                    WriteData::Text(bytes.clone())
                }
                _ => WriteData::Fill {
                    len: a.size("LEN")?,
                    byte: a.word("BYTE")?.byte()?,
                },
            };
            Cmd::Write { proc, place, data }
        }
        "read" => Cmd::Read {
            proc,
            place: a.place()?,
            len: a.size("LEN")?,
        },
        "fork" => Cmd::Fork {
            proc,
            child: a.name("Q")?,
        },
        "exit" => Cmd::Exit { proc },
        "clear_refs" => Cmd::ClearRefs { proc },
        "gup" => gup(proc, a)?,
        "pagemap" => Cmd::Pagemap {
            proc,
            place: a.place()?,
        },
        "pte" => Cmd::Pte {
            proc,
            place: a.place()?,
        },
        "pfn" => Cmd::Pfn {
            proc,
            place: a.place()?,
        },
        "smaps" => Cmd::Smaps {
            proc,
            name: a.name("NAME")?,
        },
        _ => return Err(verb.unknown("process")),
    })
}

/// `P mmap NAME SIZE [anon|file=F] [private|shared] [ro|rw|none] [thp] [hugetlb]
/// [populate]`, options in any order.
fn mmap(proc: String, a: &mut Args<'_>) -> Parsed<Cmd> {
    let name = a.name("NAME")?;
    let size = a.size("SIZE")?;
    let mut backing = None;
    let mut sharing = None;
    let mut prot = None;
    let mut thp = None;
    let mut hugetlb = None;
    let mut populate = None;
    for token in a.rest() {
        let word = as_word(token, "an mmap option")?;
        match word.text {
            "anon" => set_once(&mut backing, Backing::Anon, token)?,
            "private" => set_once(&mut sharing, Sharing::Private, token)?,
            "shared" => set_once(&mut sharing, Sharing::Shared, token)?,
            "ro" | "rw" | "none" => set_once(&mut prot, word.keyword(PROTS)?, token)?,
            "thp" => set_once(&mut thp, (), token)?,
            "hugetlb" => set_once(&mut hugetlb, (), token)?,
            "populate" => set_once(&mut populate, (), token)?,
            _ => match word.option() {
                Some(("file", file)) => {
                    set_once(&mut backing, Backing::File(file.name("file name")?), token)?
                }
                _ => return Err(word.unknown_option("mmap")),
            },
        }
    }
    Ok(Cmd::Mmap {
        proc,
        name,
        size,
        backing: backing.unwrap_or(Backing::Anon),
        sharing: sharing.unwrap_or(Sharing::Private),
        prot: prot.unwrap_or(Prot::ReadWrite),
        thp: thp.is_some(),
        hugetlb: hugetlb.is_some(),
        populate: populate.is_some(),
    })
}

/// `P gup PIN PLACE LEN [write] [get|pin] [fast] [longterm]`, options in any order.
fn gup(proc: String, a: &mut Args<'_>) -> Parsed<Cmd> {
    let pin = a.name("PIN")?;
    let place = a.place()?;
    let len = a.size("LEN")?;
    let mut write = None;
    let mut kind = None;
    let mut fast = None;
    let mut longterm = None;
    for token in a.rest() {
        let word = as_word(token, "a gup option")?;
        match word.text {
            "write" => set_once(&mut write, (), token)?,
            "get" => set_once(&mut kind, GupKind::Get, token)?,
            "pin" => set_once(&mut kind, GupKind::Pin, token)?,
            "fast" => set_once(&mut fast, (), token)?,
            "longterm" => set_once(&mut longterm, (), token)?,
            _ => return Err(word.unknown_option("gup")),
        }
    }
    Ok(Cmd::Gup {
        proc,
        pin,
        place,
        len,
        write: write.is_some(),
        kind: kind.unwrap_or(GupKind::Pin),
        fast: fast.is_some(),
        longterm: longterm.is_some(),
    })
}

/// `PIN read OFF LEN` or `PIN write OFF LEN BYTE`.
fn pin_command(pin: String, a: &mut Args<'_>) -> Parsed<Cmd> {
    let verb = a.word("`read` or `write`")?;
    Ok(match verb.text {
        "read" => Cmd::PinRead {
            pin,
            off: a.size("OFF")?,
            len: a.size("LEN")?,
        },
        "write" => Cmd::PinWrite {
            pin,
            off: a.size("OFF")?,
            len: a.size("LEN")?,
            byte: a.word("BYTE")?.byte()?,
        },
        _ => return Err(verb.unknown("pin")),
    })
}

// ---------------------------------------------------------------------------------
// Keyword tables

const AUTO_ONLINE: &[(&str, AutoOnline)] = &[
    ("offline", AutoOnline::Offline),
    ("online", AutoOnline::Online),
    ("online_kernel", AutoOnline::OnlineKernel),
    ("online_movable", AutoOnline::OnlineMovable),
];

const PAGE_MARKS: &[(&str, PageMark)] = &[
    ("reserved", PageMark::Reserved),
    ("offline", PageMark::Offline),
    ("fake_offline", PageMark::FakeOffline),
    ("movable_ops", PageMark::MovableOps),
    ("table", PageMark::Table),
    ("slab", PageMark::Slab),
];

const ZONES: &[(&str, ZoneType)] = &[
    ("DMA", ZoneType::Dma),
    ("DMA32", ZoneType::Dma32),
    ("Normal", ZoneType::Normal),
    ("Movable", ZoneType::Movable),
];

const PROTS: &[(&str, Prot)] = &[
    ("none", Prot::None),
    ("ro", Prot::ReadOnly),
    ("rw", Prot::ReadWrite),
];

const ADVICES: &[(&str, Advice)] = &[
    ("dontneed", Advice::DontNeed),
    ("pageout", Advice::PageOut),
    ("mergeable", Advice::Mergeable),
    ("unmergeable", Advice::Unmergeable),
    ("hugepage", Advice::HugePage),
    ("nohugepage", Advice::NoHugePage),
    ("collapse", Advice::Collapse),
    ("dontfork", Advice::DontFork),
    ("dofork", Advice::DoFork),
];

const VIOLATIONS: &[(&str, ViolationKind)] = &[
    ("oracle", ViolationKind::Oracle),
    ("invariant", ViolationKind::Invariant),
    ("fatal-access", ViolationKind::FatalAccess),
];

// ---------------------------------------------------------------------------------
// Arguments

/// A cursor over a command's tokens.
struct Args<'t> {
    tokens: &'t [Token],
    next: usize,
    /// Column reported for a missing argument.
    end: u32,
}

impl<'t> Args<'t> {
    fn new(tokens: &'t [Token], end: u32) -> Args<'t> {
        Args {
            tokens,
            next: 0,
            end,
        }
    }

    fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.next)
    }

    fn token(&mut self, what: &str) -> Parsed<&'t Token> {
        let token = self
            .peek()
            .ok_or_else(|| ColumnError::new(self.end, format!("missing {what}")))?;
        self.next += 1;
        Ok(token)
    }

    fn word(&mut self, what: &str) -> Parsed<Word<'t>> {
        as_word(self.token(what)?, what)
    }

    /// All tokens not consumed yet.
    fn rest(&mut self) -> &'t [Token] {
        let rest = &self.tokens[self.next..];
        self.next = self.tokens.len();
        rest
    }

    /// Errors on a token left over.
    fn finish(&self) -> Parsed<()> {
        match self.peek() {
            Some(token) => Err(ColumnError::new(
                token.column,
                format!("unexpected `{}`", token.raw),
            )),
            None => Ok(()),
        }
    }

    fn name(&mut self, what: &str) -> Parsed<String> {
        self.word(what)?.name(what)
    }

    fn number(&mut self, what: &str) -> Parsed<u64> {
        self.word(what)?.number()
    }

    fn size(&mut self, what: &str) -> Parsed<u64> {
        self.word(what)?.size()
    }

    fn place(&mut self) -> Parsed<Place> {
        self.word("PLACE")?.place()
    }

    /// An optional trailing FIELD.
    fn field(&mut self) -> Parsed<Option<String>> {
        match self.peek() {
            Some(_) => Ok(Some(self.word("FIELD")?.text.to_owned())),
            None => Ok(None),
        }
    }

    /// An optional trailing `[OFF LEN]`.
    fn range(&mut self) -> Parsed<Option<ByteRange>> {
        match self.peek() {
            Some(_) => Ok(Some(ByteRange {
                off: self.size("OFF")?,
                len: self.size("LEN")?,
            })),
            None => Ok(None),
        }
    }

    /// A host file system path: a word or a string.
    fn host_path(&mut self, what: &str) -> Parsed<String> {
        let token = self.token(what)?;
        match &token.kind {
            TokenKind::Word => Ok(token.raw.clone()),
            TokenKind::Str(bytes) => String::from_utf8(bytes.clone())
                .map_err(|_| ColumnError::new(token.column, format!("{what} must be UTF-8"))),
        }
    }

    /// The value of the next token if it is `key=VALUE`; otherwise consumes nothing.
    fn option(&mut self, key: &str) -> Option<Word<'t>> {
        let (found, value) = as_word(self.peek()?, "").ok()?.option()?;
        if found != key {
            return None;
        }
        self.next += 1;
        Some(value)
    }

    /// An optional trailing `node=N`.
    fn node(&mut self) -> Parsed<Option<u32>> {
        self.option("node").map(Word::small).transpose()
    }
}

fn as_word<'t>(token: &'t Token, what: &str) -> Parsed<Word<'t>> {
    match token.word() {
        Some(text) => Ok(Word {
            text,
            column: token.column,
        }),
        None => Err(ColumnError::new(
            token.column,
            format!("expected {what}, found a string"),
        )),
    }
}

/// Splits a `KEY=VALUE` token.
fn key_value<'t>(token: &'t Token, what: &str) -> Parsed<(&'t str, Word<'t>)> {
    as_word(token, what)?.option().ok_or_else(|| {
        ColumnError::new(
            token.column,
            format!("expected {what}, found `{}`", token.raw),
        )
    })
}

/// Stores an option's value, or errors if the option (or one excluding it) was given.
fn set_once<T>(slot: &mut Option<T>, value: T, token: &Token) -> Parsed<()> {
    match slot.replace(value) {
        Some(_) => Err(repeated(token)),
        None => Ok(()),
    }
}

fn repeated(token: &Token) -> ColumnError {
    ColumnError::new(
        token.column,
        format!("`{}` repeats or contradicts an earlier option", token.raw),
    )
}

/// A bare word, or a part of one, with the column of its first character.
#[derive(Clone, Copy)]
struct Word<'t> {
    text: &'t str,
    column: u32,
}

/// Why a number did not parse.
enum NumError {
    Bad,
    TooLarge,
}

/// A number: decimal, or hex after `0x`.
fn number(text: &str) -> Result<u64, NumError> {
    let (digits, radix) = match text.strip_prefix("0x") {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(NumError::Bad);
    }
    u64::from_str_radix(digits, radix).map_err(|_| NumError::TooLarge)
}

/// A size: a number with an optional binary suffix K, M, G or T.
fn size(text: &str) -> Result<u64, NumError> {
    let shift = match text.chars().last() {
        Some('K') => 10,
        Some('M') => 20,
        Some('G') => 30,
        Some('T') => 40,
        _ => 0,
    };
    let digits = if shift == 0 {
        text
    } else {
        &text[..text.len() - 1]
    };
    number(digits)?
        .checked_mul(1 << shift)
        .ok_or(NumError::TooLarge)
}

impl<'t> Word<'t> {
    /// The part `text[start..end]` of this word (byte offsets at char boundaries).
    fn part(self, start: usize, end: usize) -> Word<'t> {
        Word {
            text: &self.text[start..end],
            column: self
                .column
                .saturating_add(lexer::char_count(&self.text[..start])),
        }
    }

    /// The parts between `sep`s.
    fn pieces(self, sep: char) -> impl Iterator<Item = Word<'t>> {
        let mut start = 0;
        self.text.split(sep).map(move |piece| {
            let part = self.part(start, start + piece.len());
            start += piece.len() + sep.len_utf8();
            part
        })
    }

    /// `KEY=VALUE` split at the first `=`.
    fn option(self) -> Option<(&'t str, Word<'t>)> {
        let (key, _) = self.text.split_once('=')?;
        Some((key, self.part(key.len() + 1, self.text.len())))
    }

    fn error(self, message: String) -> ColumnError {
        ColumnError::new(self.column, message)
    }

    fn unknown(self, family: &str) -> ColumnError {
        self.error(format!("unknown {family} command `{}`", self.text))
    }

    fn unknown_option(self, command: &str) -> ColumnError {
        self.error(format!("unknown {command} option `{}`", self.text))
    }

    fn name(self, what: &str) -> Parsed<String> {
        if lexer::is_name(self.text) {
            Ok(self.text.to_owned())
        } else {
            Err(self.error(format!(
                "bad {what} `{}` (a name is [A-Za-z_][A-Za-z0-9_-]*)",
                self.text
            )))
        }
    }

    fn number(self) -> Parsed<u64> {
        number(self.text).map_err(|e| match e {
            NumError::Bad => self.error(format!(
                "bad number `{}` (decimal, or hex after 0x)",
                self.text
            )),
            NumError::TooLarge => self.error(format!("number `{}` is too large", self.text)),
        })
    }

    fn size(self) -> Parsed<u64> {
        size(self.text).map_err(|e| match e {
            NumError::Bad => self.error(format!(
                "bad size `{}` (a number with an optional K, M, G or T)",
                self.text
            )),
            NumError::TooLarge => self.error(format!("size `{}` is too large", self.text)),
        })
    }

    /// A number that fits in `T`.
    fn small<T: TryFrom<u64>>(self) -> Parsed<T> {
        T::try_from(self.number()?)
            .map_err(|_| self.error(format!("number `{}` is too large", self.text)))
    }

    /// A signed number: an optional `-` before a number.
    fn int(self) -> Parsed<i32> {
        let (negative, magnitude) = match self.text.strip_prefix('-') {
            Some(_) => (true, self.part(1, self.text.len())),
            None => (false, self),
        };
        let n = i64::try_from(magnitude.number()?).ok();
        n.map(|n| if negative { -n } else { n })
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| self.error(format!("number `{}` is out of range", self.text)))
    }

    fn byte(self) -> Parsed<u8> {
        u8::try_from(self.number()?)
            .map_err(|_| self.error(format!("byte value `{}` is larger than 0xff", self.text)))
    }

    /// A number with `ms` or `s`.
    fn duration(self) -> Parsed<Duration> {
        let (digits, unit): (_, fn(u64) -> Duration) =
            if let Some(ms) = self.text.strip_suffix("ms") {
                (ms, Duration::from_millis)
            } else if let Some(s) = self.text.strip_suffix('s') {
                (s, Duration::from_secs)
            } else {
                ("", Duration::from_secs)
            };
        match number(digits) {
            Ok(n) => Ok(unit(n)),
            Err(NumError::TooLarge) => {
                Err(self.error(format!("duration `{}` is too large", self.text)))
            }
            Err(NumError::Bad) => Err(self.error(format!(
                "bad duration `{}` (a number with ms or s)",
                self.text
            ))),
        }
    }

    /// An errno name Linux and [`Errno`] know.
    fn errno(self) -> Parsed<Errno> {
        let shaped = self.text.strip_prefix('E').is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        });
        if !shaped {
            return Err(self.error(format!(
                "expected an errno name such as EINVAL, found `{}`",
                self.text
            )));
        }
        Errno::from_name(self.text)
            .ok_or_else(|| self.error(format!("unknown errno `{}`", self.text)))
    }

    /// `NAME` or `NAME+OFF`.
    fn place(self) -> Parsed<Place> {
        let (name, off) = match self.text.split_once('+') {
            Some((name, _)) => (
                self.part(0, name.len()),
                Some(self.part(name.len() + 1, self.text.len()).size()?),
            ),
            None => (self, None),
        };
        Ok(Place {
            mapping: name.name("mapping name")?,
            off: off.unwrap_or(0),
        })
    }

    /// A path below `/sys`, returned without the `/sys/` prefix or a trailing `/`.
    fn sys_path(self) -> Parsed<String> {
        let relative = match self.text.strip_prefix("/sys") {
            Some("") => "",
            Some(rest) if rest.starts_with('/') => &rest[1..],
            _ if self.text.starts_with('/') => {
                return Err(self.error(format!("PATH `{}` is not below /sys", self.text)))
            }
            _ => self.text,
        };
        Ok(relative.trim_end_matches('/').to_owned())
    }

    fn notifier_action(self) -> Parsed<NotifierAction> {
        match self.text {
            "ok" => Ok(NotifierAction::Ok),
            "bad" => Ok(NotifierAction::Bad),
            _ => self.errno().map(NotifierAction::Errno),
        }
    }

    /// One of the words of `table`.
    fn keyword<T: Copy>(self, table: &[(&str, T)]) -> Parsed<T> {
        table
            .iter()
            .find(|(word, _)| *word == self.text)
            .map(|&(_, value)| value)
            .ok_or_else(|| {
                let words: Vec<&str> = table.iter().map(|(word, _)| *word).collect();
                self.error(format!(
                    "expected {}, found `{}`",
                    words.join("|"),
                    self.text
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = 1 << 10;
    const M: u64 = 1 << 20;
    const G: u64 = 1 << 30;

    /// The lines every command test starts from: a machine, a process `A` with a
    /// mapping `buf` and a pin `p`.
    const PRELUDE: &str = "machine ram=4G\nspawn A\nA mmap buf 1M\nA gup p buf 4K\n";

    fn parse_ok(text: &str) -> Script {
        parse("t.mms", text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The statements after [`PRELUDE`].
    fn body(lines: &str) -> Vec<StmtKind> {
        let script = parse_ok(&format!("{PRELUDE}{lines}"));
        script.stmts.into_iter().skip(4).map(|s| s.kind).collect()
    }

    /// The one command `line` (after [`PRELUDE`]).
    fn cmd(line: &str) -> Cmd {
        match body(line).as_slice() {
            [StmtKind::Command(cmd)] => cmd.clone(),
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    /// The error for `text`, as (line, column, message).
    fn error(text: &str) -> (u32, u32, String) {
        match parse("t.mms", text) {
            Ok(script) => panic!("{text:?} parsed as {script:?}"),
            Err(e) => (e.line, e.column, e.message),
        }
    }

    /// The error for `line` after [`PRELUDE`], as (column, message); checks it is
    /// reported on that line.
    fn line_error(line: &str) -> (u32, String) {
        let (at, column, message) = error(&format!("{PRELUDE}{line}"));
        assert_eq!(at, 5, "{line:?}: {message}");
        (column, message)
    }

    /// 1-based column (in characters) of the first `needle` in `line` that does not
    /// continue a word.
    fn col(line: &str, needle: &str) -> u32 {
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

    fn place(mapping: &str, off: u64) -> Place {
        Place {
            mapping: mapping.to_owned(),
            off,
        }
    }

    #[test]
    fn machine_options_in_any_order_with_defaults() {
        let script = parse_ok(
            "machine swap=1G block=256M ram=2G nodes=2 movable=512M hugepages=4 \
             auto_online=online_movable max_phys=0x10000000000\n",
        );
        assert_eq!(
            script.stmts[0].kind,
            StmtKind::Command(Cmd::Machine(MachineSpec {
                ram: 2 * G,
                block: 256 * M,
                nodes: 2,
                movable: 512 * M,
                swap: G,
                hugepages: 4,
                auto_online: AutoOnline::OnlineMovable,
                max_phys: 1 << 40,
            }))
        );
        let script = parse_ok("machine ram=1G");
        assert_eq!(
            script.stmts[0].kind,
            StmtKind::Command(Cmd::Machine(MachineSpec {
                ram: G,
                block: 128 * M,
                nodes: 1,
                movable: 0,
                swap: 0,
                hugepages: 0,
                auto_online: AutoOnline::Offline,
                max_phys: 1 << 40,
            }))
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
            StmtKind::Command(Cmd::Variant {
                settings: vec![
                    ("offline_skip".to_owned(), "skippable".to_owned()),
                    ("kcore_sync".to_owned(), "none".to_owned()),
                ],
            })
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
    fn hotplug_commands() {
        assert_eq!(
            cmd("hotplug add 0x100000000 256M node=1"),
            Cmd::HotplugAdd {
                addr: 4 * G,
                size: 256 * M,
                node: Some(1),
            }
        );
        assert_eq!(
            cmd("hotplug add 4294967296 256M"),
            Cmd::HotplugAdd {
                addr: 4 * G,
                size: 256 * M,
                node: None,
            }
        );
        assert_eq!(
            cmd("hotplug remove 0x100000000 128M"),
            Cmd::HotplugRemove {
                addr: 4 * G,
                size: 128 * M,
            }
        );
        assert_eq!(
            cmd("hotplug offline_and_remove 0x100000000 128M"),
            Cmd::HotplugOfflineAndRemove {
                addr: 4 * G,
                size: 128 * M,
            }
        );
        let line = "hotplug remove 0x100000000 128M node=1";
        assert_eq!(line_error(line).0, col(line, "node"));
        let line = "hotplug plug 0 1G";
        assert_eq!(line_error(line).0, col(line, "plug"));
        // ADDR is a number, not a size.
        let line = "hotplug add 4G 128M";
        assert_eq!(line_error(line).0, col(line, "4G"));
    }

    #[test]
    fn sysfs_commands() {
        let state = "devices/system/memory/memory32/state".to_owned();
        assert_eq!(
            cmd("sysfs read /sys/devices/system/memory/memory32/state"),
            Cmd::SysfsRead {
                path: state.clone()
            }
        );
        assert_eq!(
            cmd("sysfs write devices/system/memory/memory32/state offline signal_after=20ms"),
            Cmd::SysfsWrite {
                path: state.clone(),
                value: b"offline".to_vec(),
                signal_after: Some(Duration::from_millis(20)),
            }
        );
        assert_eq!(
            cmd(
                r#"sysfs write devices/system/memory/memory32/state "online_movable\n" signal_after=2s"#
            ),
            Cmd::SysfsWrite {
                path: state,
                value: b"online_movable\n".to_vec(),
                signal_after: Some(Duration::from_secs(2)),
            }
        );
        assert_eq!(
            cmd("sysfs ls /sys/devices/system/memory/"),
            Cmd::SysfsLs {
                path: "devices/system/memory".to_owned(),
            }
        );
        assert_eq!(
            cmd("sysfs ls /sys"),
            Cmd::SysfsLs {
                path: String::new()
            }
        );
        assert_eq!(
            cmd(r#"sysfs export "/tmp/a dir""#),
            Cmd::SysfsExport {
                dir: "/tmp/a dir".to_owned(),
            }
        );
        for (line, needle) in [
            ("sysfs read /proc/meminfo", "/proc"),
            ("sysfs read /sysfoo", "/sysfoo"),
            ("sysfs write kernel/x 1 signal_after=5", "5"),
            (
                "sysfs write kernel/x 1 signal_after=0x1000000000000000000s",
                "0x1",
            ),
            ("sysfs write kernel/x 1 later", "later"),
            ("sysfs cat kernel/x", "cat"),
        ] {
            assert_eq!(line_error(line).0, col(line, needle), "{line}");
        }
        let line = "sysfs write kernel/x";
        assert_eq!(line_error(line).0, lexer::char_count(line) + 1);
    }

    #[test]
    fn sparse_and_section_commands() {
        assert_eq!(
            cmd("sparse add 0x100000000 2M node=0"),
            Cmd::SparseAdd {
                addr: 4 * G,
                size: 2 * M,
                node: Some(0),
            }
        );
        assert_eq!(
            cmd("sparse remove 0x100000000 2M"),
            Cmd::SparseRemove {
                addr: 4 * G,
                size: 2 * M,
            }
        );
        assert_eq!(
            cmd("section 32"),
            Cmd::Section {
                nr: 32,
                field: None
            }
        );
        assert_eq!(
            cmd("section 0x20 online"),
            Cmd::Section {
                nr: 32,
                field: Some("online".to_owned()),
            }
        );
        assert_eq!(cmd("pfn_valid 0x100000"), Cmd::PfnValid { pfn: 0x100000 });
        assert_eq!(
            cmd("pfn_to_online_page 1048576"),
            Cmd::PfnToOnlinePage { pfn: 0x100000 }
        );
        let line = "pfn_valid 4K";
        assert_eq!(line_error(line).0, col(line, "4K"));
    }

    #[test]
    fn page_commands() {
        assert_eq!(
            cmd("page alloc pg"),
            Cmd::PageAlloc {
                name: "pg".to_owned(),
                how: PageAlloc::Buddy {
                    order: 0,
                    movable: false,
                    node: None,
                },
            }
        );
        assert_eq!(
            cmd("page alloc pg node=1 movable order=9"),
            Cmd::PageAlloc {
                name: "pg".to_owned(),
                how: PageAlloc::Buddy {
                    order: 9,
                    movable: true,
                    node: Some(1),
                },
            }
        );
        assert_eq!(
            cmd("page alloc big pfn=0x8000 nr=512"),
            Cmd::PageAlloc {
                name: "big".to_owned(),
                how: PageAlloc::Contig {
                    pfn: 0x8000,
                    nr: 512,
                },
            }
        );
        assert_eq!(
            cmd("page alloc one pfn=0x8000"),
            Cmd::PageAlloc {
                name: "one".to_owned(),
                how: PageAlloc::Contig { pfn: 0x8000, nr: 1 },
            }
        );
        assert_eq!(
            cmd("page free pg"),
            Cmd::PageFree {
                name: "pg".to_owned()
            }
        );
        assert_eq!(
            cmd("page mark pg offline movable_ops"),
            Cmd::PageMark {
                name: "pg".to_owned(),
                marks: vec![PageMark::Offline, PageMark::MovableOps],
            }
        );
        assert_eq!(
            cmd("page mark pg reserved fake_offline table slab"),
            Cmd::PageMark {
                name: "pg".to_owned(),
                marks: vec![
                    PageMark::Reserved,
                    PageMark::FakeOffline,
                    PageMark::Table,
                    PageMark::Slab,
                ],
            }
        );
        assert_eq!(cmd("page get 0x1234"), Cmd::PageGet { pfn: 0x1234 });
        assert_eq!(cmd("page put 0x1234"), Cmd::PagePut { pfn: 0x1234 });
        assert_eq!(
            cmd("page show 0x1234"),
            Cmd::PageShow {
                pfn: 0x1234,
                field: None
            }
        );
        assert_eq!(cmd("hwpoison 0x1234"), Cmd::Hwpoison { pfn: 0x1234 });
        for (line, needle) in [
            ("page alloc pg order=2 pfn=0x8000", "pfn="),
            ("page alloc pg pfn=0x8000 movable", "movable"),
            ("page alloc pg order=1 order=2", "order=2"),
            ("page alloc pg zone=Normal", "zone"),
            ("page mark pg offline offline", "offline offline"),
            ("page mark pg buddy", "buddy"),
            ("page alloc 1pg", "1pg"),
        ] {
            let at = if needle == "offline offline" {
                col(line, needle) + 8
            } else {
                col(line, needle)
            };
            assert_eq!(line_error(line).0, at, "{line}");
        }
        let line = "page mark pg";
        assert_eq!(line_error(line).0, lexer::char_count(line) + 1);
        let line = "page alloc pg nr=4";
        assert_eq!(line_error(line).0, lexer::char_count(line) + 1);
    }

    #[test]
    fn notifier_and_online_page_callback_commands() {
        assert_eq!(
            cmd("notifier add n1"),
            Cmd::NotifierAdd {
                name: "n1".to_owned(),
                priority: 0,
                going_online: NotifierAction::Ok,
                going_offline: NotifierAction::Ok,
            }
        );
        assert_eq!(
            cmd("notifier add n2 going_offline=EBUSY priority=-10 going_online=bad"),
            Cmd::NotifierAdd {
                name: "n2".to_owned(),
                priority: -10,
                going_online: NotifierAction::Bad,
                going_offline: NotifierAction::Errno(Errno::EBUSY),
            }
        );
        assert_eq!(
            cmd("notifier remove n1"),
            Cmd::NotifierRemove {
                name: "n1".to_owned()
            }
        );
        assert_eq!(
            cmd("notifier log n1"),
            Cmd::NotifierLog {
                name: "n1".to_owned()
            }
        );
        assert_eq!(
            cmd("online_page_callback set vmem keep=0x100000000,2M"),
            Cmd::OnlinePageCallbackSet {
                name: "vmem".to_owned(),
                keep: Some((4 * G, 2 * M)),
            }
        );
        assert_eq!(
            cmd("online_page_callback set vmem"),
            Cmd::OnlinePageCallbackSet {
                name: "vmem".to_owned(),
                keep: None,
            }
        );
        assert_eq!(
            cmd("online_page_callback restore vmem"),
            Cmd::OnlinePageCallbackRestore {
                name: "vmem".to_owned()
            }
        );
        for (line, needle) in [
            ("notifier add n going_online=EWHAT", "EWHAT"),
            ("notifier add n going_online=busy", "busy"),
            ("notifier add n priority=0x80000000", "0x8"),
            ("online_page_callback set vmem keep=0x1000", "0x1000"),
            ("online_page_callback set vmem keep=0x1000,4X", "4X"),
        ] {
            assert_eq!(line_error(line).0, col(line, needle), "{line}");
        }
    }

    #[test]
    fn info_and_reader_commands() {
        assert_eq!(
            cmd("zoneinfo 0 Movable present"),
            Cmd::Zoneinfo {
                node: 0,
                zone: ZoneType::Movable,
                field: Some("present".to_owned()),
            }
        );
        assert_eq!(
            cmd("zoneinfo 1 DMA32"),
            Cmd::Zoneinfo {
                node: 1,
                zone: ZoneType::Dma32,
                field: None,
            }
        );
        assert_eq!(
            cmd("nodeinfo 0 MemFree"),
            Cmd::Nodeinfo {
                node: 0,
                field: Some("MemFree".to_owned()),
            }
        );
        assert_eq!(cmd("meminfo"), Cmd::Meminfo { field: None });
        assert_eq!(
            cmd("meminfo Active(anon)"),
            Cmd::Meminfo {
                field: Some("Active(anon)".to_owned()),
            }
        );
        assert_eq!(
            cmd("kcore read 0x100000000 64"),
            Cmd::KcoreRead {
                addr: 4 * G,
                len: 64
            }
        );
        assert_eq!(
            cmd("kcore page 0x100000 16"),
            Cmd::KcorePage {
                pfn: 0x100000,
                off: 0,
                len: 16,
            }
        );
        assert_eq!(
            cmd("kcore page 0x100000 2K 1K"),
            Cmd::KcorePage {
                pfn: 0x100000,
                off: 2 * K,
                len: K,
            }
        );
        assert_eq!(cmd("kpageflags 0x10"), Cmd::Kpageflags { pfn: 16 });
        assert_eq!(
            cmd("kpageflags dump out/kpageflags.bin"),
            Cmd::KpageflagsDump {
                file: "out/kpageflags.bin".to_owned(),
            }
        );
        assert_eq!(cmd("kpagecount 7"), Cmd::Kpagecount { pfn: 7 });
        for (line, needle) in [
            ("zoneinfo 0 HighMem", "HighMem"),
            ("zoneinfo x Normal", "x"),
            ("kcore page 0x10 1 2 3", "3"),
            ("kcore write 0 1", "write"),
            ("kpagecount 0x10 0x11", "0x11"),
        ] {
            assert_eq!(line_error(line).0, col(line, needle), "{line}");
        }
    }

    #[test]
    fn process_commands() {
        let proc = || "A".to_owned();
        let buf = || "buf".to_owned();
        assert_eq!(
            body("spawn B\nfile F 8M\n"),
            vec![
                StmtKind::Command(Cmd::Spawn {
                    proc: "B".to_owned()
                }),
                StmtKind::Command(Cmd::File {
                    name: "F".to_owned(),
                    size: 8 * M,
                    hugetlb: false,
                }),
            ]
        );
        assert_eq!(
            cmd("A mmap m 2M"),
            Cmd::Mmap {
                proc: proc(),
                name: "m".to_owned(),
                size: 2 * M,
                backing: Backing::Anon,
                sharing: Sharing::Private,
                prot: Prot::ReadWrite,
                thp: false,
                hugetlb: false,
                populate: false,
            }
        );
        assert_eq!(
            cmd("A mmap m 2M populate ro shared file=F thp hugetlb"),
            Cmd::Mmap {
                proc: proc(),
                name: "m".to_owned(),
                size: 2 * M,
                backing: Backing::File("F".to_owned()),
                sharing: Sharing::Shared,
                prot: Prot::ReadOnly,
                thp: true,
                hugetlb: true,
                populate: true,
            }
        );
        assert_eq!(
            cmd("A munmap buf"),
            Cmd::Munmap {
                proc: proc(),
                name: buf(),
                range: None,
            }
        );
        assert_eq!(
            cmd("A munmap buf 4K 8K"),
            Cmd::Munmap {
                proc: proc(),
                name: buf(),
                range: Some(ByteRange {
                    off: 4 * K,
                    len: 8 * K
                }),
            }
        );
        assert_eq!(
            cmd("A mprotect buf none"),
            Cmd::Mprotect {
                proc: proc(),
                name: buf(),
                prot: Prot::None,
                range: None,
            }
        );
        assert_eq!(
            cmd("A madvise buf pageout 0 4K"),
            Cmd::Madvise {
                proc: proc(),
                name: buf(),
                advice: Advice::PageOut,
                range: Some(ByteRange { off: 0, len: 4 * K }),
            }
        );
        for (word, advice) in ADVICES {
            match cmd(&format!("A madvise buf {word}")) {
                Cmd::Madvise { advice: got, .. } => assert_eq!(got, *advice),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            cmd("A touch buf"),
            Cmd::Touch {
                proc: proc(),
                name: buf(),
                range: None,
            }
        );
        assert_eq!(
            cmd("A write buf+4K 8K 0xbb"),
            Cmd::Write {
                proc: proc(),
                place: place("buf", 4 * K),
                data: WriteData::Fill {
                    len: 8 * K,
                    byte: 0xbb
                },
            }
        );
        assert_eq!(
            cmd(r#"A write buf+0x10 "hi\x00""#),
            Cmd::Write {
                proc: proc(),
                place: place("buf", 16),
                data: WriteData::Text(b"hi\0".to_vec()),
            }
        );
        assert_eq!(
            cmd("A read buf 4K"),
            Cmd::Read {
                proc: proc(),
                place: place("buf", 0),
                len: 4 * K,
            }
        );
        assert_eq!(
            body("A fork B\nB exit\n"),
            vec![
                StmtKind::Command(Cmd::Fork {
                    proc: proc(),
                    child: "B".to_owned(),
                }),
                StmtKind::Command(Cmd::Exit {
                    proc: "B".to_owned()
                }),
            ]
        );
        assert_eq!(
            cmd("A gup q buf+8K 4K"),
            Cmd::Gup {
                proc: proc(),
                pin: "q".to_owned(),
                place: place("buf", 8 * K),
                len: 4 * K,
                write: false,
                kind: GupKind::Pin,
                fast: false,
                longterm: false,
            }
        );
        assert_eq!(
            cmd("A gup q buf 4K longterm get fast write"),
            Cmd::Gup {
                proc: proc(),
                pin: "q".to_owned(),
                place: place("buf", 0),
                len: 4 * K,
                write: true,
                kind: GupKind::Get,
                fast: true,
                longterm: true,
            }
        );
        assert_eq!(
            cmd("A pagemap buf+4K"),
            Cmd::Pagemap {
                proc: proc(),
                place: place("buf", 4 * K),
            }
        );
        assert_eq!(
            cmd("A pte buf"),
            Cmd::Pte {
                proc: proc(),
                place: place("buf", 0),
            }
        );
        assert_eq!(
            cmd("A pfn buf+1M"),
            Cmd::Pfn {
                proc: proc(),
                place: place("buf", M),
            }
        );
        assert_eq!(cmd("ksm run"), Cmd::KsmRun);
        for (line, needle) in [
            ("A mmap m 4K anon file=F", "file"),
            ("A mmap m 4K private shared", "shared"),
            ("A mmap m 4K rw ro", "ro"),
            ("A mmap m 4K file=1F", "1F"),
            ("A mmap m 4K huge", "huge"),
            ("A mprotect buf rx", "rx"),
            ("A madvise buf willneed", "willneed"),
            ("A write buf+4X 1 0", "4X"),
            ("A write buf+ 1 0", "buf+"),
            ("A write 0 1 0xaa", "0 1"),
            ("A write buf 1 0x100", "0x100"),
            ("A write buf \"x\" 1", "1"),
            ("A gup q buf 4K pin get", "get"),
            ("A gup q buf 4K slow", "slow"),
            ("A fly", "fly"),
            ("A exit now", "now"),
            ("ksm stop", "stop"),
        ] {
            let at = match needle {
                "buf+" => col(line, needle) + 4,
                "1" => lexer::char_count(line),
                _ => col(line, needle),
            };
            assert_eq!(line_error(line).0, at, "{line}");
        }
    }

    #[test]
    fn pin_commands() {
        assert_eq!(
            cmd("p read 0 1"),
            Cmd::PinRead {
                pin: "p".to_owned(),
                off: 0,
                len: 1,
            }
        );
        assert_eq!(
            cmd("p write 1K 2K 0x5a"),
            Cmd::PinWrite {
                pin: "p".to_owned(),
                off: K,
                len: 2 * K,
                byte: 0x5a,
            }
        );
        assert_eq!(
            cmd("release p"),
            Cmd::Release {
                pin: "p".to_owned()
            }
        );
        // A pin is read at an offset, not a place.
        let line = "A munmap buf 4K";
        assert_eq!(line_error(line).0, lexer::char_count(line) + 1);
        let line = "p read buf 4K";
        assert_eq!(line_error(line).0, col(line, "buf"));
        let line = "p touch 0 1";
        assert_eq!(line_error(line).0, col(line, "touch"));
    }

    #[test]
    fn virtio_mem_and_balloon_commands() {
        assert_eq!(
            cmd("virtio-mem add vm0 addr=0x140000000 size=1G block=2M"),
            Cmd::VirtioMemAdd {
                dev: "vm0".to_owned(),
                addr: 5 * G,
                size: G,
                block: 2 * M,
                node: None,
                requested: 0,
                inaccessible: false,
                nodriver: false,
            }
        );
        assert_eq!(
            cmd("virtio-mem add vm0 nodriver block=4M requested=256M inaccessible node=1 size=1G addr=0x140000000"),
            Cmd::VirtioMemAdd {
                dev: "vm0".to_owned(),
                addr: 5 * G,
                size: G,
                block: 4 * M,
                node: Some(1),
                requested: 256 * M,
                inaccessible: true,
                nodriver: true,
            }
        );
        assert_eq!(
            cmd("virtio-mem resize vm0 512M"),
            Cmd::VirtioMemResize {
                dev: "vm0".to_owned(),
                size: 512 * M,
            }
        );
        assert_eq!(
            cmd("virtio-mem show vm0 plugged_size"),
            Cmd::VirtioMemShow {
                dev: "vm0".to_owned(),
                field: Some("plugged_size".to_owned()),
            }
        );
        for (line, req) in [
            (
                "virtio-mem request vm0 plug 0x140000000 4",
                VirtioMemRequest::Plug {
                    addr: 5 * G,
                    nb_blocks: 4,
                },
            ),
            (
                "virtio-mem request vm0 unplug 0x140000000 1",
                VirtioMemRequest::Unplug {
                    addr: 5 * G,
                    nb_blocks: 1,
                },
            ),
            (
                "virtio-mem request vm0 state 0x140000000 512",
                VirtioMemRequest::State {
                    addr: 5 * G,
                    nb_blocks: 512,
                },
            ),
            (
                "virtio-mem request vm0 unplug_all",
                VirtioMemRequest::UnplugAll,
            ),
            (
                "virtio-mem request vm0 unplug_all 0 0",
                VirtioMemRequest::UnplugAll,
            ),
        ] {
            assert_eq!(
                cmd(line),
                Cmd::VirtioMemRequest {
                    dev: "vm0".to_owned(),
                    req,
                },
                "{line}"
            );
        }
        assert_eq!(
            cmd("balloon inflate 64M"),
            Cmd::BalloonInflate { size: 64 * M }
        );
        assert_eq!(
            cmd("balloon deflate 64M"),
            Cmd::BalloonDeflate { size: 64 * M }
        );
        for (line, needle) in [
            ("virtio-mem request vm0 plug 0x140000000 65536", "65536"),
            ("virtio-mem request vm0 unplug_all 0", "0"),
            ("virtio-mem request vm0 grow 0 1", "grow"),
            (
                "virtio-mem add vm0 addr=0 size=1G block=2M addr=0",
                "addr=0 ",
            ),
            ("virtio-mem add vm0 addr=0 size=1G block=2M fast", "fast"),
            ("virtio-mem add 0vm addr=0 size=1G block=2M", "0vm"),
            ("balloon pop 1M", "pop"),
        ] {
            let at = match needle {
                "0" => lexer::char_count(line) + 1,
                "addr=0 " => col(line, "2M") + 3,
                _ => col(line, needle),
            };
            assert_eq!(line_error(line).0, at, "{line}");
        }
        let line = "virtio-mem add vm0 addr=0 size=1G";
        let (column, message) = line_error(line);
        assert_eq!(column, lexer::char_count(line) + 1);
        assert!(message.contains("block="), "{message}");
    }

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
                cmd: Cmd::Check,
                cond: ExpectCond::Violates(ViolationKind::Invariant),
            }]
        );
        assert_eq!(body("check"), vec![StmtKind::Command(Cmd::Check)]);
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
                cmd: Cmd::SysfsWrite {
                    path: "kernel/x".to_owned(),
                    value: b"fails".to_vec(),
                    signal_after: None,
                },
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
                cmd: Cmd::Pfn {
                    proc: "A".to_owned(),
                    place: place("buf", 4 * K),
                },
            }
        );
        let StmtKind::Deferred(deferred) = &stmts[1] else {
            panic!("{:?}", stmts[1]);
        };
        assert_eq!(deferred.head, HeadKind::Keyword);
        let vars = HashMap::from([("f".to_owned(), "0x12345".to_owned())]);
        assert_eq!(
            resolve("t.mms", 6, deferred, &vars),
            Ok(StmtKind::Command(Cmd::Kpageflags { pfn: 0x12345 }))
        );
        let StmtKind::Deferred(deferred) = &stmts[2] else {
            panic!("{:?}", stmts[2]);
        };
        assert_eq!(
            resolve("t.mms", 7, deferred, &vars),
            Ok(StmtKind::Expect {
                cmd: Cmd::Kpagecount { pfn: 0x12345 },
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
            Ok(StmtKind::Command(Cmd::Write {
                proc: "A".to_owned(),
                place: place("buf", 8 * K),
                data: WriteData::Fill {
                    len: 4 * K,
                    byte: 0xaa
                },
            }))
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
            Ok(StmtKind::Command(Cmd::SysfsWrite {
                path: "kernel/x".to_owned(),
                value: b"$v".to_vec(),
                signal_after: None,
            }))
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
        for (keyword, _) in COMMANDS {
            if let Err(e) = parse("t.mms", &format!("{PRELUDE}{keyword}")) {
                assert!(!e.message.starts_with("unknown command"), "{e}");
            }
            assert!(is_reserved(keyword));
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
            assert_eq!(size(text).ok(), Some(value), "{text}");
        }
        for text in [
            "", "K", "0x", "0xK", "4k", "4KB", "+4", "-1", "1.5G", "0X10", "4 K",
        ] {
            assert!(matches!(size(text), Err(NumError::Bad)), "{text}");
        }
        for text in [
            "16777216T",
            "18446744073709551616",
            "0x10000000000000000",
            "17179869184G",
        ] {
            assert!(matches!(size(text), Err(NumError::TooLarge)), "{text}");
        }
        let line = "kcore read 0x10000000000000000 1";
        let (column, message) = line_error(line);
        assert_eq!(column, col(line, "0x1"));
        assert!(message.contains("too large"), "{message}");
        let line = "balloon inflate 16777216T";
        assert_eq!(line_error(line).0, col(line, "167"));
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
            StmtKind::Command(Cmd::Gup {
                proc: "A".to_owned(),
                pin: "p".to_owned(),
                place: place("buf", 0),
                len: 4 * K,
                write: false,
                kind: GupKind::Pin,
                fast: true,
                longterm: true,
            })
        );
        assert_eq!(
            script.stmts[8].kind,
            StmtKind::Expect {
                cmd: Cmd::PinRead {
                    pin: "p".to_owned(),
                    off: 0,
                    len: 4 * K,
                },
                cond: byte(0xbb),
            }
        );
        assert_eq!(
            script.stmts[9].kind,
            StmtKind::Expect {
                cmd: Cmd::Read {
                    proc: "B".to_owned(),
                    place: place("buf", 0),
                    len: 4 * K,
                },
                cond: byte(0xaa),
            }
        );
        assert_eq!(
            script.stmts[12].kind,
            StmtKind::Expect {
                cmd: Cmd::SysfsWrite {
                    path: "devices/system/memory/memory32/state".to_owned(),
                    value: b"online".to_vec(),
                    signal_after: None,
                },
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
}
