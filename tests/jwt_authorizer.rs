//! The JWT authorizer as a service: one test per behaviour, and one named
//! test per SECURITY.md §A1 class (J1–J16).
#![cfg(feature = "jwt")]

mod jwt_support;

use std::sync::Arc;
use std::time::Duration;

use apigw::clock::ManualClock;
use apigw::identity::JwtClaims;
use apigw::jwt::{
    Algorithm as A, IdentitySource, Issuer, JwtAuthorizerLayer, JwtAuthorizerLayerBuilder,
    JwtErrorKind as K,
};
use apigw::problem::GatewayResponses;
use apigw::route::RouteTable;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use jsonwebtoken::Algorithm;
use jwt_support::*;
use serde_json::json;
use tower::{Layer, ServiceExt};

fn layer(
    keys: &[&TestKey],
    clock: &ManualClock,
    edit: impl FnOnce(JwtAuthorizerLayerBuilder) -> JwtAuthorizerLayerBuilder,
) -> JwtAuthorizerLayer {
    let builder = JwtAuthorizerLayer::builder()
        .issuer(Issuer::new(ISS).audience(AUD).jwks(jwks(keys)))
        .leeway(Duration::ZERO)
        .with_clock(Arc::new(clock.clone()));
    edit(builder).build().unwrap()
}

async fn send(layer: &JwtAuthorizerLayer, backend: &Backend, request: Request<Body>) -> Answer {
    let response = layer
        .layer(backend.service())
        .oneshot(request)
        .await
        .unwrap();
    answer(response).await
}

/// Sends `token` and asserts a 401 of `kind` that never reached the backend.
async fn refused(layer: &JwtAuthorizerLayer, token: &str, kind: K) {
    let backend = Backend::default();
    let answer = send(layer, &backend, request(token)).await;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{kind:?}: {}",
        answer.body
    );
    assert_eq!(answer.kind, Some(kind), "{}", answer.body);
    assert_eq!(answer.problem_type.as_deref(), Some(kind.problem_type()));
    assert_eq!(backend.calls(), 0);
}

fn rsa() -> TestKey {
    TestKey::rsa(1, "rsa-1")
}

#[tokio::test]
async fn valid_token_reaches_the_backend_with_its_claims() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let backend = Backend::default();
    let answer = send(&layer, &backend, request(&key.sign(&claims(&clock)))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "alice");
    assert_eq!(backend.calls(), 1);
}

#[tokio::test]
async fn every_supported_algorithm_verifies_with_its_key_type() {
    let clock = ManualClock::new();
    let keys = [
        TestKey::rsa(1, "rs256"),
        TestKey::rsa(2, "rs384").with_alg(Algorithm::RS384),
        TestKey::rsa(3, "rs512").with_alg(Algorithm::RS512),
        TestKey::rsa(1, "ps256").with_alg(Algorithm::PS256),
        TestKey::rsa(2, "ps384").with_alg(Algorithm::PS384),
        TestKey::rsa(3, "ps512").with_alg(Algorithm::PS512),
        TestKey::ec256("es256"),
        TestKey::ec384("es384"),
        TestKey::ed25519("eddsa"),
    ];
    let layer = layer(&keys.iter().collect::<Vec<_>>(), &clock, |b| b);
    for key in &keys {
        let answer = send(
            &layer,
            &Backend::default(),
            request(&key.sign(&claims(&clock))),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}: {}",
            key.kid,
            answer.body
        );
    }
}

#[tokio::test]
async fn missing_token_is_401_with_a_bare_bearer_challenge() {
    let layer = layer(&[&rsa()], &ManualClock::new(), |b| b);
    let backend = Backend::default();
    let answer = send(
        &layer,
        &backend,
        Request::get("/").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.kind, Some(K::MissingToken));
    assert_eq!(answer.challenge.as_deref(), Some("Bearer"));
    assert_eq!(
        answer.problem_type.as_deref(),
        Some("urn:apigw:problem:unauthorized:missing-token")
    );
    assert_eq!(backend.calls(), 0);
}

#[tokio::test]
async fn invalid_token_gets_an_rfc6750_challenge_and_a_problem_body() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let token = key.sign(&claims_with(&clock, json!({"exp": 1})));
    let answer = send(&layer, &Backend::default(), request(&token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(r#"Bearer error="invalid_token", error_description="the token has expired""#)
    );
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["type"], "urn:apigw:problem:unauthorized:expired");
    assert_eq!(body["status"], 401);
    assert_eq!(body["responseType"], "UNAUTHORIZED");
}

