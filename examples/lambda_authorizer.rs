//! A custom authorizer with a result cache in front of an axum app.
//!
//! `cargo run --example lambda_authorizer`, then:
//!
//! ```text
//! curl -i localhost:3000/pets -H 'authorization: allow-alice'   # 200, "hello alice"
//! curl -i localhost:3000/admin -H 'authorization: allow-alice'  # 403, implicit deny
//! curl -i localhost:3000/pets -H 'authorization: nope'          # 401
//! ```

#![allow(clippy::print_stdout)]

use apigw::events::authorizer::{AuthorizerRequest, IamPolicyResponse};
use apigw::identity::AuthorizerContext;
use apigw::lambda_authorizer::{AuthorizeError, LambdaAuthorizerCacheLayer};
use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Opaque tokens `allow-<user>` may read /pets; anything else is refused.
    let authorizer = |request: AuthorizerRequest| async move {
        let token = request.token().unwrap_or_default();
        match token.strip_prefix("allow-") {
            Some(user) => Ok(IamPolicyResponse::allow(
                user,
                "arn:aws:execute-api:*:*:*/*/GET/pets*",
            )
            .with_context("tier", "gold")),
            None => Err(AuthorizeError::Unauthorized),
        }
    };
    let layer = LambdaAuthorizerCacheLayer::builder(authorizer)
        .token("Authorization")
        .identity_validation_expression("[A-Za-z0-9-]+")
        .stage("prod")
        .build()?;
    let app = Router::new()
        .route(
            "/pets",
            get(|context: AuthorizerContext| async move {
                format!("hello {}", context.principal_id().unwrap_or("?"))
            }),
        )
        .route("/admin", get(|| async { "admin" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://127.0.0.1:3000 (Ctrl-C to stop); try:");
    println!("  curl -i localhost:3000/pets -H 'authorization: allow-alice'   # 200");
    println!(
        "  curl -i localhost:3000/admin -H 'authorization: allow-alice'  # 403, implicit deny"
    );
    println!("  curl -i localhost:3000/pets -H 'authorization: nope'          # 401");
    axum::serve(listener, app).await?;
    Ok(())
}
