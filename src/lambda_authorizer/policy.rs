//! IAM policy evaluation for `execute-api:Invoke`, as API Gateway applies an
//! authorizer's policy to a method ARN. Pure functions, no tower types.

use crate::events::authorizer::{PolicyDocument, StringOrArray};

/// What a policy says about one method ARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyDecision {
    /// A statement allows it and none denies it.
    Allow,
    /// A statement denies it (it wins over any allow): 403, `User is not
    /// authorized to access this resource with an explicit deny`.
    ExplicitDeny,
    /// No statement allows it: 403, `User is not authorized to access this
    /// resource`.
    ImplicitDeny,
}

/// Why a policy document cannot be evaluated: API Gateway answers 500
/// `AUTHORIZER_CONFIGURATION_ERROR` for it, never an allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A statement's `Effect` is neither `Allow` nor `Deny`.
    #[error("a statement's Effect is neither `Allow` nor `Deny`")]
    InvalidEffect,
    /// A statement has both `Action` and `NotAction`, or neither; or both
    /// `Resource` and `NotResource`, or neither.
    #[error("a statement needs exactly one of Action/NotAction and one of Resource/NotResource")]
    InvalidStatement,
}

/// A policy document reduced to what decides `execute-api:Invoke`: the
/// statements whose action covers it, with their resource patterns. Built
/// once per authorizer answer, evaluated once per request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CompiledPolicy {
    statements: Vec<CompiledStatement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct CompiledStatement {
    deny: bool,
    /// `NotResource`: the statement applies to ARNs that match none.
    negated: bool,
    /// An IAM `Condition` this crate cannot evaluate.
    conditional: bool,
    resources: Vec<Box<str>>,
}

impl CompiledPolicy {
    /// Keeps the statements that apply to `execute-api:Invoke`.
    pub(crate) fn compile(document: &PolicyDocument) -> Result<Self, PolicyError> {
        let mut statements = Vec::new();
        for statement in &document.statement {
            let deny = match statement.effect.as_str() {
                "Allow" => false,
                "Deny" => true,
                _ => return Err(PolicyError::InvalidEffect),
            };
            let covers_invoke = match (&statement.action, &statement.not_action) {
                (Some(actions), None) => covers_invoke(actions),
                (None, Some(actions)) => !covers_invoke(actions),
                _ => return Err(PolicyError::InvalidStatement),
            };
            let (resources, negated) = match (&statement.resource, &statement.not_resource) {
                (Some(resources), None) => (resources, false),
                (None, Some(resources)) => (resources, true),
                _ => return Err(PolicyError::InvalidStatement),
            };
            if covers_invoke {
                statements.push(CompiledStatement {
                    deny,
                    negated,
                    conditional: statement.condition.is_some(),
                    resources: resources.iter().map(Box::from).collect(),
                });
            }
        }
        Ok(Self { statements })
    }

    /// IAM's rule: any applicable Deny wins; else any applicable Allow;
    /// else an implicit deny. A statement with a `Condition` (which this
    /// crate does not evaluate) is taken to hold when it denies and not to
    /// hold when it allows, so it can only ever deny.
    pub(crate) fn evaluate(&self, method_arn: &str) -> PolicyDecision {
        let mut allowed = false;
        for statement in &self.statements {
            let matched = statement
                .resources
                .iter()
                .any(|pattern| glob_match(pattern, method_arn));
            let applies = matched != statement.negated;
            if statement.deny {
                // A condition is assumed to hold: a conditional Deny denies.
                if applies {
                    return PolicyDecision::ExplicitDeny;
                }
            } else if applies && !statement.conditional {
                allowed = true;
            }
        }
        if allowed {
            PolicyDecision::Allow
        } else {
            PolicyDecision::ImplicitDeny
        }
    }
}

/// Whether an `Action` list covers `execute-api:Invoke`. IAM action names
/// are case-insensitive; `*`, `execute-api:*` and `execute-api:Inv*` cover it.
fn covers_invoke(actions: &StringOrArray) -> bool {
    actions
        .iter()
        .any(|action| glob_match(&action.to_ascii_lowercase(), "execute-api:invoke"))
}

/// Evaluates `document` for `execute-api:Invoke` on `method_arn` with IAM's
/// rules: statements whose `Action` (or `NotAction`) covers
/// `execute-api:Invoke` and whose `Resource` (or `NotResource`) matches the
/// ARN apply; an applicable `Deny` wins, else an applicable `Allow` allows,
/// else the answer is an implicit deny. `Condition`s are not evaluated: a
/// conditional `Allow` never allows, a conditional `Deny` denies whatever its
/// resources match.
///
/// ```
/// use apigw::events::authorizer::IamPolicyResponse;
/// use apigw::lambda_authorizer::{evaluate_policy, PolicyDecision};
///
/// let answer = IamPolicyResponse::allow("u", "arn:aws:execute-api:*:*:api/prod/GET/pets/*");
/// let arn = |path| format!("arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/{path}");
/// assert_eq!(evaluate_policy(&answer.policy_document, &arn("pets/1")), Ok(PolicyDecision::Allow));
/// assert_eq!(evaluate_policy(&answer.policy_document, &arn("users/1")), Ok(PolicyDecision::ImplicitDeny));
/// ```
pub fn evaluate_policy(
    document: &PolicyDocument,
    method_arn: &str,
) -> Result<PolicyDecision, PolicyError> {
    CompiledPolicy::compile(document).map(|policy| policy.evaluate(method_arn))
}

