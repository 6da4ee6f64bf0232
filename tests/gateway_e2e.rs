//! The demo gateway (`examples/gateway.rs`) end to end over TCP: every
//! scenario its start-up banner advertises, with a real HTTP client, and the
//! recommended stack's ordering claims.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/gateway.rs"]
mod gateway;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apigw::clock::{Clock, ManualClock, TokioClock};
use gateway::{Demo, GatewayConfig, ServerLimits};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Starts the gateway for `config` on 127.0.0.1:0. The server stops when the
/// test's runtime does.
async fn start(config: GatewayConfig) -> Result<Demo, gateway::BoxError> {
    Ok(start_logged(config).await?.0)
}

/// Access-log lines, as the gateway wrote them.
type Lines = Arc<Mutex<Vec<String>>>;

/// A clock standing at noon UTC of the day the test starts: the demo's
/// `DAY` quota cannot roll over while a test runs, even one started at
/// 23:59:59.
fn noon_today() -> ManualClock {
    const DAY: u64 = 86_400;
    let today = TokioClock.unix_time().as_secs() / DAY * DAY;
    ManualClock::at_unix_time(Duration::from_secs(today + DAY / 2))
}

async fn start_logged(config: GatewayConfig) -> Result<(Demo, Lines), gateway::BoxError> {
    start_limited(config, ServerLimits::default()).await
}

