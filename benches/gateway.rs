//! The recommended stack's added cost per request over a bare axum router,
//! each layer's share, and how the cost grows with the number of callers.
//!
//! `cargo bench --bench gateway`; instruction counts of one scenario:
//! `benches/instructions.sh gateway <scenario>` (see `benches/support`).
//!
//! The stack is the demo gateway's (`examples/gateway.rs`), outermost first:
//! request id → access log → metrics → CORS → route table → client-IP
//! throttle → JWT authorizer → usage plan (API key, quota) → route throttle
//! → request validator → response cache → the orders API (axum). Every
//! request carries a valid ES256 token (repeated: its claims are cached after
//! the first check), an API key and a client address; limits are set so that
//! every request is admitted (asserted). Requests go through the service
//! in-process (`Service::call` on a current-thread runtime), no TCP: the load
//! test (`benches/load.sh`) measures over loopback.

use std::convert::Infallible;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use apigw::access_log::AccessLogLayer;
use apigw::jwt::{Issuer, JwtAuthorizerLayer};
use apigw::metrics::GatewayMetricsLayer;
use apigw::response_cache::{ResponseCacheConfig, ResponseCacheLayer};
use apigw::route::{MatchRouteLayer, RouteTable};
use apigw::throttle::{TokenBucketThrottleConfig, TokenBucketThrottleLayer};
use apigw::usage_plan::{UsagePlanConfig, UsagePlanLayer};
use apigw::validate::{RequestValidatorConfig, RequestValidatorLayer};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Json, Path};
use axum::routing::{get, post};
use http::{Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tower::layer::util::Identity;
use tower::util::BoxCloneService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::cors::CorsLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/gateway.rs"]
mod example;
mod support;
use support::Scenario;

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "orders-api";

/// The layers of the stack, each of which a scenario can leave out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    RequestId,
    AccessLog,
    Metrics,
    Cors,
    MatchRoute,
    ClientThrottle,
    Jwt,
    UsagePlan,
    RouteThrottle,
    Validator,
    Cache,
}

const PARTS: [Part; 11] = [
    Part::RequestId,
    Part::AccessLog,
    Part::Metrics,
    Part::Cors,
    Part::MatchRoute,
    Part::ClientThrottle,
    Part::Jwt,
    Part::UsagePlan,
    Part::RouteThrottle,
    Part::Validator,
    Part::Cache,
];

type Gateway = BoxCloneService<Request<Body>, Response<Body>, Infallible>;

/// The backend: the same handlers, bare or behind the stack.
fn orders_api() -> Router {
    Router::new()
        .route(
            "/orders",
            post(|Json(order): Json<Value>| async move {
                Json(json!({"id": "2", "lines": order["lines"].as_array().map(Vec::len)}))
            }),
        )
        .route(
            "/orders/{id}",
            get(|Path(id): Path<String>| async move {
                Json(json!({"id": id, "sku": "book", "quantity": 1}))
            }),
        )
}

/// The callers: each with its own address, token and API key.
#[derive(Clone)]
struct Callers {
    addresses: Vec<SocketAddr>,
    tokens: Vec<String>,
    keys: Vec<String>,
}

impl Callers {
    fn new(issuer: &example::DemoIssuer, count: usize) -> Self {
        let count_u32 = u32::try_from(count).unwrap();
        Self {
            addresses: (0..count_u32)
                .map(|i| SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i), 40_000)))
                .collect(),
            tokens: (0..count)
                .map(|i| {
                    format!(
                        "Bearer {}",
                        issuer
                            .token(&format!("user-{i}"), &["orders/write"])
                            .unwrap()
                    )
                })
                .collect(),
            keys: (0..count)
                .map(|i| format!("benchkey{i:08}0000000000"))
                .collect(),
        }
    }

    fn len(&self) -> usize {
        self.addresses.len()
    }
}

