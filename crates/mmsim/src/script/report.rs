//! What a run reports: per file, the expectations that held, one line per
//! failure (`FILE:LINE: ...`) and, when asked for, the transcript of every
//! command with its value and its failures in place; over the run, the totals
//! and the input error that stopped it, if one did.

use super::parse::ParseError;

/// What one file's run produced.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FileReport {
    /// The file.
    pub file: String,
    /// Expectations and checks that held.
    pub passed: u32,
    /// Failed commands and expectations, and violations nobody expected.
    pub failed: u32,
    /// One per failure, in the order they happened.
    pub failures: Vec<Failure>,
    /// With `verbose`: every command, its value, and its failures after it.
    pub transcript: Vec<String>,
    /// With `record_lines`: each command line's result, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineResult>,
}

/// One command line's result, as `mmsim run --host` compares it with the
/// same line run elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LineResult {
    /// The line.
    pub line: u32,
    /// What the command printed (a read as a summary: `0xNN xLEN` for one
    /// byte value, else hex), or its errno name (or refusal) if it failed.
    pub value: Result<String, String>,
    /// For an `expect`: whether it held.
    pub held: Option<bool>,
}

/// One thing that failed a scenario.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The line.
    pub line: u32,
    /// What failed.
    pub kind: FailureKind,
    /// The report line, `FILE:LINE: message`.
    pub text: String,
}

/// What failed a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// A command outside `expect` failed (`COMMAND failed: ERRNO`).
    Command,
    /// An expectation did not hold.
    Expectation,
    /// A kernel invariant (or the leak check) was broken unasked.
    Invariant,
    /// What user space saw disagrees with the oracle, unasked.
    Oracle,
    /// Something touched memory the hypervisor made inaccessible, unasked.
    #[serde(rename = "fatal-access")]
    FatalAccess,
}

/// The result of running a set of files.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunReport {
    /// Per file, in order; with an input error, the files run before it and
    /// the part of its file that ran.
    pub files: Vec<FileReport>,
    /// Total passed.
    pub passed: u32,
    /// Total failed.
    pub failed: u32,
    /// Bad input found while running (a value substituted into a line, a
    /// machine the model cannot boot): the run stopped there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ParseError>,
}

impl RunReport {
    /// Adds a file's report to the totals.
    pub(crate) fn add(&mut self, file: FileReport) {
        self.passed += file.passed;
        self.failed += file.failed;
        self.files.push(file);
    }

    /// The exit status SCENARIOS.md gives: 2 for bad input, 1 if anything
    /// failed, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.error.is_some() {
            2
        } else if self.failed > 0 {
            1
        } else {
            0
        }
    }

    /// The text report, line by line: with `verbose` every file's transcript
    /// (failures in place), else its failures; then `N passed, M failed`. An
    /// input error is not among them (it goes to standard error).
    pub fn text_lines(&self, verbose: bool) -> impl Iterator<Item = &str> {
        self.files.iter().flat_map(move |f| {
            let lines: Box<dyn Iterator<Item = &str>> = if verbose {
                Box::new(f.transcript.iter().map(String::as_str))
            } else {
                Box::new(f.failures.iter().map(|f| f.text.as_str()))
            };
            lines
        })
    }

    /// `N passed, M failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }
}
