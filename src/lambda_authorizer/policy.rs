//! IAM policy evaluation for `execute-api:Invoke`, as API Gateway applies an
//! authorizer's policy to a method ARN. Pure functions, no tower types.

use http::Method;

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

/// A [`CompiledPolicy`] bound to every method ARN that starts with one
/// fixed prefix (`arn:aws:execute-api:{region}:{account}:{apiId}/`, with
/// `{stage}/` when the stage is configured): each `Resource` pattern is
/// matched against the prefix once, when the answer is cached, and what is
/// left is matched per request against the ARN's tail (`{VERB}/{path}`)
/// only. Statements the prefix settles are folded in: a `Deny` that covers
/// every such ARN makes the whole policy an explicit deny, an `Allow` that
/// covers all of them needs no matching, and statements that cannot apply
/// are dropped.
///
/// Exact by construction: for every tail,
/// `bound.evaluate(tail) == policy.evaluate(prefix + tail)` (tested against
/// the reference evaluator, with a property test over random patterns).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BoundPolicy {
    /// The same answer for every ARN with the prefix.
    Always(PolicyDecision),
    /// Tails to match.
    Tails {
        /// Any that applies is an explicit deny.
        denies: Box<[TailMatch]>,
        /// Whether an unconditional `Allow` covers every ARN with the prefix.
        allow_all: bool,
        /// Any that applies allows (unless `allow_all` made them moot).
        allows: Box<[TailMatch]>,
    },
}

/// One statement's resources, bound to the prefix: it applies to a tail
/// when some residual pattern matches it (`NotResource`: when none does).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TailMatch {
    negated: bool,
    residuals: Box<[Glob]>,
}

impl TailMatch {
    fn applies(&self, tail: &str) -> bool {
        self.residuals.iter().any(|glob| glob.matches(tail)) != self.negated
    }
}

/// Whether a statement applies to the ARNs with the prefix.
enum Applies {
    Always,
    Never,
    Depends(TailMatch),
}

impl CompiledPolicy {
    /// This policy for method ARNs that start with `prefix`: see
    /// [`BoundPolicy`].
    pub(crate) fn bind(&self, prefix: &str) -> BoundPolicy {
        let mut denies = Vec::new();
        let mut allows = Vec::new();
        let mut allow_all = false;
        for statement in &self.statements {
            // A conditional Allow never allows: nothing to match.
            if !statement.deny && statement.conditional {
                continue;
            }
            let applies = match Residuals::of(&statement.resources, prefix) {
                Residuals::All if statement.negated => Applies::Never,
                Residuals::All => Applies::Always,
                Residuals::None if statement.negated => Applies::Always,
                Residuals::None => Applies::Never,
                Residuals::Some(residuals) => Applies::Depends(TailMatch {
                    negated: statement.negated,
                    residuals,
                }),
            };
            match (statement.deny, applies) {
                // A Deny (conditional or not) that covers every ARN.
                (true, Applies::Always) => {
                    return BoundPolicy::Always(PolicyDecision::ExplicitDeny);
                }
                (true, Applies::Depends(tail)) => denies.push(tail),
                (false, Applies::Always) => allow_all = true,
                (false, Applies::Depends(tail)) => allows.push(tail),
                (_, Applies::Never) => {}
            }
        }
        if allow_all {
            allows.clear();
        }
        match (denies.is_empty(), allow_all, allows.is_empty()) {
            (true, true, _) => BoundPolicy::Always(PolicyDecision::Allow),
            (true, false, true) => BoundPolicy::Always(PolicyDecision::ImplicitDeny),
            _ => BoundPolicy::Tails {
                denies: denies.into_boxed_slice(),
                allow_all,
                allows: allows.into_boxed_slice(),
            },
        }
    }
}

impl BoundPolicy {
    /// The decision for the method ARN `prefix + tail`, `prefix` being the
    /// one this policy was bound to.
    pub(crate) fn evaluate(&self, tail: &str) -> PolicyDecision {
        match self {
            Self::Always(decision) => *decision,
            Self::Tails {
                denies,
                allow_all,
                allows,
            } => {
                if denies.iter().any(|deny| deny.applies(tail)) {
                    PolicyDecision::ExplicitDeny
                } else if *allow_all || allows.iter().any(|allow| allow.applies(tail)) {
                    PolicyDecision::Allow
                } else {
                    PolicyDecision::ImplicitDeny
                }
            }
        }
    }
}

