//! The argument cursor every command parser reads its tokens with, and the typed
//! readings of a word (numbers, sizes, names, places, keywords, ...).
//!
//! Every reading reports a bad word at the word's own column. A line that uses
//! `$VAR` is parsed twice: once before anything runs, with the cursor in *hole*
//! mode, where a word that contains a `$` stands for a value not known yet and
//! every reading of it yields a placeholder; and again, in ordinary mode, once the
//! values are substituted. The first pass checks everything but the values: the
//! command and subcommand words, the options' keys, the number of arguments.

use std::time::Duration;

use super::lexer::{self, ColumnError, Token, TokenKind};
use super::output::MAX_BULK;
use crate::errno::Errno;

/// A parser's result: a value, or what is wrong at which column.
pub(crate) type Parsed<T> = Result<T, ColumnError>;

/// A cursor over a command's tokens.
pub(crate) struct Args<'t> {
    tokens: &'t [Token],
    next: usize,
    /// Column reported for a missing argument.
    pub(crate) end: u32,
    /// Whether words containing `$` are holes (the static pass over a line that
    /// uses variables).
    holes: bool,
}

impl<'t> Args<'t> {
    /// A cursor over `tokens`; a missing argument is reported at column `end`.
    pub(crate) fn new(tokens: &'t [Token], end: u32, holes: bool) -> Args<'t> {
        Args {
            tokens,
            next: 0,
            end,
            holes,
        }
    }

    /// The next token, not consumed.
    pub(crate) fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.next)
    }

    /// Consumes the next token if it is the bare word `word`.
    pub(crate) fn eat(&mut self, word: &str) -> bool {
        let found = self.peek().is_some_and(|token| token.is_word(word));
        if found {
            self.next += 1;
        }
        found
    }

    /// The next token; `what` names it if it is missing.
    pub(crate) fn token(&mut self, what: &str) -> Parsed<&'t Token> {
        let token = self
            .peek()
            .ok_or_else(|| ColumnError::new(self.end, format!("missing {what}")))?;
        self.next += 1;
        Ok(token)
    }

    /// The next token as a bare word.
    pub(crate) fn word(&mut self, what: &str) -> Parsed<Word<'t>> {
        let token = self.token(what)?;
        self.as_word(token, what)
    }

    /// `token` as a bare word (an error for a string).
    pub(crate) fn as_word(&self, token: &'t Token, what: &str) -> Parsed<Word<'t>> {
        match token.word() {
            Some(text) => Ok(Word {
                text,
                column: token.column,
                hole: self.holes && text.contains('$'),
            }),
            None => Err(ColumnError::new(
                token.column,
                format!("expected {what}, found a string"),
            )),
        }
    }

    /// All tokens not consumed yet, each as a word.
    pub(crate) fn rest_words(&mut self, what: &str) -> Parsed<Vec<(Word<'t>, &'t Token)>> {
        let rest = &self.tokens[self.next..];
        self.next = self.tokens.len();
        rest.iter()
            .map(|token| Ok((self.as_word(token, what)?, token)))
            .collect()
    }

    /// Whether any token is left.
    pub(crate) fn more(&self) -> bool {
        self.next < self.tokens.len()
    }

    /// Errors on a token left over.
    pub(crate) fn finish(&self) -> Parsed<()> {
        match self.peek() {
            Some(token) => Err(ColumnError::new(
                token.column,
                format!("unexpected `{}`", lexer::readable(&token.raw)),
            )),
            None => Ok(()),
        }
    }

    /// A name (`[A-Za-z_][A-Za-z0-9_-]*`).
    pub(crate) fn name(&mut self, what: &str) -> Parsed<String> {
        self.word(what)?.name(what)
    }

    /// A number.
    pub(crate) fn number(&mut self, what: &str) -> Parsed<u64> {
        self.word(what)?.number()
    }

    /// A size.
    pub(crate) fn size(&mut self, what: &str) -> Parsed<u64> {
        self.word(what)?.size()
    }

    /// A length of bytes one command moves: a size within the bulk limit.
    pub(crate) fn bulk(&mut self, what: &str) -> Parsed<u64> {
        self.word(what)?.bulk(what)
    }

    /// `NAME` or `NAME+OFF`.
    pub(crate) fn place(&mut self) -> Parsed<Place> {
        self.word("PLACE")?.place()
    }

    /// An optional trailing FIELD.
    pub(crate) fn field(&mut self) -> Parsed<Option<String>> {
        match self.peek() {
            Some(_) => Ok(Some(self.word("FIELD")?.text.to_owned())),
            None => Ok(None),
        }
    }

    /// An optional trailing `[OFF LEN]`.
    pub(crate) fn range(&mut self) -> Parsed<Option<ByteRange>> {
        match self.peek() {
            Some(_) => Ok(Some(ByteRange {
                off: self.size("OFF")?,
                len: self.size("LEN")?,
            })),
            None => Ok(None),
        }
    }

    /// A host file system path: a word or a string.
    pub(crate) fn host_path(&mut self, what: &str) -> Parsed<String> {
        let token = self.token(what)?;
        match &token.kind {
            TokenKind::Word => Ok(token.raw.clone()),
            TokenKind::Str(bytes) => String::from_utf8(bytes.clone())
                .map_err(|_| ColumnError::new(token.column, format!("{what} must be UTF-8"))),
        }
    }

    /// The value of the next token if it is `key=VALUE`; otherwise consumes nothing.
    pub(crate) fn option(&mut self, key: &str) -> Option<Word<'t>> {
        let token = self.peek()?;
        let (found, value) = self.as_word(token, "").ok()?.option()?;
        if found != key {
            return None;
        }
        self.next += 1;
        Some(value)
    }

    /// An optional trailing `node=N`.
    pub(crate) fn node(&mut self) -> Parsed<Option<u32>> {
        self.option("node").map(Word::small).transpose()
    }
}