async fn start_limited(
    mut config: GatewayConfig,
    limits: ServerLimits,
) -> Result<(Demo, Lines), gateway::BoxError> {
    config
        .usage_plan_clock
        .get_or_insert_with(|| Arc::new(noon_today()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let lines = Lines::default();
    let sink = Arc::clone(&lines);
    let (app, demo) = gateway::gateway(config, &base, move |line: &str| {
        if let Ok(mut lines) = sink.lock() {
            lines.push(line.to_owned());
        }
    })?;
    tokio::spawn(gateway::serve_with(
        listener,
        app,
        limits,
        std::future::pending(),
    ));
    Ok((demo, lines))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The status and the problem `type` of a rejection.
async fn problem(response: Response) -> Result<(StatusCode, String, Value), gateway::BoxError> {
    let status = response.status();
    let content_type = header(&response, "content-type").unwrap_or_default();
    assert_eq!(content_type, "application/problem+json", "{status}");
    let body: Value = serde_json::from_str(&response.text().await?)?;
    let kind = body["type"].as_str().unwrap_or_default().to_owned();
    Ok((status, kind, body))
}

fn api_key(demo: &Demo) -> Result<String, gateway::BoxError> {
    demo.api_key.clone().ok_or_else(|| "no demo API key".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advertised_scenarios() -> TestResult {
    let demo = start(GatewayConfig::embedded()?).await?;
    let base = &demo.base;
    let client = Client::new();
    let token = bearer(&demo.token);
    let weak = bearer(&demo.token_without_scope);

    // The demo issuer's endpoints are served on the same listener.
    let discovery: Value = serde_json::from_str(
        &client
            .get(format!("{base}/.well-known/openid-configuration"))
            .send()
            .await?
            .text()
            .await?,
    )?;
    assert_eq!(discovery["issuer"], base.as_str());

    // Good request: 200, with a request id.
    let response = client
        .get(format!("{base}/orders"))
        .header("authorization", &token)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "x-request-id").is_some_and(|id| !id.is_empty()));
    let orders: Value = serde_json::from_str(&response.text().await?)?;
    assert_eq!(orders[0]["sku"], "book");

    // Missing token: 401, with CORS headers on the gateway's error too.
    let response = client
        .get(format!("{base}/orders"))
        .header("origin", "https://shop.example")
        .send()
        .await?;
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(header(&response, "vary").as_deref(), Some("origin"));
    assert!(header(&response, "www-authenticate").is_some());
    let (status, kind, _) = problem(response).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(kind.starts_with("urn:apigw:problem:unauthorized"), "{kind}");
    // No `Origin` (not a browser's cross-origin request): no CORS headers,
    // but `Vary: origin`, so that a shared cache keeps the two apart.
    let response = client.get(format!("{base}/orders")).send().await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    assert_eq!(header(&response, "vary").as_deref(), Some("origin"));

    // Missing scope: 403.
    let response = client
        .post(format!("{base}/orders"))
        .header("authorization", &weak)
        .header("content-type", "application/json")
        .body(r#"{"sku":"book","quantity":1}"#)
        .send()
        .await?;
    let (status, kind, _) = problem(response).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        kind.starts_with("urn:apigw:problem:access-denied"),
        "{kind}"
    );

    // With the scope and a valid body: 200.
    let response = client
        .post(format!("{base}/orders"))
        .header("authorization", &token)
        .header("content-type", "application/json")
        .body(r#"{"sku":"book","quantity":1}"#)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);

    // Invalid body: 400 with the `errors` list.
    let response = client
        .post(format!("{base}/orders"))
        .header("authorization", &token)
        .header("content-type", "application/json")
        .body(r#"{"sku":""}"#)
        .send()
        .await?;
    let (status, kind, body) = problem(response).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        kind.starts_with("urn:apigw:problem:bad-request-body"),
        "{kind}"
    );
    let errors = body["errors"].as_array().ok_or("no `errors` list")?;
    assert!(errors.len() >= 2, "{body}"); // sku too short, quantity missing

    // Unknown API key: 403.
    let response = client
        .get(format!("{base}/reports"))
        .header("authorization", &token)
        .header("x-api-key", "not-a-key")
        .send()
        .await?;
    let (status, kind, _) = problem(response).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        kind.starts_with("urn:apigw:problem:invalid-api-key"),
        "{kind}"
    );

    // Route throttle (burst 2): the third request is 429 with Retry-After.
    for _ in 0..2 {
        let response = client
            .get(format!("{base}/stock"))
            .header("authorization", &token)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = client
        .get(format!("{base}/stock"))
        .header("authorization", &token)
        .send()
        .await?;
    let retry_after = header(&response, "retry-after").ok_or("no Retry-After")?;
    assert!(retry_after.parse::<u64>()? >= 1);
    // The embedded `gatewayResponses` customises THROTTLED's title and adds
    // a header.
    assert_eq!(
        header(&response, "x-throttle-help").as_deref(),
        Some("https://example.com/limits")
    );
    let (status, kind, body) = problem(response).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(kind.starts_with("urn:apigw:problem:throttled"), "{kind}");
    assert_eq!(body["title"], "Slow down");

    // Quota (5 a day): the sixth request is 429.
    let key = api_key(&demo)?;
    for _ in 0..5 {
        let response = client
            .get(format!("{base}/reports"))
            .header("authorization", &token)
            .header("x-api-key", &key)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = client
        .get(format!("{base}/reports"))
        .header("authorization", &token)
        .header("x-api-key", &key)
        .send()
        .await?;
    let (status, kind, _) = problem(response).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        kind.starts_with("urn:apigw:problem:quota-exceeded"),
        "{kind}"
    );

    // Cache: a miss, then a hit with the same body.
    let get_order = || {
        client
            .get(format!("{base}/orders/7"))
            .header("authorization", &token)
            .send()
    };
    let miss = get_order().await?;
    assert_eq!(miss.status(), StatusCode::OK);
    assert_eq!(header(&miss, "x-cache").as_deref(), Some("Miss"));
    let miss_body = miss.text().await?;
    let hit = get_order().await?;
    assert_eq!(hit.status(), StatusCode::OK);
    assert_eq!(header(&hit, "x-cache").as_deref(), Some("Hit"));
    assert_eq!(hit.text().await?, miss_body);
    let order: Value = serde_json::from_str(&miss_body)?;
    assert_eq!(order["routeKey"], "GET /orders/{id}");
    assert_eq!(order["stage"], "prod");

    // The Lambda-style route behind LambdaIntegration.
    let response = client
        .get(format!("{base}/hello/ana"))
        .header("authorization", &token)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = header(&response, "x-request-id").ok_or("no x-request-id")?;
    let body: Value = serde_json::from_str(&response.text().await?)?;
    assert_eq!(body["message"], "hello, ana");
    assert_eq!(body["routeKey"], "GET /hello/{name}");
    // The request id reaches the Lambda event.
    assert_eq!(body["requestId"], request_id.as_str());

    // A route that is not declared: 403 MISSING_AUTHENTICATION_TOKEN.
    let response = client.get(format!("{base}/admin")).send().await?;
    let (status, kind, _) = problem(response).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        kind.starts_with("urn:apigw:problem:missing-authentication-token"),
        "{kind}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_request_never_reaches_the_authorizer() -> TestResult {
    let mut config = GatewayConfig::embedded()?;
    config.client_throttle = serde_json::from_str(
        r#"{"key": "CLIENT_IP", "rateLimit": 0.001, "burstLimit": 2, "name": "client"}"#,
    )?;
    let demo = start(config).await?;
    let client = Client::new();
    // Two requests without a token reach the authorizer: 401.
    for _ in 0..2 {
        let response = client.get(format!("{}/orders", demo.base)).send().await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The third is stopped before it: 429, not 401, even with a valid token.
    for authorization in [None, Some(bearer(&demo.token))] {
        let mut request = client.get(format!("{}/orders", demo.base));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await?;
        assert!(header(&response, "www-authenticate").is_none());
        let (status, kind, _) = problem(response).await?;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(kind.starts_with("urn:apigw:problem:throttled"), "{kind}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_quota_starts_afresh_at_utc_midnight() -> TestResult {
    // 23:59:30 UTC on 2023-11-14, on a clock the test moves.
    let clock = Arc::new(ManualClock::at_unix_time(Duration::from_secs(
        1_700_006_400 - 30,
    )));
    let mut config = GatewayConfig::embedded()?;
    config.usage_plan_clock = Some(clock.clone());
    let demo = start(config).await?;
    let client = Client::new();
    let key = api_key(&demo)?;
    let reports = || {
        client
            .get(format!("{}/reports", demo.base))
            .header("authorization", bearer(&demo.token))
            .header("x-api-key", &key)
            .send()
    };
    for _ in 0..5 {
        assert_eq!(reports().await?.status(), StatusCode::OK);
    }
    let (status, kind, _) = problem(reports().await?).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        kind.starts_with("urn:apigw:problem:quota-exceeded"),
        "{kind}"
    );
    // One second before midnight: still spent.
    clock.advance(Duration::from_secs(29));
    assert_eq!(reports().await?.status(), StatusCode::TOO_MANY_REQUESTS);
    // Midnight: a new day, the whole quota again.
    clock.advance(Duration::from_secs(1));
    for _ in 0..5 {
        assert_eq!(reports().await?.status(), StatusCode::OK);
    }
    assert_eq!(reports().await?.status(), StatusCode::TOO_MANY_REQUESTS);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthorized_request_never_consumes_quota() -> TestResult {
    let demo = start(GatewayConfig::embedded()?).await?;
    let client = Client::new();
    let key = api_key(&demo)?;
    let reports = format!("{}/reports", demo.base);
    // Ten requests with the key but no valid token: all 401.
    for authorization in ["", "Bearer not-a-token"].into_iter().cycle().take(10) {
        let mut request = client.get(&reports).header("x-api-key", &key);
        if !authorization.is_empty() {
            request = request.header("authorization", authorization);
        }
        let response = request.send().await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The whole quota of 5 is still there.
    for _ in 0..5 {
        let response = client
            .get(&reports)
            .header("authorization", bearer(&demo.token))
            .header("x-api-key", &key)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = client
        .get(&reports)
        .header("authorization", bearer(&demo.token))
        .header("x-api-key", &key)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_response_still_passes_authorization() -> TestResult {
    let demo = start(GatewayConfig::embedded()?).await?;
    let client = Client::new();
    let order = format!("{}/orders/9", demo.base);
    for expected in ["Miss", "Hit"] {
        let response = client
            .get(&order)
            .header("authorization", bearer(&demo.token))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "x-cache").as_deref(), Some(expected));
    }
    // Without a token, or with a bad one, the cached order is not served.
    for authorization in [None, Some("Bearer not-a-token")] {
        let mut request = client.get(&order);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await?;
        assert!(header(&response, "x-cache").is_none());
        let (status, kind, _) = problem(response).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(kind.starts_with("urn:apigw:problem:unauthorized"), "{kind}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_configuration_loads_and_a_file_can_replace_it() -> TestResult {
    let config = GatewayConfig::embedded()?;
    assert_eq!(config.stage, "prod");
    assert!(config.routes.iter().any(|r| r == "GET /hello/{name}"));
    // Unknown fields are configuration errors, not silently ignored.
    let bad = gateway::DEFAULT_CONFIG.replacen("\"stage\"", "\"stages\"", 1);
    assert!(GatewayConfig::from_json(&bad).is_err());
    // A block's own validation surfaces when the gateway is built.
    let mut config = GatewayConfig::embedded()?;
    config.routes.push("NOT A ROUTE".to_owned());
    assert!(gateway::gateway(config, "http://127.0.0.1:1", |_: &str| {}).is_err());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_lines_in_api_gateway_vocabulary() -> TestResult {
    let mut config = GatewayConfig::embedded()?;
    config.access_log_settings = serde_json::from_str(
        r#"{"format": "{\"requestId\":\"$context.requestId\",\"ip\":\"$context.identity.sourceIp\",\"httpMethod\":\"$context.httpMethod\",\"routeKey\":\"$context.routeKey\",\"status\":\"$context.status\",\"stage\":\"$context.stage\",\"principalId\":\"$context.authorizer.principalId\",\"responseType\":\"$context.error.responseType\"}"}"#,
    )?;
    let (demo, lines) = start_logged(config).await?;
    let client = Client::new();
    let ok = client
        .get(format!("{}/orders/3", demo.base))
        .header("authorization", bearer(&demo.token))
        .send()
        .await?;
    assert_eq!(ok.status(), StatusCode::OK);
    let ok_id = header(&ok, "x-request-id").ok_or("no x-request-id")?;
    ok.text().await?;
    let denied = client.get(format!("{}/orders/3", demo.base)).send().await?;
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let denied_id = header(&denied, "x-request-id").ok_or("no x-request-id")?;
    denied.text().await?;

    let lines: Vec<Value> = lines
        .lock()
        .map_err(|_| "poisoned")?
        .iter()
        .map(|line| serde_json::from_str(line))
        .collect::<Result<_, _>>()?;
    let find = |id: &str| {
        lines
            .iter()
            .find(|line| line["requestId"] == id)
            .cloned()
            .ok_or(format!("no line for {id}"))
    };
    let line = find(&ok_id)?;
    assert_eq!(line["ip"], "127.0.0.1");
    assert_eq!(line["httpMethod"], "GET");
    assert_eq!(line["routeKey"], "GET /orders/{id}");
    assert_eq!(line["status"], "200");
    assert_eq!(line["stage"], "prod");
    assert_eq!(line["principalId"], "demo-user");
    assert_eq!(line["responseType"], "-");
    let line = find(&denied_id)?;
    assert_eq!(line["status"], "401");
    assert_eq!(line["principalId"], "-");
    assert_eq!(line["responseType"], "UNAUTHORIZED");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_in_prometheus_format() -> TestResult {
    let demo = start(GatewayConfig::embedded()?).await?;
    let client = Client::new();
    for _ in 0..2 {
        let response = client
            .get(format!("{}/stock", demo.base))
            .header("authorization", bearer(&demo.token))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = client.get(format!("{}/stock", demo.base)).send().await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A cache miss, then a hit.
    for expected in ["Miss", "Hit"] {
        let response = client
            .get(format!("{}/orders/42", demo.base))
            .header("authorization", bearer(&demo.token))
            .send()
            .await?;
        assert_eq!(header(&response, "x-cache").as_deref(), Some(expected));
    }

    let response = client.get(format!("{}/metrics", demo.base)).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await?;
    // The recorder is global to the test process: other tests add to it.
    let value = |name: &str, route: &str| {
        text.lines()
            .filter(|line| line.starts_with(&format!("{name}{{")))
            .filter(|line| {
                line.contains(&format!(r#"route="{route}""#)) && line.contains(r#"stage="prod""#)
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert!(value("apigw_Count", "GET /stock") >= 3.0, "{text}");
    assert!(value("apigw_4XXError", "GET /stock") >= 1.0, "{text}");
    // The cache's own counts land in the same prefixed series.
    assert!(
        value("apigw_CacheMissCount", "GET /orders/{id}") >= 1.0,
        "{text}"
    );
    assert!(
        value("apigw_CacheHitCount", "GET /orders/{id}") >= 1.0,
        "{text}"
    );
    assert!(
        value("apigw_CacheStoreCount", "GET /orders/{id}") >= 1.0,
        "{text}"
    );
    // Every series carries the prefix.
    let unprefixed: Vec<_> = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter(|line| !line.starts_with(gateway::METRICS_PREFIX))
        .collect();
    assert!(unprefixed.is_empty(), "{unprefixed:?}");
    Ok(())
}

/// A CORS configuration naming one origin, with credentials.
fn shop_cors() -> Result<gateway::CorsConfig, gateway::BoxError> {
    Ok(serde_json::from_value(json!({
        "allowOrigins": ["https://shop.example"],
        "allowMethods": ["GET", "post"],
        "allowHeaders": ["Authorization", "Content-Type"],
        "exposeHeaders": ["X-Request-Id"],
        "maxAge": 300,
        "allowCredentials": true
    }))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answered_as_configured() -> TestResult {
    let mut config = GatewayConfig::embedded()?;
    config.cors = Some(shop_cors()?);
    let demo = start(config).await?;
    let base = &demo.base;
    let client = Client::new();

    // Preflight: answered by the CORS layer, before the route table (no
    // `OPTIONS /orders` route) and the authorizer (no token).
    let response = client
        .request(reqwest::Method::OPTIONS, format!("{base}/orders"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    assert_eq!(
        header(&response, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(
        header(&response, "access-control-allow-methods").as_deref(),
        Some("GET,POST")
    );
    assert_eq!(
        header(&response, "access-control-allow-headers").as_deref(),
        Some("authorization,content-type")
    );
    assert_eq!(
        header(&response, "access-control-max-age").as_deref(),
        Some("300")
    );

    // Simple request from the allowed origin: the API's answer with CORS
    // headers and the exposed header list.
    let response = client
        .get(format!("{base}/orders"))
        .header("origin", "https://shop.example")
        .header("authorization", bearer(&demo.token))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    assert_eq!(
        header(&response, "access-control-expose-headers").as_deref(),
        Some("x-request-id")
    );
    assert!(header(&response, "x-request-id").is_some());

    // The gateway's own rejections carry them too (what `DEFAULT_4XX`
    // response parameters are for on AWS).
    let response = client
        .get(format!("{base}/orders"))
        .header("origin", "https://shop.example")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );

    // Another origin gets no CORS headers.
    let response = client
        .get(format!("{base}/orders"))
        .header("origin", "https://evil.example")
        .header("authorization", bearer(&demo.token))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    Ok(())
}

#[tokio::test]
async fn cors_configuration_errors_are_reported() -> TestResult {
    // Credentials with a wildcard: refused, as API Gateway refuses it
    // (tower-http would panic when layering).
    let mut cors = shop_cors()?;
    cors.allow_origins = vec!["*".to_owned()];
    let mut config = GatewayConfig::embedded()?;
    config.cors = Some(cors);
    assert!(gateway::gateway(config, "http://127.0.0.1:1", |_: &str| {}).is_err());
    // An invalid method.
    let mut cors = shop_cors()?;
    cors.allow_methods = vec!["GE T".to_owned()];
    let mut config = GatewayConfig::embedded()?;
    config.cors = Some(cors);
    assert!(gateway::gateway(config, "http://127.0.0.1:1", |_: &str| {}).is_err());
    // Without a `cors` section, no CORS headers at all.
    let mut config = GatewayConfig::embedded()?;
    config.cors = None;
    let demo = start(config).await?;
    let response = Client::new()
        .get(format!("{}/orders", demo.base))
        .header("origin", "https://shop.example")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customised_gateway_responses_in_every_block() -> TestResult {
    let mut config = GatewayConfig::embedded()?;
    config.gateway_responses = serde_json::from_value(json!({
        "responses": {
            "THROTTLED": {
                "statusCode": 503,
                "title": "Slow down",
                "message": "try again later",
                "responseParameters": { "X-Slow-Down": "1" }
            },
            "UNAUTHORIZED": { "title": "Sign in first" },
            "MISSING_AUTHENTICATION_TOKEN": { "statusCode": 404, "title": "No such route" },
            "DEFAULT_4XX": { "responseParameters": { "X-Gateway-Error": "yes" } }
        }
    }))?;
    let demo = start(config).await?;
    let base = &demo.base;
    let client = Client::new();
    let token = bearer(&demo.token);

    // The route table. A type with its own customisation does not inherit
    // DEFAULT_4XX's (API Gateway's fallback rule).
    let response = client.get(format!("{base}/nowhere")).send().await?;
    assert_eq!(header(&response, "x-gateway-error"), None);
    let (status, kind, body) = problem(response).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(kind.contains("missing-authentication-token"), "{kind}");
    assert_eq!(body["title"], "No such route");

    // The JWT authorizer.
    let response = client.get(format!("{base}/orders")).send().await?;
    assert_eq!(header(&response, "x-gateway-error"), None);
    let (status, _, body) = problem(response).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["title"], "Sign in first");

    // The validator (DEFAULT_4XX's header through the fallback).
    let response = client
        .post(format!("{base}/orders"))
        .header("authorization", &token)
        .header("content-type", "application/json")
        .body(r#"{"sku": ""}"#)
        .send()
        .await?;
    assert_eq!(header(&response, "x-gateway-error").as_deref(), Some("yes"));
    let (status, _, _) = problem(response).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The usage plan: an unknown API key.
    let response = client
        .get(format!("{base}/reports"))
        .header("authorization", &token)
        .header("x-api-key", "not-a-key-not-a-key-not-a-key")
        .send()
        .await?;
    assert_eq!(header(&response, "x-gateway-error").as_deref(), Some("yes"));
    let (status, _, _) = problem(response).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The route throttle (burst 2): the third is THROTTLED as configured.
    for _ in 0..2 {
        let response = client
            .get(format!("{base}/stock"))
            .header("authorization", &token)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = client
        .get(format!("{base}/stock"))
        .header("authorization", &token)
        .send()
        .await?;
    assert_eq!(header(&response, "x-slow-down").as_deref(), Some("1"));
    let (status, kind, body) = problem(response).await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(kind.starts_with("urn:apigw:problem:throttled"), "{kind}");
    assert_eq!(body["title"], "Slow down");
    assert_eq!(body["detail"], "try again later");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_gives_every_request_its_own_id_unless_told_to_trust_the_client() -> TestResult
{
    for trust in [false, true] {
        let mut config = GatewayConfig::embedded()?;
        config.trust_client_request_id = trust;
        let (demo, lines) = start_logged(config).await?;
        let response = Client::new()
            .get(format!("{}/orders", demo.base))
            .header("x-request-id", "chosen-by-the-client")
            .header("x-request-id", "and-another")
            .send()
            .await?;
        let id = header(&response, "x-request-id").ok_or("no x-request-id")?;
        let (status, _, body) = problem(response).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        if trust {
            assert_eq!(id, "chosen-by-the-client");
        } else {
            // A UUID of the gateway's own.
            assert_eq!(id.len(), 36, "{id}");
            assert!(!id.contains("client") && !id.contains("another"), "{id}");
        }
        // The problem and the access log carry the same id.
        assert_eq!(body["requestId"], id.as_str());
        assert_eq!(body["instance"], id.as_str());
        let logged = lines.lock().map_err(|_| "poisoned")?.concat();
        let line: Value = serde_json::from_str(&logged)?;
        assert_eq!(line["requestId"], id.as_str());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_media_type_is_validated_and_other_types_are_refused() -> TestResult {
    let demo = start(GatewayConfig::embedded()?).await?;
    let client = Client::new();
    let post = |content_type: &'static str, body: &'static str| {
        client
            .post(format!("{}/orders", demo.base))
            .header("authorization", bearer(&demo.token))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let invalid = r#"{"sku": "", "quantity": -7}"#;
    for content_type in [
        "application/json",
        "application/vnd.api+json",
        "Application/Merge-Patch+JSON; charset=utf-8",
    ] {
        let (status, kind, body) = problem(post(content_type, invalid).await?).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type}");
        assert!(kind.ends_with(":invalid-body"), "{content_type}: {kind}");
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(2), "{body}");
    }
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let (status, kind, _) = problem(post(content_type, invalid).await?).await?;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
        assert!(
            kind.starts_with("urn:apigw:problem:unsupported-media-type"),
            "{kind}"
        );
    }
    let valid = r#"{"sku": "book", "quantity": 1}"#;
    let response = post("application/json; charset=utf-8", valid).await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}

/// A raw connection to `demo`, for what a well-behaved client never sends.
async fn raw(demo: &Demo) -> Result<tokio::net::TcpStream, gateway::BoxError> {
    let addr = demo.base.trim_start_matches("http://");
    Ok(tokio::net::TcpStream::connect(addr).await?)
}

/// Everything the server sends until it closes the connection; an error if
/// it keeps the connection open for 10 s.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> Result<String, gateway::BoxError> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .map_err(|_| "the server kept the connection open")??;
    Ok(String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_oversized_requests_are_cut_off() -> TestResult {
    use tokio::io::AsyncWriteExt;
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        body_idle_timeout: Duration::from_millis(300),
        max_head_bytes: 16 * 1024,
    };
    let (demo, _) = start_limited(GatewayConfig::embedded()?, limits).await?;

    // A connection that never sends anything, and one that stops halfway
    // through its request head: both closed, without an answer.
    let mut idle = raw(&demo).await?;
    assert_eq!(until_closed(&mut idle).await?, "");
    let mut half_head = raw(&demo).await?;
    half_head
        .write_all(b"GET /orders HTTP/1.1\r\nhost: x\r\n")
        .await?;
    assert_eq!(until_closed(&mut half_head).await?, "");

    // A body that stops after 6 of 100 bytes: the validator cannot read
    // it and answers with a problem.
    let mut half_body = raw(&demo).await?;
    let head = format!(
        "POST /orders HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"sku\"",
        demo.token
    );
    half_body.write_all(head.as_bytes()).await?;
    let answer = until_closed(&mut half_body).await?;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    // A request head over the limit: 431.
    let response = Client::new()
        .get(format!("{}/orders", demo.base))
        .header("x-padding", "a".repeat(20 * 1024))
        .send()
        .await?;
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    // A connection that behaves is served as before.
    let response = Client::new()
        .get(format!("{}/orders", demo.base))
        .header("authorization", bearer(&demo.token))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}