/// The methods a cached policy is also bound for with `{VERB}/` in the
/// prefix, so that a request with one of them matches its path alone.
const BOUND_METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
];

/// A policy as the cache keeps it: bound to the layer's method-ARN prefix,
/// and, when that prefix ends with the stage, also to `{prefix}{VERB}/` for
/// the common methods, so that a hit matches only the request's path
/// (a slice of its URI: nothing is copied).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CachedPolicy {
    any: BoundPolicy,
    /// One per [`BOUND_METHODS`], or none.
    by_method: Box<[BoundPolicy]>,
}

impl CachedPolicy {
    /// `policy` bound to `prefix`; with `per_method`, also to
    /// `{prefix}{VERB}/` for each of [`BOUND_METHODS`] (only right when the
    /// method comes right after `prefix` in every ARN).
    pub(crate) fn new(policy: &CompiledPolicy, prefix: &str, per_method: bool) -> Self {
        let any = policy.bind(prefix);
        let by_method = match &any {
            // Nothing to gain: every method has the same answer.
            BoundPolicy::Always(_) => Box::default(),
            BoundPolicy::Tails { .. } if per_method => BOUND_METHODS
                .iter()
                .map(|method| policy.bind(&format!("{prefix}{method}/")))
                .collect(),
            BoundPolicy::Tails { .. } => Box::default(),
        };
        Self { any, by_method }
    }

    /// Bound to the prefix: evaluate with the rest of the ARN.
    pub(crate) fn any(&self) -> &BoundPolicy {
        &self.any
    }

    /// Bound to `{prefix}{method}/`, if it was: evaluate with the ARN's
    /// path part.
    pub(crate) fn for_method(&self, method: &Method) -> Option<&BoundPolicy> {
        let index = BOUND_METHODS.iter().position(|bound| bound == method)?;
        self.by_method.get(index)
    }
}

/// What is left of a statement's resource patterns once a prefix is matched.
enum Residuals {
    /// Every tail matches (a residual pattern of stars only).
    All,
    /// No tail matches (no pattern matches the prefix).
    None,
    /// A tail matches when one of these patterns matches it.
    Some(Box<[Glob]>),
}

impl Residuals {
    fn of(patterns: &[Box<str>], prefix: &str) -> Self {
        let mut residuals: Vec<Glob> = Vec::new();
        for pattern in patterns {
            for residual in residual_patterns(pattern, prefix) {
                if residual.bytes().all(|b| b == b'*') && !residual.is_empty() {
                    return Self::All;
                }
                if !residuals.iter().any(|glob| *glob.pattern == *residual) {
                    residuals.push(Glob::new(&residual));
                }
            }
        }
        if residuals.is_empty() {
            Self::None
        } else {
            Self::Some(residuals.into_boxed_slice())
        }
    }
}

/// The patterns `r` such that `pattern` matches `prefix + tail` exactly
/// when some `r` matches `tail` ([`glob_match`]'s semantics, `*` and `?`
/// over characters).
///
/// Runs `pattern` as an automaton over `prefix`: a state is a position in
/// the pattern (runs of `*` collapsed to one, which matches the same); `*`
/// may stay or be skipped, `?` takes one character, anything else itself.
/// The states left after the prefix give the residuals `pattern[state..]`,
/// less those another covers: with `j` the last surviving state on a `*`,
/// every state before `j` and the state just after it match no more than
/// `pattern[j..]` does (`x*y` ⊆ `*y`), so only `j` and the states past
/// `j + 1` are kept.
fn residual_patterns(pattern: &str, prefix: &str) -> Vec<String> {
    let mut collapsed = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if !(c == '*' && collapsed.ends_with('*')) {
            collapsed.push(c);
        }
    }
    let pattern: Vec<char> = collapsed.chars().collect();
    let len = pattern.len();
    // states[i]: pattern[..i] can match the prefix read so far.
    let mut states = vec![false; len + 1];
    let mut next = vec![false; len + 1];
    states[0] = true;
    let close = |states: &mut [bool]| {
        for i in 0..len {
            if states[i] && pattern[i] == '*' {
                states[i + 1] = true;
            }
        }
    };
    close(&mut states);
    for c in prefix.chars() {
        next.fill(false);
        for i in 0..len {
            if !states[i] {
                continue;
            }
            match pattern[i] {
                '*' => next[i] = true,
                '?' => next[i + 1] = true,
                literal if literal == c => next[i + 1] = true,
                _ => {}
            }
        }
        close(&mut next);
        std::mem::swap(&mut states, &mut next);
        if !states.contains(&true) {
            return Vec::new();
        }
    }
    let last_star = (0..len).rev().find(|&i| states[i] && pattern[i] == '*');
    // The furthest states first: their residuals are the shortest and the
    // most literal, the quickest to accept or refuse a tail.
    (0..=len)
        .rev()
        .filter(|&i| states[i])
        .filter(|&i| match last_star {
            Some(j) => i == j || i > j + 1,
            None => true,
        })
        .map(|i| pattern[i..].iter().collect())
        .collect()
}

