//! The response cache, rule by rule, and SECURITY.md §A4 C1–C8 by name.
#![cfg(feature = "response-cache")]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};
use std::time::Duration;

use apigw::clock::{ManualClock, SharedClock};
use apigw::identity::{ApiKeyIdentity, AuthorizerContext, JwtClaims};
use apigw::problem::{GatewayResponseType, Rejection};
use apigw::response_cache::{
    CacheKeyParameter, ResponseCacheConfig, ResponseCacheLayer, ResponseCacheLayerBuilder,
    RouteCacheSettings, UnauthorizedCacheControlHeaderStrategy,
};
use apigw::route::RouteTable;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use serde_json::{Map, Value};
use tower::{Layer, Service, ServiceExt, service_fn};

type Req = Request<Full<Bytes>>;

/// A backend that answers with `answer(request, call number)` and counts calls.
fn backend<F>(
    answer: F,
) -> (
    impl Service<Req, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static,
    Arc<AtomicUsize>,
)
where
    F: Fn(&Req, usize) -> Response<Full<Bytes>> + Clone + Send + Sync + 'static,
{
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let service = service_fn(move |request: Req| {
        let n = counter.fetch_add(1, SeqCst) + 1;
        let response = answer(&request, n);
        async move { Ok::<_, Infallible>(response) }
    });
    (service, calls)
}

/// A backend answering `call <n>` with status 200.
fn numbered() -> (
    impl Service<Req, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static,
    Arc<AtomicUsize>,
) {
    backend(|_, n| ok(format!("call {n}")))
}

fn ok(body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::new(Full::new(body.into()))
}

fn with_header(
    mut response: Response<Full<Bytes>>,
    name: &'static str,
    value: &'static str,
) -> Response<Full<Bytes>> {
    response.headers_mut().append(name, value.parse().unwrap());
    response
}

fn get(uri: &str) -> Req {
    Request::get(uri).body(Full::default()).unwrap()
}

fn as_user(mut request: Req, sub: &str) -> Req {
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::from(sub));
    claims.insert("iss".into(), Value::from("https://issuer.example"));
    request
        .extensions_mut()
        .insert(JwtClaims::new(claims, vec![]));
    request.headers_mut().insert(
        "authorization",
        format!("Bearer token-of-{sub}").parse().unwrap(),
    );
    request
}

fn one_route(key: &str, settings: RouteCacheSettings) -> RouteTable<RouteCacheSettings> {
    RouteTable::builder()
        .route(key, settings)
        .unwrap()
        .build()
        .unwrap()
}

fn layer(builder: ResponseCacheLayerBuilder) -> ResponseCacheLayer {
    builder.build().unwrap()
}

fn manual() -> (ManualClock, SharedClock) {
    let clock = ManualClock::new();
    (clock.clone(), Arc::new(clock))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn x_cache(&self) -> Option<&str> {
        self.headers.get("x-cache").map(|v| v.to_str().unwrap())
    }
}

async fn send<S, B>(service: &S, request: Req) -> Answer
where
    S: Service<Req, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

// ---- the basics -----------------------------------------------------------

#[tokio::test]
async fn a_repeated_get_is_answered_from_the_cache_with_x_cache_and_age() {
    let (clock, shared) = manual();
    let (backend, calls) = numbered();
    let cache = layer(ResponseCacheLayer::builder().with_clock(shared));
    let service = cache.layer(backend);

    let miss = send(&service, get("/orders/1")).await;
    assert_eq!(miss.x_cache(), Some("Miss"));
    assert!(miss.headers.get("age").is_none());
    clock.advance(Duration::from_secs(42));
    let hit = send(&service, get("/orders/1")).await;
    assert_eq!(hit.x_cache(), Some("Hit"));
    assert_eq!(hit.headers["age"], "42");
    assert_eq!(hit.body, "call 1");
    assert_eq!(hit.status, StatusCode::OK);
    assert_eq!(calls.load(SeqCst), 1);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.stores), (1, 1, 1));
}

