//! The JWT authorizer's cost per request over a no-op service, next to the
//! `jwt-authorizer` crate on the same RS256 key and tokens, and the floor:
//! a raw RS256 signature check with a pre-parsed key.
//!
//! `cargo bench --bench jwt` (figures in BENCHMARKS.md)
//!
//! * (a) `repeated_valid`: the same valid token every time;
//! * (b) `first_seen`: every token new to the layer (a pool of 512 signed
//!   tokens, a fresh layer every 512 requests, construction not timed);
//! * (c) `rejected`: a token with the right `kid` and a bad signature.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use apigw::jwt::{Issuer, JwtAuthorizerLayer};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt, service_fn};

const ISS: &str = "https://issuer.example";
const AUD: &str = "api";
const PRIVATE: &str = include_str!("../tests/jwt_keys/rsa1.pem");
const PUBLIC: &str = include_str!("../tests/jwt_keys/rsa1.pub.pem");
const IMPOSTOR: &str = include_str!("../tests/jwt_keys/rsa2.pem");
const POOL: usize = 512;

struct Fixture {
    jwks: String,
    n: String,
    e: String,
    valid: String,
    rejected: String,
    pool: Vec<String>,
}

fn fixture() -> Fixture {
    let key = EncodingKey::from_rsa_pem(PRIVATE.as_bytes()).unwrap();
    let impostor = EncodingKey::from_rsa_pem(IMPOSTOR.as_bytes()).unwrap();
    let jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap(),
    )
    .unwrap();
    let (n, e) = (
        jwk["n"].as_str().unwrap().to_owned(),
        jwk["e"].as_str().unwrap().to_owned(),
    );
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": n, "e": e}]}).to_string();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".into());
    let claims = |sub: &str| json!({"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000u64, "iat": 1_700_000_000u64, "scope": "read write"});
    let sign =
        |key: &EncodingKey, sub: &str| jsonwebtoken::encode(&header, &claims(sub), key).unwrap();
    Fixture {
        valid: sign(&key, "alice"),
        rejected: sign(&impostor, "mallory"),
        pool: (0..POOL)
            .map(|i| sign(&key, &format!("user-{i}")))
            .collect(),
        jwks,
        n,
        e,
    }
}

fn ours(jwks: &str) -> JwtAuthorizerLayer {
    JwtAuthorizerLayer::builder()
        .issuer(Issuer::new(ISS).audience(AUD).jwks(jwks))
        .build()
        .unwrap()
}

fn request(token: &str) -> Request<Full<Bytes>> {
    Request::get("/orders")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap()
}

fn noop() -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::default()))
    })
}

type PeerResponse = Response<axum_core_04::body::Body>;

fn peer_noop() -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = PeerResponse,
    Error = Infallible,
    Future = impl Future<Output = Result<PeerResponse, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(axum_core_04::body::Body::empty()))
    })
}

async fn peer_layer() -> jwt_authorizer::layer::AuthorizationLayer<Value> {
    let authorizer = jwt_authorizer::JwtAuthorizer::<Value>::from_rsa_pem_text(PUBLIC)
        .validation(jwt_authorizer::Validation::new().iss(&[ISS]).aud(&[AUD]))
        .build()
        .await
        .unwrap();
    jwt_authorizer::layer::AuthorizationLayer::new(vec![Arc::new(authorizer)])
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = fixture();
    let layer = ours(&f.jwks);
    let service = layer.layer(noop());
    let peer = runtime.block_on(peer_layer()).layer(peer_noop());

    // Sanity: both accept the valid token and refuse the bad one.
    runtime.block_on(async {
        assert_eq!(
            service
                .clone()
                .oneshot(request(&f.valid))
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            service
                .clone()
                .oneshot(request(&f.rejected))
                .await
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            peer.clone()
                .oneshot(request(&f.valid))
                .await
                .unwrap()
                .status(),
            200
        );
        assert_ne!(
            peer.clone()
                .oneshot(request(&f.rejected))
                .await
                .unwrap()
                .status(),
            200
        );
    });

    let mut floor = c.benchmark_group("jwt/floor");
    floor.bench_function("noop_service", |b| {
        let service = noop();
        b.to_async(&runtime)
            .iter(|| service.clone().oneshot(request(&f.valid)));
    });
    let key = DecodingKey::from_rsa_components(&f.n, &f.e).unwrap();
    let (input, signature) = f.valid.rsplit_once('.').unwrap();
    floor.bench_function("raw_rs256_verify_preparsed_key", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key, Algorithm::RS256)
                .unwrap()
        });
    });
    floor.finish();

    let mut repeated = c.benchmark_group("jwt/a_repeated_valid_rs256");
    repeated.bench_function("apigw", |b| {
        b.to_async(&runtime)
            .iter(|| service.clone().oneshot(request(&f.valid)));
    });
    repeated.bench_function("jwt-authorizer", |b| {
        b.to_async(&runtime)
            .iter(|| peer.clone().oneshot(request(&f.valid)));
    });
    repeated.finish();

    let mut first = c.benchmark_group("jwt/b_first_seen_rs256");
    first.bench_function("apigw", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (jwks, pool) = (f.jwks.clone(), f.pool.clone());
            async move {
                let mut total = Duration::ZERO;
                let mut service = ours(&jwks).layer(noop());
                for i in 0..iters as usize {
                    if i > 0 && i % POOL == 0 {
                        service = ours(&jwks).layer(noop());
                    }
                    let request = request(&pool[i % POOL]);
                    let started = tokio::time::Instant::now();
                    let response = service.clone().oneshot(request).await.unwrap();
                    total += started.elapsed();
                    assert_eq!(response.status(), 200);
                }
                total
            }
        });
    });
    first.bench_function("jwt-authorizer", |b| {
        let mut i = 0;
        b.to_async(&runtime).iter(|| {
            i += 1;
            peer.clone().oneshot(request(&f.pool[i % POOL]))
        });
    });
    first.finish();

    let mut rejected = c.benchmark_group("jwt/c_rejected_bad_signature");
    rejected.bench_function("apigw", |b| {
        b.to_async(&runtime)
            .iter(|| service.clone().oneshot(request(&f.rejected)));
    });
    rejected.bench_function("jwt-authorizer", |b| {
        b.to_async(&runtime)
            .iter(|| peer.clone().oneshot(request(&f.rejected)));
    });
    rejected.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
