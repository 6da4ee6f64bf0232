//! API keys, a usage plan with a daily quota, and a usage report:
//! `cargo run --example usage_plan`.
//!
//! One plan (`basic`: 2 requests at once, 5 a day) and two keys. The program
//! sends requests in process with a manual clock, disables a key at runtime,
//! crosses midnight UTC, and prints API Gateway's usage report.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use apigw::clock::ManualClock;
use apigw::store::{ApiKey, MemoryKeyStore};
use apigw::usage_plan::{Plan, QuotaPeriod, QuotaSettings, UsagePlanLayer};
use axum::Router;
use axum::routing::get;
use tower::ServiceExt;

const ALICE: &str = "alice0000000000000000001";
const BOB: &str = "bob000000000000000000001";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new();
    let keys = MemoryKeyStore::new();
    keys.add(ApiKey::new("alice", ALICE)?.plan("basic"))?;
    keys.add(ApiKey::new("bob", BOB)?.plan("basic"))?;
    let plans = UsagePlanLayer::builder()
        .with_clock(Arc::new(clock.clone()))
        .with_key_store(Arc::new(keys.clone()))
        .plan(
            Plan::new("basic")
                .throttle(1.0, 2)
                .quota(QuotaSettings::new(5, QuotaPeriod::Day)),
        )
        .route("/health/GET", false)
        .build()?;
    let app = Router::new()
        .route("/pets", get(|| async { "pets" }))
        .route("/health", get(|| async { "ok" }))
        .layer(plans.clone());

    let send = |path: &'static str, key: Option<&'static str>| {
        let app = app.clone();
        async move {
            let mut request = http::Request::get(path);
            if let Some(key) = key {
                request = request.header("x-api-key", key);
            }
            let response = app
                .oneshot(request.body(axum::body::Body::empty())?)
                .await?;
            let quota = response
                .headers()
                .get("ratelimit")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            println!(
                "GET {path} key={}: {} {quota}",
                key.map_or("none", |k| &k[..5]),
                response.status()
            );
            Ok::<_, Box<dyn std::error::Error>>(())
        }
    };

    send("/health", None).await?;
    send("/pets", None).await?;
    for _ in 0..3 {
        send("/pets", Some(ALICE)).await?; // the third finds the bucket empty
    }
    for _ in 0..4 {
        clock.advance(Duration::from_secs(1));
        send("/pets", Some(ALICE)).await?; // quota of 5 runs out
    }
    let disabled = keys.disable("bob");
    println!("bob disabled: {disabled}");
    send("/pets", Some(BOB)).await?;

    clock.advance(Duration::from_secs(86_400));
    send("/pets", Some(ALICE)).await?; // a new UTC day

    let today = apigw::usage_plan::Day::from_unix(apigw::clock::Clock::unix_time(&clock));
    let yesterday = apigw::usage_plan::Day::from_days_since_epoch(today.days_since_epoch() - 1);
    let report = plans.usage("basic", yesterday, today, None).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