/// A hit's headers are the stored response's: every value of a repeated
/// header in order, no per-connection headers, one `X-Cache` and one `Age`
/// counting from the backend's own `Age`, past the pre-formatted ages too.
#[tokio::test]
async fn a_hit_keeps_repeated_headers_drops_hop_by_hop_ones_and_adds_to_the_backend_age() {
    let (clock, shared) = manual();
    let (backend, calls) = backend(|_, _| {
        let response = with_header(ok("x"), "link", "</a>; rel=preload");
        let response = with_header(response, "link", "</b>; rel=preload");
        let response = with_header(response, "connection", "keep-alive");
        let response = with_header(response, "keep-alive", "timeout=5");
        let response = with_header(response, "x-cache", "from-upstream");
        with_header(response, "age", "3650")
    });
    let service = layer(ResponseCacheLayer::builder().with_clock(shared)).layer(backend);

    send(&service, get("/a")).await;
    for (advance, age) in [(0, "3650"), (10, "3660"), (1, "3661"), (100_000, "103661")] {
        clock.advance(Duration::from_secs(advance));
        let hit = send(&service, get("/a")).await;
        let all = |name: &str| -> Vec<&str> {
            hit.headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect()
        };
        // The backend said 3650 s already: the TTL (300 s) still runs from
        // the store, and `Age` adds the time since.
        if advance > 300 {
            assert_eq!(hit.x_cache(), Some("Miss"));
            break;
        }
        assert_eq!(all("age"), [age]);
        assert_eq!(all("x-cache"), ["Hit"]);
        assert_eq!(all("link"), ["</a>; rel=preload", "</b>; rel=preload"]);
        assert!(hit.headers.get("connection").is_none());
        assert!(hit.headers.get("keep-alive").is_none());
    }
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn a_stored_entry_owns_its_bytes_instead_of_pinning_the_backends_buffer() {
    // A backend reached through hyper answers with header values and a body
    // that are slices of its connection's read buffer; an entry that kept
    // those slices would keep the whole buffer alive, unseen by the cache's
    // byte bound.
    let buffers = Arc::new(std::sync::Mutex::new(Vec::<Bytes>::new()));
    let seen = Arc::clone(&buffers);
    let (backend, calls) = backend(move |_, _| {
        let buffer = Bytes::from(vec![b'a'; 64 * 1024]);
        seen.lock().unwrap().push(buffer.clone());
        let value = http::HeaderValue::from_maybe_shared(buffer.slice(0..8)).unwrap();
        let mut response = ok(buffer.slice(8..16));
        response.headers_mut().insert("x-token", value);
        response
    });
    let service = layer(ResponseCacheLayer::builder()).layer(backend);

    let miss = send(&service, get("/a")).await;
    assert_eq!(miss.x_cache(), Some("Miss"));
    drop(miss);
    let buffer = buffers.lock().unwrap().pop().unwrap();
    assert!(
        buffer.is_unique(),
        "the entry still references the backend's buffer"
    );

    let hit = send(&service, get("/a")).await;
    assert_eq!(hit.x_cache(), Some("Hit"));
    assert_eq!(hit.headers["x-token"], "aaaaaaaa");
    assert_eq!(hit.body, "aaaaaaaa");
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test]
async fn head_is_answered_from_the_get_entry_without_a_body() {
    let (backend, calls) = backend(|_, _| ok("twelve bytes"));
    let service = layer(ResponseCacheLayer::builder()).layer(backend);
    send(&service, get("/doc")).await;
    let head = send(
        &service,
        Request::head("/doc").body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!(head.x_cache(), Some("Hit"));
    assert!(head.body.is_empty());
    assert_eq!(head.headers["content-length"], "12");
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test]
async fn a_head_miss_goes_to_the_backend_and_stores_nothing() {
    let (backend, calls) = numbered();
    let cache = layer(ResponseCacheLayer::builder());
    let service = cache.layer(backend);
    let head = || Request::head("/doc").body(Full::default()).unwrap();
    assert_eq!(send(&service, head()).await.x_cache(), Some("Miss"));
    assert_eq!(send(&service, head()).await.x_cache(), Some("Miss"));
    assert_eq!(send(&service, get("/doc")).await.x_cache(), Some("Miss"));
    assert_eq!(calls.load(SeqCst), 3);
    assert_eq!(cache.stats().stores, 1);
}

#[tokio::test]
async fn other_methods_are_not_cached_by_default() {
    let (backend, calls) = numbered();
    let cache = layer(ResponseCacheLayer::builder());
    let service = cache.layer(backend);
    let post = || Request::post("/search").body(Full::default()).unwrap();
    let first = send(&service, post()).await;
    assert!(first.x_cache().is_none(), "bypassed requests are untouched");
    send(&service, post()).await;
    assert_eq!(calls.load(SeqCst), 2);
    assert_eq!(cache.stats().bypasses, 2);
}

#[tokio::test]
async fn a_route_that_enables_caching_for_post_caches_post() {
    let (backend, calls) = numbered();
    let routes = one_route(
        "POST /search",
        RouteCacheSettings::new().caching_enabled(true),
    );
    let service = layer(ResponseCacheLayer::builder().routes(routes)).layer(backend);
    let post = |uri| Request::post(uri).body(Full::default()).unwrap();
    send(&service, post("/search")).await;
    assert_eq!(send(&service, post("/search")).await.x_cache(), Some("Hit"));
    // A POST elsewhere is still not cached, and a GET of the same path is its own entry.
    assert!(send(&service, post("/other")).await.x_cache().is_none());
    assert_eq!(send(&service, get("/search")).await.x_cache(), Some("Miss"));
    assert_eq!(calls.load(SeqCst), 3);
}

#[tokio::test]
async fn a_route_can_turn_caching_off() {
    let (backend, calls) = numbered();
    let routes = one_route(
        "GET /live",
        RouteCacheSettings::new().caching_enabled(false),
    );
    let service = layer(ResponseCacheLayer::builder().routes(routes)).layer(backend);
    send(&service, get("/live")).await;
    assert!(send(&service, get("/live")).await.x_cache().is_none());
    send(&service, get("/static")).await;
    assert_eq!(send(&service, get("/static")).await.x_cache(), Some("Hit"));
    assert_eq!(calls.load(SeqCst), 3);
}

#[tokio::test]
async fn configured_statuses_are_stored() {
    let (backend, calls) = backend(|_, _| {
        let mut response = ok("gone");
        *response.status_mut() = StatusCode::NOT_FOUND;
        response
    });
    let service = layer(
        ResponseCacheLayer::builder().cacheable_statuses([StatusCode::OK, StatusCode::NOT_FOUND]),
    )
    .layer(backend);
    send(&service, get("/x")).await;
    let hit = send(&service, get("/x")).await;
    assert_eq!(hit.status, StatusCode::NOT_FOUND);
    assert_eq!(hit.x_cache(), Some("Hit"));
    assert_eq!(calls.load(SeqCst), 1);
}

// ---- the key --------------------------------------------------------------

#[tokio::test]
async fn unlisted_query_strings_share_an_entry_as_in_api_gateway() {
    let (backend, calls) = numbered();
    let service = layer(
        ResponseCacheLayer::builder()
            .cache_key_parameters(["method.request.querystring.type".parse().unwrap()]),
    )
    .layer(backend);
    send(&service, get("/e?type=admin&department=A")).await;
    let shared = send(&service, get("/e?type=admin&department=B")).await;
    assert_eq!(shared.x_cache(), Some("Hit"));
    let other = send(&service, get("/e?type=user&department=A")).await;
    assert_eq!(other.x_cache(), Some("Miss"));
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn listed_headers_and_path_parameters_vary_the_key() {
    let (backend, calls) = numbered();
    let routes = one_route(
        "GET /items/{id}",
        RouteCacheSettings::new().cache_key_parameters([
            "method.request.path.id".parse().unwrap(),
            "method.request.header.accept-language".parse().unwrap(),
        ]),
    );
    let service = layer(ResponseCacheLayer::builder().routes(routes)).layer(backend);
    let with_language = |uri: &str, language: &'static str| {
        let mut request = get(uri);
        request
            .headers_mut()
            .insert("accept-language", language.parse().unwrap());
        request
    };
    send(&service, with_language("/items/1", "en")).await;
    assert_eq!(
        send(&service, with_language("/items/1", "fr"))
            .await
            .x_cache(),
        Some("Miss")
    );
    assert_eq!(
        send(&service, with_language("/items/2", "en"))
            .await
            .x_cache(),
        Some("Miss")
    );
    assert_eq!(
        send(&service, with_language("/items/1", "en"))
            .await
            .x_cache(),
        Some("Hit")
    );
    assert_eq!(calls.load(SeqCst), 3);
}

#[tokio::test]
async fn cache_key_matches_what_the_layer_stores_and_invalidate_drops_it() {
    let (backend, calls) = numbered();
    let cache = layer(ResponseCacheLayer::builder());
    let service = cache.layer(backend);
    send(&service, get("/a")).await;
    send(&service, get("/b")).await;
    let (parts, ()) = Request::head("/a").body(()).unwrap().into_parts();
    let key = cache.cache_key(&parts).unwrap();
    cache.invalidate(&key);
    assert_eq!(send(&service, get("/a")).await.x_cache(), Some("Miss"));
    assert_eq!(send(&service, get("/b")).await.x_cache(), Some("Hit"));
    assert_eq!(calls.load(SeqCst), 3);
    let (post, ()) = Request::post("/a").body(()).unwrap().into_parts();
    assert!(cache.cache_key(&post).is_none());
}

// ---- C1: cross-principal leakage --------------------------------------------

#[tokio::test]
async fn c1_two_principals_never_see_each_others_responses() {
    let (backend, calls) = backend(|request: &Req, _| {
        let sub = request
            .extensions()
            .get::<JwtClaims>()
            .and_then(|c| c.subject().map(str::to_owned))
            .unwrap_or_default();
        // Even an explicitly public response stays per caller.
        with_header(
            ok(format!("profile of {sub}")),
            "cache-control",
            "public, max-age=60",
        )
    });
    let service = layer(ResponseCacheLayer::builder()).layer(backend);
    assert_eq!(
        send(&service, as_user(get("/me"), "alice")).await.body,
        "profile of alice"
    );
    let bob = send(&service, as_user(get("/me"), "bob")).await;
    assert_eq!(bob.body, "profile of bob");
    assert_eq!(bob.x_cache(), Some("Miss"));
    let alice_again = send(&service, as_user(get("/me"), "alice")).await;
    assert_eq!(alice_again.body, "profile of alice");
    assert_eq!(alice_again.x_cache(), Some("Hit"));
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn c1_authorizer_principals_and_api_keys_are_keyed_too() {
    let (backend, calls) = numbered();
    let service = layer(ResponseCacheLayer::builder()).layer(backend);
    let by_principal = |principal: &str| {
        let mut request = get("/me");
        request.extensions_mut().insert(AuthorizerContext::new(
            Some(principal.into()),
            Map::new(),
            None,
        ));
        request
    };
    let by_key = |key: &str| {
        let mut request = get("/me");
        request
            .extensions_mut()
            .insert(ApiKeyIdentity::new(key, "secret-value", "plan"));
        request
    };
    let a = send(&service, by_principal("p1")).await.body;
    assert_ne!(send(&service, by_principal("p2")).await.body, a);
    assert_ne!(send(&service, by_key("k1")).await.body, a);
    assert_ne!(
        send(&service, get("/me")).await.body,
        a,
        "anonymous is its own caller"
    );
    assert_eq!(send(&service, by_principal("p1")).await.body, a);
    assert_eq!(calls.load(SeqCst), 4);
}

#[tokio::test]
async fn c1_aws_parity_shares_responses_across_principals() {
    let (backend, calls) = backend(|request: &Req, _| {
        let sub = request
            .extensions()
            .get::<JwtClaims>()
            .and_then(|c| c.subject().map(str::to_owned))
            .unwrap_or_default();
        ok(format!("profile of {sub}"))
    });
    let service = layer(ResponseCacheLayer::builder().aws_parity()).layer(backend);
    send(&service, as_user(get("/me"), "alice")).await;
    let bob = send(&service, as_user(get("/me"), "bob")).await;
    // API Gateway's leak, reproduced on request.
    assert_eq!(bob.body, "profile of alice");
    assert_eq!(bob.x_cache(), Some("Hit"));
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test]
async fn c1_authorization_without_a_principal_bypasses_the_cache() {
    let (backend, calls) = numbered();
    let cache = layer(ResponseCacheLayer::builder());
    let service = cache.layer(backend);
    // An anonymous response is stored…
    send(&service, get("/me")).await;
    // …and never served to a request with credentials nobody verified.
    let mut bearer = get("/me");
    bearer
        .headers_mut()
        .insert("authorization", "Bearer someone".parse().unwrap());
    let answer = send(&service, bearer).await;
    assert!(answer.x_cache().is_none());
    assert_eq!(answer.body, "call 2");
    assert_eq!(calls.load(SeqCst), 2);
    assert_eq!(cache.stats().bypasses, 1);
}

#[tokio::test]
async fn c1_a_route_may_opt_in_to_sharing_unidentified_authorization() {
    let (backend, calls) = numbered();
    let routes = one_route(
        "GET /catalog",
        RouteCacheSettings::new().share_unidentified_authorization(true),
    );
    let service = layer(ResponseCacheLayer::builder().routes(routes)).layer(backend);
    let bearer = |uri: &str, token: &str| {
        let mut request = get(uri);
        request
            .headers_mut()
            .insert("authorization", token.parse().unwrap());
        request
    };
    send(&service, bearer("/catalog", "Bearer a")).await;
    assert_eq!(
        send(&service, bearer("/catalog", "Bearer b"))
            .await
            .x_cache(),
        Some("Hit")
    );
    send(&service, bearer("/me", "Bearer a")).await;
    assert!(
        send(&service, bearer("/me", "Bearer a"))
            .await
            .x_cache()
            .is_none()
    );
    assert_eq!(calls.load(SeqCst), 3);
}

// ---- C2: private, no-store, Set-Cookie --------------------------------------

#[tokio::test]
async fn c2_set_cookie_responses_are_never_stored() {
    let (backend, calls) = backend(|_, n| {
        let response = with_header(ok(format!("call {n}")), "set-cookie", "session=s3cr3t");
        with_header(response, "cache-control", "public, max-age=60")
    });
    let service = layer(ResponseCacheLayer::builder().aws_parity()).layer(backend);
    send(&service, get("/login")).await;
    let second = send(&service, get("/login")).await;
    assert_eq!(second.x_cache(), Some("Miss"));
    assert_eq!(second.body, "call 2");
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn c2_no_store_private_and_no_cache_responses_are_never_stored() {
    for directive in ["no-store", "private", "no-cache", "private, max-age=600"] {
        let (backend, calls) =
            backend(move |_, n| with_header(ok(format!("call {n}")), "cache-control", directive));
        let service = layer(ResponseCacheLayer::builder()).layer(backend);
        send(&service, get("/x")).await;
        assert_eq!(
            send(&service, get("/x")).await.body,
            "call 2",
            "{directive}"
        );
        assert_eq!(calls.load(SeqCst), 2);
    }
}

#[tokio::test]
async fn ignoring_backend_cache_control_stores_private_responses_for_aws_parity() {
    let (backend, calls) = backend(|_, n| {
        with_header(
            ok(format!("call {n}")),
            "cache-control",
            "private, no-store",
        )
    });
    let service =
        layer(ResponseCacheLayer::builder().ignore_backend_cache_control(true)).layer(backend);
    send(&service, get("/x")).await;
    assert_eq!(send(&service, get("/x")).await.x_cache(), Some("Hit"));
    assert_eq!(calls.load(SeqCst), 1);
}

// ---- C3: Vary ---------------------------------------------------------------

#[tokio::test]
async fn c3_vary_is_honoured() {
    let (backend, calls) = backend(|request: &Req, _| {
        let accept = request
            .headers()
            .get("accept")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        with_header(ok(format!("as {accept}")), "vary", "Accept")
    });
    let service = layer(ResponseCacheLayer::builder()).layer(backend);
    let accepting = |value: &'static str| {
        let mut request = get("/doc");
        request
            .headers_mut()
            .insert("accept", value.parse().unwrap());
        request
    };
    send(&service, accepting("application/json")).await;
    let hit = send(&service, accepting("application/json")).await;
    assert_eq!(
        (hit.x_cache(), &hit.body[..]),
        (Some("Hit"), &b"as application/json"[..])
    );
    let other = send(&service, accepting("text/html")).await;
    assert_eq!(other.x_cache(), Some("Miss"));
    assert_eq!(other.body, "as text/html");
    // Absent matches only absent.
    assert_eq!(send(&service, get("/doc")).await.x_cache(), Some("Miss"));
    assert_eq!(calls.load(SeqCst), 3);
}

#[tokio::test]
async fn c3_vary_keeps_several_variants_per_key_up_to_the_bound() {
    let (backend, calls) = backend(|request: &Req, n| {
        let accept = request
            .headers()
            .get("accept")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        with_header(ok(format!("as {accept} #{n}")), "vary", "Accept")
    });
    let cache = layer(ResponseCacheLayer::builder().max_variants(2));
    let service = cache.clone().layer(backend);
    let accepting = |value: &'static str| {
        let mut request = get("/doc");
        request
            .headers_mut()
            .insert("accept", value.parse().unwrap());
        request
    };
    // Two variants of one key live side by side.
    send(&service, accepting("application/json")).await;
    send(&service, accepting("text/html")).await;
    for (accept, body) in [
        ("application/json", "as application/json #1"),
        ("text/html", "as text/html #2"),
    ] {
        let hit = send(&service, accepting(accept)).await;
        assert_eq!(
            (hit.x_cache(), &hit.body[..]),
            (Some("Hit"), body.as_bytes())
        );
    }
    assert_eq!(calls.load(SeqCst), 2);
    assert_eq!(cache.stats().entries, 2);
    // A third pushes out the oldest; the newer two stay.
    send(&service, accepting("text/plain")).await;
    assert_eq!(
        send(&service, accepting("text/plain")).await.x_cache(),
        Some("Hit")
    );
    assert_eq!(
        send(&service, accepting("text/html")).await.x_cache(),
        Some("Hit")
    );
    let refetched = send(&service, accepting("application/json")).await;
    assert_eq!(refetched.x_cache(), Some("Miss"));
    assert_eq!(refetched.body, "as application/json #4");
    assert_eq!(calls.load(SeqCst), 4);
    assert_eq!(cache.stats().entries, 2);
    assert!(
        ResponseCacheLayer::builder()
            .max_variants(0)
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn c3_vary_star_is_never_stored() {
    let (backend, calls) = backend(|_, n| with_header(ok(format!("call {n}")), "vary", "*"));
    let service = layer(ResponseCacheLayer::builder().aws_parity()).layer(backend);
    send(&service, get("/x")).await;
    assert_eq!(send(&service, get("/x")).await.x_cache(), Some("Miss"));
    assert_eq!(calls.load(SeqCst), 2);
}

// ---- C4: unkeyed inputs -----------------------------------------------------

#[tokio::test]
async fn c4_poisoning_headers_are_stripped_before_the_backend() {
    // A backend that reflects X-Forwarded-Host into its links, as Kettle's targets did.
    let (backend, calls) = backend(|request: &Req, _| {
        let host = request
            .headers()
            .get("x-forwarded-host")
            .map_or("api.example", |v| v.to_str().unwrap());
        let method = request
            .headers()
            .get("x-http-method-override")
            .map_or("GET", |v| v.to_str().unwrap());
        ok(format!("<script src=//{host}/app.js> {method}"))
    });
    let service = layer(ResponseCacheLayer::builder()).layer(backend);
    let mut attack = get("/home");
    attack
        .headers_mut()
        .insert("x-forwarded-host", "evil.example".parse().unwrap());
    attack
        .headers_mut()
        .insert("x-http-method-override", "DELETE".parse().unwrap());
    let poisoned = send(&service, attack).await;
    assert_eq!(poisoned.body, "<script src=//api.example/app.js> GET");
    let victim = send(&service, get("/home")).await;
    assert_eq!(victim.x_cache(), Some("Hit"));
    assert_eq!(victim.body, "<script src=//api.example/app.js> GET");
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test]
async fn c4_a_keyed_poisoning_header_is_passed_and_keyed() {
    let (backend, _) = backend(|request: &Req, _| {
        ok(request
            .headers()
            .get("x-forwarded-host")
            .map_or("none", |v| v.to_str().unwrap())
            .to_owned())
    });
    let service = layer(
        ResponseCacheLayer::builder()
            .cache_key_parameters(["method.request.header.x-forwarded-host".parse().unwrap()]),
    )
    .layer(backend);
    let mut forwarded = get("/home");
    forwarded
        .headers_mut()
        .insert("x-forwarded-host", "a.example".parse().unwrap());
    assert_eq!(send(&service, forwarded).await.body, "a.example");
    assert_eq!(send(&service, get("/home")).await.body, "none");
}

#[tokio::test]
async fn c4_a_get_with_a_body_is_answered_but_never_stored() {
    let (backend, calls) = numbered();
    let service = layer(ResponseCacheLayer::builder()).layer(backend);
    let fat = Request::get("/x")
        .header("content-length", "5")
        .body(Full::new(Bytes::from_static(b"evil!")))
        .unwrap();
    assert_eq!(send(&service, fat).await.x_cache(), Some("Miss"));
    assert_eq!(send(&service, get("/x")).await.x_cache(), Some("Miss"));
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn c4_query_names_are_keyed_as_the_backend_decodes_them() {
    let (backend, calls) = numbered();
    let service = layer(
        ResponseCacheLayer::builder()
            .cache_key_parameters(["method.request.querystring.lang".parse().unwrap()]),
    )
    .layer(backend);
    send(&service, get("/home?%6Cang=evil")).await;
    assert_eq!(send(&service, get("/home")).await.x_cache(), Some("Miss"));
    assert_eq!(
        send(&service, get("/home?lang=evil")).await.x_cache(),
        Some("Hit")
    );
    assert_eq!(calls.load(SeqCst), 2);
}

// ---- C5: path confusion -------------------------------------------------------

#[tokio::test]
async fn c5_path_confusion_variants_never_share_an_entry() {
    let (backend, calls) = backend(|request: &Req, _| ok(format!("page {}", request.uri().path())));
    let service = layer(ResponseCacheLayer::builder()).layer(backend);
    send(&service, get("/account")).await;
    let variants = [
        "/account;x.css",
        "/account/x.css",
        "/account/",
        "//account",
        "/account/..%2f",
        "/Account",
        "/a%2Bb",
        "/a+b",
    ];
    for path in variants {
        let answer = send(&service, get(path)).await;
        assert_eq!(answer.x_cache(), Some("Miss"), "{path}");
        assert_eq!(answer.body, format!("page {path}"));
    }
    assert_eq!(calls.load(SeqCst), 1 + variants.len());
}

#[tokio::test]
async fn c5_axum_routes_key_on_the_route_and_the_raw_path() {
    use axum::routing::get as axum_get;
    let cache = layer(ResponseCacheLayer::builder());
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let app = axum::Router::new()
        .route(
            "/files/{*rest}",
            axum_get(move |uri: http::Uri| {
                counter.fetch_add(1, SeqCst);
                async move { uri.path().to_owned() }
            }),
        )
        .route_layer(cache.clone());
    let request = |uri: &str| Request::get(uri).body(axum::body::Body::empty()).unwrap();
    for uri in ["/files/a%2Fb", "/files/a/b", "/files/a/b", "/files/a//b"] {
        let response = app.clone().oneshot(request(uri)).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, uri);
    }
    assert_eq!(calls.load(SeqCst), 3);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn converted_to_axum_bodies_a_miss_is_still_recorded_and_a_hit_served() {
    // `Body::from` unwraps passed-through bodies and boxes a recording one:
    // the copy for the cache must still see every frame.
    use axum::body::Body as AxumBody;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let backend = service_fn(move |_: Request<AxumBody>| {
        let n = counter.fetch_add(1, SeqCst) + 1;
        async move { Ok::<_, Infallible>(Response::new(AxumBody::from(format!("call {n}")))) }
    });
    let app = tower::ServiceBuilder::new()
        .map_response(|response: Response<_>| response.map(AxumBody::from))
        .layer(layer(ResponseCacheLayer::builder()))
        .service(backend);
    let request = |method: &str| {
        Request::builder()
            .method(method)
            .uri("/orders/7")
            .body(AxumBody::empty())
            .unwrap()
    };
    let mut seen = Vec::new();
    for method in ["GET", "GET", "POST"] {
        let response = app.clone().oneshot(request(method)).await.unwrap();
        let x_cache = response.headers().get("x-cache").cloned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        seen.push((x_cache, body));
    }
    assert_eq!(
        seen[0],
        (Some("Miss".parse().unwrap()), Bytes::from("call 1"))
    );
    assert_eq!(
        seen[1],
        (Some("Hit".parse().unwrap()), Bytes::from("call 1"))
    );
    // Not cached (POST): passed through, unwrapped, the backend's own body.
    assert_eq!(seen[2].1, Bytes::from("call 2"));
    assert_eq!(calls.load(SeqCst), 2);
}

// ---- C6: CPDoS ----------------------------------------------------------------

#[tokio::test]
async fn c6_error_responses_are_not_stored() {
    for status in [
        StatusCode::BAD_REQUEST,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        StatusCode::METHOD_NOT_ALLOWED,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::PARTIAL_CONTENT,
    ] {
        // The attacker's oversized header makes the backend fail once…
        let (backend, calls) = backend(move |request: &Req, _| {
            if request.headers().contains_key("x-oversized") {
                let mut response = ok("error");
                *response.status_mut() = status;
                return response;
            }
            ok("fine")
        });
        let service = layer(ResponseCacheLayer::builder()).layer(backend);
        let mut attack = get("/home");
        attack
            .headers_mut()
            .insert("x-oversized", "x".repeat(8000).parse().unwrap());
        assert_eq!(send(&service, attack).await.status, status);
        // …and everyone else still gets the page.
        let victim = send(&service, get("/home")).await;
        assert_eq!(victim.status, StatusCode::OK, "{status}");
        assert_eq!(victim.body, "fine");
        assert_eq!(calls.load(SeqCst), 2);
    }
}

// ---- TTL ------------------------------------------------------------------------

#[tokio::test]
async fn entries_expire_after_the_default_ttl_of_300_seconds() {
    let (clock, shared) = manual();
    let (backend, calls) = numbered();
    let cache = layer(ResponseCacheLayer::builder().with_clock(shared));
    let service = cache.layer(backend);
    send(&service, get("/x")).await;
    clock.advance(Duration::from_secs(299));
    assert_eq!(send(&service, get("/x")).await.x_cache(), Some("Hit"));
    clock.advance(Duration::from_secs(1));
    let expired = send(&service, get("/x")).await;
    assert_eq!(expired.x_cache(), Some("Miss"));
    assert_eq!(expired.body, "call 2");
    assert_eq!(calls.load(SeqCst), 2);
    assert!(cache.stats().evictions >= 1);
}

#[tokio::test(start_paused = true)]
async fn entries_expire_on_tokio_paused_time_with_the_default_clock() {
    let (backend, calls) = numbered();
    let service = layer(ResponseCacheLayer::builder().ttl(Duration::from_secs(10))).layer(backend);
    send(&service, get("/x")).await;
    tokio::time::advance(Duration::from_secs(9)).await;
    assert_eq!(send(&service, get("/x")).await.x_cache(), Some("Hit"));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(send(&service, get("/x")).await.x_cache(), Some("Miss"));
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn backend_max_age_shortens_the_ttl() {
    let (clock, shared) = manual();
    let (backend, calls) =
        backend(|_, n| with_header(ok(format!("call {n}")), "cache-control", "max-age=30"));
    let service = layer(ResponseCacheLayer::builder().with_clock(shared)).layer(backend);
    send(&service, get("/x")).await;
    clock.advance(Duration::from_secs(29));
    assert_eq!(send(&service, get("/x")).await.x_cache(), Some("Hit"));
    clock.advance(Duration::from_secs(1));
    assert_eq!(send(&service, get("/x")).await.x_cache(), Some("Miss"));
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn a_route_ttl_overrides_the_layer_ttl() {
    let (clock, shared) = manual();
    let (backend, _) = numbered();
    let routes = one_route(
        "GET /fast",
        RouteCacheSettings::new().ttl(Duration::from_secs(5)),
    );
    let service = layer(
        ResponseCacheLayer::builder()
            .with_clock(shared)
            .routes(routes),
    )
    .layer(backend);
    send(&service, get("/fast")).await;
    send(&service, get("/slow")).await;
    clock.advance(Duration::from_secs(5));
    assert_eq!(send(&service, get("/fast")).await.x_cache(), Some("Miss"));
    assert_eq!(send(&service, get("/slow")).await.x_cache(), Some("Hit"));
}

#[tokio::test]
async fn ttl_zero_disables_caching() {
    let (backend, calls) = numbered();
    let service = layer(ResponseCacheLayer::builder().ttl(Duration::ZERO)).layer(backend);
    send(&service, get("/x")).await;
    assert!(send(&service, get("/x")).await.x_cache().is_none());
    assert_eq!(calls.load(SeqCst), 2);
}

#[test]
fn a_ttl_over_3600_seconds_is_a_configuration_error() {
    let error = ResponseCacheLayer::builder()
        .ttl(Duration::from_secs(3601))
        .build()
        .unwrap_err();
    assert!(error.message().contains("3600"), "{error}");
    assert!(
        ResponseCacheLayer::builder()
            .ttl(Duration::from_secs(3600))
            .build()
            .is_ok()
    );
    let routes = one_route(
        "GET /x",
        RouteCacheSettings::new().ttl(Duration::from_secs(7200)),
    );
    let error = ResponseCacheLayer::builder()
        .routes(routes)
        .build()
        .unwrap_err();
    assert!(error.message().contains("GET /x"), "{error}");
}

#[test]
fn impossible_sizes_are_configuration_errors() {
    assert!(
        ResponseCacheLayer::builder()
            .max_capacity(0)
            .build()
            .is_err()
    );
    assert!(
        ResponseCacheLayer::builder()
            .max_item_size(0)
            .build()
            .is_err()
    );
    assert!(
        ResponseCacheLayer::builder()
            .max_capacity(1024)
            .max_item_size(2048)
            .build()
            .is_err()
    );
    assert!(
        ResponseCacheLayer::builder()
            .single_flight_timeout(Duration::ZERO)
            .build()
            .is_err()
    );
}

// ---- C7: invalidation -----------------------------------------------------------

fn max_age_zero(mut request: Req) -> Req {
    request
        .headers_mut()
        .insert("cache-control", "max-age=0".parse().unwrap());
    request
}

#[tokio::test]
async fn c7_an_authorized_max_age_zero_refetches_and_replaces_the_entry() {
    let (backend, calls) = numbered();
    let service = layer(ResponseCacheLayer::builder().with_invalidation_authorizer(
        |request: &http::request::Parts| {
            request
                .extensions
                .get::<JwtClaims>()
                .is_some_and(|c| c.subject() == Some("alice"))
        },
    ))
    .layer(backend);
    send(&service, as_user(get("/x"), "alice")).await;
    send(&service, as_user(get("/x"), "bob")).await;
    // Alice may: her entry is refetched and replaced.
    let refreshed = send(&service, max_age_zero(as_user(get("/x"), "alice"))).await;
    assert_eq!(refreshed.x_cache(), Some("Miss"));
    assert_eq!(refreshed.body, "call 3");
    let hit = send(&service, as_user(get("/x"), "alice")).await;
    assert_eq!(
        (hit.x_cache(), &hit.body[..]),
        (Some("Hit"), &b"call 3"[..])
    );
    // Bob may not: his entry stays.
    let ignored = send(&service, max_age_zero(as_user(get("/x"), "bob"))).await;
    assert_eq!(
        (ignored.x_cache(), &ignored.body[..]),
        (Some("Hit"), &b"call 2"[..])
    );
    assert_eq!(calls.load(SeqCst), 3);
}

#[tokio::test]
async fn c7_an_unauthorized_max_age_zero_flood_never_reaches_the_backend() {
    let (backend, calls) = numbered();
    let service = layer(ResponseCacheLayer::builder()).layer(backend);
    send(&service, get("/x")).await;
    for _ in 0..100 {
        let answer = send(&service, max_age_zero(get("/x"))).await;
        assert_eq!(answer.x_cache(), Some("Hit"));
        assert_eq!(answer.body, "call 1");
        // SUCCEED_WITH_RESPONSE_HEADER, the default.
        assert!(
            answer.headers["warning"]
                .to_str()
                .unwrap()
                .starts_with("199 ")
        );
    }
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test]
async fn c7_fail_with_403_rejects_an_unauthorized_invalidation() {
    let (backend, calls) = numbered();
    let service = layer(
        ResponseCacheLayer::builder().unauthorized_cache_control_header_strategy(
            UnauthorizedCacheControlHeaderStrategy::FailWith403,
        ),
    )
    .layer(backend);
    send(&service, get("/x")).await;
    let response = service
        .clone()
        .oneshot(max_age_zero(get("/x")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let rejection = response.extensions().get::<Rejection>().unwrap();
    assert_eq!(rejection.response_type(), GatewayResponseType::AccessDenied);
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        body["type"],
        "urn:apigw:problem:access-denied:unauthorized-cache-invalidation"
    );
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test]
async fn c7_succeed_without_response_header_ignores_silently() {
    let (backend, calls) = numbered();
    let service = layer(
        ResponseCacheLayer::builder().unauthorized_cache_control_header_strategy(
            UnauthorizedCacheControlHeaderStrategy::SucceedWithoutResponseHeader,
        ),
    )
    .layer(backend);
    send(&service, get("/x")).await;
    let answer = send(&service, max_age_zero(get("/x"))).await;
    assert_eq!(answer.x_cache(), Some("Hit"));
    assert!(answer.headers.get("warning").is_none());
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test]
async fn c7_without_required_authorization_anyone_may_invalidate() {
    let (backend, calls) = numbered();
    let service =
        layer(ResponseCacheLayer::builder().require_authorization_for_cache_control(false))
            .layer(backend);
    send(&service, get("/x")).await;
    assert_eq!(send(&service, max_age_zero(get("/x"))).await.body, "call 2");
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn flush_and_invalidate_if_drop_entries() {
    let (backend, calls) = numbered();
    let routes = RouteTable::builder()
        .route("GET /orders/{id}", RouteCacheSettings::new())
        .unwrap()
        .route("GET /users/{id}", RouteCacheSettings::new())
        .unwrap()
        .build()
        .unwrap();
    let cache = layer(ResponseCacheLayer::builder().routes(routes));
    let service = cache.layer(backend);
    for uri in ["/orders/1", "/orders/2", "/users/1"] {
        send(&service, get(uri)).await;
    }
    cache.invalidate_if(|entry| {
        entry
            .route_key
            .as_ref()
            .is_some_and(|k| k.to_string() == "GET /orders/{id}")
    });
    assert_eq!(
        send(&service, get("/orders/1")).await.x_cache(),
        Some("Miss")
    );
    assert_eq!(send(&service, get("/users/1")).await.x_cache(), Some("Hit"));
    cache.flush();
    assert_eq!(
        send(&service, get("/users/1")).await.x_cache(),
        Some("Miss")
    );
    assert_eq!(calls.load(SeqCst), 5);
}

// ---- C8: limits and streaming -------------------------------------------------------

#[tokio::test]
async fn c8_an_item_over_1_mib_is_served_but_not_stored() {
    let (backend, calls) = backend(|request: &Req, _| {
        let size = if request.uri().path() == "/big" {
            (1 << 20) + 1
        } else {
            1 << 20
        };
        ok(vec![b'x'; size])
    });
    let cache = layer(ResponseCacheLayer::builder());
    let service = cache.layer(backend);
    let big = send(&service, get("/big")).await;
    assert_eq!(big.body.len(), (1 << 20) + 1);
    assert_eq!(send(&service, get("/big")).await.x_cache(), Some("Miss"));
    send(&service, get("/exact")).await;
    let exact = send(&service, get("/exact")).await;
    assert_eq!(exact.x_cache(), Some("Hit"));
    assert_eq!(exact.body.len(), 1 << 20);
    assert_eq!(calls.load(SeqCst), 3);
    assert_eq!(cache.stats().stores, 1);
}

#[tokio::test]
async fn c8_total_capacity_is_bounded_in_bytes_and_evictions_are_counted() {
    let (backend, _) = backend(|_, _| ok(vec![b'x'; 10_000]));
    let cache = layer(
        ResponseCacheLayer::builder()
            .max_capacity(100_000)
            .max_item_size(20_000),
    );
    let service = cache.layer(backend);
    for i in 0..50 {
        send(&service, get(&format!("/item/{i}"))).await;
    }
    let stats = cache.stats();
    assert_eq!(stats.stores, 50);
    assert!(stats.weighted_size <= 100_000, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
}

/// A body of `chunks` × 64 KiB that counts how many chunks were pulled.
struct CountingBody {
    remaining: usize,
    pulled: Arc<AtomicUsize>,
    exact: bool,
}

const CHUNK: usize = 64 * 1024;

impl Body for CountingBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        self.remaining -= 1;
        self.pulled.fetch_add(1, SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'z'; CHUNK])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact((self.remaining * CHUNK) as u64)
        } else {
            SizeHint::default()
        }
    }
}

async fn stream_five_mib(exact: bool) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let source = Arc::clone(&pulled);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let backend = service_fn(move |_request: Req| {
        counter.fetch_add(1, SeqCst);
        let body = CountingBody {
            remaining: 80, // 80 × 64 KiB = 5 MiB
            pulled: Arc::clone(&source),
            exact,
        };
        async move { Ok::<_, Infallible>(Response::new(body)) }
    });
    let cache = layer(ResponseCacheLayer::builder());
    let service = cache.layer(backend);
    let response = service.clone().oneshot(get("/video")).await.unwrap();
    assert_eq!(response.headers()["x-cache"], "Miss");
    // Nothing was read ahead of the client.
    assert_eq!(pulled.load(SeqCst), 0);
    let mut body = response.into_body();
    let mut received = 0;
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        received += data.len();
        // The layer pulls one frame per frame the client takes.
        assert_eq!(pulled.load(SeqCst) * CHUNK, received);
    }
    assert_eq!(received, 5 << 20);
    assert_eq!(cache.stats().stores, 0);
    assert_eq!(
        service
            .clone()
            .oneshot(get("/video"))
            .await
            .unwrap()
            .headers()["x-cache"],
        "Miss"
    );
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn c8_a_5_mib_body_of_known_size_streams_through_without_buffering() {
    stream_five_mib(true).await;
}

#[tokio::test]
async fn c8_a_5_mib_body_of_unknown_size_streams_through_without_buffering() {
    stream_five_mib(false).await;
}

#[tokio::test(start_paused = true)]
async fn a_body_declared_over_the_limit_releases_waiters_at_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let backend = service_fn(move |_request: Req| {
        counter.fetch_add(1, SeqCst);
        async {
            Ok::<_, Infallible>(Response::new(CountingBody {
                remaining: 80,
                pulled: Arc::default(),
                exact: true,
            }))
        }
    });
    let mut service = layer(ResponseCacheLayer::builder()).layer(backend);
    let leader = service.ready().await.unwrap().call(get("/video"));
    let waiter = service.ready().await.unwrap().call(get("/video"));
    // The leader's client holds its body unread; the waiter is not kept waiting for it.
    let _leader = leader.await.unwrap();
    let started = tokio::time::Instant::now();
    let waiter = waiter.await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(waiter.headers()["x-cache"], "Miss");
    assert_eq!(calls.load(SeqCst), 2);
}

// ---- single flight ----------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn one_hundred_concurrent_misses_make_one_backend_call() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let backend = service_fn(move |_request: Req| {
        let n = counter.fetch_add(1, SeqCst) + 1;
        async move {
            // Paused time: this completes only once every task is waiting.
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, Infallible>(ok(format!("call {n}")))
        }
    });
    let cache = layer(ResponseCacheLayer::builder());
    let service = cache.layer(backend);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { send(&service, get("/hot")).await })
        })
        .collect();
    let mut hits = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        assert_eq!(answer.body, "call 1");
        hits += usize::from(answer.x_cache() == Some("Hit"));
    }
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(hits, 99);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits, stats.coalesced), (1, 99, 99));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_concurrent_misses_make_one_backend_call_on_a_multi_thread_runtime() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let (counter, backend_gate) = (Arc::clone(&calls), Arc::clone(&gate));
    let backend = service_fn(move |_request: Req| {
        let n = counter.fetch_add(1, SeqCst) + 1;
        let gate = Arc::clone(&backend_gate);
        async move {
            let _permit = gate.acquire().await.unwrap();
            Ok::<_, Infallible>(ok(format!("call {n}")))
        }
    });
    let cache = layer(ResponseCacheLayer::builder());
    let service = cache.layer(backend);
    // Every request has joined the flight before the backend may answer.
    let mut futures = Vec::new();
    for _ in 0..100 {
        let mut service = service.clone();
        futures.push(service.ready().await.unwrap().call(get("/hot")));
    }
    let tasks: Vec<_> = futures
        .into_iter()
        .map(|future| {
            tokio::spawn(async move {
                let response = future.await.unwrap();
                let x_cache = response.headers()["x-cache"].clone();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (x_cache, body)
            })
        })
        .collect();
    gate.add_permits(100);
    for task in tasks {
        let (_, body) = task.await.unwrap();
        assert_eq!(body, "call 1");
    }
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(cache.stats().coalesced, 99);
}

