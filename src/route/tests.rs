use super::*;

fn table(routes: &[&str]) -> RouteTable<String> {
    routes
        .iter()
        .fold(RouteTable::builder(), |b, r| {
            b.route(r, (*r).to_owned()).unwrap()
        })
        .build()
        .unwrap()
}

fn matched(table: &RouteTable<String>, method: &Method, path: &str) -> Option<String> {
    table.lookup(method, path).map(|(v, _)| v.clone())
}

#[test]
fn route_keys_parse_and_display() {
    for text in [
        "GET /orders/{id}",
        "ANY /{proxy+}",
        "$default",
        "POST /",
        "DELETE /a/b/{c}/{rest+}",
    ] {
        assert_eq!(text.parse::<RouteKey>().unwrap().to_string(), text);
    }
    let key: RouteKey = "ANY /{proxy+}".parse().unwrap();
    assert_eq!(key.method(), None);
    assert!(key.accepts(&Method::PATCH));
    assert!(RouteKey::default_route().is_default());
}

#[test]
fn malformed_route_keys_are_configuration_errors() {
    for text in [
        "GET",
        "GET orders",
        "get /orders",
        "GET /orders/{id",
        "GET /{proxy+}/tail",
        "GET /a/{}",
        "GET /a/{b c}",
        "G@T /a",
        "GET /a*b",
    ] {
        assert!(text.parse::<RouteKey>().is_err(), "{text} should not parse");
    }
}

#[test]
fn literal_beats_parameter_beats_greedy() {
    let t = table(&[
        "GET /pets/dog/1",
        "GET /pets/dog/{id}",
        "GET /pets/{proxy+}",
        "ANY /{proxy+}",
    ]);
    assert_eq!(
        matched(&t, &Method::GET, "/pets/dog/1").unwrap(),
        "GET /pets/dog/1"
    );
    assert_eq!(
        matched(&t, &Method::GET, "/pets/dog/2").unwrap(),
        "GET /pets/dog/{id}"
    );
    assert_eq!(
        matched(&t, &Method::GET, "/pets/cat/1").unwrap(),
        "GET /pets/{proxy+}"
    );
    // AWS's own example: POST /pets/dog/2 does not match the GET routes.
    assert_eq!(
        matched(&t, &Method::POST, "/pets/dog/2").unwrap(),
        "ANY /{proxy+}"
    );
}

#[test]
fn more_specific_any_path_beats_less_specific_method_path() {
    let t = table(&["GET /{proxy+}", "ANY /orders/{id}"]);
    assert_eq!(
        matched(&t, &Method::GET, "/orders/1").unwrap(),
        "ANY /orders/{id}"
    );
    assert_eq!(
        matched(&t, &Method::GET, "/other/1").unwrap(),
        "GET /{proxy+}"
    );
}

#[test]
fn method_route_beats_any_on_the_same_path() {
    let t = table(&["ANY /orders/{id}", "GET /orders/{id}"]);
    assert_eq!(
        matched(&t, &Method::GET, "/orders/1").unwrap(),
        "GET /orders/{id}"
    );
    assert_eq!(
        matched(&t, &Method::PUT, "/orders/1").unwrap(),
        "ANY /orders/{id}"
    );
}

#[test]
fn default_route_catches_the_rest() {
    let t = table(&["GET /orders", "$default"]);
    assert_eq!(matched(&t, &Method::POST, "/orders").unwrap(), "$default");
    assert_eq!(matched(&t, &Method::GET, "/x/y").unwrap(), "$default");
    let (_, m) = t.lookup(&Method::GET, "/x").unwrap();
    assert!(m.route_key().is_default());
    assert!(m.path_parameters().is_empty());
    let without = table(&["GET /orders"]);
    assert!(matched(&without, &Method::GET, "/x").is_none());
}

#[test]
fn greedy_parameter_needs_at_least_one_segment() {
    let t = table(&["ANY /{proxy+}"]);
    assert!(matched(&t, &Method::GET, "/").is_none());
    let (_, m) = t.lookup(&Method::GET, "/a/b/c").unwrap();
    assert_eq!(m.path_parameter("proxy"), Some("a/b/c"));
}

#[test]
fn path_parameters_are_percent_decoded() {
    let t = table(&["GET /files/{name}"]);
    let (_, m) = t.lookup(&Method::GET, "/files/a%20b%2Fc").unwrap();
    assert_eq!(m.path_parameter("name"), Some("a b/c"));
    assert_eq!(m.resource(), Some("/files/{name}"));
}

#[test]
fn matches_report_the_stage() {
    let t = RouteTable::builder()
        .stage("prod")
        .route("GET /", ())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(t.lookup(&Method::GET, "/").unwrap().1.stage(), "prod");
    let t = RouteTable::builder()
        .route("GET /", ())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(t.lookup(&Method::GET, "/").unwrap().1.stage(), "$default");
}