#[tokio::test]
async fn aws_style_responses_say_unauthorized_and_keep_the_challenge() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| {
        b.gateway_responses(GatewayResponses::aws())
    });
    let answer = send(&layer, &Backend::default(), request("a.b.c")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body, r#"{"message":"Unauthorized"}"#);
    assert!(answer.challenge.unwrap().contains("invalid_token"));
}

#[tokio::test]
async fn problem_bodies_never_echo_the_token_or_its_kid() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "secret-kid-value");
    let other = TestKey::rsa(2, "secret-kid-value");
    let layer = layer(&[&key], &clock, |b| b);
    for token in [
        other.sign(&claims(&clock)),
        key.sign(&claims_with(&clock, json!({"exp": 1}))),
        key.sign(&claims_with(&clock, json!({"aud": "zzz-audience"}))),
    ] {
        let answer = send(&layer, &Backend::default(), request(&token)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        for part in token.split('.') {
            assert!(!answer.body.contains(part), "body echoes a token segment");
        }
        let headers = answer.challenge.unwrap_or_default();
        assert!(!answer.body.contains("secret-kid-value") && !headers.contains("secret-kid-value"));
        assert!(!answer.body.contains("zzz-audience"));
    }
}

#[tokio::test]
async fn j1_alg_none_is_refused_in_every_spelling_and_shape() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let valid = key.sign(&claims(&clock));
    let parts: Vec<&str> = valid.split('.').collect();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": alg, "kid": "rsa-1"}).to_string());
        refused(&layer, &format!("{header}.{}.", parts[1]), K::Malformed).await;
        refused(
            &layer,
            &format!("{header}.{}.{}", parts[1], parts[2]),
            K::UnsupportedAlgorithm,
        )
        .await;
        refused(&layer, &format!("{header}.{}", parts[1]), K::Malformed).await;
    }
    // Wycheproof tcId 16.
    refused(
        &layer,
        "eyJhbGciOiJub25lIiwia2lkIjoia2lkLWFlcy1zaWduIn0.Zm9v.",
        K::Malformed,
    )
    .await;
}

#[tokio::test]
async fn j1_alg_none_makes_no_jwks_fetch() {
    let clock = ManualClock::new();
    let key = rsa();
    let server = JwksServer::start(Script::Serve(jwks(&[&key]), None)).await;
    let layer = JwtAuthorizerLayer::builder()
        .issuer(Issuer::new(ISS).audience(AUD).jwks_url(server.url()))
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let payload = b64(claims(&clock).to_string());
    let header = b64(r#"{"alg":"none","kid":"unknown"}"#);
    refused(
        &layer,
        &format!("{header}.{payload}.c2ln"),
        K::UnsupportedAlgorithm,
    )
    .await;
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn j2_algorithms_outside_the_allow_list_are_refused_with_valid_signatures() {
    let clock = ManualClock::new();
    let (rsa, ec, ed) = (rsa(), TestKey::ec256("ec"), TestKey::ed25519("ed"));
    let rsa_only = layer(&[&rsa, &ec, &ed], &clock, |b| b.aws_compatible(true));
    refused(
        &rsa_only,
        &ec.sign(&claims(&clock)),
        K::UnsupportedAlgorithm,
    )
    .await;
    refused(
        &rsa_only,
        &ed.sign(&claims(&clock)),
        K::UnsupportedAlgorithm,
    )
    .await;
    let ok = send(
        &rsa_only,
        &Backend::default(),
        request(&rsa.sign(&claims(&clock))),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);

    let ps_only = JwtAuthorizerLayer::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .jwks(jwks(&[&rsa]))
                .algorithms([A::PS256]),
        )
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    refused(
        &ps_only,
        &rsa.sign(&claims(&clock)),
        K::UnsupportedAlgorithm,
    )
    .await;
}

#[tokio::test]
async fn j3_hmac_signed_with_the_public_key_is_refused() {
    use jsonwebtoken::EncodingKey;
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let public_pem = include_bytes!("jwt_keys/rsa1.pub.pem");
    let n = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        key.jwk["n"].as_str().unwrap(),
    )
    .unwrap();
    let der_body: String = std::str::from_utf8(public_pem)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, der_body).unwrap();
    let jwks_text = jwks(&[&key]);
    for secret in [&public_pem[..], &der[..], &n[..], jwks_text.as_bytes()] {
        let hmac = TestKey {
            kid: "rsa-1".into(),
            alg: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            jwk: json!({}),
        };
        refused(&layer, &hmac.sign(&claims(&clock)), K::UnsupportedAlgorithm).await;
    }
}