/// IAM's wildcard match over a whole string: `*` matches any run of
/// characters (including `/` and `:`), `?` exactly one character;
/// everything else matches itself, case-sensitively.
///
/// Runs in O(pattern × text) time at worst and without recursion (the
/// classic single-backtrack-point algorithm), so no pattern can make it
/// exponential.
///
/// ```
/// use apigw::lambda_authorizer::glob_match;
///
/// assert!(glob_match("arn:aws:execute-api:*:*:*", "arn:aws:execute-api:us-east-1:1:a/b/GET/"));
/// assert!(glob_match("a?c", "abc"));
/// assert!(!glob_match("a?c", "ac"));
/// assert!(!glob_match("ABC", "abc"));
/// ```
#[must_use]
pub fn glob_match(pattern: &str, text: &str) -> bool {
    if !pattern.contains('?') {
        return star_match(pattern, text);
    }
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == b'?' {
            pi += 1;
            ti += utf8_len(t[ti]);
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star_pi, star_ti)) = star {
            // Let the last `*` swallow one more character and retry from there.
            let next = star_ti + utf8_len(t[star_ti]);
            star = Some((star_pi, next));
            pi = star_pi + 1;
            ti = next;
        } else {
            return false;
        }
    }
    // `?` may have stepped past the end on malformed input; only an exact
    // end counts.
    ti == t.len() && p[pi.min(p.len())..].iter().all(|&b| b == b'*')
}

/// [`glob_match`] for a pattern with `*` but no `?`: the literal pieces
/// between the stars, the first at the start, the last at the end, and each
/// middle one at its leftmost place after the previous (leftmost is always
/// right for `*`-only patterns). Substring search, no backtracking: linear
/// in the text per piece.
fn star_match(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let Some(last) = pieces.next_back() else {
        // No `*`: the whole text must be the pattern.
        return rest.is_empty();
    };
    for piece in pieces.filter(|piece| !piece.is_empty()) {
        match find(rest.as_bytes(), piece.as_bytes()) {
            // A match of a whole (UTF-8) piece ends on a character boundary.
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The leftmost position of the non-empty `needle` in `haystack`: a scan for
/// its first byte, then a compare. `str::find` sets up a two-way searcher
/// per call, which costs more than the whole search for needles and texts
/// the size of ARNs (at most 1600 bytes); this stays O(text × needle).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut start = 0;
    while start <= last_start {
        let at = start
            + haystack[start..=last_start]
                .iter()
                .position(|&b| b == first)?;
        if &haystack[at + 1..at + needle.len()] == rest {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

/// The length of the UTF-8 character that starts with `first`.
fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::authorizer::{Effect, Statement};

    #[test]
    fn star_crosses_slashes_and_colons() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "a:b/c"));
        assert!(glob_match("a*d", "a:b/c/d"));
        assert!(!glob_match("a*d", "a:b/c/de"));
        assert!(glob_match("a*d*", "a:b/c/de"));
    }

    #[test]
    fn question_mark_is_exactly_one_character_even_outside_ascii() {
        assert!(glob_match("p?t", "pét"));
        assert!(!glob_match("p?t", "pt"));
        assert!(!glob_match("p??t", "pét"));
    }

    #[test]
    fn star_only_patterns_match_like_the_general_matcher() {
        let cases = [
            ("", ""),
            ("", "a"),
            ("abc", "abc"),
            ("abc", "abcd"),
            ("*", "x"),
            ("a*", "a"),
            ("*a", "ba"),
            ("*a", "ab"),
            ("a*a", "a"),
            ("a*a", "aa"),
            ("a**b*c", "axbyc"),
            ("a*b*c", "acb"),
            ("ab*ba", "aba"),
            ("*/GET/*", "arn:x:api/prod/GET/pets/1"),
            ("arn:*:api/prod/GET/pets", "arn:1:api/prod/GET/pets/1"),
        ];
        for (pattern, text) in cases {
            // The general matcher, forced by a `?` that matches one
            // character of a sentinel suffix.
            let general = glob_match(&format!("{pattern}?"), &format!("{text}!"));
            assert_eq!(star_match(pattern, text), general, "{pattern} vs {text}");
        }
    }

    #[test]
    fn pathological_patterns_finish_quickly() {
        let text = "a".repeat(2000);
        let pattern = format!("{}b", "*a".repeat(200));
        assert!(!glob_match(&pattern, &text));
        let pattern = format!("{}?b", "*a".repeat(200));
        assert!(!glob_match(&pattern, &text));
    }

    #[test]
    fn conditional_allow_never_allows_and_conditional_deny_always_denies() {
        let mut allow = Statement::new(Effect::Allow, "*");
        allow.condition = Some(serde_json::json!({"IpAddress": {"aws:SourceIp": "1.2.3.4"}}));
        let doc = PolicyDocument::new(vec![allow]);
        assert_eq!(evaluate_policy(&doc, "x"), Ok(PolicyDecision::ImplicitDeny));

        let mut deny = Statement::new(Effect::Deny, "x*");
        deny.condition = Some(serde_json::json!({}));
        let doc = PolicyDocument::new(vec![Statement::new(Effect::Allow, "*"), deny]);
        assert_eq!(evaluate_policy(&doc, "x"), Ok(PolicyDecision::ExplicitDeny));
        assert_eq!(evaluate_policy(&doc, "y"), Ok(PolicyDecision::Allow));
    }
}