/// A wildcard pattern prepared for [`glob_match`]'s semantics: a pattern
/// without `?` is kept as its literal pieces, so a match neither rescans
/// the pattern for `?` nor splits it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Glob {
    pattern: Box<str>,
    kind: GlobKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum GlobKind {
    /// No wildcard: the text must be the pattern.
    Literal,
    /// `*` only: the first piece is a prefix of the text, the last a
    /// suffix, the middle ones found in order in between.
    Stars {
        first: Box<str>,
        middle: Box<[Box<str>]>,
        last: Box<str>,
        /// The pieces' total length: no shorter text matches.
        min_len: usize,
    },
    /// With `?`: the general matcher.
    General,
}

impl Glob {
    fn new(pattern: &str) -> Self {
        let kind = if pattern.contains('?') {
            GlobKind::General
        } else if !pattern.contains('*') {
            GlobKind::Literal
        } else {
            let mut pieces = pattern.split('*');
            let first = pieces.next().unwrap_or_default().into();
            let last = pieces.next_back().unwrap_or_default().into();
            let middle: Box<[Box<str>]> = pieces
                .filter(|piece| !piece.is_empty())
                .map(Box::from)
                .collect();
            let min_len = pattern.len() - pattern.matches('*').count();
            GlobKind::Stars {
                first,
                middle,
                last,
                min_len,
            }
        };
        Self {
            pattern: pattern.into(),
            kind,
        }
    }