#[test]
fn j3_oct_keys_in_a_key_set_are_dropped() {
    let set = apigw::jwt::KeySet::from_jwks(
        br#"{"keys":[{"kty":"oct","kid":"rsa-1","k":"c2VjcmV0","alg":"HS256"}]}"#,
        &A::ALL,
    )
    .unwrap();
    assert!(set.is_empty());
    let static_oct = JwtAuthorizerLayer::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .jwks(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#),
        )
        .build();
    assert!(static_oct.is_err());
}

#[tokio::test]
async fn j4_key_and_algorithm_are_bound() {
    let clock = ManualClock::new();
    let c = claims(&clock);
    // (a) the key says RS384, the token RS256.
    let key = rsa().with_jwk(|j| {
        j.insert("alg".into(), "RS384".into());
    });
    refused(
        &layer(&[&key], &clock, |b| b),
        &key.sign(&c),
        K::InvalidSignature,
    )
    .await;
    // (b) use: enc and (c) key_ops: [sign] drop the key: the static set is then empty.
    for edit in [json!({"use": "enc"}), json!({"key_ops": ["sign"]})] {
        let key = rsa().with_jwk(|j| j.extend(edit.as_object().unwrap().clone()));
        let build = JwtAuthorizerLayer::builder()
            .issuer(Issuer::new(ISS).audience(AUD).jwks(jwks(&[&key])))
            .build();
        assert!(build.is_err(), "{edit}");
    }
    // (d) an ES256 token against a P-384 key with the same kid.
    let p384 = TestKey::ec384("ec");
    let es256 = TestKey::ec256("ec");
    refused(
        &layer(&[&p384], &clock, |b| b),
        &es256.sign(&c),
        K::InvalidSignature,
    )
    .await;
    // (e) two keys with one kid: refused, never verified by the wrong one.
    let (one, two) = (TestKey::rsa(1, "same"), TestKey::rsa(2, "same"));
    let both = layer(&[&one, &two], &clock, |b| b);
    refused(&both, &one.sign(&c), K::InvalidSignature).await;
    refused(&both, &two.sign(&c), K::InvalidSignature).await;
    // (f) no kid: refused in AWS mode, the single key otherwise.
    let no_kid = key_without_kid(&rsa(), &c);
    refused(
        &layer(&[&rsa()], &clock, |b| b.aws_compatible(true)),
        &no_kid,
        K::InvalidSignature,
    )
    .await;
    let ok = send(
        &layer(&[&rsa()], &clock, |b| b),
        &Backend::default(),
        request(&no_kid),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let two_keys = layer(&[&rsa(), &TestKey::rsa(2, "rsa-2")], &clock, |b| b);
    refused(&two_keys, &no_kid, K::InvalidSignature).await;
}

fn key_without_kid(key: &TestKey, claims: &serde_json::Value) -> String {
    key.sign_raw(r#"{"alg":"RS256"}"#, &claims.to_string())
}

#[tokio::test]
async fn j5_hostile_kids_are_map_keys_only() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let payload = claims(&clock).to_string();
    for kid in [
        json!("../../../../dev/null"),
        json!("' OR '1'='1"),
        json!("a\u{0}b\r\nc"),
        json!("x".repeat(300)),
    ] {
        let token = key.sign_raw(&json!({"alg": "RS256", "kid": kid}).to_string(), &payload);
        refused(&layer, &token, K::InvalidSignature).await;
    }
    for kid in [json!(1), json!({"a": 1}), json!(["rsa-1"])] {
        let token = key.sign_raw(&json!({"alg": "RS256", "kid": kid}).to_string(), &payload);
        refused(&layer, &token, K::Malformed).await;
    }
    let huge = key.sign_raw(
        &json!({"alg": "RS256", "kid": "k".repeat(64 * 1024)}).to_string(),
        &payload,
    );
    refused(&layer, &huge, K::Malformed).await;
}

#[tokio::test]
async fn j6_jku_x5u_jwk_and_x5c_are_never_followed_or_trusted() {
    let clock = ManualClock::new();
    let trusted = rsa();
    let attacker = TestKey::rsa(2, "rsa-1");
    let server = JwksServer::start(Script::Serve(jwks(&[&attacker]), None)).await;
    let layer = layer(&[&trusted], &clock, |b| b);
    let payload = claims(&clock).to_string();
    let headers = [
        json!({"alg": "RS256", "kid": "rsa-1", "jku": server.url()}),
        json!({"alg": "RS256", "kid": "rsa-1", "x5u": server.url()}),
        json!({"alg": "RS256", "kid": "rsa-1", "jwk": attacker.jwk}),
        json!({"alg": "RS256", "kid": "rsa-1", "x5c": ["MIIBIjANBg"]}),
    ];
    for header in headers {
        refused(
            &layer,
            &attacker.sign_raw(&header.to_string(), &payload),
            K::InvalidSignature,
        )
        .await;
    }
    assert_eq!(server.hits() + server.other_hits(), 0);
}

#[tokio::test]
async fn j7_crit_headers_are_refused() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let payload = claims(&clock).to_string();
    for header in [
        json!({"alg": "RS256", "kid": "rsa-1", "crit": ["x-unknown"], "x-unknown": 1}),
        json!({"alg": "RS256", "kid": "rsa-1", "crit": []}),
        json!({"alg": "RS256", "kid": "rsa-1", "crit": "x"}),
        json!({"alg": "RS256", "kid": "rsa-1", "crit": [null]}),
        json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}),
        json!({"alg": "RS256", "kid": "rsa-1", "crit": ["b64"], "b64": false}),
    ] {
        refused(
            &layer,
            &key.sign_raw(&header.to_string(), &payload),
            K::CriticalHeader,
        )
        .await;
    }
}

