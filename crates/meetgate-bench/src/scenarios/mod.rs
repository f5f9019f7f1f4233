//! The three measurements: overhead, refresh storm, scale.

pub mod overhead;
pub mod scale;
pub mod storm;

use serde::Serialize;

/// A count that must come out exactly (never a timing).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub scenario: String,
    pub what: String,
    pub expected: String,
    pub got: String,
    pub ok: bool,
    /// A wrong enforced count fails the run; the others are reported (e.g. requests dropped at
    /// an offered load above capacity, which is data, not a bug).
    pub enforced: bool,
}

pub fn check(
    scenario: &str,
    what: &str,
    expected: impl ToString,
    got: impl ToString,
    ok: bool,
) -> Check {
    Check {
        scenario: scenario.into(),
        what: what.into(),
        expected: expected.to_string(),
        got: got.to_string(),
        ok,
        enforced: true,
    }
}

/// A count that is reported, not enforced.
pub fn note(
    scenario: &str,
    what: &str,
    expected: impl ToString,
    got: impl ToString,
    ok: bool,
) -> Check {
    Check {
        enforced: false,
        ..check(scenario, what, expected, got, ok)
    }
}
