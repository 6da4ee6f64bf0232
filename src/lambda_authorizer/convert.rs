//! `http::Request` → authorizer events (TOKEN 1.0, REQUEST 1.0, REQUEST 2.0).
//!
//! Kept small and private; header text, joined headers and query pairs
//! come from the events block, so both read requests the same way.

use std::collections::HashMap;
use std::time::Duration;

use http::request::Parts;

use super::identity_source::Environment;
use crate::events::authorizer::{
    Http, Identity, RequestContextV1, RequestContextV2, RequestV1, RequestV2, TokenRequest,
};
use crate::events::{query_pairs, value_text};
use crate::route::RouteMatch;

pub(crate) use crate::events::joined_header;

/// The host the API was called on: `Host`, else the URI's authority.
pub(crate) fn domain_name(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| parts.uri.host())
}

/// The peer's IP address, from a `SocketAddr` request extension.
pub(crate) fn source_ip(parts: &Parts) -> Option<String> {
    crate::identity::peer_ip(&parts.extensions).map(|ip| ip.to_string())
}

/// Appends `{VERB}/{path without its leading /}` to `arn` (which holds
/// `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/`, or a tail of
/// it): the root path yields a trailing `/`.
pub(crate) fn push_method_arn_tail(arn: &mut String, method: &str, path: &str) {
    arn.push_str(method);
    arn.push('/');
    arn.push_str(path.strip_prefix('/').unwrap_or(path));
}

/// What every event is built from.
pub(crate) struct EventInput<'a> {
    pub(crate) parts: &'a Parts,
    pub(crate) route: Option<&'a RouteMatch>,
    pub(crate) env: &'a Environment<'a>,
    pub(crate) method_arn: String,
    pub(crate) identity_values: Vec<String>,
    pub(crate) request_id: &'a str,
    pub(crate) unix_time: Duration,
}

impl EventInput<'_> {
    fn time_epoch_millis(&self) -> i64 {
        i64::try_from(self.unix_time.as_millis()).unwrap_or(i64::MAX)
    }

    fn resource(&self) -> &str {
        self.route
            .and_then(RouteMatch::resource)
            .unwrap_or_else(|| self.parts.uri.path())
    }

    fn path_parameters(&self) -> Option<HashMap<String, String>> {
        let route = self.route?;
        Some(route.path_parameters().iter().cloned().collect())
    }

    fn stage_variables(&self) -> Option<HashMap<String, String>> {
        (!self.env.stage_variables.is_empty()).then(|| self.env.stage_variables.clone())
    }

    fn domain_prefix(&self) -> Option<String> {
        domain_name(self.parts).map(|host| host.split('.').next().unwrap_or(host).to_owned())
    }
}

/// The route key, `$default` when no route matched.
fn route_key_of(route: Option<&RouteMatch>) -> String {
    route.map_or_else(|| "$default".to_owned(), |r| r.route_key().to_string())
}

/// `requestContext.http`.
fn http_of(parts: &Parts) -> Http {
    Http {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        protocol: crate::identity::protocol(parts.version).to_owned(),
        source_ip: source_ip(parts).unwrap_or_default(),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .map(|ua| value_text(ua).into_owned())
            .unwrap_or_default(),
    }
}

/// A REST `TOKEN` event.
pub(crate) fn token_event(input: EventInput<'_>) -> TokenRequest {
    TokenRequest {
        kind: "TOKEN".to_owned(),
        authorization_token: input.identity_values.into_iter().next().unwrap_or_default(),
        method_arn: input.method_arn,
    }
}