#[tokio::test]
async fn j8_jwe_nested_jwts_and_json_serializations_fail_fast() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let inner = key.sign(&claims(&clock));
    let nested = key.sign_raw(r#"{"alg":"RS256","kid":"rsa-1","cty":"JWT"}"#, &inner);
    refused(&layer, &nested, K::Malformed).await;
    let jwe_header =
        b64(r#"{"alg":"PBES2-HS256+A128KW","enc":"A128GCM","p2c":2147483647,"zip":"DEF"}"#);
    refused(&layer, &format!("{jwe_header}.a.b.c.d"), K::Malformed).await;
    let parts: Vec<&str> = inner.split('.').collect();
    let flattened = json!({"protected": parts[0], "payload": parts[1], "signature": parts[2]});
    refused(&layer, &flattened.to_string(), K::Malformed).await;
    let general = json!({"payload": parts[1], "signatures": [{"protected": parts[0], "signature": parts[2]}]});
    refused(&layer, &general.to_string(), K::Malformed).await;
}

#[tokio::test]
async fn j9_oversized_and_pathological_tokens_fail_before_decoding() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b.max_token_bytes(8 * 1024));
    refused(&layer, &".".repeat(1_000_000), K::Malformed).await;
    refused(&layer, &"a".repeat(8 * 1024 + 1), K::Malformed).await;
    refused(&layer, "aaa.bbb.ccc.ddd.eee", K::Malformed).await;
    // A valid token padded with a large claim just over the limit.
    let big = key.sign(&claims_with(&clock, json!({"pad": "x".repeat(6200)})));
    assert!(big.len() > 8 * 1024);
    refused(&layer, &big, K::Malformed).await;
    let fits = key.sign(&claims_with(&clock, json!({"pad": "x".repeat(5000)})));
    assert!(fits.len() <= 8 * 1024);
    assert_eq!(
        send(&layer, &Backend::default(), request(&fits))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn j10_encodings_and_duplicate_keys_are_refused() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let valid = key.sign(&claims(&clock));
    let (h, p, s) = {
        let v: Vec<&str> = valid.split('.').collect();
        (v[0].to_owned(), v[1].to_owned(), v[2].to_owned())
    };
    for token in [
        format!("{h}==.{p}.{s}"),
        format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/")),
        format!("{h}.{p} .{s}"),
        format!("{h}.{p}é.{s}"),
        format!("{h}.{p}.{s}="),
    ] {
        refused(&layer, &token, K::Malformed).await;
    }
    let dup_alg = key.sign_raw(
        r#"{"alg":"RS256","kid":"rsa-1","alg":"none"}"#,
        &claims(&clock).to_string(),
    );
    refused(&layer, &dup_alg, K::Malformed).await;
    let c = claims(&clock);
    let dup_exp = key.sign_raw(
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        &format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"a","exp":{},"exp":1}}"#,
            c["exp"]
        ),
    );
    refused(&layer, &dup_exp, K::Malformed).await;
    let dup_sub = key.sign_raw(
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        &format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"sub":"a","sub":"admin"}}"#,
            c["exp"]
        ),
    );
    refused(&layer, &dup_sub, K::Malformed).await;
    for payload in ["[]", "\"s\"", "null", "{", "\u{ff}"] {
        refused(
            &layer,
            &key.sign_raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, payload),
            K::Malformed,
        )
        .await;
    }
    let invalid_utf8 = format!(
        "{}.{}.{s}",
        b64(r#"{"alg":"RS256","kid":"rsa-1"}"#),
        b64([b'{', b'"', 0xff, b'"', b':', b'1', b'}'])
    );
    refused(&layer, &invalid_utf8, K::Malformed).await;
}

