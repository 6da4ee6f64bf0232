//! The JWT authorizer in front of an axum router: `cargo run --example jwt`.
//!
//! Self-contained: a static RSA key (the one the module docs use) and a token
//! it signed. The program sends a valid token, a token without the route's
//! scope, an `alg: none` token and no token, and prints what each got.
//! Point `Issuer::jwks_url` (or plain `Issuer::new` for OIDC discovery) at
//! your identity provider to use real tokens.

#![allow(clippy::print_stdout)]

use apigw::identity::JwtClaims;
use apigw::jwt::{Issuer, JwtAuthorizerLayer};
use apigw::route::RouteTable;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http_body_util::BodyExt;
use tower::ServiceExt;

const JWKS: &str = include_str!("../src/jwt/doc_jwks.json");
const TOKEN: &str = include_str!("../src/jwt/doc_token.txt");

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The token has no scope: `GET /me` needs none, `GET /admin` needs `admin`.
    let scopes = RouteTable::builder()
        .route("GET /admin", vec!["admin".to_owned()])?
        .build()?;
    let authorizer = JwtAuthorizerLayer::builder()
        .issuer(
            Issuer::new("https://issuer.example")
                .audience("my-api")
                .jwks(JWKS),
        )
        .route_scopes(scopes)
        .build()?;
    let app =
        Router::new()
            .route(
                "/me",
                get(|claims: JwtClaims| async move {
                    format!("hello {}", claims.subject().unwrap_or("?"))
                }),
            )
            .route("/admin", get(|| async { "admin area" }))
            .layer(authorizer);

    let token = TOKEN.trim();
    let cases = [
        (
            "GET /me with a valid token",
            "/me",
            Some(format!("Bearer {token}")),
        ),
        (
            "GET /admin without the admin scope",
            "/admin",
            Some(format!("Bearer {token}")),
        ),
        (
            "GET /me with alg: none",
            "/me",
            Some("Bearer eyJhbGciOiJub25lIn0.e30.c2ln".to_owned()),
        ),
        ("GET /me without a token", "/me", None),
    ];
    for (what, path, authorization) in cases {
        let mut request = http::Request::get(path);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = app.clone().oneshot(request.body(Body::empty())?).await?;
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = response.into_body().collect().await?.to_bytes();
        println!("{what}: {status}");
        if let Some(challenge) = challenge {
            println!("  WWW-Authenticate: {challenge}");
        }
        println!("  {}\n", String::from_utf8_lossy(&body));
    }
    Ok(())
}
