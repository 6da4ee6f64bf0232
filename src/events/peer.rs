//! `From` conversions to and from `aws_lambda_events` (feature
//! `aws-lambda-events`). What each direction loses is listed in the
//! module docs of [`events`](super) under "`aws_lambda_events`".

// Both directions fill member by member, so each pair of members reads side
// by side (the peer's types are non-exhaustive: they cannot be literals).
#![allow(clippy::field_reassign_with_default)]

use std::collections::{BTreeMap, HashMap};

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequest,
    ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerRequestTypeRequestContext, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayProxyResponse,
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerCognitoIdentity,
    ApiGatewayRequestAuthorizerIamDescription, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayRequestIdentity, ApiGatewayV2CustomAuthorizerSimpleResponse,
    ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpResponse, ApiGatewayWebsocketProxyRequest,
    ApiGatewayWebsocketProxyRequestContext,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::iam::{IamPolicyCondition, IamPolicyEffect, IamPolicyStatement};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value};

use super::common::{MultiValueMap, StringMap, stringify_value};
use super::{authorizer, v1, v2, websocket};

// ---- shared pieces -------------------------------------------------------

/// Appends `name: value`, skipping what `HeaderMap` cannot hold.
fn append(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.append(name, value);
    }
}

/// A header map from a map of single values (a `BTreeMap` or a `HashMap`).
fn single_headers<'a, M>(map: Option<&'a M>) -> HeaderMap
where
    &'a M: IntoIterator<Item = (&'a String, &'a String)>,
{
    let mut headers = HeaderMap::new();
    for (name, value) in map.into_iter().flatten() {
        append(&mut headers, name, value);
    }
    headers
}

/// A header map from a map of value lists (a `BTreeMap` or a `HashMap`).
fn multi_headers<'a, M>(map: Option<&'a M>) -> HeaderMap
where
    &'a M: IntoIterator<Item = (&'a String, &'a Vec<String>)>,
{
    let mut headers = HeaderMap::new();
    for (name, values) in map.into_iter().flatten() {
        for value in values {
            append(&mut headers, name, value);
        }
    }
    headers
}

fn text(value: &HeaderValue) -> String {
    super::request::value_text(value).into_owned()
}

/// A header map's last value per name; `None` when empty.
fn from_single_headers<M: FromIterator<(String, String)>>(headers: &HeaderMap) -> Option<M> {
    (!headers.is_empty()).then(|| {
        headers
            .keys()
            .filter_map(|name| {
                let last = headers.get_all(name).iter().next_back()?;
                Some((name.as_str().to_owned(), text(last)))
            })
            .collect()
    })
}

/// A header map's values per name; `None` when empty.
fn from_multi_headers<M: FromIterator<(String, Vec<String>)>>(headers: &HeaderMap) -> Option<M> {
    (!headers.is_empty()).then(|| {
        headers
            .keys()
            .map(|name| {
                let values = headers.get_all(name).iter().map(text).collect();
                (name.as_str().to_owned(), values)
            })
            .collect()
    })
}

fn query_map(map: Option<&MultiValueMap>) -> QueryMap {
    let inner: HashMap<String, Vec<String>> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    QueryMap::from(inner)
}

fn single_query_map(map: Option<&StringMap>) -> QueryMap {
    let inner: HashMap<String, String> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    QueryMap::from(inner)
}

fn from_query_map(query: &QueryMap) -> Option<MultiValueMap> {
    let mut map = MultiValueMap::new();
    for (key, value) in query.iter() {
        map.entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    (!map.is_empty()).then_some(map)
}

/// The last value of each key (API Gateway's single-value rule).
fn last_values(map: Option<&MultiValueMap>) -> Option<StringMap> {
    let map: StringMap = map?
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.last()?.clone())))
        .collect();
    (!map.is_empty()).then_some(map)
}