#[tokio::test]
async fn j11_zero_and_der_encoded_ecdsa_signatures_are_refused() {
    let clock = ManualClock::new();
    let key = TestKey::ec256("ec");
    let layer = layer(&[&key], &clock, |b| b);
    let valid = key.sign(&claims(&clock));
    let (input, signature) = valid.rsplit_once('.').unwrap();
    // r = s = 0 ("psychic signatures").
    refused(
        &layer,
        &format!("{input}.{}", b64([0u8; 64])),
        K::InvalidSignature,
    )
    .await;
    // r = 1, s = 0.
    let mut r1 = [0u8; 64];
    r1[31] = 1;
    refused(&layer, &format!("{input}.{}", b64(r1)), K::InvalidSignature).await;
    // The valid signature, DER-encoded instead of raw R‖S.
    let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
        .unwrap();
    let der_int = |x: &[u8]| {
        let x: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        let mut v = if x[0] & 0x80 != 0 { vec![0] } else { vec![] };
        v.extend(x);
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let mut body = der_int(&raw[..32]);
    body.extend(der_int(&raw[32..]));
    let mut der = vec![0x30, body.len() as u8];
    der.extend(body);
    refused(
        &layer,
        &format!("{input}.{}", b64(der)),
        K::InvalidSignature,
    )
    .await;
}

#[tokio::test]
async fn j12_weak_rsa_keys_are_dropped_and_large_key_sets_load() {
    // The modulus of jwt_keys/rsa1024.pem (1024 bits).
    let weak_n = "4o7bLBMrb4j7HT84PTO8vL4QRp9dyo2aco6FuOkO1B6o9lnXHoy0cLmIpdI0W-Im0wVMhm7kARPnS8AR8O7vuxRDupX-PFcetZ8DnaDP4ovg1RyDuuuqb1du-Au3r6vXVsMtl1GM-ggkHg1xR8oopke07-UyUpfuUheeautzLjk";
    let weak = format!(r#"{{"keys":[{{"kty":"RSA","kid":"weak","n":"{weak_n}","e":"AQAB"}}]}}"#);
    assert!(
        apigw::jwt::KeySet::from_jwks(weak.as_bytes(), &A::ALL)
            .unwrap()
            .is_empty()
    );
    let key = rsa();
    let many: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            let mut jwk = key.jwk.clone();
            jwk["kid"] = json!(format!("k{i}"));
            jwk
        })
        .collect();
    let document = json!({"keys": many}).to_string();
    let set = apigw::jwt::KeySet::from_jwks(document.as_bytes(), &A::ALL).unwrap();
    assert_eq!(set.len(), 1000);
    assert!(set.contains_kid("k999"));
}

