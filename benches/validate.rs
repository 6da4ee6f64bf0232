//! `RequestValidatorLayer`'s added cost for a 1 KiB JSON body against a
//! typical order model, next to the floor: `serde_json` parsing into a
//! `Value` plus `jsonschema` validating the parsed value, in the same run.
//!
//! `cargo bench --bench validate`
//!
//! * `floor/parse+is_valid` — `serde_json::from_slice::<Value>` then
//!   `Validator::is_valid`, the validator compiled with the layer's options
//!   (draft 4, linear-time patterns).
//! * `bare/no-op service` — the no-op inner service alone, called the same way.
//! * `layer/valid 1KiB` — the same service behind `RequestValidatorLayer`:
//!   route lookup, parameters, body read, duplicate-key and depth checked
//!   parse, validation, extension, body rebuilt.
//!
//! Added cost = `layer` − `bare`; target: at most 1.3 × `floor`.

use std::convert::Infallible;
use std::hint::black_box;

use apigw::validate::{RequestValidatorLayer, RouteRules};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt, service_fn};

fn order_model() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "Order",
        "type": "object",
        "required": ["orderId", "customer", "lines", "currency", "shipping"],
        "properties": {
            "orderId": {"type": "string", "pattern": "^ord_[0-9a-z]{12}$"},
            "customer": {
                "type": "object",
                "required": ["id", "email"],
                "properties": {
                    "id": {"type": "string", "minLength": 1, "maxLength": 64},
                    "email": {"type": "string", "maxLength": 254},
                    "name": {"type": "string", "maxLength": 200}
                }
            },
            "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
            "lines": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["sku", "quantity", "unitPrice"],
                    "properties": {
                        "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
                        "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
                        "unitPrice": {"type": "number", "minimum": 0},
                        "note": {"type": "string", "maxLength": 200}
                    },
                    "additionalProperties": false
                }
            },
            "shipping": {
                "type": "object",
                "required": ["street", "city", "postalCode", "country"],
                "properties": {
                    "street": {"type": "string"},
                    "city": {"type": "string"},
                    "postalCode": {"type": "string", "maxLength": 16},
                    "country": {"type": "string", "pattern": "^[A-Z]{2}$"}
                }
            },
            "giftWrap": {"type": "boolean"},
            "comment": {"type": "string", "maxLength": 500}
        },
        "additionalProperties": false
    })
}

fn order_body() -> Bytes {
    let lines: Vec<Value> = (0..9)
        .map(|i| {
            json!({"sku": format!("ABC-{:04}", 1000 + i), "quantity": i + 1,
                   "unitPrice": 9.99 + f64::from(i), "note": "handle with care"})
        })
        .collect();
    let body = json!({
        "orderId": "ord_0123456789ab",
        "customer": {"id": "cus_42", "email": "jane@example.com", "name": "Jane Doe"},
        "currency": "EUR",
        "lines": lines,
        "shipping": {"street": "1 Main Street", "city": "Springfield", "postalCode": "12345", "country": "DE"},
        "giftWrap": false,
        "comment": "Leave the parcel at the front door, please."
    });
    let bytes = serde_json::to_vec(&body).unwrap();
    assert!(
        (960..=1100).contains(&bytes.len()),
        "body is {} bytes",
        bytes.len()
    );
    Bytes::from(bytes)
}

/// The inner service: answers at once, whatever the body.
fn noop<B>() -> impl tower::Service<
    Request<B>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Copy
+ Send
+ 'static {
    service_fn(|_: Request<B>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    })
}

fn bench(c: &mut Criterion) {
    let body = order_body();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(&order_model())
        .unwrap();
    assert!(validator.is_valid(&serde_json::from_slice(&body).unwrap()));

    let layer = RequestValidatorLayer::builder()
        .model("Order", order_model())
        .route(
            "POST /orders",
            RouteRules::new()
                .required_header("x-tenant")
                .model("application/json", "Order"),
        )
        .unwrap()
        .build()
        .unwrap();
    let bare = noop::<Full<Bytes>>();
    let validated = layer.layer(noop());
    let request = |body: &Bytes| {
        Request::post("/orders")
            .header("x-tenant", "acme")
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .unwrap()
    };
    // The layer really validates this body.
    let status = runtime
        .block_on(validated.clone().oneshot(request(&body)))
        .unwrap()
        .status();
    assert_eq!(status, 200);

    let mut group = c.benchmark_group("validate");
    group.bench_function("floor/parse+is_valid", |b| {
        b.iter(|| {
            let value: Value = serde_json::from_slice(black_box(&body)).unwrap();
            black_box(validator.is_valid(&value))
        });
    });
    group.bench_function("floor/parse only", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(&body)).unwrap()));
    });
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    group.bench_function("floor/is_valid only (pre-parsed)", |b| {
        b.iter(|| black_box(validator.is_valid(black_box(&parsed))));
    });
    group.bench_function("bare/no-op service", |b| {
        b.to_async(&runtime).iter(|| {
            let service = bare;
            let request = request(&body);
            async move { black_box(service.oneshot(request).await.unwrap()) }
        });
    });
    group.bench_function("layer/valid 1KiB", |b| {
        b.to_async(&runtime).iter(|| {
            let service = validated.clone();
            let request = request(&body);
            async move { black_box(service.oneshot(request).await.unwrap()) }
        });
    });
    let mut invalid: Value = serde_json::from_slice(&body).unwrap();
    invalid["lines"][0]["quantity"] = json!(0);
    invalid["currency"] = json!("XXX");
    let invalid = Bytes::from(serde_json::to_vec(&invalid).unwrap());
    group.bench_function("layer/invalid 1KiB (400 with 2 violations)", |b| {
        b.to_async(&runtime).iter(|| {
            let service = validated.clone();
            let request = request(&invalid);
            async move { black_box(service.oneshot(request).await.unwrap()) }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
