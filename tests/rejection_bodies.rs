//! A rejecting layer works over inner services of any response body type
//! whose data is `Bytes`: axum routers, hyper `service_fn`s and tonic-style
//! services with their own body type.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use apigw::problem::{GatewayResponseType, GatewayResponses, Rejection};
use apigw::route::{MatchRouteLayer, RouteTable, Unmatched};
use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt, service_fn};

fn routes() -> RouteTable<()> {
    RouteTable::builder()
        .route("GET /orders/{id}", ())
        .unwrap()
        .build()
        .unwrap()
}

async fn problem_of<B>(response: Response<B>) -> (StatusCode, Value)
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn rejects_in_front_of_an_axum_router_with_layer() {
    let app = Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .layer(MatchRouteLayer::new(routes()));

    let ok = app
        .clone()
        .oneshot(
            Request::get("/orders/1")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.into_body().collect().await.unwrap().to_bytes(), "order");

    let request = Request::get("/admin")
        .header("x-request-id", "rid-1")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = problem_of(app.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["type"],
        "urn:apigw:problem:missing-authentication-token"
    );
    assert_eq!(body["status"], 403);
    assert_eq!(body["title"], "Missing Authentication Token");
    assert_eq!(body["instance"], "rid-1");
    assert_eq!(body["requestId"], "rid-1");
}

#[tokio::test]
async fn rejects_in_front_of_an_axum_route_with_route_layer() {
    // A table that knows only GET: the route layer rejects the POST axum routed to it.
    let app: Router = Router::new()
        .route(
            "/orders/{id}",
            get(|| async { "order" }).post(|| async { "created" }),
        )
        .route_layer(MatchRouteLayer::with_options(
            routes(),
            Unmatched::NotFound,
            GatewayResponses::default(),
        ));

    let ok = app
        .clone()
        .oneshot(
            Request::get("/orders/1")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let request = Request::post("/orders/1")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = problem_of(app.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["type"], "urn:apigw:problem:resource-not-found");
    assert_eq!(body["title"], "Not Found");
}

#[tokio::test]
async fn rejects_in_front_of_a_hyper_service_fn() {
    let backend = service_fn(|_request: Request<hyper::body::Incoming>| async {
        Ok::<_, Infallible>(Response::new(http_body_util::Full::new(
            Bytes::from_static(b"hi"),
        )))
    });
    let service = ServiceBuilder::new()
        .layer(MatchRouteLayer::new(routes()))
        .service(backend);

    // Served by hyper over a real socket, so the inner body type is hyper's.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let service = hyper_util::service::TowerToHyperService::new(service);
        hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .await
            .unwrap();
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);

    let empty = || http_body_util::Empty::<Bytes>::new();
    let ok = sender
        .send_request(Request::get("/orders/9").body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.into_body().collect().await.unwrap().to_bytes(), "hi");

    let rejected = sender
        .send_request(Request::get("/nope").body(empty()).unwrap())
        .await
        .unwrap();
    let (status, body) = problem_of(rejected).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["type"],
        "urn:apigw:problem:missing-authentication-token"
    );
    assert_eq!(body["status"], 403);
}

/// A body type of its own, like tonic's: not axum's, not hyper's, with its own error type.
#[derive(Debug, Default)]
struct GrpcBody {
    data: Option<Bytes>,
    trailers: Option<http::HeaderMap>,
}

#[derive(Debug)]
struct GrpcError;

impl std::fmt::Display for GrpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("grpc error")
    }
}

impl std::error::Error for GrpcError {}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = GrpcError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, GrpcError>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

#[derive(Clone)]
struct GrpcService;

impl tower::Service<Request<GrpcBody>> for GrpcService {
    type Response = Response<GrpcBody>;
    type Error = GrpcError;
    type Future = std::future::Ready<Result<Response<GrpcBody>, GrpcError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GrpcError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<GrpcBody>) -> Self::Future {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        std::future::ready(Ok(Response::new(GrpcBody {
            data: Some(Bytes::from_static(b"\0\0\0\0\0")),
            trailers: Some(trailers),
        })))
    }
}

#[tokio::test]
async fn rejects_in_front_of_a_tonic_style_service_with_its_own_body() {
    let table = RouteTable::builder()
        .route("POST /orders.Orders/Get", ())
        .unwrap()
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(MatchRouteLayer::with_options(
            table,
            Unmatched::NotFound,
            GatewayResponses::aws(),
        ))
        .service(GrpcService);

    // The inner body, trailers included, passes through untouched.
    let ok = service
        .clone()
        .oneshot(
            Request::post("/orders.Orders/Get")
                .body(GrpcBody::default())
                .unwrap(),
        )
        .await;
    let collected = ok.unwrap().into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    assert_eq!(collected.to_bytes(), Bytes::from_static(b"\0\0\0\0\0"));

    let rejected = service
        .oneshot(
            Request::post("/orders.Orders/Delete")
                .body(GrpcBody::default())
                .unwrap(),
        )
        .await;
    let rejected = rejected.unwrap();
    assert_eq!(rejected.status(), StatusCode::NOT_FOUND);
    assert_eq!(rejected.headers()["x-amzn-errortype"], "NotFoundException");
    let rejection = rejected.extensions().get::<Rejection>().unwrap();
    assert_eq!(
        rejection.response_type(),
        GatewayResponseType::ResourceNotFound
    );
    let body: Value =
        serde_json::from_slice(&rejected.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body, serde_json::json!({"message": "Not Found"}));
}

#[tokio::test]
async fn rejected_requests_never_reach_the_backend() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let backend = service_fn(move |_request: Request<axum::body::Body>| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(axum::body::Body::empty())) }
    });
    let service = ServiceBuilder::new()
        .layer(MatchRouteLayer::new(routes()))
        .service(backend);
    let response = service
        .clone()
        .oneshot(
            Request::get("/nope")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    let response = service
        .oneshot(
            Request::get("/orders/1")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}
