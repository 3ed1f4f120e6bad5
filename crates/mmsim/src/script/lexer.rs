//! Tokens of one scenario line (SCENARIOS.md, "Lexical rules").
//!
//! A line is cut at blanks (space, tab) into tokens. A `#` outside a string ends the
//! line. A token is either a bare word, kept as written, or a `"..."` string whose
//! escapes (`\"`, `\\`, `\n`, `\xNN`) are resolved into bytes. Every token remembers
//! the 1-based column, counted in characters, of its first character, so that any
//! later error can point at it.
//!
//! `$NAME` references are lexical too: [`var_refs`] finds them in a word. Only bare
//! words are substituted; a quoted string is always taken literally.

use std::fmt;

/// A token of a scenario line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// 1-based column (in characters) of the token's first character.
    pub column: u32,
    /// The token as written: a string keeps its quotes and unresolved escapes.
    pub raw: String,
    /// Word or string.
    pub kind: TokenKind,
}

/// What kind of token a [`Token`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare word; its text is the token's `raw`.
    Word,
    /// A `"..."` string; the bytes it denotes, escapes resolved.
    Str(Vec<u8>),
}

impl Token {
    /// The text of a bare word, or `None` for a string.
    pub fn word(&self) -> Option<&str> {
        match self.kind {
            TokenKind::Word => Some(&self.raw),
            TokenKind::Str(_) => None,
        }
    }

    /// Whether the token is the bare word `word` (a quoted `"word"` is not).
    pub fn is_word(&self, word: &str) -> bool {
        self.word() == Some(word)
    }

    /// The column just after the token's last character.
    pub fn end_column(&self) -> u32 {
        self.column.saturating_add(char_count(&self.raw))
    }
}

/// An error at a column of one line; the parser adds the file and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnError {
    /// 1-based column (in characters) of the offending text.
    pub column: u32,
    /// What is wrong, for a person.
    pub message: String,
}

impl ColumnError {
    /// An error at `column`.
    pub fn new(column: u32, message: impl Into<String>) -> ColumnError {
        ColumnError {
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for ColumnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.column, self.message)
    }
}

/// Cuts one line (without its newline) into tokens; a blank or comment-only line gives
/// no token.
pub fn tokenize(line: &str) -> Result<Vec<Token>, ColumnError> {
    let chars: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && is_blank(chars[i]) {
            i += 1;
        }
        if i == chars.len() || chars[i] == '#' {
            return Ok(tokens);
        }
        let start = i;
        let kind = if chars[i] == '"' {
            let (bytes, end) = string(&chars, i)?;
            i = end;
            if i < chars.len() && !is_blank(chars[i]) && chars[i] != '#' {
                return Err(ColumnError::new(
                    column(i),
                    "a string must be followed by a blank",
                ));
            }
            TokenKind::Str(bytes)
        } else {
            while i < chars.len() && !is_blank(chars[i]) && chars[i] != '#' {
                if chars[i] == '"' {
                    return Err(ColumnError::new(column(i), "a `\"` may only start a token"));
                }
                i += 1;
            }
            TokenKind::Word
        };
        tokens.push(Token {
            column: column(start),
            raw: chars[start..i].iter().collect(),
            kind,
        });
    }
}

/// Reads the string that opens at `chars[open]`; returns its bytes and the index just
/// after the closing quote.
fn string(chars: &[char], open: usize) -> Result<(Vec<u8>, usize), ColumnError> {
    let unterminated = || ColumnError::new(column(open), "unterminated string");
    let mut bytes = Vec::new();
    let mut i = open + 1;
    loop {
        match *chars.get(i).ok_or_else(unterminated)? {
            '"' => return Ok((bytes, i + 1)),
            '\\' => {
                let escape = *chars.get(i + 1).ok_or_else(unterminated)?;
                let (byte, len) = match escape {
                    '"' => (b'"', 2),
                    '\\' => (b'\\', 2),
                    'n' => (b'\n', 2),
                    'x' => (
                        hex_escape(chars.get(i + 2..i + 4)).ok_or_else(|| {
                            ColumnError::new(column(i), "bad escape: `\\x` needs two hex digits")
                        })?,
                        4,
                    ),
                    other => {
                        return Err(ColumnError::new(
                            column(i),
                            format!(
                                "bad escape `\\{}` (use \\\", \\\\, \\n or \\xNN)",
                                readable(&other.to_string())
                            ),
                        ))
                    }
                };
                bytes.push(byte);
                i += len;
            }
            c => {
                let mut utf8 = [0; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                i += 1;
            }
        }
    }
}

fn hex_escape(digits: Option<&[char]>) -> Option<u8> {
    match digits? {
        [hi, lo] => Some((hi.to_digit(16)? * 16 + lo.to_digit(16)?) as u8),
        _ => None,
    }
}

/// A `$NAME` reference inside a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarRef<'a> {
    /// Column of the `$`.
    pub column: u32,
    /// Byte range of `$NAME` in the word.
    pub span: std::ops::Range<usize>,
    /// NAME.
    pub name: &'a str,
}

/// The `$NAME` references in a token, in order; a string has none. NAME is the longest
/// run of name characters after the `$`; a `$` not followed by a name is an error.
pub fn var_refs(token: &Token) -> Result<Vec<VarRef<'_>>, ColumnError> {
    let Some(word) = token.word() else {
        return Ok(Vec::new());
    };
    let mut refs = Vec::new();
    let mut chars = word.char_indices().enumerate().peekable();
    while let Some((nth, (dollar, c))) = chars.next() {
        if c != '$' {
            continue;
        }
        let column = token.column.saturating_add(to_u32(nth));
        let start = dollar + 1;
        let mut end = start;
        while let Some(&(_, (at, c))) = chars.peek() {
            let ok = if at == start {
                is_name_start(c)
            } else {
                is_name_char(c)
            };
            if !ok {
                break;
            }
            end = at + c.len_utf8();
            chars.next();
        }
        if end == start {
            return Err(ColumnError::new(
                column,
                "`$` must be followed by a variable name",
            ));
        }
        refs.push(VarRef {
            column,
            span: dollar..end,
            name: &word[start..end],
        });
    }
    Ok(refs)
}

/// Whether `text` is a name: `[A-Za-z_][A-Za-z0-9_-]*`.
pub fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `text` with every character a reader could not see or tell apart escaped
/// (`\u{feff}`, `\t`, `\x00`), for quoting user input in messages.
pub fn readable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_invisible(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters, blanks other than the space, and the format characters
/// that render as nothing (zero-width spaces and joiners, direction marks, the
/// byte-order mark, the soft hyphen).
fn is_invisible(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            u32::from(c),
            0xad | 0x34f | 0x180e | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x206f
                | 0xfeff | 0xfff9..=0xfffb
        )
}

/// Number of characters in `text`, as a column offset.
pub fn char_count(text: &str) -> u32 {
    to_u32(text.chars().count())
}

/// 1-based column of the character at index `i`.
fn column(i: usize) -> u32 {
    to_u32(i).saturating_add(1)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