/// A JSON order of 1,0xx bytes that the `Order` model accepts.
fn order_body() -> String {
    let lines: Vec<Value> = (0..9)
        .map(|i| json!({"sku": format!("sku-{i:04}"), "quantity": i + 1, "price": "12.50", "note": "gift wrap, no invoice"}))
        .collect();
    let body = json!({
        "sku": "book",
        "quantity": 1,
        "comment": "leave at the door; ring twice; the dog is friendly, the cat is not; call if nobody answers",
        "customer": {"id": "c-42", "email": "ana@example.com", "name": "Ana Example"},
        "lines": lines,
        "shipping": {"street": "1 Main Street", "city": "Springfield", "zip": "12345", "country": "US"},
    })
    .to_string();
    assert!((1000..1100).contains(&body.len()), "{}", body.len());
    body
}

fn configuration(
    callers: &Callers,
) -> (
    TokenBucketThrottleConfig,
    UsagePlanConfig,
    TokenBucketThrottleConfig,
    RequestValidatorConfig,
    ResponseCacheConfig,
) {
    let open = json!({"rateLimit": 1.0e9, "burstLimit": 1_000_000_000u64});
    let client = serde_json::from_value(json!({"key": "CLIENT_IP", "name": "client", "rateLimit": 1.0e9, "burstLimit": 1_000_000_000u64})).unwrap();
    let keys: Vec<Value> = callers
        .keys
        .iter()
        .enumerate()
        .map(|(i, value)| json!({"id": format!("k{i}"), "value": value, "usagePlanIds": ["bench"]}))
        .collect();
    let plans = serde_json::from_value(json!({
        "apiKeyRequired": true,
        "usagePlans": [{"id": "bench", "throttle": open, "quota": {"limit": 1_000_000_000_000u64, "period": "MONTH"}}],
        "apiKeys": keys,
    }))
    .unwrap();
    let route = serde_json::from_value(json!({"key": "ROUTE", "name": "route", "throttle": {"POST /orders": open, "GET /orders/{id}": open}})).unwrap();
    let validation = serde_json::from_value(json!({
        "models": {"Order": {
            "type": "object",
            "required": ["sku", "quantity", "lines"],
            "properties": {
                "sku": {"type": "string", "minLength": 1},
                "quantity": {"type": "integer", "minimum": 1},
                "customer": {"type": "object", "required": ["id"], "properties": {"email": {"type": "string", "pattern": "^[^@]+@[^@]+$"}}},
                "lines": {"type": "array", "maxItems": 100, "items": {"type": "object", "required": ["sku", "quantity"], "properties": {
                    "sku": {"type": "string", "pattern": "^sku-[0-9]{4}$"},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "price": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"}
                }}}
            }
        }},
        "routes": {"POST /orders": {"requestModels": {"application/json": "Order"}}}
    }))
    .unwrap();
    let cache = serde_json::from_value(json!({
        "cacheTtlInSeconds": 300,
        "cachingEnabled": false,
        "routes": {"GET /orders/{id}": {"cachingEnabled": true}}
    }))
    .unwrap();
    (client, plans, route, validation, cache)
}

/// The stack's layers, built from the configuration.
struct Layers {
    issuer_jwks: String,
    callers: (
        TokenBucketThrottleConfig,
        UsagePlanConfig,
        TokenBucketThrottleConfig,
        RequestValidatorConfig,
        ResponseCacheConfig,
    ),
}

impl Layers {
    fn set_request_id(&self) -> SetRequestIdLayer<example::MakeRequestUuid> {
        SetRequestIdLayer::x_request_id(example::MakeRequestUuid)
    }

    fn propagate_request_id(&self) -> PropagateRequestIdLayer {
        PropagateRequestIdLayer::x_request_id()
    }

    fn access_log(&self) -> AccessLogLayer {
        AccessLogLayer::builder()
            .sink(|line: &str| {
                black_box(line);
            })
            .build()
            .unwrap()
    }

    fn metrics(&self) -> GatewayMetricsLayer {
        GatewayMetricsLayer::builder().prefix("apigw_").build()
    }

