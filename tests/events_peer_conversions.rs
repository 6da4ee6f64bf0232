//! `From` conversions between `apigw::events` and `aws_lambda_events`
//! (feature `aws-lambda-events`): ours → peer → ours gives the same event,
//! modulo the losses documented in `src/events/mod.rs`:
//!
//! * header names are lowercased (the peer's `HeaderMap`);
//! * an empty map becomes `null` (the peer has no `null` maps);
//! * 1.0 `version`, `requestContext.extendedRequestId`,
//!   `identity.principalOrgId` and `identity.clientCert`, and 2.0
//!   `requestContext.authentication`, are dropped (the peer has no member
//!   for them); in WebSocket events an identity of all-`null` members, and
//!   a `requestTimeEpoch` or `connectedAt` of 0, become absent;
//! * a policy's `Action` / `Resource` string becomes a one-element list;
//!   an `Effect` other than `Allow` / `Deny` becomes a `Deny` of nothing.
//!
//! The sample test needs `../shared/data` (run with `-- --ignored`; a
//! missing folder fails); the property test runs without it.
#![cfg(feature = "aws-lambda-events")]

use std::path::PathBuf;

use apigw::events::{EventOptions, authorizer, v1, v2, websocket};
use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse, ApiGatewayProxyRequest, ApiGatewayProxyResponse,
    ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest,
    ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::iam::IamPolicyEffect;
use proptest::prelude::*;
use serde_json::Value;

fn data_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        std::env::var_os("APIGW_SHARED_DATA").map(PathBuf::from),
        Some(manifest.join("../shared/data")),
        Some(manifest.join("../../shared/data")),
    ]
    .into_iter()
    .flatten()
    .map(|dir| dir.join("aws-events"))
    .find(|dir| dir.is_dir())
    .expect("../shared/data/aws-events is missing (set APIGW_SHARED_DATA)")
}

