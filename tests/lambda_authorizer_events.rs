//! Every authorizer sample event in `../shared/data/aws-events` parses into
//! `events::authorizer` and re-serializes with the same keys and values.
//!
//! Run with `cargo test --test lambda_authorizer_events -- --ignored`; the
//! test fails (it does not skip) when the data is missing.

use std::path::{Path, PathBuf};

use apigw::events::authorizer::{AuthorizerRequest, IamPolicyResponse, RequestV1, RequestV2};
use apigw::lambda_authorizer::{PolicyDecision, evaluate_policy};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `shared/` beside the checkout (`../shared`), or beside the folder of
/// worktrees (`../../shared`).
fn data_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let beside = root.join("../shared/data/aws-events");
    if beside.is_dir() {
        return beside;
    }
    let above = root.join("../../shared/data/aws-events");
    if above.is_dir() { above } else { beside }
}

/// The authorizer samples: `(path, kind)`.
fn samples() -> Vec<(PathBuf, &'static str)> {
    let dir = data_dir();
    assert!(
        dir.is_dir(),
        "{} is missing: the sample events live in shared/data",
        dir.display()
    );
    let mut samples = Vec::new();
    for source in ["aws-lambda-go", "aws-lambda-rust-runtime"] {
        let entries =
            std::fs::read_dir(dir.join(source)).unwrap_or_else(|e| panic!("{source}: {e}"));
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let kind = if name.contains("custom-auth-response") {
                "response"
            } else if name.contains("custom-auth") || name.contains("custom-authorizer") {
                "request"
            } else {
                continue;
            };
            samples.push((path, kind));
        }
    }
    samples.sort();
    samples
}

/// Keys of the original missing from `ours`, or with other values; keys we
/// add must be `null` (API Gateway's always-present 1.0 maps).
fn differences(original: &Value, ours: &Value, at: &str, out: &mut Vec<String>) {
    match (original, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => differences(value, other, &format!("{at}.{key}"), out),
                    None => out.push(format!("{at}.{key} was dropped")),
                }
            }
            for (key, value) in b {
                if !a.contains_key(key) && !value.is_null() {
                    out.push(format!("{at}.{key} was added"));
                }
            }
        }
        (a, b) if a != b => out.push(format!("{at}: {a} became {b}")),
        _ => {}
    }
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    original: &Value,
) -> (T, Value) {
    let typed: T = serde_json::from_value(original.clone()).unwrap();
    let json = serde_json::to_value(&typed).unwrap();
    let again: T = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(typed, again);
    (typed, json)
}

/// Members of the WebSocket sample that are not API Gateway's: the Rust
/// runtime's fixture carries its Lambda `Context` alongside the event.
const NOT_API_GATEWAY: [&str; 10] = [
    "context",
    "deadline",
    "invoked_function_arn",
    "xray_trace_id",
    "client_context",
    "identity",
    "env_config",
    "memory",
    "log_stream",
    "log_group",
];

#[test]
#[ignore = "needs ../shared/data"]
fn every_authorizer_sample_parses_and_re_serializes_unchanged() {
    let samples = samples();
    assert!(samples.len() >= 15, "only {} samples found", samples.len());
    for (path, kind) in samples {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let original: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut out = Vec::new();
        if kind == "response" {
            let (_, json) = round_trip::<IamPolicyResponse>(&original);
            differences(&original, &json, "", &mut out);
        } else {
            let typed: AuthorizerRequest = serde_json::from_value(original.clone()).unwrap();
            let json = serde_json::to_value(&typed).unwrap();
            match &typed {
                AuthorizerRequest::RequestV2(_) => {
                    round_trip::<RequestV2>(&original);
                }
                AuthorizerRequest::RequestV1(_) if name.contains("websocket") => {
                    let mut trimmed = original.clone();
                    for key in NOT_API_GATEWAY {
                        trimmed.as_object_mut().unwrap().remove(key);
                    }
                    let (_, json) = round_trip::<RequestV1>(&trimmed);
                    differences(&trimmed, &json, "", &mut out);
                    assert!(out.is_empty(), "{name}: {out:#?}");
                    continue;
                }
                _ => {}
            }
            assert!(!typed.method_arn().is_empty(), "{name}: no method ARN");
            differences(&original, &json, "", &mut out);
        }
        assert!(out.is_empty(), "{name}: {out:#?}");
    }
}

#[test]
#[ignore = "needs ../shared/data"]
fn sample_requests_land_in_the_right_variant() {
    let read = |name: &str| -> AuthorizerRequest {
        let path = data_dir().join("aws-lambda-go").join(name);
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    match read("apigw-custom-auth-request.json") {
        AuthorizerRequest::Token(token) => assert_eq!(token.authorization_token, "allow"),
        other => panic!("not TOKEN: {other:?}"),
    }
    match read("apigw-v2-custom-authorizer-v1-request.json") {
        AuthorizerRequest::RequestV1(request) => {
            assert_eq!(request.identity_source.as_deref(), Some("user1,123"));
            assert_eq!(request.version.as_deref(), Some("1.0"));
        }
        other => panic!("not REQUEST 1.0: {other:?}"),
    }
    match read("apigw-v2-custom-authorizer-v2-request.json") {
        AuthorizerRequest::RequestV2(request) => {
            assert_eq!(
                request.identity_source,
                Some(vec!["user1".to_owned(), "123".to_owned()])
            );
            assert_eq!(request.request_context.http.method, "POST");
        }
        other => panic!("not REQUEST 2.0: {other:?}"),
    }
}

#[test]
#[ignore = "needs ../shared/data"]
fn sample_responses_evaluate_safely() {
    let dir = data_dir().join("aws-lambda-rust-runtime");
    let read = |name: &str| -> IamPolicyResponse {
        serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
    };
    // The placeholder resources match no real ARN.
    let arn = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/pets";
    let allow = read("example-apigw-custom-auth-response-with-single-value-action.json");
    assert_eq!(
        evaluate_policy(&allow.policy_document, arn),
        Ok(PolicyDecision::ImplicitDeny)
    );
    // A conditional Deny is taken to hold.
    let mut conditional = read("example-apigw-custom-auth-response-with-condition.json");
    conditional.policy_document.statement[0].resource =
        Some(apigw::events::authorizer::StringOrArray::One("*".into()));
    assert_eq!(
        evaluate_policy(&conditional.policy_document, arn),
        Ok(PolicyDecision::ExplicitDeny)
    );
    // "Allow|Deny" is not an effect: evaluation refuses it.
    let go: IamPolicyResponse = serde_json::from_slice(
        &std::fs::read(data_dir().join("aws-lambda-go/apigw-custom-auth-response.json")).unwrap(),
    )
    .unwrap();
    assert!(evaluate_policy(&go.policy_document, arn).is_err());
}
