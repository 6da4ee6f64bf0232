//! Request validation in front of an axum router, loaded from an OpenAPI
//! document: a valid order, a body that breaks the model, a missing header.
//!
//! `cargo run --example validate`
#![allow(clippy::print_stdout)] // an example prints what it shows

use apigw::validate::{RequestValidatorLayer, ValidatedBody};
use axum::Router;
use axum::routing::post;
use http::Request;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let openapi = json!({
        "openapi": "3.0.3",
        "info": {"title": "Orders", "version": "1"},
        "x-amazon-apigateway-request-validators": {
            "all": {"validateRequestBody": true, "validateRequestParameters": true}
        },
        "x-amazon-apigateway-request-validator": "all",
        "paths": {"/orders": {"post": {
            "parameters": [{"name": "x-tenant", "in": "header", "required": true}],
            "requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Order"}
            }}},
            "responses": {"201": {"description": "created"}}
        }}},
        "components": {"schemas": {"Order": {
            "type": "object",
            "required": ["sku", "qty"],
            "properties": {
                "sku": {"type": "string", "pattern": "^[A-Z]-[0-9]+$"},
                "qty": {"type": "integer", "minimum": 1}
            }
        }}}
    });
    let validator = RequestValidatorLayer::builder()
        .openapi(&openapi)?
        .build()?;

    let app = Router::new()
        .route(
            "/orders",
            post(|order: ValidatedBody| async move {
                format!("ordered {} × {}", order["qty"], order["sku"])
            }),
        )
        .layer(validator.clone());

    for (tenant, body) in [
        (Some("acme"), r#"{"sku": "A-1", "qty": 2}"#),
        (Some("acme"), r#"{"sku": "nope", "qty": 0}"#),
        (None, r#"{"sku": "A-1", "qty": 2}"#),
    ] {
        let mut request = Request::post("/orders").header("content-type", "application/json");
        if let Some(tenant) = tenant {
            request = request.header("x-tenant", tenant);
        }
        let response = app
            .clone()
            .oneshot(request.body(axum::body::Body::from(body))?)
            .await?;
        let status = response.status();
        let text = response.into_body().collect().await?.to_bytes();
        println!("{body} → {status}\n  {}\n", String::from_utf8_lossy(&text));
    }
    println!("{:?}", validator.counters());
    Ok(())
}
