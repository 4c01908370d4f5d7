//! The outcome of verifying one piece of evidence.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One named check and its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable, dotted name such as `sevsnp.signature` or `tdx.pck_chain`.
    pub name: String,
    /// Whether the check passed.
    pub ok: bool,
    /// Human reason: what was compared, or why it failed. Never secret material.
    pub detail: String,
}

/// Every check a verifier ran, and the claims it parsed from the evidence.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Verdict {
    /// Checks in the order they ran.
    pub checks: Vec<Check>,
    /// Parsed claims (measurements, TCB, replayed PCRs ...), as JSON values.
    pub claims: Map<String, Value>,
}

impl Verdict {
    /// An empty verdict: no check yet, so not valid.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a check and returns whether it passed.
    pub fn check(&mut self, name: &str, ok: bool, detail: impl Into<String>) -> bool {
        self.checks.push(Check {
            name: name.to_owned(),
            ok,
            detail: detail.into(),
        });
        ok
    }

    /// Records a passed check.
    pub fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.check(name, true, detail);
    }

    /// Records a failed check.
    pub fn fail(&mut self, name: &str, detail: impl Into<String>) {
        self.check(name, false, detail);
    }

    /// Sets one claim.
    pub fn claim(&mut self, name: &str, value: impl Into<Value>) {
        self.claims.insert(name.to_owned(), value.into());
    }

    /// Appends the checks and claims of another verdict, prefixing its claim names.
    pub fn merge(&mut self, prefix: &str, other: Verdict) {
        self.checks.extend(other.checks);
        for (name, value) in other.claims {
            self.claims.insert(format!("{prefix}{name}"), value);
        }
    }

    /// Valid when at least one check ran and none failed.
    #[must_use]
    pub fn valid(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    /// The first failed check, if any.
    #[must_use]
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }

    /// JSON with `valid`, `checks` and `claims`: the shape the CLI prints with `--json`.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = Map::new();
        out.insert("valid".into(), Value::Bool(self.valid()));
        out.insert(
            "checks".into(),
            serde_json::to_value(&self.checks).unwrap_or(Value::Null),
        );
        out.insert("claims".into(), Value::Object(self.claims.clone()));
        Value::Object(out).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_verdict_is_not_valid() {
        assert!(!Verdict::new().valid());
    }

    #[test]
    fn one_failure_makes_it_invalid_and_is_reported() {
        let mut v = Verdict::new();
        v.pass("a", "fine");
        v.fail("b", "mismatch");
        assert!(!v.valid());
        assert_eq!(v.first_failure().map(|c| c.name.as_str()), Some("b"));
        let json: Value = serde_json::from_str(&v.to_json()).unwrap();
        assert_eq!(json["valid"], Value::Bool(false));
        assert_eq!(json["checks"][1]["detail"], "mismatch");
    }
}