#[test]
fn conflicting_routes_are_configuration_errors() {
    let same = RouteTable::builder()
        .route("GET /a", 1)
        .unwrap()
        .route("GET /a", 2)
        .unwrap()
        .build();
    assert!(same.is_err());
    let renamed = RouteTable::builder()
        .route("GET /a/{x}", 1)
        .unwrap()
        .route("GET /a/{y}", 2)
        .unwrap()
        .build();
    assert!(renamed.is_err());
    let defaults = RouteTable::builder()
        .route("$default", 1)
        .unwrap()
        .route("$default", 2)
        .unwrap()
        .build();
    assert!(defaults.is_err());
    // The same path under different methods is fine.
    let methods = RouteTable::builder()
        .route("GET /a/{x}", 1)
        .unwrap()
        .route("POST /a/{y}", 2)
        .unwrap()
        .build();
    assert!(methods.is_ok());
}

#[test]
fn axum_templates_convert_to_route_matches() {
    let m = RouteMatch::from_axum(
        &Method::GET,
        "/orders/{id}/items/{item}",
        "/orders/7/items/a%20b",
        "$default",
    )
    .unwrap();
    assert_eq!(m.route_key().to_string(), "GET /orders/{id}/items/{item}");
    assert_eq!(m.path_parameter("id"), Some("7"));
    assert_eq!(m.path_parameter("item"), Some("a b"));

    let m = RouteMatch::from_axum(&Method::PUT, "/files/{*rest}", "/files/a/b", "prod").unwrap();
    assert_eq!(m.route_key().to_string(), "PUT /files/{rest+}");
    assert_eq!(m.path_parameter("rest"), Some("a/b"));
    assert_eq!(m.stage(), "prod");

    assert!(RouteMatch::from_axum(&Method::GET, "/orders/{id}", "/orders", "$default").is_none());
    assert!(
        RouteMatch::from_axum(&Method::GET, "/orders/{id}", "/orders/1/2", "$default").is_none()
    );
    assert!(RouteMatch::from_axum(&Method::GET, "/orders", "/other", "$default").is_none());
}

#[test]
fn lookup_request_reuses_an_existing_route_match() {
    let t = table(&["GET /orders/{id}"]);
    let (_, first) = t.lookup(&Method::GET, "/orders/1").unwrap();
    let mut request = http::Request::get("/orders/1").body(()).unwrap();
    request.extensions_mut().insert(first.clone());
    let (parts, ()) = request.into_parts();
    let (_, again) = t.lookup_request(&parts).unwrap();
    assert_eq!(again, first);
}

#[test]
fn lookup_request_gives_a_matched_route_only_its_own_settings() {
    // The router matched `ANY /{proxy+}`; this table's `GET /orders/{id}`
    // would also fit the path, but settings belong to the route key that
    // matched, so the request has none here (and no second match is run).
    let router = table(&["ANY /{proxy+}"]);
    let (_, matched) = router.lookup(&Method::GET, "/orders/1").unwrap();
    let settings = table(&["GET /orders/{id}"]);
    let mut request = http::Request::get("/orders/1").body(()).unwrap();
    request.extensions_mut().insert(matched);
    let (parts, ()) = request.into_parts();
    assert!(settings.lookup_request(&parts).is_none());
    // Without an earlier match, the table matches the request itself.
    let (parts, ()) = http::Request::get("/orders/1")
        .body(())
        .unwrap()
        .into_parts();
    assert_eq!(
        settings.lookup_request(&parts).unwrap().0,
        "GET /orders/{id}"
    );
}

#[test]
fn route_keys_deserialize_from_strings() {
    let key: RouteKey = serde_json::from_str("\"GET /orders/{id}\"").unwrap();
    assert_eq!(key.to_string(), "GET /orders/{id}");
    assert!(serde_json::from_str::<RouteKey>("\"nope\"").is_err());
}

#[test]
fn head_requests_match_get_routes_unless_a_head_route_fits() {
    let t = table(&["GET /orders/{id}", "ANY /{proxy+}", "HEAD /health"]);
    assert_eq!(
        matched(&t, &Method::HEAD, "/orders/1").unwrap(),
        "GET /orders/{id}"
    );
    assert_eq!(
        matched(&t, &Method::HEAD, "/health").unwrap(),
        "HEAD /health"
    );
    // A more specific ANY route still wins over a less specific GET route.
    let t = table(&["GET /{proxy+}", "ANY /orders/{id}", "GET /orders"]);
    assert_eq!(
        matched(&t, &Method::HEAD, "/orders/1").unwrap(),
        "ANY /orders/{id}"
    );
    assert_eq!(
        matched(&t, &Method::HEAD, "/orders").unwrap(),
        "GET /orders"
    );
    // Only HEAD maps to GET.
    assert_eq!(matched(&t, &Method::OPTIONS, "/orders"), None);
}

