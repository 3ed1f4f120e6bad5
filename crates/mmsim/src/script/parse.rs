//! The scenario parser: text → [`Script`] (SCENARIOS.md).
//!
//! Everything is checked before anything runs, so bad input (exit status 2) is
//! reported as `FILE:LINE:COLUMN: message` and never leaves a machine
//! half-driven. A line goes through three steps:
//!
//! 1. [`lexer::tokenize`] cuts it into tokens;
//! 2. the statement's frame is split off: `let VAR =`, or `expect` up to the
//!    first token that is exactly `==`, `!=`, `has`, `fails` or `violates`;
//! 3. the command is typed by its first token, which is a keyword, a process
//!    (named by an earlier `spawn P` or `P fork Q`) or a pin (named by an
//!    earlier `P gup PIN ...`), by the family that owns it (`cmd/`). Which of
//!    the three it is depends on the lines above, so the parser keeps a scope of
//!    the names introduced so far.
//!
//! Rules across lines are checked here too: `machine` first and once, `variant`
//! lines right after it, every `$VAR` bound by an earlier `let`, and a `let`
//! binds no read longer than the value cap. A line that uses a `$VAR` is typed
//! with its variables as holes (see `args.rs`): everything but the values is
//! checked now, and the line is kept as [`StmtKind::Deferred`] with its frame
//! fixed; [`resolve`] substitutes the values and types it when the interpreter
//! reaches it. A substituted word stays one token, and the statement keeps the
//! shape it was checked with whatever the values contain.

use std::collections::{HashMap, HashSet};

use super::args::{format_size, Args, Parsed};
use super::ast::{
    Deferred, ExpectCond, FrameShape, HeadKind, Script, Stmt, StmtKind, Value, ValueKind,
    ViolationKind,
};
use super::cmd::{self, machine, Cmd};
use super::lexer::{self, ColumnError, Token, TokenKind};
use super::output::MAX_VALUE;

/// A scenario that cannot run, located as `FILE:LINE:COLUMN`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
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

/// The longest token a substitution may make, in bytes.
pub const MAX_SUBSTITUTED_TOKEN: usize = 4 << 20;

/// The longest line substitutions may make, in bytes.
pub const MAX_SUBSTITUTED_LINE: usize = 8 << 20;

/// Parses a whole scenario file, refusing commands this build does not run.
pub fn parse(file: &str, text: &str) -> Result<Script, ParseError> {
    parse_in(file, text, Scope::default())
}

/// Parses a whole scenario file, accepting the forms of commands this build
/// does not run (the parser's tests check those forms too).
#[cfg(test)]
pub(crate) fn parse_forms(file: &str, text: &str) -> Result<Script, ParseError> {
    let scope = Scope {
        accept_unsupported: true,
        ..Scope::default()
    };
    parse_in(file, text, scope)
}