#[tokio::test(start_paused = true)]
async fn waiters_stop_waiting_for_a_stuck_leader_after_the_timeout() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let backend = service_fn(move |_request: Req| {
        let n = counter.fetch_add(1, SeqCst) + 1;
        async move {
            if n == 1 {
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(ok(format!("call {n}")))
        }
    });
    let service =
        layer(ResponseCacheLayer::builder().single_flight_timeout(Duration::from_secs(2)))
            .layer(backend);
    let stuck = tokio::spawn({
        let service = service.clone();
        async move { send(&service, get("/x")).await }
    });
    tokio::task::yield_now().await;
    let started = tokio::time::Instant::now();
    let waiter = send(&service, get("/x")).await;
    assert_eq!(waiter.body, "call 2");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert!(!stuck.is_finished());
    stuck.abort();
}

#[tokio::test]
async fn a_cancelled_leader_hands_over_to_a_waiter() {
    let (backend, calls) = numbered();
    let cache = layer(ResponseCacheLayer::builder());
    let mut service = cache.layer(backend);
    let leader = service.ready().await.unwrap().call(get("/x"));
    let waiter = service.ready().await.unwrap().call(get("/x"));
    drop(leader);
    let response = waiter.await.unwrap();
    assert_eq!(response.headers()["x-cache"], "Miss");
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "call 2"
    );
    assert_eq!(send(&service, get("/x")).await.x_cache(), Some("Hit"));
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn waiters_fetch_for_themselves_when_the_response_cannot_be_stored() {
    let (backend, calls) =
        backend(|_, n| with_header(ok(format!("call {n}")), "cache-control", "no-store"));
    let mut service = layer(ResponseCacheLayer::builder()).layer(backend);
    let leader = service.ready().await.unwrap().call(get("/x"));
    let waiter = service.ready().await.unwrap().call(get("/x"));
    let (leader, waiter) = tokio::join!(leader, waiter);
    let leader = leader
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let waiter = waiter
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(leader, "call 1");
    assert_eq!(waiter, "call 2");
    assert_eq!(calls.load(SeqCst), 2);
}