#[tokio::test]
async fn j13_time_claims_follow_the_boundary_rule_and_types() {
    let clock = ManualClock::new();
    let now = apigw::clock::Clock::unix_time(&clock).as_secs();
    let key = rsa();
    let strict = layer(&[&key], &clock, |b| b.aws_compatible(true));
    let lenient = layer(&[&key], &clock, |b| b.leeway(Duration::from_secs(60)));
    let ok = |layer: JwtAuthorizerLayer, changes: serde_json::Value| {
        let token = key.sign(&claims_with(&clock, changes));
        async move {
            send(&layer, &Backend::default(), request(&token))
                .await
                .status
                == StatusCode::OK
        }
    };
    refused(
        &strict,
        &key.sign(&claims_with(&clock, json!({"exp": now}))),
        K::Expired,
    )
    .await;
    refused(
        &strict,
        &key.sign(&claims_with(&clock, json!({"exp": now - 1}))),
        K::Expired,
    )
    .await;
    assert!(ok(lenient.clone(), json!({"exp": now - 59})).await);
    refused(
        &lenient,
        &key.sign(&claims_with(&clock, json!({"nbf": now + 61}))),
        K::NotYetValid,
    )
    .await;
    refused(
        &strict,
        &key.sign(&claims_with(&clock, json!({"iat": now + 3600}))),
        K::NotYetValid,
    )
    .await;
    refused(
        &strict,
        &key.sign(&claims_with(&clock, json!({"exp": "9999999999"}))),
        K::InvalidClaims,
    )
    .await;
    assert!(ok(strict.clone(), json!({"exp": 1e300})).await);
    assert!(ok(strict.clone(), json!({"exp": u64::MAX})).await);
    refused(
        &strict,
        &key.sign(&claims_with(&clock, json!({"exp": -1}))),
        K::Expired,
    )
    .await;
    refused(
        &strict,
        &key.sign(&claims_with(&clock, json!({"exp": 1.5}))),
        K::Expired,
    )
    .await;
    // Missing exp: refused by default, accepted when allowed.
    let no_exp = key.sign(&claims_with(&clock, json!({"exp": null})));
    refused(&strict, &no_exp, K::InvalidClaims).await;
    let relaxed = layer(&[&key], &clock, |b| b.require_exp(false));
    assert_eq!(
        send(&relaxed, &Backend::default(), request(&no_exp))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn j14_audience_issuer_and_scope_matrix() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let status = |changes: serde_json::Value| {
        let token = key.sign(&claims_with(&clock, changes));
        let layer = layer.clone();
        async move {
            send(&layer, &Backend::default(), request(&token))
                .await
                .kind
        }
    };
    assert_eq!(status(json!({"aud": ["x", AUD]})).await, None);
    assert_eq!(status(json!({"aud": []})).await, Some(K::InvalidAudience));
    assert_eq!(
        status(json!({"aud": [1, 2]})).await,
        Some(K::InvalidAudience)
    );
    assert_eq!(status(json!({"aud": null})).await, Some(K::InvalidAudience));
    assert_eq!(status(json!({"aud": null, "client_id": AUD})).await, None);
    assert_eq!(
        status(json!({"aud": "other", "client_id": AUD})).await,
        Some(K::InvalidAudience)
    );
    assert_eq!(
        status(json!({"aud": "other-api-of-same-issuer"})).await,
        Some(K::InvalidAudience)
    );
    assert_eq!(
        status(json!({"iss": format!("{ISS}/")})).await,
        Some(K::InvalidIssuer)
    );
    assert_eq!(
        status(json!({"scope": ["read"]})).await,
        Some(K::InvalidClaims)
    );
}

#[tokio::test]
async fn j14_scopes_from_scope_or_scp_one_is_enough_unless_all_are_required() {
    let clock = ManualClock::new();
    let key = rsa();
    let any = layer(&[&key], &clock, |b| b.required_scopes(["write", "admin"]));
    let all = layer(&[&key], &clock, |b| {
        b.required_scopes(["read", "admin"])
            .require_all_scopes(true)
    });
    let scp = key.sign(&claims_with(
        &clock,
        json!({"scope": null, "scp": ["admin"]}),
    ));
    let scope = key.sign(&claims(&clock));
    assert_eq!(
        send(&any, &Backend::default(), request(&scp)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&any, &Backend::default(), request(&scope))
            .await
            .status,
        StatusCode::OK
    );
    let backend = Backend::default();
    let denied = send(&all, &backend, request(&scope)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.kind, Some(K::InsufficientScope));
    assert_eq!(
        denied.problem_type.as_deref(),
        Some("urn:apigw:problem:access-denied:insufficient-scope")
    );
    assert_eq!(
        denied.challenge.as_deref(),
        Some(
            r#"Bearer error="insufficient_scope", error_description="the token does not grant the scope this route requires", scope="read admin""#
        )
    );
    assert_eq!(backend.calls(), 0);
}

#[tokio::test]
async fn j15_signature_is_checked_before_claims_and_unknown_kids_look_like_bad_signatures() {
    let clock = ManualClock::new();
    let key = rsa();
    let impostor = TestKey::rsa(2, "rsa-1");
    let layer = layer(&[&key], &clock, |b| b);
    let expired_bad_sig = impostor.sign(&claims_with(
        &clock,
        json!({"exp": 1, "aud": "x", "iss": "y"}),
    ));
    refused(&layer, &expired_bad_sig, K::InvalidSignature).await;
    let unknown_kid = TestKey::rsa(1, "never-published").sign(&claims(&clock));
    let a = send(&layer, &Backend::default(), request(&unknown_kid)).await;
    let b = send(
        &layer,
        &Backend::default(),
        request(&impostor.sign(&claims(&clock))),
    )
    .await;
    assert_eq!(
        (a.status, a.problem_type, a.challenge),
        (b.status, b.problem_type, b.challenge)
    );
}

#[tokio::test]
async fn j16_claims_set_before_the_layer_are_replaced_by_verified_ones() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let forged = || {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), json!("mallory"));
        JwtClaims::new(claims, vec!["admin".into()])
    };
    let mut good = request(&key.sign(&claims(&clock)));
    good.extensions_mut().insert(forged());
    good.headers_mut()
        .insert("x-jwt-claims", "{\"sub\":\"mallory\"}".parse().unwrap());
    let answer = send(&layer, &Backend::default(), good).await;
    assert_eq!(answer.body, "alice");
    let backend = Backend::default();
    let mut bad = request("a.b.c");
    bad.extensions_mut().insert(forged());
    assert_eq!(
        send(&layer, &backend, bad).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(backend.calls(), 0);
}

