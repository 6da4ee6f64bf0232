//! Shared by the JWT tests: fixed test keys (PEM files generated once with
//! openssl, test-only), token minting, a counting inner service, and a
//! scripted JWKS / OIDC server on 127.0.0.1.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use apigw::clock::ManualClock;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

pub const ISS: &str = "https://issuer.example";
pub const AUD: &str = "api";

/// A signing key and its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

impl TestKey {
    fn new(kid: &str, alg: Algorithm, encoding: EncodingKey) -> Self {
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&encoding, alg).unwrap()).unwrap();
        let object = jwk.as_object_mut().unwrap();
        object.remove("alg");
        object.insert("kid".into(), kid.into());
        Self {
            kid: kid.into(),
            alg,
            encoding,
            jwk,
        }
    }

    pub fn rsa(n: u8, kid: &str) -> Self {
        let pem = match n {
            1 => include_str!("../jwt_keys/rsa1.pem"),
            2 => include_str!("../jwt_keys/rsa2.pem"),
            _ => include_str!("../jwt_keys/rsa3.pem"),
        };
        Self::new(
            kid,
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
    }

    pub fn ec256(kid: &str) -> Self {
        let pem = include_str!("../jwt_keys/ec256.pem");
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        )
    }

    pub fn ec384(kid: &str) -> Self {
        let pem = include_str!("../jwt_keys/ec384.pem");
        Self::new(
            kid,
            Algorithm::ES384,
            EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        )
    }

    pub fn ed25519(kid: &str) -> Self {
        let pem = include_str!("../jwt_keys/ed25519.pem");
        Self::new(
            kid,
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        )
    }

    /// The same key signing with another algorithm of its family.
    pub fn with_alg(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self
    }

    pub fn with_jwk(mut self, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Self {
        edit(self.jwk.as_object_mut().unwrap());
        self
    }

    /// A token with header `{"alg", "kid"}` and these claims.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": alg_name(self.alg), "kid": self.kid, "typ": "JWT"});
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// A token over exactly these header and payload texts.
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, self.alg).unwrap();
        format!("{input}.{signature}")
    }
}

pub fn alg_name(alg: Algorithm) -> String {
    serde_json::to_value(alg)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn b64(data: impl AsRef<[u8]>) -> String {
    B64.encode(data)
}

/// A JWKS document of these keys.
pub fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

/// Valid claims at the clock's time: exp in one hour, scope `read write`.
pub fn claims(clock: &ManualClock) -> Value {
    let now = apigw::clock::Clock::unix_time(clock).as_secs();
    json!({
        "iss": ISS, "aud": AUD, "sub": "alice",
        "iat": now, "exp": now + 3600,
        "scope": "read write",
    })
}

/// Claims with some members replaced (`null` removes).
pub fn claims_with(clock: &ManualClock, changes: Value) -> Value {
    let mut claims = claims(clock);
    let Value::Object(changes) = changes else {
        panic!("changes must be an object");
    };
    for (name, value) in changes {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(&name);
        } else {
            claims[name] = value;
        }
    }
    claims
}

/// An inner service that counts calls and answers the `sub` it saw.
#[derive(Clone, Default)]
pub struct Backend {
    pub calls: Arc<AtomicUsize>,
}

impl Backend {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn service(
        &self,
    ) -> impl tower::Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl std::future::Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
    > + Clone
    + Send
    + 'static {
        let calls = Arc::clone(&self.calls);
        tower::service_fn(move |request: Request<Body>| {
            calls.fetch_add(1, Ordering::SeqCst);
            let sub = request
                .extensions()
                .get::<apigw::identity::JwtClaims>()
                .and_then(|c| c.subject().map(str::to_owned))
                .unwrap_or_default();
            async move { Ok::<_, Infallible>(Response::new(Body::from(sub))) }
        })
    }
}