#[tokio::test]
async fn backend_errors_pass_through_as_the_inner_error() {
    let backend = service_fn(|_request: Req| async { Err::<Response<Full<Bytes>>, _>("boom") });
    let service = layer(ResponseCacheLayer::builder()).layer(backend);
    assert_eq!(service.oneshot(get("/x")).await.unwrap_err(), "boom");
}

// ---- configuration ------------------------------------------------------------------------

#[tokio::test]
async fn config_in_api_gateway_vocabulary_builds_the_layer() {
    let config: ResponseCacheConfig = serde_json::from_value(serde_json::json!({
        "cachingEnabled": true,
        "cacheTtlInSeconds": 60,
        "cacheKeyParameters": ["method.request.querystring.type"],
        "requireAuthorizationForCacheControl": true,
        "unauthorizedCacheControlHeaderStrategy": "FAIL_WITH_403",
        "cacheableStatusCodes": [200],
        "maxItemSizeInBytes": 1024,
        "cacheSizeInBytes": 1048576,
        "routes": {
            "POST /search": { "cachingEnabled": true, "cacheTtlInSeconds": 10 }
        }
    }))
    .unwrap();
    let cache = ResponseCacheLayer::try_from(config).unwrap();
    let (backend, calls) = numbered();
    let service = cache.layer(backend);
    send(&service, get("/e?type=a&x=1")).await;
    assert_eq!(
        send(&service, get("/e?type=a&x=2")).await.x_cache(),
        Some("Hit")
    );
    let post = || Request::post("/search").body(Full::default()).unwrap();
    send(&service, post()).await;
    assert_eq!(send(&service, post()).await.x_cache(), Some("Hit"));
    assert_eq!(
        send(&service, max_age_zero(get("/e?type=a"))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(calls.load(SeqCst), 2);
}

#[test]
fn config_refuses_unknown_fields_and_bad_values() {
    assert!(
        serde_json::from_value::<ResponseCacheConfig>(serde_json::json!({"cacheTTL": 5})).is_err()
    );
    let too_long: ResponseCacheConfig =
        serde_json::from_value(serde_json::json!({"cacheTtlInSeconds": 3601})).unwrap();
    assert!(ResponseCacheLayer::try_from(too_long).is_err());
    assert!(
        serde_json::from_value::<ResponseCacheConfig>(
            serde_json::json!({"cacheKeyParameters": ["method.request.body.x"]})
        )
        .is_err()
    );
    let parameter: CacheKeyParameter = "method.request.header.x-tenant".parse().unwrap();
    assert_eq!(
        serde_json::to_value(&parameter).unwrap(),
        "method.request.header.x-tenant"
    );
}

#[tokio::test]
async fn gateway_responses_render_the_403_in_aws_style() {
    let (backend, _) = numbered();
    let service = layer(
        ResponseCacheLayer::builder()
            .unauthorized_cache_control_header_strategy(
                UnauthorizedCacheControlHeaderStrategy::FailWith403,
            )
            .gateway_responses(apigw::problem::GatewayResponses::aws()),
    )
    .layer(backend);
    let denied = send(&service, max_age_zero(get("/x"))).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.headers["x-amzn-errortype"], "AccessDeniedException");
}

#[tokio::test]
async fn a_miss_served_by_hyper_over_a_socket_is_stored() {
    // hyper stops polling a body once it reports its end: the store must not wait for `None`.
    let (backend, calls) = numbered();
    let service = layer(ResponseCacheLayer::builder()).layer(backend);
    let service = tower::ServiceBuilder::new()
        .map_request(|request: Request<hyper::body::Incoming>| request.map(|_| Full::default()))
        .service(service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let service = hyper_util::service::TowerToHyperService::new(service);
        hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .await
            .unwrap();
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let request = Request::get("/x")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let x_cache = response.headers()["x-cache"].to_str().unwrap().to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        seen.push((x_cache, body));
    }
    assert_eq!(seen[0], ("Miss".to_owned(), Bytes::from("call 1")));
    assert_eq!(seen[1], ("Hit".to_owned(), Bytes::from("call 1")));
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test]
async fn head_uses_the_get_routes_settings_and_entry() {
    let (backend, calls) = numbered();
    let routes = one_route(
        "GET /items/{id}",
        RouteCacheSettings::new()
            .cache_key_parameters(["method.request.querystring.v".parse().unwrap()]),
    );
    let service = layer(ResponseCacheLayer::builder().routes(routes)).layer(backend);
    send(&service, get("/items/1?v=2")).await;
    let head = Request::head("/items/1?v=2").body(Full::default()).unwrap();
    assert_eq!(send(&service, head).await.x_cache(), Some("Hit"));
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test]
async fn head_under_an_axum_route_is_answered_from_the_get_entry() {
    use axum::routing::get as axum_get;
    let cache = layer(ResponseCacheLayer::builder());
    let app = axum::Router::new()
        .route("/doc/{id}", axum_get(|| async { "document" }))
        .route_layer(cache.clone());
    let get_response = app
        .clone()
        .oneshot(
            Request::get("/doc/1")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    get_response.into_body().collect().await.unwrap();
    let head = app
        .oneshot(
            Request::head("/doc/1")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(head.headers()["x-cache"], "Hit");
    assert_eq!(head.headers()["content-length"], "8");
}

// ---- futures polled after completion -------------------------------------

/// Polls `future` once with a no-op waker.
fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(std::task::Waker::noop()))
}

#[tokio::test]
async fn a_completed_response_future_is_pending_not_a_500_nor_a_panic() {
    // `std::future::Ready` panics when polled twice, so a second poll of the
    // backend's future would panic the server.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let backend = service_fn(move |_: Req| {
        counter.fetch_add(1, SeqCst);
        std::future::ready(Ok::<_, Infallible>(ok("fresh")))
    });
    let mut service = layer(ResponseCacheLayer::builder()).layer(backend);

    // A miss: the backend's future completes once, then the future is fused.
    let mut miss = Box::pin(service.call(get("/fused")));
    let Poll::Ready(Ok(response)) = poll_once(&mut miss) else {
        panic!("a miss over a ready backend completes at once");
    };
    assert_eq!(response.headers()["x-cache"], "Miss");
    assert!(miss.is_terminated());
    assert!(poll_once(&mut miss).is_pending());
    assert!(poll_once(&mut miss).is_pending());
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "fresh"
    );

    // A hit: ready at once, then pending — not a made-up 500.
    let mut hit = Box::pin(service.call(get("/fused")));
    let Poll::Ready(Ok(response)) = poll_once(&mut hit) else {
        panic!("a hit completes at once");
    };
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-cache"], "Hit");
    assert!(hit.is_terminated());
    assert!(poll_once(&mut hit).is_pending());
    assert_eq!(calls.load(SeqCst), 1);
}