/// `[OFF LEN]` of a range of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// Offset from the mapping's start, bytes.
    pub off: u64,
    /// Length, bytes.
    pub len: u64,
}

/// `NAME` or `NAME+OFF`: a byte of a process's mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The mapping's name.
    pub mapping: String,
    /// Offset from the mapping's start, bytes (0 for a bare NAME).
    pub off: u64,
}

/// Stores an option's value, or errors if the option (or one excluding it) was given.
pub(crate) fn set_once<T>(slot: &mut Option<T>, value: T, token: &Token) -> Parsed<()> {
    match slot.replace(value) {
        Some(_) => Err(repeated(token)),
        None => Ok(()),
    }
}

/// The error for an option given twice or contradicting an earlier one.
pub(crate) fn repeated(token: &Token) -> ColumnError {
    ColumnError::new(
        token.column,
        format!(
            "`{}` repeats or contradicts an earlier option",
            lexer::readable(&token.raw)
        ),
    )
}

/// A bare word, or a part of one, with the column of its first character.
#[derive(Clone, Copy)]
pub(crate) struct Word<'t> {
    /// The text.
    pub(crate) text: &'t str,
    /// 1-based column of its first character.
    pub(crate) column: u32,
    /// A value not known before the line runs (see the module doc).
    hole: bool,
}

/// Why a number did not parse.
#[derive(Debug)]
pub(crate) enum NumError {
    Bad,
    TooLarge,
}

/// A number: decimal, or hex after `0x`.
pub(crate) fn number(text: &str) -> Result<u64, NumError> {
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
pub(crate) fn size(text: &str) -> Result<u64, NumError> {
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

/// A duration: a number with `ms` or `s` (without a unit it is bad).
pub(crate) fn duration(text: &str) -> Result<Duration, NumError> {
    let (digits, unit): (_, fn(u64) -> Duration) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, Duration::from_millis)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, Duration::from_secs)
    } else {
        ("", Duration::from_secs)
    };
    number(digits).map(unit)
}

/// A duration as scenarios write it (`2s`, `500ms`), for command-line
/// options; the error says what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    duration(text).map_err(|e| match e {
        NumError::TooLarge => format!("duration `{text}` is too large"),
        NumError::Bad => format!("bad duration `{text}` (a number with ms or s)"),
    })
}

