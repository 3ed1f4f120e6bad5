//! The typed syntax tree of a scenario (SCENARIOS.md).
//!
//! A [`Script`] is the list of a file's statements, each with its line number.
//! Commands are typed by family ([`Cmd`]); their fields are already checked:
//! sizes, addresses and offsets are bytes (`u64`), PFNs are page frame numbers,
//! names match `[A-Za-z_][A-Za-z0-9_-]*`, option keywords are enums and options
//! the scenario left out hold their documented defaults. The interpreter never
//! looks at text again, except for one case: a statement that uses `$VAR` is
//! checked as far as it can be before anything runs (everything but the values)
//! and kept as [`StmtKind::Deferred`]; it is typed again, with the values
//! substituted, when it is reached.

use super::cmd::machine::MachineSpec;
use super::cmd::Cmd;
use super::lexer::Token;
use crate::errno::Errno;

/// A parsed scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The file name, as given to the parser (used in reports).
    pub file: String,
    /// The statements in file order; blank and comment lines have none.
    pub stmts: Vec<Stmt>,
}

/// One line's statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    /// 1-based line number.
    pub line: u32,
    /// The command as written (without `let VAR =`, `expect` or the condition),
    /// for messages.
    pub text: String,
    /// What the line says.
    pub kind: StmtKind,
}

/// The statement forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StmtKind {
    /// `machine ...`: the machine's shape (first, once).
    Machine(MachineSpec),
    /// `variant KEY=VALUE ...`: protocol variants (right after `machine`), each
    /// with the column of its token.
    Variant(Vec<VariantSetting>),
    /// `COMMAND`.
    Command(Cmd),
    /// `let VAR = COMMAND`: run COMMAND and bind its printed value to VAR.
    Let {
        /// VAR, without `$`.
        var: String,
        /// The command whose printed value is bound.
        cmd: Cmd,
    },
    /// `expect COMMAND (== | != | has | fails | violates) ...`.
    Expect {
        /// The command run.
        cmd: Cmd,
        /// What must hold of it.
        cond: ExpectCond,
    },
    /// A statement that uses `$VAR`: typed at run time, after substitution.
    Deferred(Deferred),
}

/// One `KEY=VALUE` of a `variant` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariantSetting {
    /// KEY.
    pub key: String,
    /// VALUE.
    pub value: String,
    /// Column of the token.
    pub column: u32,
}

/// A statement whose tokens contain `$VAR` references.
///
/// The parser has checked everything that does not depend on a variable's value:
/// the `let`/`expect` structure, the command and subcommand words, option keys,
/// the number of arguments, and that every VAR is bound by an earlier `let`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deferred {
    /// The whole line's tokens, `$VAR` not yet substituted.
    pub tokens: Vec<Token>,
    /// What the command's first token names, fixed when the line was read.
    pub head: HeadKind,
    /// Where the statement's parts lie among the tokens, fixed when the line
    /// was read: a substituted value never changes the statement's shape.
    pub shape: FrameShape,
}

/// Where a statement's parts lie among its tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameShape {
    /// `COMMAND`.
    Plain,
    /// `let VAR = COMMAND` (VAR is the second token).
    Let,
    /// `expect COMMAND TERMINATOR ...`, the terminator at this index.
    Expect {
        /// Index of the terminator.
        cond_at: usize,
    },
}

/// What the first token of a command names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKind {
    /// A command keyword (`hotplug`, `sysfs`, `spawn`, ...).
    Keyword,
    /// A process introduced by `spawn P` or `P fork Q`.
    Process,
    /// A pin introduced by `P gup PIN ...`.
    Pin,
}

/// The condition of an `expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectCond {
    /// `== VALUE`: the printed value equals VALUE.
    Eq(Value),
    /// `!= VALUE`: the printed value differs from VALUE.
    Ne(Value),
    /// `has FLAG[,FLAG...]`: every FLAG is among the printed comma-separated names.
    Has(Vec<String>),
    /// `fails ERRNO`: the command fails with exactly this errno.
    Fails(Errno),
    /// `violates oracle|invariant|fatal-access`: the command breaks this check.
    Violates(ViolationKind),
}

/// Which check an `expect ... violates` asks to be broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// `oracle`: a read disagrees with the POSIX-level oracle.
    Oracle,
    /// `invariant`: a kernel-internal invariant is broken.
    Invariant,
    /// `fatal-access`: an access to an inaccessible (e.g. unplugged) block.
    FatalAccess,
}

/// The VALUE of `expect COMMAND == VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The rest of the line as written, runs of blanks folded to one blank.
    pub raw: String,
    /// How the value reads.
    pub kind: ValueKind,
}

/// Classification of a [`Value`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A single `"text"`: the bytes read equal these bytes.
    Text(Vec<u8>),
    /// A single `0xNN` with exactly two hex digits: for a read, every byte is NN;
    /// otherwise compared as text.
    Byte(u8),
    /// Anything else (a number, one or more words): compared with `raw`.
    Words,
}