#[tokio::test]
async fn cached_token_still_expires_at_its_exp() {
    let clock = ManualClock::new();
    let key = rsa();
    let layer = layer(&[&key], &clock, |b| b);
    let token = key.sign(&claims(&clock));
    assert_eq!(
        send(&layer, &Backend::default(), request(&token))
            .await
            .status,
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(3599));
    assert_eq!(
        send(&layer, &Backend::default(), request(&token))
            .await
            .status,
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(1));
    refused(&layer, &token, K::Expired).await;
}

#[tokio::test]
async fn a_token_cached_by_one_authorizer_is_judged_afresh_by_another() {
    let clock = ManualClock::new();
    let key = rsa();
    let ours = layer(&[&key], &clock, |b| b);
    let other = JwtAuthorizerLayer::builder()
        .issuer(Issuer::new(ISS).audience("other-api").jwks(jwks(&[&key])))
        .leeway(Duration::ZERO)
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let token = key.sign(&claims(&clock));
    // Verified, then found in the cache, then found as this thread's last hit.
    for _ in 0..3 {
        assert_eq!(
            send(&ours, &Backend::default(), request(&token))
                .await
                .status,
            StatusCode::OK
        );
    }
    refused(&other, &token, K::InvalidAudience).await;
    assert_eq!(
        send(&ours, &Backend::default(), request(&token))
            .await
            .status,
        StatusCode::OK
    );
    // The same header twice is refused, remembered token or not.
    let mut twice = request(&token);
    let value = twice.headers()["authorization"].clone();
    twice.headers_mut().append("authorization", value);
    let backend = Backend::default();
    let answer = send(&ours, &backend, twice).await;
    assert_eq!(answer.kind, Some(K::Malformed), "{}", answer.body);
    assert_eq!(backend.calls(), 0);
    clock.advance(Duration::from_secs(3600));
    refused(&ours, &token, K::Expired).await;
}

#[tokio::test]
async fn several_issuers_each_with_their_own_keys_and_audiences() {
    let clock = ManualClock::new();
    let (a, b) = (TestKey::rsa(1, "a"), TestKey::ec256("b"));
    let layer = JwtAuthorizerLayer::builder()
        .issuer(Issuer::new(ISS).audience(AUD).jwks(jwks(&[&a])))
        .issuer(
            Issuer::new("https://other.example")
                .audience("other-api")
                .jwks(jwks(&[&b])),
        )
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let other = claims_with(
        &clock,
        json!({"iss": "https://other.example", "aud": "other-api"}),
    );
    assert_eq!(
        send(&layer, &Backend::default(), request(&b.sign(&other)))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(
            &layer,
            &Backend::default(),
            request(&a.sign(&claims(&clock)))
        )
        .await
        .status,
        StatusCode::OK
    );
    // Issuer A's key cannot sign for issuer B, nor B's audience pass at A.
    refused(&layer, &a.sign(&other), K::InvalidSignature).await;
    let cross = claims_with(&clock, json!({"aud": "other-api"}));
    refused(&layer, &a.sign(&cross), K::InvalidAudience).await;
    let unknown = claims_with(&clock, json!({"iss": "https://evil.example"}));
    refused(&layer, &a.sign(&unknown), K::InvalidIssuer).await;
}