    /// As the example configures it (`examples/gateway.json`'s `cors`).
    fn cors(&self) -> CorsLayer {
        let config: example::CorsConfig = serde_json::from_value(json!({
            "allowOrigins": ["*"],
            "allowMethods": ["GET", "POST"],
            "allowHeaders": ["authorization", "content-type", "x-api-key"],
            "exposeHeaders": ["x-request-id", "retry-after", "x-cache"]
        }))
        .unwrap();
        CorsLayer::try_from(config).unwrap()
    }

    fn match_route(&self) -> MatchRouteLayer<()> {
        let routes = RouteTable::builder()
            .stage("prod")
            .route("POST /orders", ())
            .unwrap()
            .route("GET /orders/{id}", ())
            .unwrap()
            .build()
            .unwrap();
        MatchRouteLayer::new(routes)
    }

    fn client_throttle(&self) -> TokenBucketThrottleLayer {
        TokenBucketThrottleLayer::try_from(self.callers.0.clone()).unwrap()
    }

    fn jwt(&self) -> JwtAuthorizerLayer {
        JwtAuthorizerLayer::builder()
            .issuer(
                Issuer::new(ISSUER)
                    .audience(AUDIENCE)
                    .jwks(self.issuer_jwks.clone()),
            )
            // 100,000 callers' tokens stay cached.
            .claims_cache_capacity(512 * 1024 * 1024)
            .build()
            .unwrap()
    }

    fn usage_plan(&self) -> UsagePlanLayer {
        UsagePlanLayer::try_from(self.callers.1.clone()).unwrap()
    }

    fn route_throttle(&self) -> TokenBucketThrottleLayer {
        TokenBucketThrottleLayer::try_from(self.callers.2.clone()).unwrap()
    }

    fn validator(&self) -> RequestValidatorLayer {
        RequestValidatorLayer::try_from(self.callers.3.clone()).unwrap()
    }

    fn cache(&self) -> ResponseCacheLayer {
        ResponseCacheLayer::try_from(self.callers.4.clone()).unwrap()
    }
}

/// The layers in order, outermost first, around the orders API, boxed.
macro_rules! assemble {
    ($($layer:expr),* $(,)?) => {{
        let service = ServiceBuilder::new()$(.layer($layer))*.service(orders_api());
        let service =
            ServiceExt::<Request<Body>>::map_response(service, |response| response.map(Body::new));
        BoxCloneService::new(ServiceExt::<Request<Body>>::map_err(service, |err| -> Infallible {
            panic!("{err:?}")
        }))
    }};
}