fn samples() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut dirs = vec![data_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((name, serde_json::from_str(&text).unwrap()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The documented losses applied to an event's JSON.
fn normalise(value: &mut Value) {
    const LOST: &[&str] = &[
        "principalOrgId",
        "clientCert",
        "authentication",
        "extendedRequestId",
    ];
    match value {
        Value::Object(map) => {
            if map.get("version").and_then(Value::as_str) == Some("1.0") {
                map.remove("version");
            }
            for key in LOST {
                map.remove(*key);
            }
            // IAM reads a string and a one-element list alike; the peer
            // keeps lists.
            for key in ["Action", "Resource"] {
                if let Some(one @ Value::String(_)) = map.get_mut(key) {
                    *one = Value::Array(vec![one.take()]);
                }
            }
            for key in ["requestTimeEpoch", "connectedAt"] {
                if map.get(key) == Some(&Value::from(0)) {
                    map.remove(key);
                }
            }
            for key in ["headers", "multiValueHeaders"] {
                if let Some(Value::Object(headers)) = map.get_mut(key) {
                    *headers = std::mem::take(headers)
                        .into_iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v))
                        .collect();
                }
            }
            for (_, member) in map.iter_mut() {
                if member.as_object().is_some_and(serde_json::Map::is_empty) {
                    *member = Value::Null;
                }
                normalise(member);
            }
            map.retain(|_, member| !member.is_null());
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

/// What a 1.0 REQUEST authorizer event loses through the peer (documented in
/// `events`): three top-level members, and the context members the peer's
/// context type does not name.
fn request_v1_losses(event: &mut Value) {
    const CONTEXT: &[&str] = &[
        "path",
        "accountId",
        "resourceId",
        "stage",
        "requestId",
        "identity",
        "resourcePath",
        "httpMethod",
        "apiId",
    ];
    let map = event.as_object_mut().unwrap();
    for key in ["version", "identitySource", "authorizationToken"] {
        map.remove(key);
    }
    if let Some(Value::Object(context)) = map.get_mut("requestContext") {
        context.retain(|key, _| CONTEXT.contains(&key.as_str()));
        if let Some(Value::Object(identity)) = context.get_mut("identity") {
            identity.retain(|key, _| {
                ["apiKey", "apiKeyId", "sourceIp", "clientCert"].contains(&key.as_str())
            });
        }
    }
}

fn same(name: &str, before: Value, after: Value, failures: &mut Vec<String>) {
    let (mut before, mut after) = (before, after);
    normalise(&mut before);
    normalise(&mut after);
    if before != after {
        failures.push(format!("{name}:\n  before {before}\n  after  {after}"));
    }
}

#[test]
#[ignore = "needs ../shared/data"]
fn every_sample_survives_the_peer_conversions() {
    let mut failures = Vec::new();
    let mut converted = 0;
    for (name, sample) in samples() {
        let context = &sample["requestContext"];
        let (before, after) = if name.contains("custom-auth") || name.contains("custom-authorizer")
        {
            if sample["type"] == "TOKEN" {
                let ours: authorizer::TokenRequest = serde_json::from_value(sample).unwrap();
                let back =
                    authorizer::TokenRequest::from(ApiGatewayCustomAuthorizerRequest::from(&ours));
                (serde_json::to_value(ours), serde_json::to_value(back))
            } else if sample.get("policyDocument").is_some() {
                let ours: authorizer::IamPolicyResponse = serde_json::from_value(sample).unwrap();
                let peer = ApiGatewayCustomAuthorizerResponse::from(&ours);
                let effects = ["Allow", "Deny"];
                if ours
                    .policy_document
                    .statement
                    .iter()
                    .any(|s| !effects.contains(&s.effect.as_str()))
                {
                    // An effect IAM does not know becomes a Deny of nothing.
                    assert!(
                        peer.policy_document
                            .statement
                            .iter()
                            .all(|s| s.effect == IamPolicyEffect::Deny),
                        "{name}"
                    );
                    continue;
                }
                let back = authorizer::IamPolicyResponse::from(peer);
                (serde_json::to_value(ours), serde_json::to_value(back))
            } else if sample["version"] == "2.0" {
                let ours: authorizer::RequestV2 = serde_json::from_value(sample).unwrap();
                let back =
                    authorizer::RequestV2::from(ApiGatewayV2CustomAuthorizerV2Request::from(&ours));
                (serde_json::to_value(ours), serde_json::to_value(back))
            } else {
                let ours: authorizer::RequestV1 = serde_json::from_value(sample).unwrap();
                let back = authorizer::RequestV1::from(
                    ApiGatewayCustomAuthorizerRequestTypeRequest::from(&ours),
                );
                let mut before = serde_json::to_value(ours).unwrap();
                request_v1_losses(&mut before);
                (Ok(before), serde_json::to_value(back))
            }
        } else if sample["version"] == "2.0" {
            let ours: v2::Request = serde_json::from_value(sample).unwrap();
            let back = v2::Request::from(ApiGatewayV2httpRequest::from(&ours));
            (serde_json::to_value(ours), serde_json::to_value(back))
        } else if !context["connectionId"].is_null() || !context["eventType"].is_null() {
            let ours: websocket::Request = serde_json::from_value(sample).unwrap();
            let back = websocket::Request::from(ApiGatewayWebsocketProxyRequest::from(&ours));
            (serde_json::to_value(ours), serde_json::to_value(back))
        } else if sample.get("statusCode").is_some() {
            let ours: v1::Response = serde_json::from_value(sample).unwrap();
            let back = v1::Response::from(ApiGatewayProxyResponse::from(&ours));
            (serde_json::to_value(ours), serde_json::to_value(back))
        } else {
            let ours: v1::Request = serde_json::from_value(sample).unwrap();
            let back = v1::Request::from(ApiGatewayProxyRequest::from(&ours));
            (serde_json::to_value(ours), serde_json::to_value(back))
        };
        same(&name, before.unwrap(), after.unwrap(), &mut failures);
        converted += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(converted >= 30, "{converted}");
}

prop_compose! {
    fn request()(
        headers in proptest::collection::vec(
            (prop_oneof![Just("x-dup"), Just("X-Other"), Just("accept"), Just("cookie")], "[!-~][ -~]{0,10}[!-~]"),
            0..6,
        ),
        query in proptest::collection::vec(
            (prop_oneof![Just("k"), Just("a+b"), Just("%2B")], prop_oneof![Just("1"), Just("x+y"), Just("%2C"), Just("")]),
            0..6,
        ),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) -> http::Request<Vec<u8>> {
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut builder = http::Request::post(format!("/p?{}", query.join("&")))
            .header("content-type", "application/octet-stream");
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder.body(body).unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Events built from any request survive ours → peer → ours unchanged.
    #[test]
    fn events_from_any_request_survive_the_peer(request in request()) {
        let (parts, body) = request.into_parts();
        let options = EventOptions::new().binary_media_type("application/octet-stream").unwrap();
        let now = std::time::Duration::from_secs(1_583_348_638);
        let mut event = v1::Request::from_http(&parts, &body, &options, now);
        // The peer has no `extendedRequestId`.
        event.request_context.extended_request_id = None;
        prop_assert_eq!(v1::Request::from(ApiGatewayProxyRequest::from(&event)), event);
        let event = v2::Request::from_http(&parts, &body, &options, now);
        prop_assert_eq!(v2::Request::from(ApiGatewayV2httpRequest::from(&event)), event);
    }
}