    /// [`glob_match`]`(pattern, text)`.
    fn matches(&self, text: &str) -> bool {
        match &self.kind {
            GlobKind::Literal => *self.pattern == *text,
            GlobKind::Stars {
                first,
                middle,
                last,
                min_len,
            } => {
                if text.len() < *min_len {
                    return false;
                }
                let Some(mut rest) = text.strip_prefix(&**first) else {
                    return false;
                };
                for piece in middle {
                    match find(rest.as_bytes(), piece.as_bytes()) {
                        Some(at) => rest = &rest[at + piece.len()..],
                        None => return false,
                    }
                }
                last.is_empty() || rest.ends_with(&**last)
            }
            GlobKind::General => glob_match(&self.pattern, text),
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
    use crate::events::authorizer::{Effect, Statement, StringOrArray};

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

    // ------------------------------------------------ binding to a prefix

    const PREFIX: &str = "arn:aws:execute-api:us-east-1:123456789012:api1/prod/";

    fn statement(effect: Effect, resources: &[&str]) -> Statement {
        let mut statement = Statement::new(effect, "");
        statement.resource = Some(StringOrArray::Many(
            resources.iter().map(|r| (*r).to_owned()).collect(),
        ));
        statement
    }

    /// The bound policy's decision for `tail`, checked against the
    /// reference evaluator on the whole ARN.
    fn bound_and_reference(statements: Vec<Statement>, prefix: &str, tail: &str) -> PolicyDecision {
        let compiled = CompiledPolicy::compile(&PolicyDocument::new(statements)).unwrap();
        let bound = compiled.bind(prefix).evaluate(tail);
        assert_eq!(
            bound,
            compiled.evaluate(&format!("{prefix}{tail}")),
            "{prefix}{tail} with {compiled:?}"
        );
        bound
    }

    #[test]
    fn residuals_keep_only_what_the_prefix_leaves() {
        let residuals = |pattern| residual_patterns(pattern, "ab:cd/");
        assert_eq!(residuals("ab:cd/GET/*"), ["GET/*"]);
        assert_eq!(residuals("ab:cd/x"), ["x"]);
        assert_eq!(residuals("ab:ce/*"), Vec::<String>::new());
        // `*` may stop before the prefix's last `/` or eat it.
        assert_eq!(residuals("a?:*/GET"), ["GET", "*/GET"]);
        // The `*` may still be eating: `:z/` can come later in the tail.
        assert_eq!(residuals("ab:*:z/GET"), ["*:z/GET"]);
        assert_eq!(residuals("*:*/GET/*"), ["GET/*", "*/GET/*"]);
        assert_eq!(residuals("**"), ["*"]);
        assert_eq!(residuals("ab:cd/"), [""]);
        assert_eq!(residuals("ab:cd"), Vec::<String>::new());
    }

    #[test]
    fn a_bound_policy_decides_like_the_whole_arn() {
        use PolicyDecision::{Allow, ExplicitDeny, ImplicitDeny};
        let allow = |r: &[&str]| statement(Effect::Allow, r);
        let deny = |r: &[&str]| statement(Effect::Deny, r);
        let cases: Vec<(Vec<Statement>, &str, PolicyDecision)> = vec![
            (
                vec![allow(&["arn:aws:execute-api:*:*:api1/prod/GET/pets/*"])],
                "GET/pets/1",
                Allow,
            ),
            (
                vec![allow(&["arn:aws:execute-api:*:*:api1/prod/GET/pets/*"])],
                "GET/users/1",
                ImplicitDeny,
            ),
            // The `*` for the account can swallow a path that repeats the API.
            (
                vec![allow(&["arn:aws:execute-api:*:*:api1/prod/GET/pets/*"])],
                "GET/x:api1/prod/GET/pets/1",
                Allow,
            ),
            (
                vec![allow(&["arn:aws:execute-api:*:*:api1/test/*"])],
                "GET/pets",
                ImplicitDeny,
            ),
            (
                vec![allow(&["arn:aws:execute-api:*:*:api1/test/*"])],
                "GET/a:api1/test/b",
                Allow,
            ),
            (vec![allow(&["*"])], "DELETE/x", Allow),
            (vec![allow(&["arn:aws:execute-api:*"])], "GET/", Allow),
            (
                vec![allow(&["*"]), deny(&["*/DELETE/*"])],
                "DELETE/x",
                ExplicitDeny,
            ),
            (vec![allow(&["*"]), deny(&["*/DELETE/*"])], "GET/x", Allow),
            (vec![deny(&["*"]), allow(&["*"])], "GET/x", ExplicitDeny),
            (vec![allow(&["*/GET/?"])], "GET/é", Allow),
            (vec![allow(&["*/GET/?"])], "GET/ab", ImplicitDeny),
            (
                vec![allow(&[
                    "arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/",
                ])],
                "GET/",
                Allow,
            ),
            (
                vec![allow(&[
                    "arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/",
                ])],
                "GET/x",
                ImplicitDeny,
            ),
            (
                vec![allow(&[
                    "arn:aws:execute-api:us-east-1:123456789012:other/*",
                ])],
                "GET/x",
                ImplicitDeny,
            ),
            (vec![], "GET/x", ImplicitDeny),
        ];
        for (statements, tail, expected) in cases {
            assert_eq!(
                bound_and_reference(statements.clone(), PREFIX, tail),
                expected,
                "{tail} with {statements:?}"
            );
        }
    }

    #[test]
    fn not_resource_and_conditions_stay_exact_when_bound() {
        use PolicyDecision::{Allow, ExplicitDeny, ImplicitDeny};
        let mut not_pets = Statement::new(Effect::Allow, "");
        not_pets.resource = None;
        not_pets.not_resource = Some(StringOrArray::One("*/GET/pets*".into()));
        assert_eq!(
            bound_and_reference(vec![not_pets.clone()], PREFIX, "GET/pets/1"),
            ImplicitDeny
        );
        assert_eq!(
            bound_and_reference(vec![not_pets], PREFIX, "GET/users"),
            Allow
        );

        let mut deny_elsewhere = Statement::new(Effect::Deny, "");
        deny_elsewhere.resource = None;
        deny_elsewhere.not_resource = Some(StringOrArray::One(
            "arn:aws:execute-api:us-east-1:123456789012:other/*".into(),
        ));
        // Every ARN of this API is outside `other`: a constant deny. (With
        // `*:*:other/*` it would not be: the `*` could reach into the path.)
        let compiled = CompiledPolicy::compile(&PolicyDocument::new(vec![
            Statement::new(Effect::Allow, "*"),
            deny_elsewhere,
        ]))
        .unwrap();
        assert_eq!(compiled.bind(PREFIX), BoundPolicy::Always(ExplicitDeny));

        let mut conditional_allow = Statement::new(Effect::Allow, "*");
        conditional_allow.condition = Some(serde_json::json!({}));
        let compiled =
            CompiledPolicy::compile(&PolicyDocument::new(vec![conditional_allow])).unwrap();
        assert_eq!(compiled.bind(PREFIX), BoundPolicy::Always(ImplicitDeny));

        let mut conditional_deny = Statement::new(Effect::Deny, "*/DELETE/*");
        conditional_deny.condition = Some(serde_json::json!({}));
        let statements = vec![Statement::new(Effect::Allow, "*"), conditional_deny];
        assert_eq!(
            bound_and_reference(statements.clone(), PREFIX, "DELETE/a"),
            ExplicitDeny
        );
        assert_eq!(bound_and_reference(statements, PREFIX, "GET/a"), Allow);
    }

    #[test]
    fn a_wildcard_allow_binds_to_a_constant() {
        let compiled = CompiledPolicy::compile(&PolicyDocument::new(vec![Statement::new(
            Effect::Allow,
            "arn:aws:execute-api:us-east-1:*",
        )]))
        .unwrap();
        assert_eq!(
            compiled.bind(PREFIX),
            BoundPolicy::Always(PolicyDecision::Allow)
        );
        assert_eq!(
            compiled.bind("arn:aws:execute-api:eu-west-1:1:api1/"),
            BoundPolicy::Always(PolicyDecision::ImplicitDeny)
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use crate::events::authorizer::{Effect, Statement, StringOrArray};

        // Few symbols, so that patterns and texts often meet: the ARN
        // separators, a two-byte character, and the wildcards (which a text
        // can hold literally too).
        fn text(max: usize) -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop::sample::select(vec!['a', 'b', ':', '/', 'é', '*', '?']),
                0..max,
            )
            .prop_map(|chars| chars.into_iter().collect())
        }

        fn statement() -> impl Strategy<Value = Statement> {
            (
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                proptest::collection::vec(text(10), 1..3),
            )
                .prop_map(|(deny, negated, conditional, resources)| {
                    let effect = if deny { Effect::Deny } else { Effect::Allow };
                    let mut statement = Statement::new(effect, "");
                    statement.resource = None;
                    let resources = Some(StringOrArray::Many(resources));
                    if negated {
                        statement.not_resource = resources;
                    } else {
                        statement.resource = resources;
                    }
                    if conditional {
                        statement.condition = Some(serde_json::json!({}));
                    }
                    statement
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]

            #[test]
            fn residuals_match_a_tail_exactly_when_the_pattern_matches_the_whole(
                pattern in text(10), prefix in text(8), tail in text(8),
            ) {
                let whole = glob_match(&pattern, &format!("{prefix}{tail}"));
                let residual = residual_patterns(&pattern, &prefix)
                    .iter()
                    .any(|residual| glob_match(residual, &tail));
                prop_assert_eq!(residual, whole);
            }

            #[test]
            fn a_prepared_glob_matches_like_glob_match(pattern in text(10), text in text(10)) {
                prop_assert_eq!(Glob::new(&pattern).matches(&text), glob_match(&pattern, &text));
            }

            #[test]
            fn a_policy_bound_per_method_decides_like_the_reference(
                statements in proptest::collection::vec(statement(), 0..4),
                prefix in text(6),
                method in prop::sample::select(vec!["GET", "POST", "DELETE", "OPTIONS", "BREW"]),
                paths in proptest::collection::vec(text(8), 1..6),
            ) {
                let compiled = CompiledPolicy::compile(&PolicyDocument::new(statements)).unwrap();
                let cached = CachedPolicy::new(&compiled, &prefix, true);
                let method: Method = method.parse().unwrap();
                for path in paths {
                    let whole = compiled.evaluate(&format!("{prefix}{method}/{path}"));
                    prop_assert_eq!(cached.any().evaluate(&format!("{method}/{path}")), whole);
                    if let Some(bound) = cached.for_method(&method) {
                        prop_assert_eq!(bound.evaluate(&path), whole, "{} {}", method, path);
                    }
                }
            }

            #[test]
            fn a_bound_policy_decides_like_the_reference(
                statements in proptest::collection::vec(statement(), 0..4),
                prefix in text(8),
                tails in proptest::collection::vec(text(8), 1..6),
            ) {
                let compiled = CompiledPolicy::compile(&PolicyDocument::new(statements)).unwrap();
                let bound = compiled.bind(&prefix);
                for tail in tails {
                    prop_assert_eq!(
                        bound.evaluate(&tail),
                        compiled.evaluate(&format!("{prefix}{tail}")),
                        "{}{} with {:?}", prefix, tail, compiled
                    );
                }
            }
        }
    }
}
