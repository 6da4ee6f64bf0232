//! `RequestValidatorLayer` loaded from realistic OpenAPI 3.0 and 3.1
//! documents, with `$ref`s through `components`.
#![cfg(feature = "validate")]

use std::convert::Infallible;

use apigw::validate::{
    RejectionKind, RequestValidatorConfig, RequestValidatorLayer, ValidationRejection,
};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt, service_fn};

fn orders_api_3_0() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Orders", "version": "1.0.0"},
        "x-amazon-apigateway-request-validators": {
            "all": {"validateRequestBody": true, "validateRequestParameters": true},
            "params-only": {"validateRequestBody": false, "validateRequestParameters": true},
            "none": {}
        },
        "x-amazon-apigateway-request-validator": "all",
        "paths": {
            "/orders": {
                "post": {
                    "operationId": "createOrder",
                    "parameters": [
                        {"$ref": "#/components/parameters/Tenant"},
                        {"name": "dryRun", "in": "query", "required": false, "schema": {"type": "boolean"}}
                    ],
                    "requestBody": {"$ref": "#/components/requestBodies/NewOrder"},
                    "responses": {"201": {"description": "created"}}
                },
                "get": {
                    "x-amazon-apigateway-request-validator": "params-only",
                    "parameters": [{"name": "status", "in": "query", "required": true, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "ok"}}
                }
            },
            "/orders/{orderId}": {
                "parameters": [
                    {"name": "orderId", "in": "path", "required": true, "schema": {"type": "string"}}
                ],
                "patch": {
                    "requestBody": {
                        "required": true,
                        "content": {
                            "application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/OrderPatch"}}
                        }
                    },
                    "responses": {"200": {"description": "ok"}}
                },
                "delete": {
                    "x-amazon-apigateway-request-validator": "none",
                    "parameters": [{"$ref": "#/components/parameters/Tenant"}],
                    "responses": {"204": {"description": "gone"}}
                }
            },
            "/notes": {
                "put": {
                    "requestBody": {
                        "required": false,
                        "content": {"application/json": {"schema": {"type": "object", "required": ["text"]}}}
                    },
                    "responses": {"200": {"description": "ok"}}
                }
            }
        },
        "components": {
            "parameters": {
                "Tenant": {"name": "x-tenant", "in": "header", "required": true, "schema": {"type": "string"}}
            },
            "requestBodies": {
                "NewOrder": {
                    "required": true,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewOrder"}}}
                }
            },
            "schemas": {
                "Money": {
                    "type": "object",
                    "required": ["amount", "currency"],
                    "properties": {
                        "amount": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"},
                        "currency": {"type": "string", "enum": ["EUR", "USD"]}
                    },
                    "additionalProperties": false
                },
                "LineItem": {
                    "type": "object",
                    "required": ["sku", "quantity", "price"],
                    "properties": {
                        "sku": {"type": "string", "minLength": 1},
                        "quantity": {"type": "integer", "minimum": 1, "maximum": 100},
                        "price": {"$ref": "#/components/schemas/Money"}
                    }
                },
                "NewOrder": {
                    "type": "object",
                    "required": ["customerId", "lines"],
                    "properties": {
                        "customerId": {"type": "string", "format": "uuid"},
                        "lines": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/LineItem"}},
                        "coupon": {"type": "string", "nullable": true}
                    }
                },
                "OrderPatch": {
                    "type": "object",
                    "properties": {"status": {"type": "string", "enum": ["cancelled"]}},
                    "additionalProperties": false
                }
            }
        }
    })
}

fn good_order() -> Value {
    json!({
        "customerId": "5f0c7a52-8a0e-4c42-9bd3-7d3f0a7c2b11",
        "lines": [{"sku": "A-1", "quantity": 2, "price": {"amount": "9.99", "currency": "EUR"}}],
        "coupon": null
    })
}

async fn send(layer: &RequestValidatorLayer, request: Request<Full<Bytes>>) -> (StatusCode, Value) {
    let backend = service_fn(|_: Request<_>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    });
    let response = layer.layer(backend).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn request(method: &str, uri: &str, content_type: &str, body: &Value) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("x-tenant", "acme")
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        })))
        .unwrap()
}

