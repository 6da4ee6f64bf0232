//! Request validation as API Gateway does it — required parameters and JSON
//! Schema body models per route — but telling the client exactly what is
//! wrong.
//!
//! [`RequestValidatorLayer`] looks up the request's route (in its own
//! [`RouteTable`](crate::route::RouteTable), keyed by API Gateway route keys,
//! or `$default` under axum's `route_layer`) and applies that route's
//! [`RouteRules`]:
//!
//! 1. **Parameters** (validator kinds `Parameters` and `BodyAndParameters`):
//!    every required path parameter, query-string parameter and header must
//!    be present and non-blank (`?q=` and `?q=%20` count as missing). All
//!    missing ones are listed at once.
//! 2. **Body** (kinds `Body` and `BodyAndParameters`), after the parameters:
//!    the model is chosen by the request's `Content-Type` (its media type,
//!    case-insensitive; no `Content-Type` means `application/json`, and
//!    `$default` catches types with no model of their own). A body whose
//!    content type has no model passes through **unread**, as in API
//!    Gateway, unless the route [requires JSON](RouteRules::require_json).
//!    Otherwise the body is read under a size limit, parsed — refusing
//!    duplicate object keys and nesting beyond a limit — and validated
//!    against the model, collecting every violation.
//!
//! A request that passes goes on with its body bytes unchanged (the inner
//! service receives a [`GatewayBody`](crate::body::GatewayBody) holding
//! exactly the bytes that were validated, so the backend cannot see anything
//! else) and the parsed body in a [`ValidatedBody`] extension, so nothing
//! parses it twice.
//!
//! # Rejections
//!
//! | when | status | gateway response | problem `type` |
//! |---|---|---|---|
//! | required parameters missing or blank | 400 | `BAD_REQUEST_PARAMETERS` | `urn:apigw:problem:bad-request-parameters:missing-parameters` |
//! | body does not match its model | 400 | `BAD_REQUEST_BODY` | `urn:apigw:problem:bad-request-body:invalid-body` |
//! | body is not JSON (or is empty) | 400 | `BAD_REQUEST_BODY` | `urn:apigw:problem:bad-request-body:malformed-json` |
//! | an object repeats a key | 400 | `BAD_REQUEST_BODY` | `urn:apigw:problem:bad-request-body:duplicate-key` |
//! | nesting over [`max_depth`](RequestValidatorLayerBuilder::max_depth) | 400 | `BAD_REQUEST_BODY` | `urn:apigw:problem:bad-request-body:too-deep` |
//! | body over [`max_body_bytes`](RequestValidatorLayerBuilder::max_body_bytes) | 413 | `REQUEST_TOO_LARGE` | `urn:apigw:problem:request-too-large:body-too-large` |
//! | not JSON on a route that [requires JSON](RouteRules::require_json) | 415 | `UNSUPPORTED_MEDIA_TYPE` | `urn:apigw:problem:unsupported-media-type:json-body-required` |
//!
//! Problem bodies carry an `errors` array. For parameters:
//! `{"in": "querystring", "parameter": "q", "message": …}`; for bodies:
//! `{"pointer": "/items/0/qty", "keyword": "minimum", "message": …}` — the
//! JSON pointer into the body, the schema keyword that failed (`syntax` for
//! JSON that could not be parsed), and a message that **never repeats a
//! submitted value** (keys appear only in pointers). At most
//! [`max_violations`](RequestValidatorLayerBuilder::max_violations) are
//! listed, then `errorsTruncated: true`. With
//! [`GatewayResponses::aws`](crate::problem::GatewayResponses::aws) the
//! bodies are API Gateway's own: `{"message": "Missing required request
//! parameters: [q, x-tenant]"}` and `{"message": "Invalid request body"}`.
//! The typed [`ValidationRejection`] is in the response extensions.
//!
//! # Models
//!
//! Models are JSON Schema, compiled once by [`build`](RequestValidatorLayerBuilder::build)
//! with the [`jsonschema`](https://docs.rs/jsonschema) crate, draft 4 by
//! default (API Gateway's dialect) or [draft 6, 7, 2019-09 or 2020-12](Draft);
//! a model's own `$schema` wins. Named models live at
//! `https://apigw.invalid/models/<name>` and refer to each other by name
//! (`{"$ref": "Item"}`); API Gateway's `Empty` model is built in. Other
//! documents can be [registered in memory](RequestValidatorLayerBuilder::resource).
//!
//! **Nothing is ever fetched**: `jsonschema` is built without its HTTP and
//! file resolvers, and every retrieval is refused, so a `$ref` to anything
//! not registered — `http://169.254.169.254/…`, `file:///etc/passwd` — is a
//! [`ConfigError`](crate::ConfigError) at build time, not a connection.
//!
//! # OpenAPI
//!
//! [`RequestValidatorLayerBuilder::openapi`] reads an OpenAPI 3.0 or 3.1
//! document: one route per operation (`x-amazon-apigateway-any-method` is
//! `ANY`), the required `parameters` of the path item and the operation
//! (`path`, `query`, `header`; local `$ref`s followed; cookies are not
//! validated), `requestBody.content.<media type>.schema` as the models
//! (`*/*` becomes `$default`; `requestBody.required: false` lets an empty
//! body through), `components.schemas` references resolved inside the
//! document, and API Gateway's `x-amazon-apigateway-request-validators` /
//! `x-amazon-apigateway-request-validator` (API-wide and per operation).
//! OpenAPI 3.0 schemas are read as draft 4 with `nullable: true` turned into
//! a `null` type; 3.1 as 2020-12 (or its `jsonSchemaDialect`).
//!
//! One deviation from API Gateway: a route that names no validator, in an
//! API without a default validator, validates **both** body and parameters
//! (API Gateway would validate nothing); name a validator with both flags
//! false to turn a route off.
//!
//! # Shadow mode
//!
//! With [`shadow(true)`](RequestValidatorLayerBuilder::shadow) every check
//! runs, failures are logged (`tracing` warn, without values) and counted in
//! [`RequestValidatorLayer::counters`], and the request goes through. The
//! body size limit still rejects: a body over it has been partly read and
//! cannot be handed on.
//!
//! # Security and performance
//!
//! * `pattern` uses a linear-time engine by default
//!   ([`PatternEngine::Linear`]): no pattern/input pair can backtrack. The
//!   backtracking engine (look-around, back-references) is opt-in and
//!   bounded by a step limit; a match over it fails validation.
//! * Duplicate keys are refused while parsing (no second pass), so the
//!   backend and the validator can never read different values for one key.
//! * Nesting is bounded ([`max_depth`](RequestValidatorLayerBuilder::max_depth),
//!   at most 127), so no body can overflow the stack.
//! * `Content-Length` over the limit is refused before reading; a body with
//!   no length stops being read as soon as it passes the limit.
//! * Trailers of a body that was read are not handed on.
//!
//! The layer's added cost for a valid 1 KiB JSON body is within 1.0–1.2×
//! of parsing it with `serde_json` and validating the parsed value with
//! `jsonschema` directly (measured in the same run by `benches/validate.rs`;
//! figures in `BENCHMARKS.md`). The body is parsed once, and a valid body
//! is checked with `jsonschema`'s fast `is_valid` path; error locations are
//! collected only for invalid bodies.
//!
//! # Example
//!
//! ```
//! use apigw::validate::{RequestValidatorLayer, RouteRules, ValidatedBody};
//! use axum::{Router, routing::post};
//! use http::{Request, StatusCode};
//! use serde_json::json;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let validator = RequestValidatorLayer::builder()
//!     .model("Order", json!({
//!         "type": "object",
//!         "required": ["sku", "qty"],
//!         "properties": {
//!             "sku": {"type": "string"},
//!             "qty": {"type": "integer", "minimum": 1}
//!         }
//!     }))
//!     .route("POST /orders", RouteRules::new()
//!         .required_header("x-tenant")
//!         .model("application/json", "Order"))?
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/orders", post(|body: ValidatedBody| async move { body["sku"].to_string() }))
//!     .layer(validator);
//!
//! let good = Request::post("/orders")
//!     .header("x-tenant", "acme")
//!     .header("content-type", "application/json")
//!     .body(axum::body::Body::from(r#"{"sku": "A-1", "qty": 2}"#))?;
//! assert_eq!(app.clone().oneshot(good).await?.status(), StatusCode::OK);
//!
//! let bad = Request::post("/orders")
//!     .header("x-tenant", "acme")
//!     .header("content-type", "application/json")
//!     .body(axum::body::Body::from(r#"{"sku": 7, "qty": 0}"#))?;
//! let response = app.oneshot(bad).await?;
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
//! let problem: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(problem["type"], "urn:apigw:problem:bad-request-body:invalid-body");
//! assert_eq!(problem["errors"][0]["pointer"], "/qty");
//! assert_eq!(problem["errors"][0]["keyword"], "minimum");
//! assert_eq!(problem["errors"][1]["pointer"], "/sku");
//! # Ok(()) }
//! ```

mod body;
mod error;
mod layer;
mod model;
mod openapi;
mod params;
mod service;

pub use error::{ParameterLocation, RejectionKind, ValidationRejection, Violation};
pub use layer::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_VIOLATIONS, RequestValidatorConfig,
    RequestValidatorDefinition, RequestValidatorKind, RequestValidatorLayer,
    RequestValidatorLayerBuilder, RouteRules, RouteValidationConfig, ValidationCounters,
};
pub use model::{Draft, MODEL_BASE_URI, OPENAPI_BASE_URI, PatternEngine};
#[cfg(feature = "axum")]
pub use service::MissingValidatedBody;
pub use service::{RequestValidator, ResponseFuture, ValidatedBody};