fn parse_in(file: &str, text: &str, mut scope: Scope) -> Result<Script, ParseError> {
    let mut stmts = Vec::new();
    for (index, source) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let at = |error| ParseError::new(file, line, error);
        let tokens = lexer::tokenize(source).map_err(at)?;
        if tokens.is_empty() {
            continue;
        }
        stmts.push(scope.statement(line, tokens).map_err(at)?);
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

/// Substitutes the current values of the variables into a deferred statement
/// and types it, in the shape it was checked with.
pub fn resolve(
    file: &str,
    line: u32,
    deferred: &Deferred,
    vars: &HashMap<String, String>,
) -> Result<StmtKind, ParseError> {
    let at = |error| ParseError::new(file, line, error);
    let tokens = substitute(&deferred.tokens, vars).map_err(at)?;
    let frame = deferred.shape.frame(&tokens);
    let kind = typed(deferred.head, &frame, false).map_err(at)?;
    check_supported(&kind, &frame).map_err(at)?;
    Ok(kind)
}

/// Refuses a command this build does not model.
fn check_supported(kind: &StmtKind, frame: &Frame<'_>) -> Parsed<()> {
    let (StmtKind::Command(cmd) | StmtKind::Let { cmd, .. } | StmtKind::Expect { cmd, .. }) = kind
    else {
        return Ok(());
    };
    match cmd.unsupported() {
        Some(what) => Err(ColumnError::new(
            frame.cmd[0].column,
            format!(
                "not supported yet: `{}` needs {what}, which this build does not model",
                cmd.name()
            ),
        )),
        None => Ok(()),
    }
}

/// Replaces every `$NAME` in the bare words of `tokens` by `vars[NAME]`. A
/// substituted word stays one token, whatever the value contains; strings are
/// left alone. Tokens and lines are bounded ([`MAX_SUBSTITUTED_TOKEN`],
/// [`MAX_SUBSTITUTED_LINE`]), measured before anything is built.
pub fn substitute(
    tokens: &[Token],
    vars: &HashMap<String, String>,
) -> Result<Vec<Token>, ColumnError> {
    let mut line_len = 0usize;
    tokens
        .iter()
        .map(|token| {
            let refs = lexer::var_refs(token)?;
            if refs.is_empty() {
                line_len = line_len.saturating_add(token.raw.len());
                return Ok(token.clone());
            }
            let mut len = token.raw.len();
            for var in &refs {
                let value = vars.get(var.name).ok_or_else(|| {
                    ColumnError::new(var.column, format!("`${}` has no value", var.name))
                })?;
                len = len.saturating_add(value.len());
            }
            line_len = line_len.saturating_add(len);
            let over = if len > MAX_SUBSTITUTED_TOKEN {
                Some(("token", MAX_SUBSTITUTED_TOKEN))
            } else {
                (line_len > MAX_SUBSTITUTED_LINE).then_some(("line", MAX_SUBSTITUTED_LINE))
            };
            if let Some((what, limit)) = over {
                return Err(ColumnError::new(
                    token.column,
                    format!(
                        "substituting makes this {what} more than {} bytes long, the longest \
                         substituted {what} accepted",
                        format_size(limit as u64)
                    ),
                ));
            }
            let mut raw = String::with_capacity(len);
            let mut done = 0;
            for var in &refs {
                raw.push_str(&token.raw[done..var.span.start]);
                raw.push_str(&vars[var.name]);
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
    /// Whether commands this build does not run are accepted.
    accept_unsupported: bool,
}

/// Which kind of name a command introduces.
#[derive(Clone, Copy)]
enum NameKind {
    Process,
    Pin,
}

impl Scope {
    fn statement(&mut self, line: u32, tokens: Vec<Token>) -> Parsed<Stmt> {
        let shape = FrameShape::split(&tokens)?;
        let frame = shape.frame(&tokens);
        let head_token = &frame.cmd[0];
        let text = lexer::readable(
            &frame
                .cmd
                .iter()
                .map(|t| t.raw.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
        let stmt = |kind| Stmt {
            line,
            text: text.clone(),
            kind,
        };
        if let Some(word) = head_token
            .word()
            .filter(|w| machine::is_statement_keyword(w))
        {
            return self.setup_statement(line, word, &frame).map(stmt);
        }
        if self.machine_line.is_none() {
            return Err(ColumnError::new(
                tokens[0].column,
                "the first command must be `machine`",
            ));
        }
        self.setup_done = true;
        let head = self.head_kind(head_token)?;
        let deferred = self.check_vars(&tokens)?;
        // Typed now; with variables, as holes (everything but the values).
        let typed_now = typed(head, &frame, deferred)?;
        if !self.accept_unsupported {
            check_supported(&typed_now, &frame)?;
        }
        let kind = if deferred {
            StmtKind::Deferred(Deferred {
                tokens: tokens.clone(),
                head,
                shape,
            })
        } else {
            typed_now
        };
        if let Some((name_kind, token)) = introduced_name(head, frame.cmd) {
            self.introduce(name_kind, token)?;
        }
        if let Some(var) = frame.var {
            self.vars.insert(var.raw.clone());
        }
        Ok(stmt(kind))
    }

    /// `machine` first and once; `variant` only right after it; both alone on
    /// their lines.
    fn setup_statement(&mut self, line: u32, keyword: &str, frame: &Frame<'_>) -> Parsed<StmtKind> {
        let head = &frame.cmd[0];
        let at = |message: String| Err(ColumnError::new(head.column, message));
        if !matches!(frame.shape, FrameShape::Plain) {
            return at(format!("`{keyword}` must stand alone on its line"));
        }
        if let Some(var) = frame.cmd.iter().find(|t| t.raw.contains('$')) {
            return Err(ColumnError::new(
                var.column,
                format!("`{keyword}` takes no variables"),
            ));
        }
        let mut args = Args::new(&frame.cmd[1..], frame.cmd_end, false);
        if keyword == "machine" {
            if let Some(first) = self.machine_line.replace(line) {
                return at(format!(
                    "`machine` may appear only once (first on line {first})"
                ));
            }
            let spec = machine::parse_machine(&mut args)?;
            return Ok(StmtKind::Machine(spec));
        }
        if self.machine_line.is_none() {
            return at("the first command must be `machine`".to_owned());
        }
        if self.setup_done {
            return at("`variant` lines must come right after `machine`".to_owned());
        }
        Ok(StmtKind::Variant(machine::parse_variant(&mut args)?))
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
        } else if cmd::keyword_parser(word).is_some() {
            Ok(HeadKind::Keyword)
        } else if word == "let" || word == "expect" {
            Err(ColumnError::new(
                token.column,
                format!("`{word}` cannot stand inside another statement"),
            ))
        } else {
            Err(ColumnError::new(
                token.column,
                format!("unknown command `{}`", lexer::readable(word)),
            ))
        }
    }

    /// Checks that every `$VAR` was bound by an earlier `let`; tells whether
    /// there is any.
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
                "bad name `{}` (a name is [A-Za-z_][A-Za-z0-9_-]*)",
                lexer::readable(name)
            ));
        }
        if cmd::is_reserved(name) {
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

/// Whether `word` ends the COMMAND of an `expect`.
pub(crate) fn is_terminator(word: &str) -> bool {
    TERMINATORS.contains(&word)
}

/// A statement cut into its frame and its command.
struct Frame<'t> {
    shape: FrameShape,
    /// VAR of `let VAR = COMMAND`.
    var: Option<&'t Token>,
    /// The command's tokens (never empty).
    cmd: &'t [Token],
    /// The condition's tokens, starting with the terminator (empty unless
    /// `expect`).
    cond: &'t [Token],
    /// Where a missing argument of the command is reported: the token after
    /// the command, or the end of the line.
    cmd_end: u32,
}

impl FrameShape {
    /// Cuts a line's tokens into `let VAR =`, `expect ... TERMINATOR ...` or a
    /// plain command.
    fn split(tokens: &[Token]) -> Parsed<FrameShape> {
        let first = tokens
            .first()
            .ok_or_else(|| ColumnError::new(1, "missing command"))?;
        let line_end = tokens[tokens.len() - 1].end_column();
        if first.is_word("let") {
            let missing = |what: &str| ColumnError::new(line_end, format!("missing {what}"));
            let var = tokens
                .get(1)
                .ok_or_else(|| missing("VAR in `let VAR = COMMAND`"))?;
            if !var.word().is_some_and(lexer::is_name) {
                return Err(ColumnError::new(
                    var.column,
                    format!(
                        "bad variable name `{}` in `let VAR = COMMAND`",
                        lexer::readable(&var.raw)
                    ),
                ));
            }
            let eq = tokens
                .get(2)
                .ok_or_else(|| missing("`=` in `let VAR = COMMAND`"))?;
            if !eq.is_word("=") {
                return Err(ColumnError::new(
                    eq.column,
                    format!(
                        "expected `=` in `let VAR = COMMAND`, found `{}`",
                        lexer::readable(&eq.raw)
                    ),
                ));
            }
            if tokens.len() == 3 {
                return Err(missing("COMMAND in `let VAR = COMMAND`"));
            }
            Ok(FrameShape::Let)
        } else if first.is_word("expect") {
            let at = tokens
                .iter()
                .position(|t| t.word().is_some_and(is_terminator))
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
            Ok(FrameShape::Expect { cond_at: at })
        } else {
            Ok(FrameShape::Plain)
        }
    }

    /// The frame of `tokens` in this shape (the tokens it was split from, or
    /// their substituted copy).
    fn frame(self, tokens: &[Token]) -> Frame<'_> {
        let line_end = tokens.last().map_or(1, Token::end_column);
        match self {
            FrameShape::Plain => Frame {
                shape: self,
                var: None,
                cmd: tokens,
                cond: &[],
                cmd_end: line_end,
            },
            FrameShape::Let => Frame {
                shape: self,
                var: tokens.get(1),
                cmd: &tokens[3..],
                cond: &[],
                cmd_end: line_end,
            },
            FrameShape::Expect { cond_at } => Frame {
                shape: self,
                var: None,
                cmd: &tokens[1..cond_at],
                cond: &tokens[cond_at..],
                cmd_end: tokens[cond_at].column,
            },
        }
    }
}

/// Types a statement's command and condition; with `holes`, words holding
/// `$VAR` stand for values not known yet.
fn typed(head: HeadKind, frame: &Frame<'_>, holes: bool) -> Parsed<StmtKind> {
    let cmd = command(head, frame.cmd, frame.cmd_end, holes)?;
    Ok(match frame.shape {
        FrameShape::Plain => StmtKind::Command(cmd),
        FrameShape::Let => {
            if let Some(len) = cmd.read_len().filter(|&len| len > MAX_VALUE) {
                return Err(ColumnError::new(
                    frame.cmd[0].column,
                    format!(
                        "`let` binds at most {} of a read (the value cap), and this one reads {}: \
                         compare it with `expect ... == 0xNN` or `== \"text\"` instead",
                        format_size(MAX_VALUE),
                        format_size(len)
                    ),
                ));
            }
            StmtKind::Let {
                var: frame.var.map_or_else(String::new, |v| v.raw.clone()),
                cmd,
            }
        }
        FrameShape::Expect { .. } => StmtKind::Expect {
            cmd,
            cond: expect_cond(frame.cond, holes)?,
        },
    })
}

fn command(head: HeadKind, tokens: &[Token], end: u32, holes: bool) -> Parsed<Cmd> {
    let mut args = Args::new(tokens, end, holes);
    let first = args.word("a command")?;
    let cmd = match head {
        HeadKind::Keyword => {
            let parser = cmd::keyword_parser(first.text).ok_or_else(|| {
                ColumnError::new(
                    first.column,
                    format!("unknown command `{}`", lexer::readable(first.text)),
                )
            })?;
            parser(&mut args)?
        }
        HeadKind::Process => {
            let verb = args.word("a process command (mmap, write, read, fork, gup, ...)")?;
            let parser = cmd::process_verb(verb.text).ok_or_else(|| verb.unknown("process"))?;
            parser(first.text.to_owned(), &mut args)?
        }
        HeadKind::Pin => {
            let verb = args.word("`read` or `write`")?;
            let parser = cmd::pin_verb(verb.text).ok_or_else(|| verb.unknown("pin"))?;
            parser(first.text.to_owned(), &mut args)?
        }
    };
    args.finish()?;
    Ok(cmd)
}

fn expect_cond(tokens: &[Token], holes: bool) -> Parsed<ExpectCond> {
    let line_end = tokens.last().map_or(1, Token::end_column);
    let mut args = Args::new(tokens, line_end, holes);
    let op = args.word("`==`, `!=`, `has`, `fails` or `violates`")?;
    let cond = match op.text {
        "==" | "!=" => {
            let rest = &tokens[1..];
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
            args.finish()?;
            ExpectCond::Has(
                flags
                    .pieces(',')
                    .map(|flag| flag.name("flag name"))
                    .collect::<Parsed<_>>()?,
            )
        }
        "fails" => {
            let errno = args.word("ERRNO")?.errno()?;
            args.finish()?;
            ExpectCond::Fails(errno)
        }
        "violates" => {
            let kind = args.word("a check")?.keyword(VIOLATIONS)?;
            args.finish()?;
            ExpectCond::Violates(kind)
        }
        other => {
            return Err(ColumnError::new(
                op.column,
                format!("expected `==`, `!=`, `has`, `fails` or `violates`, found `{other}`"),
            ))
        }
    };
    Ok(cond)
}

const VIOLATIONS: &[(&str, ViolationKind)] = &[
    ("oracle", ViolationKind::Oracle),
    ("invariant", ViolationKind::Invariant),
    ("fatal-access", ViolationKind::FatalAccess),
];

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
