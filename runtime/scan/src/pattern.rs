//! One detector's pattern: a kind, a regular expression, how likely a match is to be what it
//! looks like, and the check a match must pass besides its shape.

/// What a match must satisfy besides the expression.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    /// Nothing more.
    Shape,
    /// The text of the match (or of its `value` group).
    Value(fn(&str) -> bool),
    /// The match in its text (`text`, start, end), for checks that look around it.
    Span(fn(&str, usize, usize) -> bool),
    /// A URL (the `url` group) with a query string, to a host the tool may not reach.
    Link,
}

#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub kind: &'static str,
    pub regex: String,
    pub risk: f64,
    pub check: Check,
}

impl Pattern {
    pub(crate) fn new(kind: &'static str, regex: &str, risk: f64) -> Pattern {
        Pattern {
            kind,
            regex: regex.to_owned(),
            risk,
            check: Check::Shape,
        }
    }

    pub(crate) fn validated(mut self, check: fn(&str) -> bool) -> Pattern {
        self.check = Check::Value(check);
        self
    }

    pub(crate) fn checked(mut self, check: fn(&str, usize, usize) -> bool) -> Pattern {
        self.check = Check::Span(check);
        self
    }

    pub(crate) fn link(mut self) -> Pattern {
        self.check = Check::Link;
        self
    }
}