fn hash_map(map: Option<&StringMap>) -> HashMap<String, String> {
    map.into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn from_hash_map(map: &HashMap<String, String>) -> Option<StringMap> {
    (!map.is_empty()).then(|| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn method(method: &str) -> Method {
    Method::from_bytes(method.as_bytes()).unwrap_or_default()
}

/// An answer body: base64 text decoded into `Body::Binary`.
fn body(body: Option<&str>, is_base64_encoded: bool) -> Option<Body> {
    let body = body?;
    if is_base64_encoded && let Ok(bytes) = BASE64.decode(body) {
        return Some(Body::Binary(bytes));
    }
    Some(Body::Text(body.to_owned()))
}

/// `(body, isBase64Encoded)` of a peer body.
fn from_body(body: Option<&Body>, is_base64_encoded: bool) -> (Option<String>, bool) {
    match body {
        Some(Body::Text(text)) => (Some(text.clone()), is_base64_encoded),
        Some(Body::Binary(bytes)) => (Some(BASE64.encode(bytes)), true),
        // `Body` is non-exhaustive; `Empty` and anything new carry no text.
        _ => (None, false),
    }
}

fn status(code: i64) -> u16 {
    u16::try_from(code).unwrap_or(500)
}

fn identity(ours: &v1::Identity) -> ApiGatewayRequestIdentity {
    let mut peer = ApiGatewayRequestIdentity::default();
    peer.access_key.clone_from(&ours.access_key);
    peer.account_id.clone_from(&ours.account_id);
    peer.api_key.clone_from(&ours.api_key);
    peer.api_key_id.clone_from(&ours.api_key_id);
    peer.caller.clone_from(&ours.caller);
    peer.cognito_authentication_provider
        .clone_from(&ours.cognito_authentication_provider);
    peer.cognito_authentication_type
        .clone_from(&ours.cognito_authentication_type);
    peer.cognito_identity_id
        .clone_from(&ours.cognito_identity_id);
    peer.cognito_identity_pool_id
        .clone_from(&ours.cognito_identity_pool_id);
    peer.source_ip.clone_from(&ours.source_ip);
    peer.user.clone_from(&ours.user);
    peer.user_agent.clone_from(&ours.user_agent);
    peer.user_arn.clone_from(&ours.user_arn);
    peer
}

fn from_identity(peer: &ApiGatewayRequestIdentity) -> v1::Identity {
    let mut ours = v1::Identity::default();
    ours.access_key.clone_from(&peer.access_key);
    ours.account_id.clone_from(&peer.account_id);
    ours.api_key.clone_from(&peer.api_key);
    ours.api_key_id.clone_from(&peer.api_key_id);
    ours.caller.clone_from(&peer.caller);
    ours.cognito_authentication_provider
        .clone_from(&peer.cognito_authentication_provider);
    ours.cognito_authentication_type
        .clone_from(&peer.cognito_authentication_type);
    ours.cognito_identity_id
        .clone_from(&peer.cognito_identity_id);
    ours.cognito_identity_pool_id
        .clone_from(&peer.cognito_identity_pool_id);
    ours.source_ip.clone_from(&peer.source_ip);
    ours.user.clone_from(&peer.user);
    ours.user_agent.clone_from(&peer.user_agent);
    ours.user_arn.clone_from(&peer.user_arn);
    ours
}

/// A 1.0 / WebSocket authorizer object: every member in `fields`.
fn flat_authorizer(ours: Option<&Map<String, Value>>) -> ApiGatewayRequestAuthorizer {
    let mut peer = ApiGatewayRequestAuthorizer::default();
    peer.fields = ours
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    peer
}

fn from_flat_authorizer(peer: &ApiGatewayRequestAuthorizer) -> Option<Map<String, Value>> {
    let mut map: Map<String, Value> = peer
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(jwt) = &peer.jwt {
        // A 1.0 event has no `jwt` member; Cognito claims live in `claims`.
        map.entry("claims").or_insert_with(|| {
            Value::Object(
                jwt.claims
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        });
    }
    (!map.is_empty()).then_some(map)
}

// ---- payload format 1.0 --------------------------------------------------

impl From<&v1::Request> for ApiGatewayProxyRequest {
    fn from(ours: &v1::Request) -> Self {
        let c = &ours.request_context;
        let mut context = ApiGatewayProxyRequestContext::default();
        context.account_id.clone_from(&c.account_id);
        context.apiid.clone_from(&c.api_id);
        context.authorizer = flat_authorizer(c.authorizer.as_ref());
        context.domain_name.clone_from(&c.domain_name);
        context.domain_prefix.clone_from(&c.domain_prefix);
        context.http_method = method(&c.http_method);
        context.identity = identity(&c.identity);
        context.operation_name.clone_from(&c.operation_name);
        context.path.clone_from(&c.path);
        context.protocol.clone_from(&c.protocol);
        context.request_id.clone_from(&c.request_id);
        context.request_time.clone_from(&c.request_time);
        context.request_time_epoch = c.request_time_epoch;
        context.resource_id.clone_from(&c.resource_id);
        context.resource_path.clone_from(&c.resource_path);
        context.stage.clone_from(&c.stage);

        let mut peer = Self::default();
        peer.resource = Some(ours.resource.clone());
        peer.path = Some(ours.path.clone());
        peer.http_method = method(&ours.http_method);
        peer.headers = single_headers(ours.headers.as_ref());
        peer.multi_value_headers = multi_headers(ours.multi_value_headers.as_ref());
        peer.query_string_parameters = single_query_map(ours.query_string_parameters.as_ref());
        peer.multi_value_query_string_parameters =
            query_map(ours.multi_value_query_string_parameters.as_ref());
        peer.path_parameters = hash_map(ours.path_parameters.as_ref());
        peer.stage_variables = hash_map(ours.stage_variables.as_ref());
        peer.request_context = context;
        peer.body.clone_from(&ours.body);
        peer.is_base64_encoded = ours.is_base64_encoded;
        peer
    }
}

impl From<v1::Request> for ApiGatewayProxyRequest {
    fn from(ours: v1::Request) -> Self {
        Self::from(&ours)
    }
}

impl From<&ApiGatewayProxyRequest> for v1::Request {
    fn from(peer: &ApiGatewayProxyRequest) -> Self {
        let c = &peer.request_context;
        let mut context = v1::RequestContext::default();
        context.account_id.clone_from(&c.account_id);
        context.api_id.clone_from(&c.apiid);
        context.authorizer = from_flat_authorizer(&c.authorizer);
        context.domain_name.clone_from(&c.domain_name);
        context.domain_prefix.clone_from(&c.domain_prefix);
        context.http_method = c.http_method.as_str().to_owned();
        context.identity = from_identity(&c.identity);
        context.operation_name.clone_from(&c.operation_name);
        context.path.clone_from(&c.path);
        context.protocol.clone_from(&c.protocol);
        context.request_id.clone_from(&c.request_id);
        context.request_time.clone_from(&c.request_time);
        context.request_time_epoch = c.request_time_epoch;
        context.resource_id.clone_from(&c.resource_id);
        context.resource_path.clone_from(&c.resource_path);
        context.stage.clone_from(&c.stage);

        let mut ours = Self::default();
        ours.resource = peer.resource.clone().unwrap_or_default();
        ours.path = peer.path.clone().unwrap_or_default();
        ours.http_method = peer.http_method.as_str().to_owned();
        ours.multi_value_headers = from_multi_headers(&peer.multi_value_headers);
        ours.headers = from_single_headers(&peer.headers);
        ours.multi_value_query_string_parameters =
            from_query_map(&peer.multi_value_query_string_parameters);
        ours.query_string_parameters =
            last_values(from_query_map(&peer.query_string_parameters).as_ref());
        ours.path_parameters = from_hash_map(&peer.path_parameters);
        ours.stage_variables = from_hash_map(&peer.stage_variables);
        ours.request_context = context;
        ours.body.clone_from(&peer.body);
        ours.is_base64_encoded = peer.is_base64_encoded;
        ours
    }
}

impl From<ApiGatewayProxyRequest> for v1::Request {
    fn from(peer: ApiGatewayProxyRequest) -> Self {
        Self::from(&peer)
    }
}

impl From<&v1::Response> for ApiGatewayProxyResponse {
    fn from(ours: &v1::Response) -> Self {
        let mut peer = Self::default();
        peer.status_code = i64::from(ours.status_code);
        peer.headers = single_headers(ours.headers.as_ref());
        peer.multi_value_headers = multi_headers(ours.multi_value_headers.as_ref());
        peer.body = body(ours.body.as_deref(), ours.is_base64_encoded);
        peer.is_base64_encoded = ours.is_base64_encoded;
        peer
    }
}

impl From<v1::Response> for ApiGatewayProxyResponse {
    fn from(ours: v1::Response) -> Self {
        Self::from(&ours)
    }
}

impl From<&ApiGatewayProxyResponse> for v1::Response {
    fn from(peer: &ApiGatewayProxyResponse) -> Self {
        let mut ours = Self::new(status(peer.status_code));
        ours.headers = from_single_headers(&peer.headers);
        ours.multi_value_headers = from_multi_headers(&peer.multi_value_headers);
        (ours.body, ours.is_base64_encoded) = from_body(peer.body.as_ref(), peer.is_base64_encoded);
        ours
    }
}

impl From<ApiGatewayProxyResponse> for v1::Response {
    fn from(peer: ApiGatewayProxyResponse) -> Self {
        Self::from(&peer)
    }
}

// ---- payload format 2.0 --------------------------------------------------

fn v2_authorizer(ours: &v2::Authorizer) -> ApiGatewayRequestAuthorizer {
    let mut peer = ApiGatewayRequestAuthorizer::default();
    peer.jwt = ours.jwt.as_ref().map(|jwt| {
        let mut description = ApiGatewayRequestAuthorizerJwtDescription::default();
        description.claims = jwt
            .claims
            .iter()
            .map(|(k, v)| (k.clone(), stringify_value(v)))
            .collect();
        description.scopes.clone_from(&jwt.scopes);
        description
    });
    peer.fields = ours
        .lambda
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    peer.iam = ours.iam.as_ref().map(|iam| {
        let mut description = ApiGatewayRequestAuthorizerIamDescription::default();
        description.access_key.clone_from(&iam.access_key);
        description.account_id.clone_from(&iam.account_id);
        description.caller_id.clone_from(&iam.caller_id);
        description.cognito_identity = iam.cognito_identity.as_ref().map(|c| {
            let mut cognito = ApiGatewayRequestAuthorizerCognitoIdentity::default();
            cognito.amr.clone_from(&c.amr);
            cognito.identity_id.clone_from(&c.identity_id);
            cognito.identity_pool_id.clone_from(&c.identity_pool_id);
            cognito
        });
        description
            .principal_org_id
            .clone_from(&iam.principal_org_id);
        description.user_arn.clone_from(&iam.user_arn);
        description.user_id.clone_from(&iam.user_id);
        description
    });
    peer
}

fn from_v2_authorizer(peer: &ApiGatewayRequestAuthorizer) -> v2::Authorizer {
    let mut ours = v2::Authorizer::default();
    ours.jwt = peer.jwt.as_ref().map(|jwt| {
        let mut ours = v2::Jwt::default();
        ours.claims = jwt
            .claims
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        ours.scopes.clone_from(&jwt.scopes);
        ours
    });
    ours.lambda = (!peer.fields.is_empty()).then(|| {
        peer.fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    ours.iam = peer.iam.as_ref().map(|iam| {
        let mut ours = v2::Iam::default();
        ours.access_key.clone_from(&iam.access_key);
        ours.account_id.clone_from(&iam.account_id);
        ours.caller_id.clone_from(&iam.caller_id);
        ours.cognito_identity = iam.cognito_identity.as_ref().map(|c| {
            let mut cognito = v2::CognitoIdentity::default();
            cognito.amr.clone_from(&c.amr);
            cognito.identity_id.clone_from(&c.identity_id);
            cognito.identity_pool_id.clone_from(&c.identity_pool_id);
            cognito
        });
        ours.principal_org_id.clone_from(&iam.principal_org_id);
        ours.user_arn.clone_from(&iam.user_arn);
        ours.user_id.clone_from(&iam.user_id);
        ours
    });
    ours
}

impl From<&v2::Request> for ApiGatewayV2httpRequest {
    fn from(ours: &v2::Request) -> Self {
        let c = &ours.request_context;
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.route_key = Some(c.route_key.clone());
        context.account_id = Some(c.account_id.clone());
        context.stage = Some(c.stage.clone());
        context.request_id = Some(c.request_id.clone());
        context.authorizer = c.authorizer.as_ref().map(v2_authorizer);
        context.apiid = Some(c.api_id.clone());
        context.domain_name = Some(c.domain_name.clone());
        context.domain_prefix = Some(c.domain_prefix.clone());
        context.time = Some(c.time.clone());
        context.time_epoch = c.time_epoch;
        context.http.method = method(&c.http.method);
        context.http.path = Some(c.http.path.clone());
        context.http.protocol = Some(c.http.protocol.clone());
        context.http.source_ip = Some(c.http.source_ip.clone());
        context.http.user_agent = Some(c.http.user_agent.clone());

        let mut peer = Self::default();
        peer.version = Some(ours.version.clone());
        peer.route_key = Some(ours.route_key.clone());
        peer.raw_path = Some(ours.raw_path.clone());
        peer.raw_query_string = Some(ours.raw_query_string.clone());
        peer.cookies.clone_from(&ours.cookies);
        peer.headers = single_headers(Some(&ours.headers));
        peer.query_string_parameters = single_query_map(ours.query_string_parameters.as_ref());
        peer.path_parameters = hash_map(ours.path_parameters.as_ref());
        peer.request_context = context;
        peer.stage_variables = hash_map(ours.stage_variables.as_ref());
        peer.body.clone_from(&ours.body);
        peer.is_base64_encoded = ours.is_base64_encoded;
        peer
    }
}

impl From<v2::Request> for ApiGatewayV2httpRequest {
    fn from(ours: v2::Request) -> Self {
        Self::from(&ours)
    }
}

impl From<&ApiGatewayV2httpRequest> for v2::Request {
    fn from(peer: &ApiGatewayV2httpRequest) -> Self {
        let c = &peer.request_context;
        let mut http = v2::Http::default();
        http.method = c.http.method.as_str().to_owned();
        http.path = c.http.path.clone().unwrap_or_default();
        http.protocol = c.http.protocol.clone().unwrap_or_default();
        http.source_ip = c.http.source_ip.clone().unwrap_or_default();
        http.user_agent = c.http.user_agent.clone().unwrap_or_default();
        let mut context = v2::RequestContext::default();
        context.account_id = c.account_id.clone().unwrap_or_default();
        context.api_id = c.apiid.clone().unwrap_or_default();
        context.authorizer = c.authorizer.as_ref().map(from_v2_authorizer);
        context.domain_name = c.domain_name.clone().unwrap_or_default();
        context.domain_prefix = c.domain_prefix.clone().unwrap_or_default();
        context.http = http;
        context.request_id = c.request_id.clone().unwrap_or_default();
        context.route_key = c.route_key.clone().unwrap_or_default();
        context.stage = c.stage.clone().unwrap_or_default();
        context.time = c.time.clone().unwrap_or_default();
        context.time_epoch = c.time_epoch;

        let mut ours = Self::default();
        ours.version = peer.version.clone().unwrap_or_default();
        ours.route_key = peer.route_key.clone().unwrap_or_default();
        ours.raw_path = peer.raw_path.clone().unwrap_or_default();
        ours.raw_query_string = peer.raw_query_string.clone().unwrap_or_default();
        ours.cookies.clone_from(&peer.cookies);
        // 2.0 headers are comma-joined; the peer may hold repeated values.
        ours.headers = peer
            .headers
            .keys()
            .map(|name| {
                let joined = super::request::joined_header(&peer.headers, name);
                (
                    name.as_str().to_owned(),
                    joined.unwrap_or_default().into_owned(),
                )
            })
            .collect();
        ours.query_string_parameters = from_query_map(&peer.query_string_parameters)
            .map(|map| map.into_iter().map(|(k, v)| (k, v.join(","))).collect());
        ours.path_parameters = from_hash_map(&peer.path_parameters);
        ours.stage_variables = from_hash_map(&peer.stage_variables);
        ours.request_context = context;
        ours.body.clone_from(&peer.body);
        ours.is_base64_encoded = peer.is_base64_encoded;
        ours
    }
}

impl From<ApiGatewayV2httpRequest> for v2::Request {
    fn from(peer: ApiGatewayV2httpRequest) -> Self {
        Self::from(&peer)
    }
}

impl From<&v2::Response> for ApiGatewayV2httpResponse {
    fn from(ours: &v2::Response) -> Self {
        let mut peer = Self::default();
        peer.status_code = i64::from(ours.status_code);
        peer.headers = single_headers(ours.headers.as_ref());
        peer.cookies = ours.cookies.clone().unwrap_or_default();
        peer.body = body(ours.body.as_deref(), ours.is_base64_encoded);
        peer.is_base64_encoded = ours.is_base64_encoded;
        peer
    }
}

impl From<v2::Response> for ApiGatewayV2httpResponse {
    fn from(ours: v2::Response) -> Self {
        Self::from(&ours)
    }
}

impl From<&ApiGatewayV2httpResponse> for v2::Response {
    fn from(peer: &ApiGatewayV2httpResponse) -> Self {
        let mut ours = Self::new(status(peer.status_code));
        // `multiValueHeaders` is not part of 2.0: its values join `headers`.
        let mut headers: BTreeMap<String, String> =
            from_single_headers(&peer.headers).unwrap_or_default();
        for (name, values) in from_multi_headers::<MultiValueMap>(&peer.multi_value_headers)
            .into_iter()
            .flatten()
        {
            let entry = headers.entry(name).or_default();
            for value in values {
                if !entry.is_empty() {
                    entry.push(',');
                }
                entry.push_str(&value);
            }
        }
        ours.headers = (!headers.is_empty()).then_some(headers);
        ours.cookies = (!peer.cookies.is_empty()).then(|| peer.cookies.clone());
        (ours.body, ours.is_base64_encoded) = from_body(peer.body.as_ref(), peer.is_base64_encoded);
        ours
    }
}

impl From<ApiGatewayV2httpResponse> for v2::Response {
    fn from(peer: ApiGatewayV2httpResponse) -> Self {
        Self::from(&peer)
    }
}

// ---- WebSocket -----------------------------------------------------------

impl From<&websocket::Request> for ApiGatewayWebsocketProxyRequest {
    fn from(ours: &websocket::Request) -> Self {
        let c = &ours.request_context;
        let mut context = ApiGatewayWebsocketProxyRequestContext::default();
        context.account_id.clone_from(&c.account_id);
        context.apiid.clone_from(&c.api_id);
        context.authorizer = flat_authorizer(c.authorizer.as_ref());
        context.connected_at = c.connected_at.unwrap_or_default();
        context.connection_id.clone_from(&c.connection_id);
        context.disconnect_reason.clone_from(&c.disconnect_reason);
        context.disconnect_status_code = c.disconnect_status_code;
        context.domain_name.clone_from(&c.domain_name);
        context.error.clone_from(&c.error);
        context.event_type.clone_from(&c.event_type);
        context
            .extended_request_id
            .clone_from(&c.extended_request_id);
        context.http_method = c.http_method.as_deref().map(method);
        context.identity = c.identity.as_ref().map(identity).unwrap_or_default();
        context
            .integration_latency
            .clone_from(&c.integration_latency);
        context.message_direction.clone_from(&c.message_direction);
        context.message_id.clone_from(&c.message_id);
        context.request_id.clone_from(&c.request_id);
        context.request_time.clone_from(&c.request_time);
        context.request_time_epoch = c.request_time_epoch.unwrap_or_default();
        context.resource_id.clone_from(&c.resource_id);
        context.resource_path.clone_from(&c.resource_path);
        context.route_key.clone_from(&c.route_key);
        context.stage.clone_from(&c.stage);
        context.status.clone_from(&c.status);

        let mut peer = Self::default();
        peer.resource.clone_from(&ours.resource);
        peer.path.clone_from(&ours.path);
        peer.http_method = ours.http_method.as_deref().map(method);
        peer.headers = single_headers(ours.headers.as_ref());
        peer.multi_value_headers = multi_headers(ours.multi_value_headers.as_ref());
        peer.query_string_parameters = single_query_map(ours.query_string_parameters.as_ref());
        peer.multi_value_query_string_parameters =
            query_map(ours.multi_value_query_string_parameters.as_ref());
        peer.path_parameters = hash_map(ours.path_parameters.as_ref());
        peer.stage_variables = hash_map(ours.stage_variables.as_ref());
        peer.request_context = context;
        peer.body.clone_from(&ours.body);
        peer.is_base64_encoded = ours.is_base64_encoded;
        peer
    }
}

impl From<websocket::Request> for ApiGatewayWebsocketProxyRequest {
    fn from(ours: websocket::Request) -> Self {
        Self::from(&ours)
    }
}

impl From<&ApiGatewayWebsocketProxyRequest> for websocket::Request {
    fn from(peer: &ApiGatewayWebsocketProxyRequest) -> Self {
        let c = &peer.request_context;
        let mut context = websocket::RequestContext::default();
        context.account_id.clone_from(&c.account_id);
        context.api_id.clone_from(&c.apiid);
        context.authorizer = from_flat_authorizer(&c.authorizer);
        context.connected_at = (c.connected_at != 0).then_some(c.connected_at);
        context.connection_id.clone_from(&c.connection_id);
        context.disconnect_reason.clone_from(&c.disconnect_reason);
        context.disconnect_status_code = c.disconnect_status_code;
        context.domain_name.clone_from(&c.domain_name);
        context.error.clone_from(&c.error);
        context.event_type.clone_from(&c.event_type);
        context
            .extended_request_id
            .clone_from(&c.extended_request_id);
        context.http_method = c.http_method.as_ref().map(|m| m.as_str().to_owned());
        context.identity = (c.identity != ApiGatewayRequestIdentity::default())
            .then(|| from_identity(&c.identity));
        context
            .integration_latency
            .clone_from(&c.integration_latency);
        context.message_direction.clone_from(&c.message_direction);
        context.message_id.clone_from(&c.message_id);
        context.request_id.clone_from(&c.request_id);
        context.request_time.clone_from(&c.request_time);
        context.request_time_epoch = (c.request_time_epoch != 0).then_some(c.request_time_epoch);
        context.resource_id.clone_from(&c.resource_id);
        context.resource_path.clone_from(&c.resource_path);
        context.route_key.clone_from(&c.route_key);
        context.stage.clone_from(&c.stage);
        context.status.clone_from(&c.status);

        let mut ours = Self::default();
        ours.resource.clone_from(&peer.resource);
        ours.path.clone_from(&peer.path);
        ours.http_method = peer.http_method.as_ref().map(|m| m.as_str().to_owned());
        ours.headers = from_single_headers(&peer.headers);
        ours.multi_value_headers = from_multi_headers(&peer.multi_value_headers);
        ours.query_string_parameters =
            last_values(from_query_map(&peer.query_string_parameters).as_ref());
        ours.multi_value_query_string_parameters =
            from_query_map(&peer.multi_value_query_string_parameters);
        ours.path_parameters = from_hash_map(&peer.path_parameters);
        ours.stage_variables = from_hash_map(&peer.stage_variables);
        ours.request_context = context;
        ours.body.clone_from(&peer.body);
        ours.is_base64_encoded = peer.is_base64_encoded;
        ours
    }
}

impl From<ApiGatewayWebsocketProxyRequest> for websocket::Request {
    fn from(peer: ApiGatewayWebsocketProxyRequest) -> Self {
        Self::from(&peer)
    }
}

// ---- custom authorizers --------------------------------------------------

impl From<&authorizer::TokenRequest> for ApiGatewayCustomAuthorizerRequest {
    fn from(ours: &authorizer::TokenRequest) -> Self {
        let mut peer = Self::default();
        peer.type_ = Some(ours.kind.clone());
        peer.authorization_token = Some(ours.authorization_token.clone());
        peer.method_arn = Some(ours.method_arn.clone());
        peer
    }
}

impl From<&ApiGatewayCustomAuthorizerRequest> for authorizer::TokenRequest {
    fn from(peer: &ApiGatewayCustomAuthorizerRequest) -> Self {
        let mut ours = Self::default();
        ours.kind = peer.type_.clone().unwrap_or_default();
        ours.authorization_token = peer.authorization_token.clone().unwrap_or_default();
        ours.method_arn = peer.method_arn.clone().unwrap_or_default();
        ours
    }
}

/// A statement the peer can hold. It has no `Sid`, `NotAction` or
/// `NotResource`, and only `Allow` / `Deny`: a statement that needs them is
/// made stricter, never looser — an `Allow` becomes a `Deny` of nothing
/// (no resource), a `Deny` covers every action and resource.
fn statement(ours: &authorizer::Statement) -> IamPolicyStatement {
    let list = |v: Option<&authorizer::StringOrArray>| -> Vec<String> {
        v.map(|v| v.iter().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let mut peer = IamPolicyStatement::default();
    let exact = ours.not_action.is_none() && ours.not_resource.is_none();
    peer.condition = ours
        .condition
        .clone()
        .and_then(|c| serde_json::from_value::<IamPolicyCondition>(c).ok());
    let condition_lost = ours.condition.is_some() && peer.condition.is_none();
    match ours.effect.as_str() {
        "Allow" if exact && !condition_lost => {
            peer.effect = IamPolicyEffect::Allow;
            peer.action = list(ours.action.as_ref());
            peer.resource = list(ours.resource.as_ref());
        }
        "Deny" if exact => {
            peer.effect = IamPolicyEffect::Deny;
            peer.action = list(ours.action.as_ref());
            peer.resource = list(ours.resource.as_ref());
        }
        "Deny" => {
            peer.effect = IamPolicyEffect::Deny;
            peer.action = vec!["*".to_owned()];
            peer.resource = vec!["*".to_owned()];
        }
        _ => {
            peer.effect = IamPolicyEffect::Deny;
            peer.condition = None;
        }
    }
    peer
}

fn from_statement(peer: &IamPolicyStatement) -> authorizer::Statement {
    let effect = match peer.effect {
        IamPolicyEffect::Allow => authorizer::Effect::Allow,
        _ => authorizer::Effect::Deny,
    };
    let list = |v: &[String]| match v {
        [one] => authorizer::StringOrArray::One(one.clone()),
        many => authorizer::StringOrArray::Many(many.to_vec()),
    };
    let mut ours = authorizer::Statement::new(effect, "");
    ours.action = Some(list(&peer.action));
    ours.resource = Some(list(&peer.resource));
    ours.condition = peer
        .condition
        .as_ref()
        .and_then(|c| serde_json::to_value(c).ok());
    ours
}

impl From<&authorizer::IamPolicyResponse> for ApiGatewayCustomAuthorizerResponse {
    fn from(ours: &authorizer::IamPolicyResponse) -> Self {
        let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
        policy.version = Some(ours.policy_document.version.clone());
        policy.statement = ours
            .policy_document
            .statement
            .iter()
            .map(statement)
            .collect();
        let mut peer = Self::default();
        peer.principal_id = Some(ours.principal_id.clone());
        peer.policy_document = policy;
        peer.context = ours.context.clone().map_or(Value::Null, Value::Object);
        peer.usage_identifier_key
            .clone_from(&ours.usage_identifier_key);
        peer
    }
}

impl From<&ApiGatewayCustomAuthorizerResponse> for authorizer::IamPolicyResponse {
    fn from(peer: &ApiGatewayCustomAuthorizerResponse) -> Self {
        let mut document = authorizer::PolicyDocument::new(
            peer.policy_document
                .statement
                .iter()
                .map(from_statement)
                .collect(),
        );
        document.version = peer.policy_document.version.clone().unwrap_or_default();
        let mut ours = Self::new(peer.principal_id.clone().unwrap_or_default(), document);
        ours.context = match &peer.context {
            Value::Object(map) if !map.is_empty() => Some(map.clone()),
            _ => None,
        };
        ours.usage_identifier_key
            .clone_from(&peer.usage_identifier_key);
        ours
    }
}

impl From<&authorizer::SimpleResponse> for ApiGatewayV2CustomAuthorizerSimpleResponse {
    fn from(ours: &authorizer::SimpleResponse) -> Self {
        let mut peer = Self::default();
        peer.is_authorized = ours.is_authorized;
        peer.context = ours.context.clone().map_or(Value::Null, Value::Object);
        peer
    }
}

impl From<&ApiGatewayV2CustomAuthorizerSimpleResponse> for authorizer::SimpleResponse {
    fn from(peer: &ApiGatewayV2CustomAuthorizerSimpleResponse) -> Self {
        let mut ours = if peer.is_authorized {
            Self::authorized()
        } else {
            Self::unauthorized()
        };
        ours.context = match &peer.context {
            Value::Object(map) if !map.is_empty() => Some(map.clone()),
            _ => None,
        };
        ours
    }
}

// REQUEST authorizer events. The top-level members are converted one by
// one; the request contexts, whose members the two sides name alike but type
// differently, go through their JSON form: what the other side has no member
// for is left out (see the module docs of `events`).

/// `to`'s JSON form of `from`, or `to`'s default when the two cannot agree.
fn via_json<F: serde::Serialize, T: serde::de::DeserializeOwned + Default>(from: &F) -> T {
    serde_json::to_value(from)
        .and_then(serde_json::from_value)
        .unwrap_or_default()
}

fn std_query(map: Option<&HashMap<String, Vec<String>>>) -> QueryMap {
    QueryMap::from(map.cloned().unwrap_or_default())
}

fn std_single_query(map: Option<&HashMap<String, String>>) -> QueryMap {
    QueryMap::from(map.cloned().unwrap_or_default())
}

fn from_std_query(query: &QueryMap) -> Option<HashMap<String, Vec<String>>> {
    from_query_map(query).map(|map| map.into_iter().collect())
}

fn from_std_single_query(query: &QueryMap) -> Option<HashMap<String, String>> {
    last_values(from_query_map(query).as_ref()).map(|map| map.into_iter().collect())
}

fn non_empty(map: &HashMap<String, String>) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| map.clone())
}

impl From<&authorizer::RequestV1> for ApiGatewayCustomAuthorizerRequestTypeRequest {
    fn from(ours: &authorizer::RequestV1) -> Self {
        let mut peer = Self::default();
        peer.type_ = Some(ours.kind.clone());
        peer.method_arn = Some(ours.method_arn.clone());
        peer.resource.clone_from(&ours.resource);
        peer.path.clone_from(&ours.path);
        peer.http_method = ours.http_method.as_deref().map(method);
        peer.headers = single_headers(ours.headers.as_ref());
        peer.multi_value_headers = multi_headers(ours.multi_value_headers.as_ref());
        peer.query_string_parameters = std_single_query(ours.query_string_parameters.as_ref());
        peer.multi_value_query_string_parameters =
            std_query(ours.multi_value_query_string_parameters.as_ref());
        peer.path_parameters = ours.path_parameters.clone().unwrap_or_default();
        peer.stage_variables = ours.stage_variables.clone().unwrap_or_default();
        peer.request_context = via_json::<_, ApiGatewayCustomAuthorizerRequestTypeRequestContext>(
            &ours.request_context,
        );
        peer
    }
}

impl From<&ApiGatewayCustomAuthorizerRequestTypeRequest> for authorizer::RequestV1 {
    fn from(peer: &ApiGatewayCustomAuthorizerRequestTypeRequest) -> Self {
        let mut ours = Self::default();
        ours.kind = peer.type_.clone().unwrap_or_default();
        ours.method_arn = peer.method_arn.clone().unwrap_or_default();
        ours.resource.clone_from(&peer.resource);
        ours.path.clone_from(&peer.path);
        ours.http_method = peer.http_method.as_ref().map(|m| m.as_str().to_owned());
        ours.headers = from_single_headers(&peer.headers);
        ours.multi_value_headers = from_multi_headers(&peer.multi_value_headers);
        ours.query_string_parameters = from_std_single_query(&peer.query_string_parameters);
        ours.multi_value_query_string_parameters =
            from_std_query(&peer.multi_value_query_string_parameters);
        ours.path_parameters = non_empty(&peer.path_parameters);
        ours.stage_variables = non_empty(&peer.stage_variables);
        ours.request_context = via_json(&peer.request_context);
        ours
    }
}

impl From<&authorizer::RequestV2> for ApiGatewayV2CustomAuthorizerV2Request {
    fn from(ours: &authorizer::RequestV2) -> Self {
        let mut peer = Self::default();
        peer.version = Some(ours.version.clone());
        peer.type_ = Some(ours.kind.clone());
        peer.route_arn = Some(ours.route_arn.clone());
        peer.identity_source.clone_from(&ours.identity_source);
        peer.route_key = Some(ours.route_key.clone());
        peer.raw_path = Some(ours.raw_path.clone());
        peer.raw_query_string = Some(ours.raw_query_string.clone());
        peer.cookies = ours.cookies.clone().unwrap_or_default();
        peer.headers = single_headers(ours.headers.as_ref());
        peer.query_string_parameters = ours.query_string_parameters.clone().unwrap_or_default();
        peer.request_context = via_json::<_, ApiGatewayV2httpRequestContext>(&ours.request_context);
        peer.path_parameters = ours.path_parameters.clone().unwrap_or_default();
        peer.stage_variables = ours.stage_variables.clone().unwrap_or_default();
        peer
    }
}

impl From<&ApiGatewayV2CustomAuthorizerV2Request> for authorizer::RequestV2 {
    fn from(peer: &ApiGatewayV2CustomAuthorizerV2Request) -> Self {
        let mut ours = Self::default();
        ours.version = peer.version.clone().unwrap_or_default();
        ours.kind = peer.type_.clone().unwrap_or_default();
        ours.route_arn = peer.route_arn.clone().unwrap_or_default();
        ours.identity_source.clone_from(&peer.identity_source);
        ours.route_key = peer.route_key.clone().unwrap_or_default();
        ours.raw_path = peer.raw_path.clone().unwrap_or_default();
        ours.raw_query_string = peer.raw_query_string.clone().unwrap_or_default();
        ours.cookies = (!peer.cookies.is_empty()).then(|| peer.cookies.clone());
        ours.headers = from_single_headers(&peer.headers);
        ours.query_string_parameters = non_empty(&peer.query_string_parameters);
        ours.request_context = via_json(&peer.request_context);
        ours.path_parameters = non_empty(&peer.path_parameters);
        ours.stage_variables = non_empty(&peer.stage_variables);
        ours
    }
}

/// By-value forms of the by-reference conversions.
macro_rules! by_value {
    ($($from:ty => $to:ty),* $(,)?) => {$(
        impl From<$from> for $to {
            fn from(value: $from) -> Self {
                Self::from(&value)
            }
        }
    )*};
}

by_value! {
    authorizer::TokenRequest => ApiGatewayCustomAuthorizerRequest,
    ApiGatewayCustomAuthorizerRequest => authorizer::TokenRequest,
    authorizer::RequestV1 => ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerRequestTypeRequest => authorizer::RequestV1,
    authorizer::RequestV2 => ApiGatewayV2CustomAuthorizerV2Request,
    ApiGatewayV2CustomAuthorizerV2Request => authorizer::RequestV2,
    authorizer::IamPolicyResponse => ApiGatewayCustomAuthorizerResponse,
    ApiGatewayCustomAuthorizerResponse => authorizer::IamPolicyResponse,
    authorizer::SimpleResponse => ApiGatewayV2CustomAuthorizerSimpleResponse,
    ApiGatewayV2CustomAuthorizerSimpleResponse => authorizer::SimpleResponse,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_v1() -> v1::Request {
        let mut event = v1::Request::default();
        event.resource = "/orders/{id}".into();
        event.path = "/orders/7".into();
        event.http_method = "POST".into();
        event.headers = Some([("x-dup".into(), "b".into())].into());
        event.multi_value_headers = Some([("x-dup".into(), vec!["a".into(), "b".into()])].into());
        event.query_string_parameters = Some([("k".into(), "2".into())].into());
        event.multi_value_query_string_parameters =
            Some([("k".into(), vec!["1".into(), "2".into()])].into());
        event.path_parameters = Some([("id".into(), "7".into())].into());
        event.request_context.http_method = "POST".into();
        event.request_context.stage = Some("prod".into());
        event.request_context.request_time_epoch = 1_583_348_638_390;
        event.request_context.identity.source_ip = Some("203.0.113.9".into());
        event.request_context.authorizer = Some(
            serde_json::json!({"principalId": "u1", "tier": "gold"})
                .as_object()
                .unwrap()
                .clone(),
        );
        event.body = Some("AAE=".into());
        event.is_base64_encoded = true;
        event
    }

    #[test]
    fn v1_requests_survive_the_peer() {
        let ours = sample_v1();
        let peer = ApiGatewayProxyRequest::from(&ours);
        assert_eq!(peer.headers["x-dup"], "b");
        assert_eq!(peer.multi_value_headers.get_all("x-dup").iter().count(), 2);
        assert_eq!(v1::Request::from(peer), ours);
    }

    #[test]
    fn v1_answers_survive_the_peer_with_binary_bodies_decoded() {
        let mut ours = v1::Response::new(201).with_header("a", "1");
        ours.multi_value_headers =
            Some([("set-cookie".into(), vec!["x=1".into(), "y=2".into()])].into());
        ours.body = Some("AAE=".into());
        ours.is_base64_encoded = true;
        let peer = ApiGatewayProxyResponse::from(&ours);
        assert_eq!(peer.body, Some(Body::Binary(vec![0, 1])));
        assert_eq!(v1::Response::from(peer), ours);
    }

    #[test]
    fn v2_requests_survive_the_peer_with_claims_as_strings() {
        let mut ours = v2::Request::default();
        ours.version = "2.0".into();
        ours.route_key = "GET /a".into();
        ours.raw_path = "/a".into();
        ours.raw_query_string = "k=1&k=2".into();
        ours.cookies = Some(vec!["s=1".into()]);
        ours.headers = [("accept".into(), "a,b".into())].into();
        ours.query_string_parameters = Some([("k".into(), "1,2".into())].into());
        let mut jwt = v2::Jwt::default();
        jwt.claims = serde_json::json!({"sub": "u1", "groups": "[a b]"})
            .as_object()
            .unwrap()
            .clone();
        jwt.scopes = Some(vec!["read".into()]);
        let mut authorizer = v2::Authorizer::default();
        authorizer.jwt = Some(jwt);
        ours.request_context.authorizer = Some(authorizer);
        ours.request_context.http.method = "GET".into();
        ours.request_context.time_epoch = 7;
        let peer = ApiGatewayV2httpRequest::from(&ours);
        assert_eq!(v2::Request::from(peer), ours);
    }

    #[test]
    fn v2_answers_survive_the_peer() {
        let ours = v2::Response::new(200)
            .with_header("content-type", "text/plain")
            .with_cookie("a=1; Path=/")
            .with_body("hi");
        let peer = ApiGatewayV2httpResponse::from(&ours);
        assert_eq!(peer.cookies, vec!["a=1; Path=/"]);
        assert_eq!(v2::Response::from(peer), ours);
    }

    #[test]
    fn authorizer_answers_survive_the_peer() {
        let ours = authorizer::IamPolicyResponse::allow("u1", "arn:a")
            .with_context("tier", "gold")
            .with_usage_identifier_key("key");
        let peer = ApiGatewayCustomAuthorizerResponse::from(&ours);
        assert_eq!(authorizer::IamPolicyResponse::from(peer), ours);
        let ours = authorizer::SimpleResponse::authorized().with_context("n", 1);
        let peer = ApiGatewayV2CustomAuthorizerSimpleResponse::from(&ours);
        assert_eq!(authorizer::SimpleResponse::from(peer), ours);
        let mut token = authorizer::TokenRequest::default();
        token.kind = "TOKEN".into();
        token.authorization_token = "Bearer x".into();
        token.method_arn = "arn:a".into();
        let peer = ApiGatewayCustomAuthorizerRequest::from(&token);
        assert_eq!(authorizer::TokenRequest::from(peer), token);
    }

    #[test]
    fn request_authorizer_events_survive_the_peer() {
        let v1: authorizer::RequestV1 = serde_json::from_value(serde_json::json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request",
            "resource": "/request",
            "path": "/request",
            "httpMethod": "GET",
            "headers": {"x-token": "b", "host": "example.com"},
            "multiValueHeaders": {"x-token": ["a", "b"], "host": ["example.com"]},
            "queryStringParameters": {"q": "2"},
            "multiValueQueryStringParameters": {"q": ["1", "2"]},
            "pathParameters": {"id": "7"},
            "stageVariables": {"env": "test"},
            "requestContext": {
                "path": "/test/request",
                "accountId": "123456789012",
                "resourceId": "05c7jb",
                "stage": "test",
                "requestId": "r-1",
                "identity": {"apiKey": "k", "sourceIp": "10.0.0.1"},
                "resourcePath": "/request",
                "httpMethod": "GET",
                "apiId": "abcdef123"
            }
        }))
        .unwrap();
        // Header names in lower case: the peer lowercases them (documented).
        let peer = ApiGatewayCustomAuthorizerRequestTypeRequest::from(&v1);
        assert_eq!(peer.request_context.apiid.as_deref(), Some("abcdef123"));
        assert_eq!(authorizer::RequestV1::from(peer), v1);

        let v2: authorizer::RequestV2 = serde_json::from_value(serde_json::json!({
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/GET/request",
            "identitySource": ["user1", "123"],
            "routeKey": "GET /request",
            "rawPath": "/request",
            "rawQueryString": "q=1",
            "cookies": ["a=1"],
            "headers": {"x-token": "a,b"},
            "queryStringParameters": {"q": "1"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abcdef123",
                "domainName": "id.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "id",
                "http": {
                    "method": "GET",
                    "path": "/request",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "10.0.0.1",
                    "userAgent": "agent"
                },
                "requestId": "r-2",
                "routeKey": "GET /request",
                "stage": "$default",
                "time": "12/Mar/2020:19:03:58 +0000",
                "timeEpoch": 1583348638390i64
            },
            "pathParameters": {"id": "7"},
            "stageVariables": {"env": "test"}
        }))
        .unwrap();
        let peer = ApiGatewayV2CustomAuthorizerV2Request::from(&v2);
        assert_eq!(peer.request_context.request_id.as_deref(), Some("r-2"));
        assert_eq!(authorizer::RequestV2::from(peer), v2);
    }

    #[test]
    fn statements_the_peer_cannot_hold_become_stricter() {
        let mut allow = authorizer::Statement::new(authorizer::Effect::Allow, "arn:a");
        allow.not_resource = Some(authorizer::StringOrArray::One("arn:b".into()));
        let peer = statement(&allow);
        assert_eq!(peer.effect, IamPolicyEffect::Deny);
        assert!(peer.resource.is_empty());
        let mut deny = authorizer::Statement::new(authorizer::Effect::Deny, "arn:a");
        deny.not_action = Some(authorizer::StringOrArray::One("x".into()));
        assert_eq!(statement(&deny).resource, vec!["*"]);
        let mut odd = authorizer::Statement::new(authorizer::Effect::Allow, "arn:a");
        odd.effect = "allow".into();
        assert_eq!(statement(&odd).effect, IamPolicyEffect::Deny);
    }

    #[test]
    fn what_the_peer_cannot_hold_is_dropped_not_panicked_on() {
        let ours = v1::Response::new(200)
            .with_header("bad name", "x")
            .with_header("ok", "line\nbreak");
        let peer = ApiGatewayProxyResponse::from(&ours);
        assert!(peer.headers.is_empty());
        let mut request = v1::Request::default();
        request.http_method = "NOT A METHOD".into();
        assert_eq!(
            ApiGatewayProxyRequest::from(&request).http_method,
            Method::GET
        );
    }
}
