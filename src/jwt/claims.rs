//! Claim checks after the signature: issuer, audience (or `client_id`),
//! time claims with leeway, and scopes. Pure functions over a claims map.

use serde_json::{Map, Value};

use super::error::{JwtError, JwtErrorKind};

/// What one issuer's tokens must satisfy.
#[derive(Clone, Debug)]
pub(crate) struct ClaimRules {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    pub(crate) leeway: f64,
    pub(crate) require_exp: bool,
}

const fn error(kind: JwtErrorKind, reason: &'static str) -> JwtError {
    JwtError::new(kind, reason)
}

/// A time claim as seconds since the epoch: absent, or a finite JSON
/// number. Strings, booleans, `null` and the rest are refused.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()).map(Some).ok_or(error(
            JwtErrorKind::InvalidClaims,
            "time claim is not a finite number",
        )),
        Some(_) => Err(error(
            JwtErrorKind::InvalidClaims,
            "time claim is not a number",
        )),
    }
}

/// Checks the claims at `now` (seconds since the epoch) and returns the
/// instant (seconds since the epoch) until which they stay valid.
///
/// Boundary rule: a token is expired when `now >= exp + leeway` (a token
/// whose `exp` is exactly now is expired, as "exp must be after the current
/// time"); it is not yet valid when `nbf > now + leeway` or
/// `iat > now + leeway`.
pub(crate) fn validate(
    claims: &Map<String, Value>,
    rules: &ClaimRules,
    now: f64,
) -> Result<f64, JwtError> {
    let exp = numeric_date(claims, "exp")?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    let valid_until = match exp {
        Some(exp) => {
            let until = exp + rules.leeway;
            if now >= until {
                return Err(error(JwtErrorKind::Expired, "exp has passed"));
            }
            until
        }
        None if rules.require_exp => {
            return Err(error(JwtErrorKind::InvalidClaims, "exp is missing"));
        }
        None => f64::INFINITY,
    };
    if nbf.is_some_and(|nbf| nbf > now + rules.leeway) {
        return Err(error(JwtErrorKind::NotYetValid, "nbf is in the future"));
    }
    if iat.is_some_and(|iat| iat > now + rules.leeway) {
        return Err(error(JwtErrorKind::NotYetValid, "iat is in the future"));
    }
    match claims.get("iss") {
        Some(Value::String(iss)) if *iss == rules.issuer => {}
        _ => return Err(error(JwtErrorKind::InvalidIssuer, "iss does not match")),
    }
    check_audience(claims, &rules.audiences)?;
    Ok(valid_until)
}

/// `aud` (a string, or an array of strings) must name a configured
/// audience; only when `aud` is absent, `client_id` must (Cognito access
/// tokens), as API Gateway checks.
fn check_audience(claims: &Map<String, Value>, audiences: &[String]) -> Result<(), JwtError> {
    let listed = |s: &str| audiences.iter().any(|a| a == s);
    let bad = |reason| Err(error(JwtErrorKind::InvalidAudience, reason));
    match claims.get("aud") {
        Some(Value::String(aud)) if listed(aud) => Ok(()),
        Some(Value::Array(auds)) => {
            if auds.iter().any(|a| !a.is_string()) {
                return bad("aud has a non-string member");
            }
            if auds.iter().filter_map(Value::as_str).any(listed) {
                Ok(())
            } else {
                bad("no aud member is a configured audience")
            }
        }
        Some(_) => bad("aud is not a configured audience"),
        None => match claims.get("client_id") {
            Some(Value::String(client_id)) if listed(client_id) => Ok(()),
            _ => bad("no aud, and client_id is not a configured audience"),
        },
    }
}

/// The scopes a token grants: `scope` (space-separated string, RFC 8693)
/// and `scp` (array of strings, or a space-separated string), together.
pub(crate) fn scopes(claims: &Map<String, Value>) -> Result<Vec<String>, JwtError> {
    let invalid = || {
        error(
            JwtErrorKind::InvalidClaims,
            "scope or scp has the wrong type",
        )
    };
    let mut scopes = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            None => {}
            Some(Value::String(s)) => scopes.extend(s.split_ascii_whitespace().map(str::to_owned)),
            Some(Value::Array(items)) if name == "scp" => {
                for item in items {
                    scopes.push(item.as_str().ok_or_else(invalid)?.to_owned());
                }
            }
            Some(_) => return Err(invalid()),
        }
    }
    scopes.dedup();
    Ok(scopes)
}

