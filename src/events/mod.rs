//! Lambda proxy payloads: formats 1.0 and 2.0, and WebSocket events, with
//! API Gateway's keys and `null`s, and the conversions between them and
//! `http` requests and responses.
//!
//! | module | what | API Gateway |
//! |---|---|---|
//! | [`v1`] | [`v1::Request`], [`v1::Response`] | REST APIs; HTTP APIs with `payloadFormatVersion: "1.0"` |
//! | [`v2`] | [`v2::Request`], [`v2::Response`] | HTTP APIs (format 2.0) |
//! | [`websocket`] | [`websocket::Request`], [`websocket::Response`] | WebSocket APIs |
//! | [`authorizer`] | TOKEN / REQUEST 1.0 and REQUEST 2.0 requests, IAM policy and simple responses | custom (Lambda) authorizers |
//!
//! # Request → event
//!
//! [`v1::Request::from_http`] and [`v2::Request::from_http`] build exactly
//! the event API Gateway would send for an `http::Request`:
//!
//! * **1.0**: `headers` (last value of a repeated header) and
//!   `multiValueHeaders`; `queryStringParameters` (last value wins, `+` and
//!   `%2B` decoded) and `multiValueQueryStringParameters`, both `null`
//!   without a query; `resource` = the route template, `path` as sent;
//!   `requestContext.path` with the stage (`/prod/orders/7`),
//!   `requestTime` (CLF) and `requestTimeEpoch` (ms), `identity.sourceIp`,
//!   `identity.apiKey` / `apiKeyId` from
//!   [`ApiKeyIdentity`](crate::identity::ApiKeyIdentity); a body of a
//!   configured binary media type is base64.
//! * **2.0**: lowercase header names, a repeated header's values
//!   comma-joined; `cookies` split out of `Cookie` (which leaves `headers`);
//!   `rawPath` with the stage prefix for named stages; `rawQueryString` as
//!   sent; `routeKey`; `requestContext.http`; `time` / `timeEpoch`. The body
//!   is text only for `text/*`, `application/json`, `application/xml` and
//!   `application/javascript`, base64 otherwise (as measured on AWS,
//!   including a missing `Content-Type`).
//! * **Authorizers** — exactly where API Gateway puts them: 2.0
//!   `authorizer.jwt.claims` (every value stringified; arrays Go-style
//!   `"[a b]"`, see [`stringify_value`]) and `authorizer.jwt.scopes` from
//!   [`JwtClaims`](crate::identity::JwtClaims), `authorizer.lambda` (native
//!   JSON) from [`AuthorizerContext`](crate::identity::AuthorizerContext);
//!   1.0 `authorizer.principalId`, the context keys (stringified) and
//!   `authorizer.claims`.
//! * The request id is the [`RequestId`](crate::identity::RequestId); the
//!   route, path parameters and stage come from the
//!   [`RouteMatch`](crate::route::RouteMatch) (or axum's `MatchedPath`), or
//!   `$default`.
//!
//! # Function answer → response
//!
//! [`v1::Response::from_slice`] is as strict as API Gateway, which answers
//! 502 for an unknown top-level key, `{}`, a bare string, a non-numeric
//! `statusCode` or a string where `multiValueHeaders` wants a list, and
//! accepts a numeric-string `statusCode` and a missing one (200).
//! [`v2::Response::from_slice`] infers a 200 `application/json` response
//! from any JSON without `statusCode`. Both `into_http` conversions follow
//! API Gateway's header merge, cookie and base64 rules. Failures are
//! [`ResponseError`]s, whose text is for logs and never for clients.
//!
//! ```
//! use apigw::events::{EventOptions, v2};
//! use std::time::Duration;
//!
//! let request = http::Request::post("/orders?tag=a&tag=b")
//!     .header("cookie", "session=1; theme=dark")
//!     .header("content-type", "application/json")
//!     .body(())?;
//! let (parts, ()) = request.into_parts();
//! let event = v2::Request::from_http(&parts, br#"{"n":1}"#, &EventOptions::new(), Duration::from_secs(1_583_348_638));
//! assert_eq!(event.cookies.as_deref(), Some(&["session=1".to_owned(), "theme=dark".to_owned()][..]));
//! assert!(!event.headers.contains_key("cookie"));
//! assert_eq!(event.query_string_parameters.as_ref().unwrap()["tag"], "a,b");
//! assert_eq!(event.request_context.time, "04/Mar/2020:19:03:58 +0000");
//! assert_eq!(event.body.as_deref(), Some(r#"{"n":1}"#));
//!
//! let response = v2::Response::from_slice(br#"{"ok":true}"#)?.into_http()?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-type"], "application/json");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Performance
//!
//! [`v1::Request::json_from_http`] and [`v2::Request::json_from_http`] write
//! the event's JSON straight from the request, without building the owned
//! event; [`LambdaIntegration`](crate::integration::LambdaIntegration) uses
//! them. Header and query text that needs no escaping (nearly all) is
//! found so eight bytes at a time and copied whole, and a 1.0 event's
//! `multiValueHeaders` reuse the JSON already written for `headers`. A
//! typical 3.3 KB 1.0 round trip (request → event JSON → answer →
//! response) runs 0.46× the instructions of the same trip through
//! `aws_lambda_events` types, a 2.0 one 0.55×; 1.0 events parse 2.5×
//! faster than with `aws_lambda_events` (`benches/events.rs`).
//!
//! # Security
//!
//! A function's answer is untrusted: reading it never panics, header names
//! and values HTTP cannot carry are dropped, as are `Content-Length`,
//! `Transfer-Encoding` and other hop-by-hop headers, and
//! [`ResponseError`]'s text (which may quote the answer) is for logs only.
//! The source IP is taken from the connection (a `SocketAddr` / `IpAddr`
//! extension), never from `X-Forwarded-For`.
//!
//! # Normalisations
//!
//! Parsing then serializing an AWS sample gives the same JSON except that
//! members these types do not model are dropped, and nullable members a
//! sample leaves out are written as `null` (1.0) — the shapes API Gateway
//! itself sends. Header names arrive from `http` lowercased, so 1.0 events
//! built here have lowercase names where a REST API would keep the client's
//! casing.
//!
//! # `aws_lambda_events`
//!
//! These types are our own rather than `aws_lambda_events`'s because that
//! crate's serialization is not faithful: it lowercases 1.0 header names,
//! writes `{}` where API Gateway sends `null` (`queryStringParameters`,
//! `multiValueQueryStringParameters`, `pathParameters`, `stageVariables`),
//! and adds keys 2.0 events never have (`httpMethod`, `methodArn`, `type`,
//! …). JSON is the interface between them: an event serialized here
//! deserializes with `aws_lambda_events`, and `lambda_http` turns it into
//! the original request (tested).
//!
//! With the `aws-lambda-events` feature (not in default), `From`
//! conversions go both ways, by value and by reference, between
//! [`v1::Request`] / [`v1::Response`] and `ApiGatewayProxyRequest` /
//! `ApiGatewayProxyResponse`, [`v2::Request`] / [`v2::Response`] and
//! `ApiGatewayV2httpRequest` / `ApiGatewayV2httpResponse`, and
//! [`websocket::Request`] and `ApiGatewayWebsocketProxyRequest`, and for
//! authorizers [`authorizer::TokenRequest`] and
//! `ApiGatewayCustomAuthorizerRequest`, [`authorizer::IamPolicyResponse`]
//! and `ApiGatewayCustomAuthorizerResponse`, [`authorizer::SimpleResponse`]
//! and `ApiGatewayV2CustomAuthorizerSimpleResponse`, [`authorizer::RequestV1`]
//! and `ApiGatewayCustomAuthorizerRequestTypeRequest`, [`authorizer::RequestV2`]
//! and `ApiGatewayV2CustomAuthorizerV2Request`. They keep everything
//! the peer can represent; what it cannot is lost:
//!
//! * **to the peer**: header names are lowercased, and a header whose name
//!   or value `HeaderMap` refuses is dropped; a method `http` refuses
//!   becomes `GET`; 1.0 `version`, `requestContext.extendedRequestId`,
//!   `identity.principalOrgId` and `identity.clientCert`, and 2.0
//!   `requestContext.authentication`, are dropped (no such members); 2.0
//!   JWT claims become strings ([`stringify_value`], as API Gateway sends
//!   them anyway); a base64 answer body becomes `Body::Binary` (invalid
//!   base64 stays text).
//! * **from the peer**: an empty map becomes `None` (`null`), as the peer
//!   cannot tell them apart; header values that are not visible ASCII are
//!   read as Latin-1; a 2.0 answer's `multiValueHeaders` (not part of
//!   format 2.0) are comma-joined into `headers`; a status code outside
//!   `u16` becomes 500; in WebSocket events an all-`null` identity and a
//!   `connectedAt` / `requestTimeEpoch` of 0 become absent; a 1.0
//!   authorizer's `jwt` (which 1.0 events do not have) becomes `claims`.
//! * **policies**: the peer's statements have no `Sid`, `NotAction` or
//!   `NotResource` and only `Allow` / `Deny`, so a statement that needs
//!   them is made stricter, never looser: such an `Allow` (or any other
//!   effect) becomes a `Deny` of no resource, such a `Deny` denies every
//!   action on every resource; a `Condition` the peer's type cannot hold
//!   turns an `Allow` into that same `Deny`. A one-element `Action` /
//!   `Resource` list comes back as a string; an empty or non-object
//!   `context` as `None`.
//!
//! * **REQUEST authorizer events**: the 1.0 event's `version`,
//!   `identitySource` and `authorizationToken` (HTTP APIs' 1.0 members) have
//!   no peer member and are dropped; its `requestContext` keeps what the
//!   peer's context names (`path`, `accountId`, `resourceId`, `stage`,
//!   `requestId`, `identity.apiKey` / `apiKeyId` / `sourceIp` /
//!   `clientCert`, `resourcePath`, `httpMethod`, `apiId`) and drops the rest
//!   (WebSocket members, `requestTime`, `domainName`, …). The 2.0 event's
//!   headers are lowercased as above; its `requestContext` converts as a 2.0
//!   request's does.

pub mod authorizer;
mod common;
#[cfg(feature = "aws-lambda-events")]
mod peer;
mod request;
mod response;
pub mod v1;
pub mod v2;
pub mod websocket;

pub use common::{ClientCert, MultiValueMap, StringMap, Validity, stringify_value};
pub use request::EventOptions;
#[cfg(feature = "lambda-authorizer")]
pub(crate) use request::{joined_header, query_pairs, value_text};
pub use response::{ResponseError, ResponseErrorKind};