#[tokio::test]
async fn openapi_3_0_import_validates_bodies_through_component_refs() {
    let layer = RequestValidatorLayer::builder()
        .openapi(&orders_api_3_0())
        .unwrap()
        .build()
        .unwrap();
    let (status, _) = send(
        &layer,
        request("POST", "/orders", "application/json", &good_order()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let mut bad = good_order();
    bad["lines"][0]["price"]["amount"] = json!("9.9");
    bad["lines"][0]["quantity"] = json!(0);
    bad["coupon"] = json!(5);
    let (status, problem) =
        send(&layer, request("POST", "/orders", "application/json", &bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    pointers.sort_unstable();
    assert_eq!(
        pointers,
        ["/coupon", "/lines/0/price/amount", "/lines/0/quantity"]
    );
    assert!(problem["detail"].as_str().unwrap().contains("`NewOrder`"));
}

#[tokio::test]
async fn openapi_3_0_import_requires_parameters_from_components_and_path_items() {
    let layer = RequestValidatorLayer::builder()
        .openapi(&orders_api_3_0())
        .unwrap()
        .build()
        .unwrap();
    let no_tenant = Request::post("/orders")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            serde_json::to_vec(&good_order()).unwrap(),
        )))
        .unwrap();
    let (status, problem) = send(&layer, no_tenant).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        problem["detail"],
        "Missing required request parameters: [x-tenant]"
    );

    // GET /orders: parameters only, its body is never read.
    let (status, problem) = send(
        &layer,
        request("GET", "/orders?status=", "application/json", &json!("x")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["parameter"], "status");
    let (status, _) = send(
        &layer,
        request("GET", "/orders?status=open", "text/plain", &json!("x")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // DELETE names the validator "none": nothing is checked.
    let delete = Request::delete("/orders/7")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&layer, delete).await.0, StatusCode::OK);
}

#[tokio::test]
async fn openapi_media_types_and_optional_bodies_follow_the_document() {
    let layer = RequestValidatorLayer::builder()
        .openapi(&orders_api_3_0())
        .unwrap()
        .build()
        .unwrap();
    let patch = |ct: &str, body: Value| request("PATCH", "/orders/7", ct, &body);
    assert_eq!(
        send(
            &layer,
            patch(
                "application/merge-patch+json",
                json!({"status": "cancelled"})
            )
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, problem) = send(
        &layer,
        patch("application/merge-patch+json", json!({"status": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["keyword"], "enum");
    // No model for application/json on PATCH: passes unread, as API Gateway.
    assert_eq!(
        send(&layer, patch("application/json", json!({"status": "x"})))
            .await
            .0,
        StatusCode::OK
    );

    // PUT /notes: requestBody.required is false, so an empty body passes; a wrong one does not.
    assert_eq!(
        send(
            &layer,
            request("PUT", "/notes", "application/json", &Value::Null)
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        send(
            &layer,
            request("PUT", "/notes", "application/json", &json!({}))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn openapi_3_1_import_uses_draft_2020_12() {
    let document = json!({
        "openapi": "3.1.0",
        "info": {"title": "Items", "version": "1"},
        "paths": {"/items": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
            "responses": {"200": {"description": "ok"}}
        }}},
        "components": {"schemas": {
            "Item": {
                "type": "object",
                "properties": {
                    "tags": {"type": ["array", "null"], "prefixItems": [{"const": "primary"}]},
                    "parent": {"$ref": "#/components/schemas/Item"}
                },
                "unevaluatedProperties": false
            }
        }}
    });
    let layer = RequestValidatorLayer::builder()
        .openapi(&document)
        .unwrap()
        .build()
        .unwrap();
    let ok = json!({"tags": ["primary", "x"], "parent": {"tags": null}});
    assert_eq!(
        send(&layer, request("POST", "/items", "application/json", &ok))
            .await
            .0,
        StatusCode::OK
    );
    let bad = json!({"tags": ["secondary"], "parent": {"other": 1}});
    let (status, problem) = send(&layer, request("POST", "/items", "application/json", &bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut found: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap().into(),
                e["keyword"].as_str().unwrap().into(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("/parent/other".into(), "unevaluatedProperties".into()),
            ("/tags/0".into(), "const".into())
        ]
    );
}

#[tokio::test]
async fn openapi_errors_are_config_errors() {
    let external = json!({
        "openapi": "3.0.3",
        "paths": {"/x": {"post": {"requestBody": {"content": {"application/json": {
            "schema": {"$ref": "https://example.com/schemas/x.json"}
        }}}}}}
    });
    let error = RequestValidatorLayer::builder()
        .openapi(&external)
        .unwrap()
        .build()
        .unwrap_err();
    assert!(
        error
            .message()
            .contains("https://example.com/schemas/x.json"),
        "{error}"
    );
    assert!(
        error.message().contains("not present in a registry"),
        "{error}"
    );

    // Registered in memory, the same reference resolves.
    let layer = RequestValidatorLayer::builder()
        .resource(
            "https://example.com/schemas/x.json",
            json!({"type": "object"}),
        )
        .openapi(&external)
        .unwrap()
        .build()
        .unwrap();
    let (status, _) = send(
        &layer,
        request("POST", "/x", "application/json", &json!([1])),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert!(
        RequestValidatorLayer::builder()
            .openapi(&json!({"swagger": "2.0"}))
            .is_err()
    );
    let unknown_validator = json!({
        "openapi": "3.0.3",
        "paths": {"/x": {"get": {"x-amazon-apigateway-request-validator": "nope"}}}
    });
    assert!(
        RequestValidatorLayer::builder()
            .openapi(&unknown_validator)
            .is_err()
    );
}

#[tokio::test]
async fn openapi_document_can_come_from_config() {
    let config: RequestValidatorConfig = serde_json::from_value(json!({
        "openapi": orders_api_3_0(),
        "gatewayResponses": {"style": "aws"}
    }))
    .unwrap();
    let layer = RequestValidatorLayer::try_from(config).unwrap();
    let backend = service_fn(|_: Request<_>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let response = layer
        .layer(backend)
        .oneshot(request(
            "POST",
            "/orders",
            "application/json",
            &json!({"lines": []}),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let rejection = response.extensions().get::<ValidationRejection>().unwrap();
    assert_eq!(rejection.kind(), RejectionKind::InvalidBody);
    assert_eq!(rejection.violations().len(), 2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, r#"{"message":"Invalid request body"}"#);
}