// ---- metrics ---------------------------------------------------------------

/// Hits, misses, stores and evictions reach the `metrics` facade under API
/// Gateway's names, labelled by route and stage, and an outer
/// `GatewayMetricsLayer` does not count the `X-Cache` header a second time.
#[cfg(feature = "metrics")]
#[test]
fn hits_misses_stores_and_evictions_are_exported_once_through_the_metrics_facade() {
    use apigw::metrics::GatewayMetricsLayer;
    use apigw::route::MatchRouteLayer;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (clock, shared_clock) = manual();
    let (backend, calls) = numbered();
    let table = RouteTable::builder()
        .stage("prod")
        .route("GET /orders/{id}", ())
        .unwrap()
        .build()
        .unwrap();
    let cache = layer(ResponseCacheLayer::builder().with_clock(shared_clock));
    let service = tower::ServiceBuilder::new()
        .layer(GatewayMetricsLayer::new())
        .layer(MatchRouteLayer::new(table))
        .layer(cache.clone())
        .service(backend);
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(async {
                assert_eq!(
                    send(&service, get("/orders/1")).await.x_cache(),
                    Some("Miss")
                );
                assert_eq!(
                    send(&service, get("/orders/1")).await.x_cache(),
                    Some("Hit")
                );
                assert_eq!(
                    send(&service, get("/orders/1")).await.x_cache(),
                    Some("Hit")
                );
                // Expired: an eviction, then a miss and a store again.
                clock.advance(Duration::from_secs(301));
                assert_eq!(
                    send(&service, get("/orders/1")).await.x_cache(),
                    Some("Miss")
                );
            });
    });
    assert_eq!(calls.load(SeqCst), 2);
    type Labels = Vec<(String, String)>;
    let counters: Vec<(String, Labels, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(n) => Some((
                key.key().name().to_owned(),
                key.key()
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect(),
                n,
            )),
            _ => None,
        })
        .collect();
    let count = |name: &str| -> u64 {
        counters
            .iter()
            .filter(|(n, _, _)| n == name)
            .inspect(|(_, labels, _)| {
                assert!(labels.contains(&("route".into(), "GET /orders/{id}".into())));
                assert!(labels.contains(&("stage".into(), "prod".into())));
            })
            .map(|(_, _, n)| n)
            .sum()
    };
    assert_eq!(count("CacheHitCount"), 2, "{counters:?}");
    assert_eq!(count("CacheMissCount"), 2, "{counters:?}");
    assert_eq!(count("CacheStoreCount"), 2, "{counters:?}");
    assert_eq!(count("CacheEvictionCount"), 1, "{counters:?}");
    assert_eq!(count("Count"), 4, "{counters:?}");
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.stores), (2, 2, 2));
}