/// A size as a person writes it: the largest suffix that divides it
/// ([`crate::machine::Size`]'s form).
pub fn format_size(bytes: u64) -> String {
    crate::machine::Size(bytes).to_string()
}

impl<'t> Word<'t> {
    /// The part `text[start..end]` of this word (byte offsets at char boundaries).
    pub(crate) fn part(self, start: usize, end: usize) -> Word<'t> {
        let text = &self.text[start..end];
        Word {
            text,
            column: self
                .column
                .saturating_add(lexer::char_count(&self.text[..start])),
            hole: self.hole && text.contains('$'),
        }
    }

    /// The parts between `sep`s.
    pub(crate) fn pieces(self, sep: char) -> impl Iterator<Item = Word<'t>> {
        let mut start = 0;
        self.text.split(sep).map(move |piece| {
            let part = self.part(start, start + piece.len());
            start += piece.len() + sep.len_utf8();
            part
        })
    }

    /// `KEY=VALUE` split at the first `=`.
    pub(crate) fn option(self) -> Option<(&'t str, Word<'t>)> {
        let (key, _) = self.text.split_once('=')?;
        Some((key, self.part(key.len() + 1, self.text.len())))
    }

    /// `KEY=VALUE`, or an error naming `what` was expected.
    pub(crate) fn key_value(self, what: &str) -> Parsed<(&'t str, Word<'t>)> {
        if self.hole && self.option().is_none() {
            return Err(self.error(format!(
                "expected {what}: a variable may give only the VALUE, as in KEY=$VAR (`{}`)",
                lexer::readable(self.text)
            )));
        }
        self.option().ok_or_else(|| {
            self.error(format!(
                "expected {what}, found `{}`",
                lexer::readable(self.text)
            ))
        })
    }

    /// An error at this word.
    pub(crate) fn error(self, message: String) -> ColumnError {
        ColumnError::new(self.column, message)
    }

    /// Whether the word stands for a value not known yet (see the module doc).
    pub(crate) fn is_hole(self) -> bool {
        self.hole
    }

    /// `unknown FAMILY command `WORD``.
    pub(crate) fn unknown(self, family: &str) -> ColumnError {
        if self.hole {
            return self.error(format!(
                "a {family} command word must be written out, not taken from a variable (`{}`)",
                lexer::readable(self.text)
            ));
        }
        self.error(format!(
            "unknown {family} command `{}`",
            lexer::readable(self.text)
        ))
    }

    /// `unknown COMMAND option `WORD``.
    pub(crate) fn unknown_option(self, command: &str) -> ColumnError {
        if self.hole {
            return self.error(format!(
                "a {command} option must be written out; a variable may give only its value, \
                 as in KEY=$VAR (`{}`)",
                lexer::readable(self.text)
            ));
        }
        self.error(format!(
            "unknown {command} option `{}`",
            lexer::readable(self.text)
        ))
    }

    /// A name (`[A-Za-z_][A-Za-z0-9_-]*`).
    pub(crate) fn name(self, what: &str) -> Parsed<String> {
        if self.hole || lexer::is_name(self.text) {
            Ok(self.text.to_owned())
        } else {
            Err(self.error(format!(
                "bad {what} `{}` (a name is [A-Za-z_][A-Za-z0-9_-]*)",
                lexer::readable(self.text)
            )))
        }
    }

    /// A number: decimal, or hex after `0x`.
    pub(crate) fn number(self) -> Parsed<u64> {
        if self.hole {
            return Ok(0);
        }
        number(self.text).map_err(|e| match e {
            NumError::Bad => self.error(format!(
                "bad number `{}` (decimal, or hex after 0x)",
                lexer::readable(self.text)
            )),
            NumError::TooLarge => self.error(format!("number `{}` is too large", self.text)),
        })
    }

    /// A size: a number with an optional K, M, G or T.
    pub(crate) fn size(self) -> Parsed<u64> {
        if self.hole {
            return Ok(0);
        }
        size(self.text).map_err(|e| match e {
            NumError::Bad => self.error(format!(
                "bad size `{}` (a number with an optional K, M, G or T)",
                lexer::readable(self.text)
            )),
            NumError::TooLarge => self.error(format!("size `{}` is too large", self.text)),
        })
    }

    /// A size within the bulk limit ([`MAX_BULK`]).
    pub(crate) fn bulk(self, what: &str) -> Parsed<u64> {
        let len = self.size()?;
        if len > MAX_BULK {
            return Err(self.error(format!(
                "{what} {} is more than the bulk limit, {} (the most one command may move)",
                self.text,
                format_size(MAX_BULK)
            )));
        }
        Ok(len)
    }

    /// A number that fits in `T`.
    pub(crate) fn small<T: TryFrom<u64>>(self) -> Parsed<T> {
        T::try_from(self.number()?)
            .map_err(|_| self.error(format!("number `{}` is too large", self.text)))
    }

    /// A signed number: an optional `-` before a number.
    pub(crate) fn int(self) -> Parsed<i32> {
        let (negative, magnitude) = match self.text.strip_prefix('-') {
            Some(_) => (true, self.part(1, self.text.len())),
            None => (false, self),
        };
        let n = i64::try_from(magnitude.number()?).ok();
        n.map(|n| if negative { -n } else { n })
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| self.error(format!("number `{}` is out of range", self.text)))
    }

    /// A byte value, 0 to 0xff.
    pub(crate) fn byte(self) -> Parsed<u8> {
        u8::try_from(self.number()?)
            .map_err(|_| self.error(format!("byte value `{}` is larger than 0xff", self.text)))
    }

    /// A number with `ms` or `s`.
    pub(crate) fn duration(self) -> Parsed<Duration> {
        if self.hole {
            return Ok(Duration::ZERO);
        }
        match duration(self.text) {
            Ok(d) => Ok(d),
            Err(NumError::TooLarge) => {
                Err(self.error(format!("duration `{}` is too large", self.text)))
            }
            Err(NumError::Bad) => Err(self.error(format!(
                "bad duration `{}` (a number with ms or s)",
                lexer::readable(self.text)
            ))),
        }
    }

    /// An errno name Linux and [`Errno`] know.
    pub(crate) fn errno(self) -> Parsed<Errno> {
        if self.hole {
            return Ok(Errno::EINVAL);
        }
        let shaped = self.text.strip_prefix('E').is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        });
        if !shaped {
            return Err(self.error(format!(
                "expected an errno name such as EINVAL, found `{}`",
                lexer::readable(self.text)
            )));
        }
        Errno::from_name(self.text)
            .ok_or_else(|| self.error(format!("unknown errno `{}`", self.text)))
    }

    /// `NAME` or `NAME+OFF`.
    pub(crate) fn place(self) -> Parsed<Place> {
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
    pub(crate) fn sys_path(self) -> Parsed<String> {
        let relative = match self.text.strip_prefix("/sys") {
            Some("") => "",
            Some(rest) if rest.starts_with('/') => &rest[1..],
            _ if self.text.starts_with('/') => {
                return Err(self.error(format!(
                    "PATH `{}` is not below /sys",
                    lexer::readable(self.text)
                )))
            }
            _ => self.text,
        };
        Ok(relative.trim_end_matches('/').to_owned())
    }

    /// One of the words of `table`.
    pub(crate) fn keyword<T: Copy>(self, table: &[(&str, T)]) -> Parsed<T> {
        if self.hole {
            if let Some(&(_, first)) = table.first() {
                return Ok(first);
            }
        }
        table
            .iter()
            .find(|(word, _)| *word == self.text)
            .map(|&(_, value)| value)
            .ok_or_else(|| {
                let words: Vec<&str> = table.iter().map(|(word, _)| *word).collect();
                self.error(format!(
                    "expected {}, found `{}`",
                    words.join("|"),
                    lexer::readable(self.text)
                ))
            })
    }
}