/// A REST `REQUEST` event, or an HTTP API's payload 1.0 event when
/// `http_api` (which adds `version`, `identitySource`, `authorizationToken`).
pub(crate) fn request_v1_event(input: EventInput<'_>, http_api: bool) -> RequestV1 {
    let parts = input.parts;
    let mut headers = HashMap::new();
    let mut multi_value_headers: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in &parts.headers {
        let value = value_text(value).into_owned();
        headers.insert(name.as_str().to_owned(), value.clone());
        multi_value_headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(value);
    }
    let mut query = HashMap::new();
    let mut multi_value_query: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in query_pairs(parts.uri.query().unwrap_or("")) {
        query.insert(name.clone().into_owned(), value.clone().into_owned());
        multi_value_query
            .entry(name.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    let joined =
        (http_api && !input.identity_values.is_empty()).then(|| input.identity_values.join(","));
    let path = parts.uri.path().to_owned();
    let stage = input.env.stage.to_owned();
    let http = http_api.then(|| http_of(parts));
    let route_key = http_api.then(|| route_key_of(input.route));
    let request_context = RequestContextV1 {
        path: Some(format!("/{stage}{path}")),
        account_id: Some(input.env.account_id.to_owned()),
        resource_id: None,
        stage: Some(stage),
        request_id: Some(input.request_id.to_owned()),
        extended_request_id: Some(input.request_id.to_owned()),
        identity: Some(Identity {
            api_key: None,
            api_key_id: None,
            source_ip: source_ip(parts),
            user_agent: parts
                .headers
                .get(http::header::USER_AGENT)
                .map(|ua| value_text(ua).into_owned()),
            client_cert: None,
        }),
        resource_path: Some(input.resource().to_owned()),
        http_method: Some(parts.method.as_str().to_owned()),
        api_id: Some(input.env.api_id.to_owned()),
        domain_name: domain_name(parts).map(str::to_owned),
        domain_prefix: input.domain_prefix(),
        protocol: Some(crate::identity::protocol(parts.version).to_owned()),
        request_time: Some(crate::calendar::common_log_format(input.unix_time)),
        request_time_epoch: Some(input.time_epoch_millis()),
        time: http_api.then(|| crate::calendar::common_log_format(input.unix_time)),
        time_epoch: http_api.then(|| input.time_epoch_millis()),
        http,
        route_key,
        ..RequestContextV1::default()
    };
    let mut event = RequestV1 {
        version: http_api.then(|| "1.0".to_owned()),
        kind: "REQUEST".to_owned(),
        identity_source: joined.clone(),
        authorization_token: joined,
        resource: Some(input.resource().to_owned()),
        path: Some(path),
        http_method: Some(parts.method.as_str().to_owned()),
        headers: Some(headers),
        multi_value_headers: Some(multi_value_headers),
        query_string_parameters: (!query.is_empty()).then_some(query),
        multi_value_query_string_parameters: (!multi_value_query.is_empty())
            .then_some(multi_value_query),
        path_parameters: input.path_parameters(),
        stage_variables: input.stage_variables(),
        request_context,
        method_arn: input.method_arn,
    };
    if let Some(connect) = parts.extensions.get::<super::service::WebSocketConnect>() {
        websocket_connect(&mut event, connect);
    }
    event
}

/// A WebSocket API's `$connect` authorizer event: API Gateway's REQUEST
/// event for WebSocket APIs names the connection and the route, and has no
/// resource, path or method.
fn websocket_connect(event: &mut RequestV1, connect: &super::service::WebSocketConnect) {
    event.resource = None;
    event.path = None;
    event.http_method = None;
    let context = &mut event.request_context;
    context.path = None;
    context.resource_path = None;
    context.http_method = None;
    context.protocol = None;
    context.route_key = Some(super::service::CONNECT_ROUTE.to_owned());
    context.event_type = Some("CONNECT".to_owned());
    context.message_direction = Some("IN".to_owned());
    context.connection_id = Some(connect.connection_id.clone());
    context.connected_at = Some(connect.connected_at);
}

/// An HTTP API's payload 2.0 event.
pub(crate) fn request_v2_event(input: EventInput<'_>) -> RequestV2 {
    let parts = input.parts;
    let mut headers: HashMap<String, String> = HashMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = value_text(value);
        if name == http::header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let mut query: HashMap<String, String> = HashMap::new();
    for (name, value) in query_pairs(parts.uri.query().unwrap_or("")) {
        query
            .entry(name.into_owned())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let route_key = route_key_of(input.route);
    let raw_path = parts.uri.path().to_owned();
    RequestV2 {
        version: "2.0".to_owned(),
        kind: "REQUEST".to_owned(),
        identity_source: (!input.identity_values.is_empty()).then(|| input.identity_values.clone()),
        route_key: route_key.clone(),
        raw_path,
        raw_query_string: parts.uri.query().unwrap_or("").to_owned(),
        cookies: (!cookies.is_empty()).then_some(cookies),
        headers: Some(headers),
        query_string_parameters: (!query.is_empty()).then_some(query),
        request_context: RequestContextV2 {
            account_id: input.env.account_id.to_owned(),
            api_id: input.env.api_id.to_owned(),
            authentication: None,
            domain_name: domain_name(parts).unwrap_or_default().to_owned(),
            domain_prefix: input.domain_prefix().unwrap_or_default(),
            http: http_of(parts),
            request_id: input.request_id.to_owned(),
            route_key,
            stage: input.env.stage.to_owned(),
            time: crate::calendar::common_log_format(input.unix_time),
            time_epoch: input.time_epoch_millis(),
        },
        path_parameters: input.path_parameters().filter(|p| !p.is_empty()),
        stage_variables: input.stage_variables(),
        route_arn: input.method_arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_time_formats_utc() {
        assert_eq!(
            crate::calendar::common_log_format(Duration::from_secs(1_583_348_638)),
            "04/Mar/2020:19:03:58 +0000"
        );
        assert_eq!(
            crate::calendar::common_log_format(Duration::ZERO),
            "01/Jan/1970:00:00:00 +0000"
        );
    }

    #[test]
    fn root_path_yields_a_trailing_slash() {
        let mut arn = String::from("arn:aws:execute-api:r:a:api/prod/");
        push_method_arn_tail(&mut arn, "GET", "/");
        assert_eq!(arn, "arn:aws:execute-api:r:a:api/prod/GET/");
    }

    #[test]
    fn query_pairs_decode_percent_and_plus() {
        let pairs: Vec<_> = query_pairs("a=1+2&b=%2Fx&c")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a".to_owned(), "1 2".to_owned()),
                ("b".to_owned(), "/x".to_owned()),
                ("c".to_owned(), String::new())
            ]
        );
    }
}
