//! Public JOSE vectors through the authorizer's signature path
//! ([`KeySet::verify`]: size limit, header checks, key selection, signature):
//! Wycheproof's JWS vectors and the RFC 7520 / RFC 8037 cookbook.
//!
//! Valid vectors must pass where this crate enables the algorithm; every
//! invalid one must fail. The data lives in `../shared/data/jose` (or
//! `$APIGW_SHARED_DATA/jose`); a missing file fails the test.
#![cfg(feature = "jwt")]

use std::path::PathBuf;

use apigw::jwt::{Algorithm, KeySet};
use serde_json::{Value, json};

fn data(relative: &str) -> Value {
    let root = std::env::var_os("APIGW_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let path = root.join("jose").join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): tests need ../shared/data",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn key_set(jwk: Option<&Value>) -> KeySet {
    let document = json!({"keys": jwk.into_iter().collect::<Vec<_>>()}).to_string();
    KeySet::from_jwks(document.as_bytes(), &Algorithm::ALL).unwrap()
}

/// The `alg` named in a compact token's header, if it is one this crate has.
fn enabled_alg(token: &str) -> Option<Algorithm> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let header: Value = serde_json::from_slice(&bytes).ok()?;
    Algorithm::from_name(header.get("alg")?.as_str()?)
}

#[test]
#[ignore = "needs ../shared/data"]
fn wycheproof_jws_vectors() {
    let suite = data("wycheproof/json_web_signature_test.json");
    // Wycheproof calls these valid, but their JWK says `"alg": "PS256"` and
    // the token is PS384: the key/alg binding (SECURITY.md J4 a) refuses
    // them, on purpose.
    const KEY_ALG_MISMATCH: [u64; 2] = [346, 350];
    let (mut passed, mut refused, mut valid_not_enabled, mut bound) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for group in suite["testGroups"].as_array().unwrap() {
        let set = key_set(group.get("public"));
        for test in group["tests"].as_array().unwrap() {
            let id = &test["tcId"];
            let token = test["jws"].as_str().unwrap();
            let result = set.verify(token, 8 * 1024);
            match test["result"].as_str().unwrap() {
                "valid" if KEY_ALG_MISMATCH.contains(&id.as_u64().unwrap()) => {
                    assert!(
                        result.is_err(),
                        "tcId {id}: key alg PS256 verified a PS384 token"
                    );
                    bound += 1;
                }
                "valid" => {
                    let enabled = enabled_alg(token).is_some() && !set.is_empty();
                    match (enabled, &result) {
                        (true, Ok(_)) => passed += 1,
                        (true, Err(e)) => {
                            failures.push(format!("tcId {id}: valid vector refused: {e}"));
                        }
                        (false, Ok(_)) => {
                            failures.push(format!("tcId {id}: accepted with a disabled algorithm"));
                        }
                        (false, Err(_)) => valid_not_enabled += 1,
                    }
                }
                _ => match result {
                    Ok(_) => failures.push(format!(
                        "tcId {id} ({}): invalid vector accepted",
                        test["comment"]
                    )),
                    Err(_) => refused += 1,
                },
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // 401 vectors: 46 valid (those with HMAC or ES512 keys are not enabled here), 355 invalid.
    assert_eq!(passed + refused + valid_not_enabled + bound, 401);
    assert_eq!(refused, 355);
    // 32 valid verified, 12 valid with a disabled algorithm, 2 refused by the binding.
    assert_eq!((passed, valid_not_enabled, bound), (32, 12, 2));
}

#[test]
#[ignore = "needs ../shared/data"]
fn rfc7520_and_rfc8037_cookbook_vectors() {
    // (file, whether its algorithm is enabled here)
    let cases = [
        ("rfc7520-cookbook/jws/4_1.rsa_v15_signature.json", true),
        ("rfc7520-cookbook/jws/4_2.rsa-pss_signature.json", true),
        ("rfc7520-cookbook/jws/4_3.ecdsa_signature.json", false), // ES512
        (
            "rfc7520-cookbook/jws/4_4.hmac-sha2_integrity_protection.json",
            false,
        ), // HS256
        (
            "rfc7520-cookbook/jws/4_5.signature_with_detached_content.json",
            false,
        ),
        (
            "rfc7520-cookbook/jws/4_6.protecting_specific_header_fields.json",
            false,
        ),
        (
            "rfc7520-cookbook/jws/4_7.protecting_content_only.json",
            false,
        ),
        ("rfc7520-cookbook/jws/4_8.multiple_signatures.json", false),
        ("rfc7520-cookbook/curve25519/jws.json", true), // EdDSA, RFC 8037
    ];
    let mut verified = 0;
    for (file, enabled) in cases {
        let vector = data(file);
        let keys: Vec<Value> = match &vector["input"]["key"] {
            Value::Array(keys) => keys.clone(),
            key => vec![key.clone()],
        };
        let document = json!({"keys": keys}).to_string();
        let set = KeySet::from_jwks(document.as_bytes(), &Algorithm::ALL).unwrap();
        let payload = vector["input"]["payload"].as_str().unwrap();
        if let Some(compact) = vector["output"]["compact"].as_str() {
            match set.verify(compact, 8 * 1024) {
                Ok(bytes) if enabled => {
                    assert_eq!(bytes, payload.as_bytes(), "{file}");
                    verified += 1;
                }
                Ok(_) => panic!("{file}: accepted with a disabled algorithm"),
                Err(e) => assert!(!enabled, "{file}: refused: {e}"),
            }
            // A flipped signature bit always fails.
            let (input, signature) = compact.rsplit_once('.').unwrap();
            let mut bytes = signature.as_bytes().to_vec();
            bytes[0] = if bytes[0] == b'A' { b'B' } else { b'A' };
            let tampered = format!("{input}.{}", String::from_utf8(bytes).unwrap());
            assert!(
                set.verify(&tampered, 8 * 1024).is_err(),
                "{file}: tampered signature accepted"
            );
        }
        for serialization in ["json", "json_flat"] {
            if let Some(json) = vector["output"].get(serialization) {
                let text = json.to_string();
                assert!(
                    set.verify(&text, 64 * 1024).is_err(),
                    "{file}: {serialization} accepted"
                );
            }
        }
    }
    assert_eq!(verified, 3, "RS256, PS384 and EdDSA verify");
}