pub fn request(token: &str) -> Request<Body> {
    Request::get("/orders")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// Status, the problem `type` (if any), the `WWW-Authenticate` header and
/// the body text.
pub struct Answer {
    pub status: StatusCode,
    pub problem_type: Option<String>,
    pub challenge: Option<String>,
    pub body: String,
    pub kind: Option<apigw::jwt::JwtErrorKind>,
}

pub async fn answer<B>(response: http::Response<B>) -> Answer
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let kind = response
        .extensions()
        .get::<apigw::jwt::JwtRejection>()
        .map(|r| r.kind());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let problem_type = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned));
    Answer {
        status,
        problem_type,
        challenge,
        body,
        kind,
    }
}

/// What the scripted server answers on `/jwks`.
#[derive(Clone, Debug)]
pub enum Script {
    /// 200 with this body and an optional `Cache-Control`.
    Serve(String, Option<String>),
    Status(u16),
    Garbage,
    /// Accepts the request and never answers.
    Tarpit,
    /// 302 to this location.
    Redirect(String),
    /// 200 with `Content-Length` and this many bytes.
    Huge(usize),
    /// 200, chunked, without end.
    Endless,
}

struct ServerState {
    script: Mutex<Script>,
    hits: AtomicUsize,
    other_hits: AtomicUsize,
    discovery_issuer: Mutex<String>,
    addr: Mutex<Option<SocketAddr>>,
}

/// A JWKS / OIDC server on 127.0.0.1 that counts the requests it served.
#[derive(Clone)]
pub struct JwksServer {
    pub addr: SocketAddr,
    state: Arc<ServerState>,
}

impl JwksServer {
    pub async fn start(script: Script) -> Self {
        let state = Arc::new(ServerState {
            script: Mutex::new(script),
            hits: AtomicUsize::new(0),
            other_hits: AtomicUsize::new(0),
            discovery_issuer: Mutex::new(String::new()),
            addr: Mutex::new(None),
        });
        let app = Router::new()
            .route("/jwks", axum::routing::get(jwks_handler))
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(discovery_handler),
            )
            .fallback(other_handler)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        *state.addr.lock().unwrap() = Some(addr);
        *state.discovery_issuer.lock().unwrap() = format!("http://{addr}");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    /// The issuer URL discovery works for (`http://127.0.0.1:port`).
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, script: Script) {
        *self.state.script.lock().unwrap() = script;
    }

    pub fn set_discovery_issuer(&self, issuer: &str) {
        *self.state.discovery_issuer.lock().unwrap() = issuer.to_owned();
    }

    /// Requests served on `/jwks`.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Requests on any path but `/jwks` and discovery.
    pub fn other_hits(&self) -> usize {
        self.state.other_hits.load(Ordering::SeqCst)
    }
}

async fn jwks_handler(State(state): State<Arc<ServerState>>) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let script = state.script.lock().unwrap().clone();
    match script {
        Script::Serve(body, cache_control) => {
            let mut response = ([("content-type", "application/json")], body).into_response();
            if let Some(cc) = cache_control {
                response
                    .headers_mut()
                    .insert("cache-control", cc.parse().unwrap());
            }
            response
        }
        Script::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Script::Garbage => "<html>not json".into_response(),
        Script::Tarpit => {
            std::future::pending::<()>().await;
            StatusCode::OK.into_response()
        }
        Script::Redirect(location) => (StatusCode::FOUND, [("location", location)]).into_response(),
        Script::Huge(len) => {
            let body = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(len));
            body.into_response()
        }
        Script::Endless => {
            let chunks = futures_stream_endless();
            Response::new(Body::from_stream(chunks))
        }
    }
}

fn futures_stream_endless()
-> impl futures_core::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    struct Endless;
    impl futures_core::Stream for Endless {
        type Item = Result<Bytes, Infallible>;
        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(Some(Ok(Bytes::from_static(&[b' '; 16 * 1024]))))
        }
    }
    Endless
}

async fn discovery_handler(State(state): State<Arc<ServerState>>) -> Response {
    let addr = state.addr.lock().unwrap().unwrap();
    let issuer = state.discovery_issuer.lock().unwrap().clone();
    axum::Json(json!({"issuer": issuer, "jwks_uri": format!("http://{addr}/jwks")})).into_response()
}

async fn other_handler(State(state): State<Arc<ServerState>>) -> Response {
    state.other_hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND.into_response()
}
