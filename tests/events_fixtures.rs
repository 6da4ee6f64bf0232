//! Every API Gateway proxy and WebSocket sample in `../shared/data/aws-events/`
//! parses into our types and re-serializes to the same JSON, modulo the
//! documented normalisations:
//!
//! * a nullable member the sample leaves out is written as its AWS default
//!   (`null`, `false`, `0`, `""`, or `"$default"` where the sample has no
//!   stage);
//! * in 2.0 and WebSocket events, a member the sample sets to `null` is
//!   left out, as API Gateway leaves empty members out of those events;
//! * members these types do not model are dropped (`otherField` in the
//!   catch-all sample, 2.0 samples' stray `resource`).
//!
//! The samples live outside the crate; run with
//! `cargo test --test events_fixtures -- --ignored`. A missing data folder
//! fails the run.

use std::path::PathBuf;

use apigw::events::{v1, v2, websocket};
use serde_json::Value;

fn data_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("APIGW_SHARED_DATA").map(PathBuf::from),
        Some(manifest.join("../shared/data")),
        Some(manifest.join("../../shared/data")),
    ];
    candidates
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
            // Authorizer events belong to events::authorizer.
            if !name.ends_with(".json") || name.contains("custom-auth") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((name, serde_json::from_str(&text).unwrap()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Kind {
    V1Request,
    V1Response,
    V2Request,
    WebSocket,
}

fn kind_of(sample: &Value) -> Kind {
    let context = &sample["requestContext"];
    if sample["version"] == "2.0" {
        Kind::V2Request
    } else if !context["connectionId"].is_null() || !context["eventType"].is_null() {
        Kind::WebSocket
    } else if sample.get("statusCode").is_some() {
        Kind::V1Response
    } else {
        Kind::V1Request
    }
}

/// Members we knowingly drop.
const UNMODELLED: &[&str] = &["otherField"];

fn is_default(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty() || s == "$default",
        Value::Object(map) => map.values().all(is_default),
        Value::Array(items) => items.is_empty(),
    }
}

fn diff(path: &str, original: &Value, ours: &Value, kind: Kind, out: &mut Vec<String>) {
    match (original, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}.{key}");
                match b.get(key) {
                    Some(mine) => diff(&here, value, mine, kind, out),
                    None if UNMODELLED.contains(&key.as_str()) => {}
                    // 2.0 and WebSocket events leave empty members out; a
                    // sample's explicit `null` is the same thing.
                    None if kind != Kind::V1Request && value.is_null() => {}
                    // 2.0 events have no `resource`; one hand-written sample does.
                    None if kind == Kind::V2Request && key == "resource" => {}
                    None => out.push(format!("{here}: dropped {value}")),
                }
            }
            for (key, value) in b {
                if !a.contains_key(key) && !is_default(value) {
                    out.push(format!("{path}.{key}: added {value}"));
                }
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} became {b}")),
    }
}

#[test]
#[ignore = "needs ../shared/data"]
fn every_proxy_and_websocket_sample_round_trips() {
    let samples = samples();
    let mut seen = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for (name, sample) in &samples {
        let kind = kind_of(sample);
        *seen.entry(format!("{kind:?}")).or_insert(0) += 1;
        let ours = match kind {
            Kind::V1Request => serde_json::from_value::<v1::Request>(sample.clone())
                .map(|e| serde_json::to_value(e).unwrap()),
            Kind::V1Response => serde_json::from_value::<v1::Response>(sample.clone())
                .map(|e| serde_json::to_value(e).unwrap()),
            Kind::V2Request => serde_json::from_value::<v2::Request>(sample.clone())
                .map(|e| serde_json::to_value(e).unwrap()),
            Kind::WebSocket => serde_json::from_value::<websocket::Request>(sample.clone())
                .map(|e| serde_json::to_value(e).unwrap()),
        };
        match ours {
            Ok(ours) => {
                let mut out = Vec::new();
                diff("", sample, &ours, kind, &mut out);
                failures.extend(out.into_iter().map(|d| format!("{name} ({kind:?}) {d}")));
            }
            Err(err) => failures.push(format!("{name} ({kind:?}): does not parse: {err}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every kind is covered.
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(samples.len() >= 30, "{}", samples.len());
}
