//! Signing algorithms and key sets: JWKs parsed once into `DecodingKey`s,
//! each bound to the algorithms its type allows.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde_json::Value;

use super::error::{JwtError, JwtErrorKind};
use super::header::{self, B64, MAX_KID_LEN};
use crate::ConfigError;

/// A JWS signing algorithm this crate verifies. `none` and the HMAC
/// algorithms do not exist here, so no configuration can accept them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The RSA algorithms, the only ones API Gateway accepts.
    pub const RSA: [Algorithm; 6] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
    ];

    /// The algorithm named `name` (case-sensitive, as JOSE names are).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The JOSE name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Whether it is an RSA algorithm.
    #[must_use]
    pub fn is_rsa(self) -> bool {
        Self::RSA.contains(&self)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Self::RS256 => J::RS256,
            Self::RS384 => J::RS384,
            Self::RS512 => J::RS512,
            Self::PS256 => J::PS256,
            Self::PS384 => J::PS384,
            Self::PS512 => J::PS512,
            Self::ES256 => J::ES256,
            Self::ES384 => J::ES384,
            Self::EdDSA => J::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of algorithms, as a bit set.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AlgorithmSet(u16);

impl AlgorithmSet {
    pub(crate) fn of(algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        Self(algorithms.into_iter().fold(0, |bits, a| bits | a.bit()))
    }
    pub(crate) fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }
    pub(crate) fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub(crate) fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Smallest RSA modulus accepted (RFC 8725 §3.5, NIST).
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted: bounds verification CPU (and is aws-lc's limit).
const MAX_RSA_BITS: usize = 8192;
/// Most keys kept from one JWKS.
const MAX_KEYS: usize = 1000;

struct Key {
    kid: Option<Box<str>>,
    algorithms: AlgorithmSet,
    key: DecodingKey,
}

/// A set of verification keys: JWKs parsed once into `jsonwebtoken`
/// `DecodingKey`s, each bound to the algorithms its `kty`, `crv` and `alg`
/// allow (intersected with the issuer's allow-list).
///
/// Loading skips, with a `tracing` warning, every JWK that is not a public
/// signature key this crate can use: `kty: oct` (never an HMAC key from a
/// key set), unknown `kty` / `crv` / `alg`, `use` other than `sig`,
/// `key_ops` without `verify`, RSA moduli under 2048 or over 8192 bits,
/// keys with missing or non-base64url members, and anything after the
/// 1000th key. Two keys with the same `kid` that could verify the same
/// algorithm make that `kid` ambiguous: such tokens are refused.
///
/// ```
/// use apigw::jwt::{Algorithm, KeySet};
///
/// let set = KeySet::from_jwks(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#, &Algorithm::ALL)?;
/// assert!(set.is_empty()); // symmetric keys are dropped
/// # Ok::<_, apigw::ConfigError>(())
/// ```
#[derive(Default)]
pub struct KeySet {
    keys: Vec<Key>,
    by_kid: HashMap<Box<str>, Vec<usize>>,
}

pub(crate) enum Selected<'a> {
    Found(&'a DecodingKey),
    /// The `kid` is known, but no key of it verifies this algorithm, or
    /// several do.
    Mismatch,
    NotFound,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`), keeping the keys usable
    /// for `allowed` algorithms. Fails only when the document is not a JSON
    /// object with a `keys` array; unusable keys are skipped.
    pub fn from_jwks(json: &[u8], allowed: &[Algorithm]) -> Result<Self, ConfigError> {
        Self::parse(json, AlgorithmSet::of(allowed.iter().copied()))
    }

    pub(crate) fn parse(json: &[u8], allowed: AlgorithmSet) -> Result<Self, ConfigError> {
        let Ok(header::StrictValue(Value::Object(document))) =
            serde_json::from_slice::<header::StrictValue>(json)
        else {
            return Err(ConfigError::new(
                "JWKS is not a JSON object without duplicate keys",
            ));
        };
        let Some(Value::Array(jwks)) = document.get("keys") else {
            return Err(ConfigError::new("JWKS has no `keys` array"));
        };
        let mut set = KeySet::default();
        for (index, jwk) in jwks.iter().enumerate() {
            if set.keys.len() == MAX_KEYS {
                tracing::warn!(
                    keys = jwks.len(),
                    "JWKS has more than 1000 keys; the rest are skipped"
                );
                break;
            }
            match parse_jwk(jwk, allowed) {
                Ok(key) => set.push(key),
                Err(reason) => tracing::warn!(index, reason, "JWK skipped"),
            }
        }
        Ok(set)
    }

    fn push(&mut self, key: Key) {
        let index = self.keys.len();
        if let Some(kid) = &key.kid {
            self.by_kid.entry(kid.clone()).or_default().push(index);
        }
        self.keys.push(key);
    }

    /// How many keys were kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key was kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key has this `kid`.
    #[must_use]
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// The key for a token's `kid` and `alg`. Without a `kid`, the only key
    /// that verifies `alg`, unless `require_kid`.
    pub(crate) fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        require_kid: bool,
    ) -> Selected<'_> {
        match kid {
            Some(kid) if kid.len() <= MAX_KID_LEN => match self.by_kid.get(kid) {
                Some(indices) => one(indices.iter().map(|&i| &self.keys[i]), alg),
                None => Selected::NotFound,
            },
            // No key has such a kid: refused without a refetch or a record.
            Some(_) => Selected::Mismatch,
            None if require_kid => Selected::Mismatch,
            None => one(self.keys.iter(), alg),
        }
    }

    /// Verifies a compact JWS against this set and returns its payload
    /// bytes. This is the signature path of the authorizer (size limit,
    /// header checks, key selection by `kid` and `alg`, signature) without
    /// the claim checks: use it for JWS that are not JWTs, or to test keys.
    /// A token without `kid` is verified by the only key for its `alg`.
    pub fn verify(&self, token: &str, max_token_bytes: usize) -> Result<Vec<u8>, JwtError> {
        let compact = header::split(token, max_token_bytes)?;
        let header = header::parse_header(compact.header)?;
        match self.select(header.kid.as_deref(), header.alg, false) {
            Selected::Found(key) => verify_signature(&compact, header.alg, key)?,
            _ => return Err(unknown_key()),
        }
        B64.decode(compact.payload)
            .map_err(|_| JwtError::new(JwtErrorKind::Malformed, "payload is not base64url"))
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| (k.kid.as_deref(), k.algorithms)))
            .finish()
    }
}

/// The only key among `keys` that verifies `alg`.
fn one<'a>(keys: impl Iterator<Item = &'a Key>, alg: Algorithm) -> Selected<'a> {
    let mut candidates = keys.filter(|k| k.algorithms.contains(alg));
    match (candidates.next(), candidates.next()) {
        (Some(key), None) => Selected::Found(&key.key),
        _ => Selected::Mismatch,
    }
}

pub(crate) const fn unknown_key() -> JwtError {
    JwtError::new(
        JwtErrorKind::InvalidSignature,
        "no key for the token's kid and alg",
    )
}

/// Checks the signature of `compact` with `key` for `alg`.
pub(crate) fn verify_signature(
    compact: &header::Compact<'_>,
    alg: Algorithm,
    key: &DecodingKey,
) -> Result<(), JwtError> {
    match jsonwebtoken::crypto::verify(
        compact.signature,
        compact.signing_input.as_bytes(),
        key,
        alg.to_jsonwebtoken(),
    ) {
        Ok(true) => Ok(()),
        _ => Err(JwtError::new(
            JwtErrorKind::InvalidSignature,
            "signature does not verify",
        )),
    }
}

fn member<'a>(
    jwk: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, &'static str> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("a member is not a string"),
    }
}

fn required<'a>(
    jwk: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<&'a str, &'static str> {
    member(jwk, name)?.ok_or("a required member is missing")
}

fn decode_b64(value: &str) -> Result<Vec<u8>, &'static str> {
    B64.decode(value).map_err(|_| "a member is not base64url")
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn parse_jwk(jwk: &Value, allowed: AlgorithmSet) -> Result<Key, &'static str> {
    let Value::Object(jwk) = jwk else {
        return Err("not a JSON object");
    };
    if member(jwk, "use")?.is_some_and(|usage| usage != "sig") {
        return Err("use is not sig");
    }
    if let Some(ops) = jwk.get("key_ops") {
        let Value::Array(ops) = ops else {
            return Err("key_ops is not an array");
        };
        let mut seen = Vec::new();
        for op in ops {
            let Value::String(op) = op else {
                return Err("key_ops has a non-string");
            };
            if seen.contains(&op) {
                return Err("key_ops has duplicates");
            }
            seen.push(op);
        }
        if !seen.iter().any(|op| *op == "verify") {
            return Err("key_ops does not include verify");
        }
    }
    let kty = required(jwk, "kty")?;
    let (by_type, key) = match kty {
        "RSA" => {
            let n = required(jwk, "n")?;
            let e = required(jwk, "e")?;
            let modulus = decode_b64(n)?;
            let exponent = decode_b64(e)?;
            let modulus = strip_leading_zeros(&modulus);
            let bits = (modulus.len() * 8)
                .saturating_sub(modulus.first().map_or(0, |b| b.leading_zeros() as usize));
            if bits < MIN_RSA_BITS {
                return Err("RSA modulus under 2048 bits");
            }
            if bits > MAX_RSA_BITS {
                return Err("RSA modulus over 8192 bits");
            }
            let exponent = strip_leading_zeros(&exponent);
            if exponent.is_empty()
                || exponent.len() > 4
                || exponent.last().is_some_and(|b| b % 2 == 0)
                || exponent == [1]
            {
                return Err("RSA exponent is not an odd number in 3..2^32");
            }
            (
                AlgorithmSet::of(Algorithm::RSA),
                DecodingKey::from_rsa_raw_components(modulus, exponent),
            )
        }
        "EC" => {
            let (alg, len) = match required(jwk, "crv")? {
                "P-256" => (Algorithm::ES256, 32),
                "P-384" => (Algorithm::ES384, 48),
                _ => return Err("unsupported EC curve"),
            };
            let x = required(jwk, "x")?;
            let y = required(jwk, "y")?;
            if decode_b64(x)?.len() != len || decode_b64(y)?.len() != len {
                return Err("EC coordinates have the wrong length");
            }
            let key = DecodingKey::from_ec_components(x, y).map_err(|_| "bad EC key")?;
            (AlgorithmSet::of([alg]), key)
        }
        "OKP" => {
            if required(jwk, "crv")? != "Ed25519" {
                return Err("unsupported OKP curve");
            }
            let x = required(jwk, "x")?;
            if decode_b64(x)?.len() != 32 {
                return Err("Ed25519 key has the wrong length");
            }
            let key = DecodingKey::from_ed_components(x).map_err(|_| "bad Ed25519 key")?;
            (AlgorithmSet::of([Algorithm::EdDSA]), key)
        }
        "oct" => return Err("symmetric (oct) keys are never used"),
        _ => return Err("unknown kty"),
    };
    let mut algorithms = by_type.intersect(allowed);
    if let Some(alg) = member(jwk, "alg")? {
        let alg = Algorithm::from_name(alg).ok_or("unknown or unsupported alg")?;
        algorithms = algorithms.intersect(AlgorithmSet::of([alg]));
    }
    if algorithms.is_empty() {
        return Err("no allowed algorithm fits the key");
    }
    let kid = member(jwk, "kid")?.map(Box::from);
    Ok(Key {
        kid,
        algorithms,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const N2048: &str = "orRRoH0KpfluRVZxUTVQUUqKW0YuvvcXCU-h_ugiJOY3-XRtP3yv0xh42AMltu9aFwD2WQO0aUKeidbqyIRQl7WrOTGJ25JRLtincRoSU_rNIPecFegkfz0-QuRuSMmOJUov6XZTE6A-_48X4aApOXofomqNzib0kO2BKZYV2YFMItphBCjgnH2WWFlCZvXAIdD87KCNlFoSvoLeTR7Oa0wDFFtdNJXU7VQR64eNrwX9evw-Ca2g8RJkIvWQl1oZaYFvSGmLy7obTZyuedRg2Pn4Xnl1AF2bwixOWsD3waRdElaaYoB9O5oC5aUw53MGb0U9H1tMLpz3ggKD90K51Q";

    fn set(jwks: &str) -> KeySet {
        KeySet::from_jwks(jwks.as_bytes(), &Algorithm::ALL).unwrap()
    }

    fn rsa(extra: &str) -> String {
        format!(r#"{{"keys":[{{"kty":"RSA","kid":"k","n":"{N2048}","e":"AQAB"{extra}}}]}}"#)
    }

    #[test]
    fn usable_rsa_key_is_kept_for_rsa_algorithms_only() {
        let set = set(&rsa(""));
        assert_eq!(set.len(), 1);
        assert!(matches!(
            set.select(Some("k"), Algorithm::PS256, true),
            Selected::Found(_)
        ));
        assert!(matches!(
            set.select(Some("k"), Algorithm::ES256, true),
            Selected::Mismatch
        ));
        assert!(matches!(
            set.select(Some("other"), Algorithm::RS256, true),
            Selected::NotFound
        ));
    }

    #[test]
    fn jwk_alg_binds_the_key_to_one_algorithm() {
        let set = set(&rsa(r#","alg":"RS384""#));
        assert!(matches!(
            set.select(Some("k"), Algorithm::RS256, true),
            Selected::Mismatch
        ));
        assert!(matches!(
            set.select(Some("k"), Algorithm::RS384, true),
            Selected::Found(_)
        ));
    }

    #[test]
    fn unusable_keys_are_dropped() {
        for extra in [
            r#","use":"enc""#,
            r#","key_ops":["sign"]"#,
            r#","key_ops":["verify","verify"]"#,
            r#","key_ops":"verify""#,
            r#","alg":"HS256""#,
            r#","alg":"none""#,
        ] {
            assert!(set(&rsa(extra)).is_empty(), "{extra}");
        }
        assert!(set(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k"}]}"#).is_empty());
        assert!(set(r#"{"keys":[{"kty":"RSA","kid":"k","e":"AQAB"}]}"#).is_empty());
        assert!(set(r#"{"keys":[{"kty":"XYZ"}, 7, "s", null]}"#).is_empty());
        assert!(set(r#"{"keys":[{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}]}"#).is_empty());
    }

    #[test]
    fn small_rsa_exponents_and_moduli_are_dropped() {
        let short = &N2048[..N2048.len() / 2];
        let jwks = format!(r#"{{"keys":[{{"kty":"RSA","n":"{short}","e":"AQAB"}}]}}"#);
        assert!(set(&jwks).is_empty());
        assert!(set(&rsa("").replace("AQAB", "AQ")).is_empty());
        assert!(set(&rsa("").replace("AQAB", "Ag")).is_empty());
    }

    #[test]
    fn allow_list_limits_what_keys_verify() {
        let set = KeySet::from_jwks(rsa("").as_bytes(), &[Algorithm::ES256]).unwrap();
        assert!(set.is_empty());
    }

    #[test]
    fn duplicate_kids_make_the_kid_ambiguous() {
        let jwks = format!(
            r#"{{"keys":[{{"kty":"RSA","kid":"k","n":"{N2048}","e":"AQAB"}},{{"kty":"RSA","kid":"k","n":"{N2048}","e":"AQAB"}}]}}"#
        );
        let set = set(&jwks);
        assert_eq!(set.len(), 2);
        assert!(matches!(
            set.select(Some("k"), Algorithm::RS256, true),
            Selected::Mismatch
        ));
    }

    #[test]
    fn documents_without_keys_arrays_fail() {
        assert!(KeySet::from_jwks(b"[]", &Algorithm::ALL).is_err());
        assert!(KeySet::from_jwks(br#"{"keys":{}}"#, &Algorithm::ALL).is_err());
        assert!(KeySet::from_jwks(br#"{"keys":[],"keys":[]}"#, &Algorithm::ALL).is_err());
        assert!(KeySet::from_jwks(b"garbage", &Algorithm::ALL).is_err());
    }

    #[test]
    fn algorithm_names_round_trip_and_exclude_none_and_hmac() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(Algorithm::from_name("HS256"), None);
        assert_eq!(Algorithm::from_name("rs256"), None);
    }
}