/// The stack, or the stack without one part.
fn stack(issuer: &example::DemoIssuer, callers: &Callers, without: Option<Part>) -> Gateway {
    let l = Layers {
        issuer_jwks: issuer.jwks().to_string(),
        callers: configuration(callers),
    };
    match without {
        None => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            l.access_log(),
            l.metrics(),
            l.cors(),
            l.match_route(),
            l.client_throttle(),
            l.jwt(),
            l.usage_plan(),
            l.route_throttle(),
            l.validator(),
            l.cache()
        ),
        Some(Part::RequestId) => assemble!(
            Identity::new(),
            Identity::new(),
            l.access_log(),
            l.metrics(),
            l.cors(),
            l.match_route(),
            l.client_throttle(),
            l.jwt(),
            l.usage_plan(),
            l.route_throttle(),
            l.validator(),
            l.cache()
        ),
        Some(Part::AccessLog) => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            Identity::new(),
            l.metrics(),
            l.cors(),
            l.match_route(),
            l.client_throttle(),
            l.jwt(),
            l.usage_plan(),
            l.route_throttle(),
            l.validator(),
            l.cache()
        ),
        Some(Part::Metrics) => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            l.access_log(),
            Identity::new(),
            l.cors(),
            l.match_route(),
            l.client_throttle(),
            l.jwt(),
            l.usage_plan(),
            l.route_throttle(),
            l.validator(),
            l.cache()
        ),
        Some(Part::Cors) => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            l.access_log(),
            l.metrics(),
            Identity::new(),
            l.match_route(),
            l.client_throttle(),
            l.jwt(),
            l.usage_plan(),
            l.route_throttle(),
            l.validator(),
            l.cache()
        ),
        Some(Part::MatchRoute) => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            l.access_log(),
            l.metrics(),
            l.cors(),
            Identity::new(),
            l.client_throttle(),
            l.jwt(),
            l.usage_plan(),
            l.route_throttle(),
            l.validator(),
            l.cache()
        ),
        Some(Part::ClientThrottle) => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            l.access_log(),
            l.metrics(),
            l.cors(),
            l.match_route(),
            Identity::new(),
            l.jwt(),
            l.usage_plan(),
            l.route_throttle(),
            l.validator(),
            l.cache()
        ),
        Some(Part::Jwt) => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            l.access_log(),
            l.metrics(),
            l.cors(),
            l.match_route(),
            l.client_throttle(),
            Identity::new(),
            l.usage_plan(),
            l.route_throttle(),
            l.validator(),
            l.cache()
        ),
        Some(Part::UsagePlan) => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            l.access_log(),
            l.metrics(),
            l.cors(),
            l.match_route(),
            l.client_throttle(),
            l.jwt(),
            Identity::new(),
            l.route_throttle(),
            l.validator(),
            l.cache()
        ),
        Some(Part::RouteThrottle) => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            l.access_log(),
            l.metrics(),
            l.cors(),
            l.match_route(),
            l.client_throttle(),
            l.jwt(),
            l.usage_plan(),
            Identity::new(),
            l.validator(),
            l.cache()
        ),
        Some(Part::Validator) => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            l.access_log(),
            l.metrics(),
            l.cors(),
            l.match_route(),
            l.client_throttle(),
            l.jwt(),
            l.usage_plan(),
            l.route_throttle(),
            Identity::new(),
            l.cache()
        ),
        Some(Part::Cache) => assemble!(
            l.set_request_id(),
            l.propagate_request_id(),
            l.access_log(),
            l.metrics(),
            l.cors(),
            l.match_route(),
            l.client_throttle(),
            l.jwt(),
            l.usage_plan(),
            l.route_throttle(),
            l.validator(),
            Identity::new()
        ),
    }
}

fn bare() -> Gateway {
    BoxCloneService::new(orders_api())
}

/// What one scenario sends: a POST with the 1 KiB order, or a GET.
#[derive(Clone, Copy)]
enum Send {
    Post,
    GetSame,
    GetNew,
}

/// Request `n` of a scenario, from `caller`.
fn request(callers: &Callers, caller: usize, send: Send, n: usize, body: &str) -> Request<Body> {
    let builder = match send {
        Send::Post => Request::post("/orders").header(header::CONTENT_TYPE, "application/json"),
        Send::GetSame => Request::get("/orders/7"),
        Send::GetNew => Request::get(format!("/orders/{n}")),
    };
    let mut request = builder
        .header(header::AUTHORIZATION, &callers.tokens[caller])
        .header("x-api-key", &callers.keys[caller])
        .body(match send {
            Send::Post => Body::from(body.to_owned()),
            Send::GetSame | Send::GetNew => Body::empty(),
        })
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(callers.addresses[caller]));
    request
}

/// Sends `request` and reads the whole body, as a server does (the cache
/// stores an entry when the body has been read to its end).
fn send_and_read(
    runtime: &tokio::runtime::Runtime,
    service: &mut Gateway,
    request: Request<Body>,
) -> Response<bytes::Bytes> {
    runtime.block_on(async {
        let ready = service.ready().await.unwrap();
        let response = ready.call(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Response::from_parts(parts, body)
    })
}

/// Whether a scenario first sends one request per caller (when it is set
/// up), so that no measured request pays a first-time token verification.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Warm {
    No,
    EveryCaller,
}