#[tokio::test]
async fn identity_source_can_be_a_query_parameter_or_a_cookie() {
    let clock = ManualClock::new();
    let key = rsa();
    let token = key.sign(&claims(&clock));
    let query = layer(&[&key], &clock, |b| {
        b.identity_source(IdentitySource::parse("$request.querystring.access_token").unwrap())
    });
    let request_q = Request::get(format!("/x?access_token={token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&query, &Backend::default(), request_q).await.status,
        StatusCode::OK
    );
    let cookie = layer(&[&key], &clock, |b| {
        b.identity_source(IdentitySource::Cookie("id".into()))
    });
    let request_c = Request::get("/x")
        .header("cookie", format!("a=b; id={token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&cookie, &Backend::default(), request_c).await.status,
        StatusCode::OK
    );
}

fn scope_table() -> RouteTable<Vec<String>> {
    RouteTable::builder()
        .route("GET /orders", vec!["orders/read".into()])
        .unwrap()
        .route("POST /orders", vec!["orders/write".into()])
        .unwrap()
        .build()
        .unwrap()
}

#[tokio::test]
async fn route_scopes_from_a_route_table() {
    let clock = ManualClock::new();
    let key = rsa();
    let token = key.sign(&claims_with(&clock, json!({"scope": "orders/read"})));
    let app = Router::new()
        .route(
            "/orders",
            get(|| async { "list" }).post(|| async { "created" }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(layer(&[&key], &clock, |b| b.route_scopes(scope_table())));
    let call = |method: &str, path: &str| {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let app = app.clone();
        async move { app.oneshot(request).await.unwrap().status() }
    };
    assert_eq!(call("GET", "/orders").await, StatusCode::OK);
    assert_eq!(call("POST", "/orders").await, StatusCode::FORBIDDEN);
    assert_eq!(call("GET", "/health").await, StatusCode::OK);
}

#[tokio::test]
async fn route_layer_with_required_scopes() {
    let clock = ManualClock::new();
    let key = rsa();
    let reader = key.sign(&claims_with(&clock, json!({"scope": "orders/read"})));
    let app: Router = Router::new()
        .route(
            "/admin",
            get(|| async { "admin" })
                .route_layer(layer(&[&key], &clock, |b| b.required_scopes(["admin"]))),
        )
        .route(
            "/orders",
            get(|c: JwtClaims| async move { c.scopes().join(",") }).route_layer(layer(
                &[&key],
                &clock,
                |b| b.required_scopes(["orders/read"]),
            )),
        );
    let call = |path: &str| {
        let request = Request::get(path)
            .header("authorization", format!("Bearer {reader}"))
            .body(Body::empty())
            .unwrap();
        let app = app.clone();
        async move { answer(app.oneshot(request).await.unwrap()).await }
    };
    let orders = call("/orders").await;
    assert_eq!(
        (orders.status, orders.body.as_str()),
        (StatusCode::OK, "orders/read")
    );
    assert_eq!(call("/admin").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn config_builds_the_same_layer_as_the_builder() {
    let clock = ManualClock::new();
    let key = rsa();
    let config: apigw::jwt::JwtAuthorizerConfig = serde_json::from_value(json!({
        "identitySource": ["$request.header.X-Token"],
        "issuers": [{"issuer": ISS, "audience": [AUD], "jwks": serde_json::from_str::<serde_json::Value>(&jwks(&[&key])).unwrap()}],
        "awsCompatible": true,
        "authorizationScopes": {"GET /orders": ["write"]},
    }))
    .unwrap();
    let layer = JwtAuthorizerLayer::try_from(config).unwrap();
    let token = key.sign(&claims(&clock));
    let request = Request::get("/orders")
        .header("x-token", &token)
        .body(Body::empty())
        .unwrap();
    // Real time here: the token's exp is an hour after ManualClock's epoch, long past.
    let answer = send(&layer, &Backend::default(), request).await;
    assert_eq!(answer.kind, Some(K::Expired));
}