/// Whether `granted` satisfies `required`: any one (API Gateway), or all.
pub(crate) fn has_scopes(granted: &[String], required: &[String], require_all: bool) -> bool {
    if required.is_empty() {
        return true;
    }
    let has = |r: &String| granted.iter().any(|g| g == r);
    if require_all {
        required.iter().all(has)
    } else {
        required.iter().any(has)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: f64 = 1_700_000_000.0;

    fn rules(leeway: f64) -> ClaimRules {
        ClaimRules {
            issuer: "https://issuer.example".into(),
            audiences: vec!["api".into(), "client-1".into()],
            leeway,
            require_exp: true,
        }
    }

    fn check(claims: Value, leeway: f64) -> Result<f64, JwtErrorKind> {
        let Value::Object(map) = claims else {
            unreachable!()
        };
        validate(&map, &rules(leeway), NOW).map_err(|e| e.kind())
    }

    fn base(extra: &Value) -> Value {
        let mut claims = json!({"iss": "https://issuer.example", "aud": "api", "exp": NOW + 60.0});
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    }

    #[test]
    fn exp_boundary_now_is_expired() {
        assert_eq!(
            check(base(&json!({"exp": NOW})), 0.0),
            Err(JwtErrorKind::Expired)
        );
        assert_eq!(
            check(base(&json!({"exp": NOW - 1.0})), 0.0),
            Err(JwtErrorKind::Expired)
        );
        assert_eq!(check(base(&json!({"exp": NOW + 1.0})), 0.0), Ok(NOW + 1.0));
    }

    #[test]
    fn leeway_applies_to_exp_nbf_and_iat() {
        assert!(check(base(&json!({"exp": NOW - 59.0})), 60.0).is_ok());
        assert_eq!(
            check(base(&json!({"nbf": NOW + 61.0})), 60.0),
            Err(JwtErrorKind::NotYetValid)
        );
        assert!(check(base(&json!({"nbf": NOW + 59.0})), 60.0).is_ok());
        assert_eq!(
            check(base(&json!({"iat": NOW + 3600.0})), 0.0),
            Err(JwtErrorKind::NotYetValid)
        );
        assert!(check(base(&json!({"iat": NOW})), 0.0).is_ok());
    }

    #[test]
    fn non_numeric_time_claims_fail_and_odd_numbers_have_defined_outcomes() {
        assert_eq!(
            check(base(&json!({"exp": "9999999999"})), 0.0),
            Err(JwtErrorKind::InvalidClaims)
        );
        assert_eq!(
            check(base(&json!({"nbf": true})), 0.0),
            Err(JwtErrorKind::InvalidClaims)
        );
        assert_eq!(
            check(base(&json!({"iat": null})), 0.0),
            Err(JwtErrorKind::InvalidClaims)
        );
        assert!(check(base(&json!({"exp": 1e300})), 0.0).is_ok());
        assert_eq!(
            check(base(&json!({"exp": -1})), 0.0),
            Err(JwtErrorKind::Expired)
        );
        assert!(check(base(&json!({"exp": u64::MAX})), 0.0).is_ok());
        assert_eq!(
            check(base(&json!({"exp": 1.5})), 0.0),
            Err(JwtErrorKind::Expired)
        );
        assert!(check(base(&json!({"exp": NOW + 0.5})), 0.0).is_ok());
    }

    #[test]
    fn missing_exp_is_refused_unless_allowed() {
        let claims = json!({"iss": "https://issuer.example", "aud": "api"});
        assert_eq!(check(claims.clone(), 0.0), Err(JwtErrorKind::InvalidClaims));
        let mut relaxed = rules(0.0);
        relaxed.require_exp = false;
        assert_eq!(
            validate(claims.as_object().unwrap(), &relaxed, NOW),
            Ok(f64::INFINITY)
        );
    }

    #[test]
    fn issuer_must_be_exactly_equal() {
        assert_eq!(
            check(base(&json!({"iss": "https://issuer.example/"})), 0.0),
            Err(JwtErrorKind::InvalidIssuer)
        );
        assert_eq!(
            check(base(&json!({"iss": ["https://issuer.example"]})), 0.0),
            Err(JwtErrorKind::InvalidIssuer)
        );
        let mut no_iss = base(&json!({}));
        no_iss.as_object_mut().unwrap().remove("iss");
        assert_eq!(check(no_iss, 0.0), Err(JwtErrorKind::InvalidIssuer));
    }

    #[test]
    fn audience_matrix() {
        let aud = |v: Value| {
            let mut c = base(&json!({}));
            c["aud"] = v;
            check(c, 0.0)
        };
        assert!(aud(json!("api")).is_ok());
        assert!(aud(json!(["other", "api"])).is_ok());
        assert_eq!(aud(json!([])), Err(JwtErrorKind::InvalidAudience));
        assert_eq!(aud(json!([1, 2])), Err(JwtErrorKind::InvalidAudience));
        assert_eq!(aud(json!(["api", 1])), Err(JwtErrorKind::InvalidAudience));
        assert_eq!(aud(json!("other")), Err(JwtErrorKind::InvalidAudience));
        assert_eq!(aud(json!(null)), Err(JwtErrorKind::InvalidAudience));
        // aud present but wrong: client_id is not consulted.
        let mut wrong_aud = base(&json!({"aud": "other", "client_id": "client-1"}));
        assert_eq!(
            check(wrong_aud.clone(), 0.0),
            Err(JwtErrorKind::InvalidAudience)
        );
        // aud absent: client_id decides.
        wrong_aud.as_object_mut().unwrap().remove("aud");
        assert!(check(wrong_aud.clone(), 0.0).is_ok());
        wrong_aud["client_id"] = json!("nobody");
        assert_eq!(check(wrong_aud, 0.0), Err(JwtErrorKind::InvalidAudience));
    }

    #[test]
    fn scopes_come_from_scope_and_scp() {
        let of = |v: Value| scopes(v.as_object().unwrap()).map_err(|e| e.kind());
        assert_eq!(of(json!({"scope": "a  b"})).unwrap(), ["a", "b"]);
        assert_eq!(of(json!({"scp": ["a", "b"]})).unwrap(), ["a", "b"]);
        assert_eq!(of(json!({"scp": "a b"})).unwrap(), ["a", "b"]);
        assert_eq!(of(json!({})).unwrap(), Vec::<String>::new());
        assert_eq!(
            of(json!({"scope": ["a"]})),
            Err(JwtErrorKind::InvalidClaims)
        );
        assert_eq!(of(json!({"scp": [1]})), Err(JwtErrorKind::InvalidClaims));
    }

    #[test]
    fn one_scope_is_enough_unless_all_are_required() {
        let granted = vec!["read".to_owned()];
        let required = vec!["read".to_owned(), "write".to_owned()];
        assert!(has_scopes(&granted, &required, false));
        assert!(!has_scopes(&granted, &required, true));
        assert!(has_scopes(&granted, &[], true));
        assert!(!has_scopes(&[], &required, false));
    }
}