fn scenario(
    group: &'static str,
    name: impl Into<String>,
    service: Gateway,
    callers: Callers,
    send: Send,
    expect_cache: Option<&'static str>,
) -> Scenario {
    scenario_warmed(group, name, service, callers, send, expect_cache, Warm::No)
}

fn scenario_warmed(
    group: &'static str,
    name: impl Into<String>,
    mut service: Gateway,
    callers: Callers,
    send: Send,
    expect_cache: Option<&'static str>,
    warm: Warm,
) -> Scenario {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = order_body();
    let mut n = 0usize;
    // Before any measurement (criterion's warm-up would otherwise include
    // it and misjudge the iteration time).
    if warm == Warm::EveryCaller {
        // Every caller once (`n` runs on from there, so the measured
        // requests cycle through the callers again, all seen before).
        for _ in 0..callers.len() {
            let caller = n % callers.len();
            n += 1;
            let request = request(&callers, caller, send, n, &body);
            let response = send_and_read(&runtime, &mut service, request);
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    Scenario::new(group, name, move || {
        let caller = n % callers.len();
        n += 1;
        let request = request(&callers, caller, send, n, &body);
        let response = send_and_read(&runtime, &mut service, request);
        assert_eq!(response.status(), StatusCode::OK);
        // The first GET of an id is a miss.
        if let Some(expected) = expect_cache.filter(|_| n > 1 || matches!(send, Send::GetNew)) {
            assert_eq!(response.headers()["x-cache"], expected);
        }
        black_box(response);
    })
}

fn scenarios() -> Vec<Scenario> {
    let issuer = example::DemoIssuer::generate(ISSUER).unwrap();
    let one = || Callers::new(&issuer, 1);
    let full = "full stack vs bare axum";
    let mut scenarios = vec![
        scenario(
            full,
            "bare axum: POST /orders (1 KiB)",
            bare(),
            one(),
            Send::Post,
            None,
        ),
        scenario(
            full,
            "stack: POST /orders (1 KiB)",
            stack(&issuer, &one(), None),
            one(),
            Send::Post,
            None,
        ),
        scenario(
            full,
            "bare axum: GET /orders/{id}",
            bare(),
            one(),
            Send::GetSame,
            None,
        ),
        scenario(
            full,
            "stack: GET /orders/{id} cache hit",
            stack(&issuer, &one(), None),
            one(),
            Send::GetSame,
            Some("Hit"),
        ),
        scenario(
            full,
            "stack: GET /orders/{id} cache miss",
            stack(&issuer, &one(), None),
            one(),
            Send::GetNew,
            Some("Miss"),
        ),
    ];
    for part in PARTS {
        scenarios.push(scenario(
            "stack without one layer: POST /orders (1 KiB)",
            format!("without {part:?}"),
            stack(&issuer, &one(), Some(part)),
            one(),
            Send::Post,
            None,
        ));
    }
    let counts: Vec<usize> = std::env::var("APIGW_BENCH_CALLERS")
        .map(|v| v.split(',').map(|n| n.parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![1, 1_000, 100_000]);
    for count in counts {
        let callers = Callers::new(&issuer, count);
        if count > 1 {
            // Steady state: every caller seen before the measurement.
            scenarios.push(scenario_warmed(
                "distinct callers: POST /orders (1 KiB)",
                format!("{count} callers, each warmed"),
                stack(&issuer, &callers, None),
                callers.clone(),
                Send::Post,
                None,
                Warm::EveryCaller,
            ));
        }
        let service = stack(&issuer, &callers, None);
        scenarios.push(scenario(
            "distinct callers: POST /orders (1 KiB)",
            format!("{count} callers"),
            service,
            callers,
            Send::Post,
            None,
        ));
    }
    let _ = Duration::ZERO;
    scenarios
}

fn main() {
    support::main(scenarios);
}