#[test]
fn lookup_request_maps_head_to_the_get_route() {
    let t = table(&["GET /orders/{id}"]);
    let (parts, ()) = http::Request::head("/orders/7")
        .body(())
        .unwrap()
        .into_parts();
    let (value, m) = t.lookup_request(&parts).unwrap();
    assert_eq!(value, "GET /orders/{id}");
    assert_eq!(m.route_key().to_string(), "GET /orders/{id}");
    assert_eq!(m.path_parameter("id"), Some("7"));
}

#[test]
fn routes_without_parameters_share_one_match() {
    let t = table(&["GET /health", "GET /orders/{id}", "$default"]);
    let first = t.lookup(&Method::GET, "/health").unwrap().1;
    let second = t.lookup(&Method::GET, "/health").unwrap().1;
    assert!(Arc::ptr_eq(&first.inner, &second.inner));
    let default = t.lookup(&Method::GET, "/nope").unwrap().1;
    assert!(Arc::ptr_eq(
        &default.inner,
        &t.lookup(&Method::POST, "/x/y").unwrap().1.inner
    ));
}

/// The single router and the per-method routers agree on every request.
#[test]
fn the_single_router_agrees_with_the_per_method_routers() {
    let routes = [
        "GET /pets/dog/1",
        "GET /pets/dog/{id}",
        "POST /pets/{proxy+}",
        "ANY /pets/dog/{id}/toys",
        "GET /{proxy+}",
        "ANY /orders/{id}",
        "GET /orders",
        "HEAD /orders",
        "DELETE /orders/{id}/items/{item}",
        "PUT /a/b/c",
        "ANY /a/{x}/c",
        "$default",
    ];
    let t = table(&routes);
    assert!(t.paths.is_some());
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ];
    let paths = [
        "/",
        "/pets",
        "/pets/dog/1",
        "/pets/dog/2",
        "/pets/cat/2",
        "/pets/dog/2/toys",
        "/orders",
        "/orders/1",
        "/orders/1/items/2",
        "/orders/1/items",
        "/a/b/c",
        "/a/z/c",
        "/a/b",
        "/x%20y/z",
    ];
    for method in &methods {
        for path in paths {
            let fast = t.lookup(method, path);
            let reference = t.lookup_per_method(method, path);
            assert_eq!(
                fast.as_ref().map(|(v, m)| (*v, m.clone())),
                reference.as_ref().map(|(v, m)| (*v, m.clone())),
                "{method} {path}"
            );
        }
    }
}

#[test]
fn templates_that_conflict_across_methods_still_match() {
    let t = table(&["GET /a/{x}", "POST /a/{y}", "ANY /{proxy+}"]);
    assert!(t.paths.is_none());
    let (_, m) = t.lookup(&Method::POST, "/a/1").unwrap();
    assert_eq!(m.path_parameter("y"), Some("1"));
    let (_, m) = t.lookup(&Method::HEAD, "/a/1").unwrap();
    assert_eq!(m.path_parameter("x"), Some("1"));
    assert_eq!(matched(&t, &Method::PUT, "/a/1").unwrap(), "ANY /{proxy+}");
}

#[test]
fn route_keys_made_apart_are_equal_and_hash_alike() {
    use std::hash::BuildHasher;
    let hasher = std::collections::hash_map::RandomState::new();
    let parsed: RouteKey = "GET /orders/{id}".parse().unwrap();
    let built = RouteKey::new(Some(Method::GET), "/orders/{id}").unwrap();
    let axum = RouteMatch::from_axum(&Method::GET, "/orders/{id}", "/orders/7", "prod").unwrap();
    assert_eq!(parsed, built);
    assert_eq!(&parsed, axum.route_key());
    assert_eq!(hasher.hash_one(&parsed), hasher.hash_one(axum.route_key()));
    let others: [RouteKey; 4] = [
        "POST /orders/{id}".parse().unwrap(),
        "ANY /orders/{id}".parse().unwrap(),
        "GET /orders/{ID}".parse().unwrap(),
        RouteKey::default_route(),
    ];
    for other in &others {
        assert_ne!(&parsed, other);
    }
    // A table finds a key made elsewhere.
    let table = table(&["GET /orders/{id}", "ANY /orders/{id}", "$default"]);
    assert_eq!(
        table.get(axum.route_key()).map(String::as_str),
        Some("GET /orders/{id}")
    );
    assert_eq!(
        table.get(&others[1]).map(String::as_str),
        Some("ANY /orders/{id}")
    );
    assert_eq!(table.get(&others[3]).map(String::as_str), Some("$default"));
    assert_eq!(table.get(&others[0]), None);
}
