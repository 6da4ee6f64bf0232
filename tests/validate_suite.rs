//! The official JSON-Schema-Test-Suite (required tests of drafts 4, 6, 7,
//! 2019-09 and 2020-12) through `RequestValidatorLayer`'s own compile and
//! validate path: each schema becomes a route's model, each test's data a
//! request body, and "valid" must mean 200 and "invalid" 400. The suite's
//! remotes are registered in memory as `http://localhost:1234/…`; nothing is
//! fetched.
//!
//! Run with `cargo test --test validate_suite -- --ignored --nocapture` to see
//! the pass count per draft. Known failures are listed below by name; any
//! other failure fails the test.
#![cfg(feature = "validate")]
#![allow(clippy::print_stdout)] // the pass count per draft is the report

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::path::{Path, PathBuf};

use apigw::validate::{Draft, PatternEngine, RequestValidatorLayer, RouteRules};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use tower::{Layer, ServiceExt, service_fn};

/// Tests known to fail, as `draft/file: group / test`, with the reason.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

fn suite_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("APIGW_SHARED_DATA") {
        return Some(PathBuf::from(dir).join("json-schema-test-suite"));
    }
    // `../shared/data` from the repository root; from a worktree, a few levels up.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/data/json-schema-test-suite"))
        .find(|dir| dir.is_dir())
}

/// The remotes a draft's tests use: the shared ones at the top and the
/// draft's own folder (other drafts' folders would be read in the wrong
/// dialect, and the registry resolves every reference of every resource).
fn remotes(root: &Path, draft_dir: &str) -> Vec<(String, Value)> {
    fn walk(dir: &Path, base: &Path, draft_dir: &str, out: &mut Vec<(String, Value)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::path);
        for entry in entries {
            let path = entry.path();
            let relative = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if path.is_dir() {
                let top = relative.split('/').next().unwrap_or("");
                let other_draft = (top.starts_with("draft") || top == "v1") && top != draft_dir;
                if !other_draft {
                    walk(&path, base, draft_dir, out);
                }
            } else if relative.ends_with(".json") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((
                    format!("http://localhost:1234/{relative}"),
                    serde_json::from_str(&text).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &root.join("remotes"),
        &root.join("remotes"),
        draft_dir,
        &mut out,
    );
    out
}

async fn status_of(layer: &RequestValidatorLayer, data: &Value) -> StatusCode {
    let backend = service_fn(|_: Request<_>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let request = Request::post("/")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(data).unwrap())))
        .unwrap();
    layer
        .layer(backend)
        .oneshot(request)
        .await
        .unwrap()
        .status()
}

struct Outcome {
    passed: usize,
    failed: Vec<String>,
}

async fn run_draft(root: &Path, dir: &str, draft: Draft) -> Outcome {
    let mut files: Vec<_> = std::fs::read_dir(root.join("tests").join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    run_files(root, dir, draft, PatternEngine::Linear, &files).await
}

async fn run_files(
    root: &Path,
    dir: &str,
    draft: Draft,
    engine: PatternEngine,
    files: &[PathBuf],
) -> Outcome {
    let remotes = remotes(root, dir);
    let mut outcome = Outcome {
        passed: 0,
        failed: Vec::new(),
    };
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let groups: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for group in groups {
            let description = group["description"].as_str().unwrap_or("");
            let mut builder = RequestValidatorLayer::builder()
                .draft(draft)
                .pattern_engine(engine)
                .max_depth(127);
            for (uri, document) in &remotes {
                builder = builder.resource(uri.clone(), document.clone());
            }
            let built = builder
                .route(
                    "$default",
                    RouteRules::new().model_schema("application/json", group["schema"].clone()),
                )
                .and_then(|b| b.build());
            for test in group["tests"].as_array().unwrap() {
                let id = format!(
                    "{dir}/{name}: {description} / {}",
                    test["description"].as_str().unwrap_or("")
                );
                let expected = if test["valid"].as_bool().unwrap() {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                };
                let ok = match &built {
                    Ok(layer) => status_of(layer, &test["data"]).await == expected,
                    Err(_) => false,
                };
                if ok {
                    outcome.passed += 1;
                } else {
                    let why = match &built {
                        Ok(_) => "wrong verdict".to_owned(),
                        Err(e) => e.to_string(),
                    };
                    outcome.failed.push(format!("{id} [{why}]"));
                }
            }
        }
    }
    outcome
}

#[tokio::test]
#[ignore = "needs ../shared/data"]
async fn json_schema_test_suite_required_tests_pass_through_the_layer() {
    let root = suite_dir().expect(
        "JSON-Schema-Test-Suite not found: expected ../shared/data/json-schema-test-suite \
         (or set APIGW_SHARED_DATA)",
    );
    let known: BTreeSet<&str> = KNOWN_FAILURES.iter().map(|(id, _)| *id).collect();
    let mut unexpected = Vec::new();
    let mut total_passed = 0;
    for (dir, draft) in [
        ("draft4", Draft::Draft4),
        ("draft6", Draft::Draft6),
        ("draft7", Draft::Draft7),
        ("draft2019-09", Draft::Draft201909),
        ("draft2020-12", Draft::Draft202012),
    ] {
        let outcome = run_draft(&root, dir, draft).await;
        let total = outcome.passed + outcome.failed.len();
        println!(
            "{dir}: {} / {total} required tests pass ({} failures)",
            outcome.passed,
            outcome.failed.len()
        );
        total_passed += outcome.passed;
        for failure in outcome.failed {
            let id = failure.split(" [").next().unwrap_or(&failure).to_owned();
            if known.contains(id.as_str()) {
                println!("  known failure: {failure}");
            } else {
                unexpected.push(failure);
            }
        }
    }
    println!("total: {total_passed} passed");
    assert!(total_passed > 0, "no test ran");
    assert!(
        unexpected.is_empty(),
        "unexpected failures:\n{}",
        unexpected.join("\n")
    );
}

/// SECURITY.md S1: the optional ECMAScript-regex files, through both pattern
/// engines (none of their patterns needs look-around, so the linear engine
/// passes them all too).
#[tokio::test]
#[ignore = "needs ../shared/data"]
async fn s1_ecmascript_regex_suite_files_through_both_pattern_engines() {
    let root = suite_dir().expect("JSON-Schema-Test-Suite not found (../shared/data)");
    let files: Vec<PathBuf> = ["ecmascript-regex.json", "non-bmp-regex.json"]
        .iter()
        .map(|f| root.join("tests/draft4/optional").join(f))
        .collect();
    for (label, engine) in [
        ("linear", PatternEngine::Linear),
        ("backtracking", PatternEngine::backtracking()),
    ] {
        let outcome = run_files(&root, "draft4", Draft::Draft4, engine, &files).await;
        println!(
            "draft4 optional regex, {label} engine: {} / {} pass",
            outcome.passed,
            outcome.passed + outcome.failed.len()
        );
        for failure in &outcome.failed {
            println!("  {failure}");
        }
        assert!(outcome.passed > 0);
        assert!(
            outcome.failed.is_empty(),
            "{label} engine failures listed above"
        );
    }
}
