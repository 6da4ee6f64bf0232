//! RedisStore against a real Redis (feature `redis`; every test is ignored
//! without `--include-ignored`). `REDIS_URL` picks the shared server
//! (default `redis://127.0.0.1:6379`); every test uses its own key prefix.
//! The failure and round-trip tests start their own `redis-server` on a free
//! loopback port and fail if it is not installed.
#![cfg(feature = "redis")]

use std::convert::Infallible;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use apigw::clock::{ManualClock, SharedClock};
use apigw::store::{ApiKey, FailurePolicy, QuotaStore, RedisStore};
use apigw::throttle::TokenBucketThrottleLayer;
use apigw::usage_plan::{Day, Plan, QuotaPeriod, QuotaSettings, UsagePlanLayer};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt, service_fn};

type Body = Full<Bytes>;
/// A gateway instance, answering the status only.
type Svc = BoxCloneService<Request<Body>, StatusCode, Infallible>;

const KEY_VALUE: &str = "redis0key0value000000001";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn prefix() -> String {
    format!("apigw-test-{}", uuid::Uuid::new_v4().simple())
}

/// A store with the default 50 ms timeout, for the failure tests.
fn store(url: &str, prefix: &str) -> Arc<RedisStore> {
    store_with_timeout(url, prefix, Duration::from_millis(50))
}

/// A store for the exactness tests: hundreds of concurrent requests on a
/// loaded debug build can take longer than 50 ms, and a timed-out request
/// may still have been counted by the server (the client gave up waiting).
fn patient(url: &str, prefix: &str) -> Arc<RedisStore> {
    store_with_timeout(url, prefix, Duration::from_secs(5))
}

fn store_with_timeout(url: &str, prefix: &str, timeout: Duration) -> Arc<RedisStore> {
    Arc::new(
        RedisStore::builder()
            .url(url)
            .key_prefix(prefix)
            .timeout(timeout)
            .build()
            .unwrap(),
    )
}

async fn admin(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A manual clock set to the Redis server's time (quota keys expire at real
/// dates, so the layers' calendar must be near the server's).
async fn server_clock(url: &str) -> ManualClock {
    ManualClock::at_unix_time(server_time(url).await)
}

/// A manual clock `offset_secs` from the start of the Redis server's UTC
/// day, for tests whose clocks must fall on a chosen side of midnight
/// whatever the hour they run at.
async fn server_day_clock(url: &str, offset_secs: i64) -> ManualClock {
    let now = server_time(url).await.as_secs();
    let midnight = i64::try_from(now - now % 86_400).unwrap();
    ManualClock::at_unix_time(Duration::from_secs(
        u64::try_from(midnight + offset_secs).unwrap(),
    ))
}

async fn server_time(url: &str) -> Duration {
    let (secs, micros): (u64, u64) = redis::cmd("TIME")
        .query_async(&mut admin(url).await)
        .await
        .unwrap();
    Duration::from_secs(secs) + Duration::from_micros(micros)
}

fn backend() -> BoxCloneService<Request<Body>, Response<Body>, Infallible> {
    service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    })
    .boxed_clone()
}

fn throttle(
    store: &Arc<RedisStore>,
    clock: &ManualClock,
    burst: u32,
    policy: FailurePolicy,
) -> Svc {
    let clock: SharedClock = Arc::new(clock.clone());
    TokenBucketThrottleLayer::builder()
        .rate(0.001)
        .burst(burst)
        .name("stage")
        .failure_policy(policy)
        .with_clock(clock)
        .with_store(store.clone())
        .build()
        .unwrap()
        .layer(backend())
        .map_response(|r| r.status())
        .boxed_clone()
}

fn usage_plan(
    store: &Arc<RedisStore>,
    clock: &ManualClock,
    burst: u32,
    quota: u64,
    policy: FailurePolicy,
) -> (Svc, UsagePlanLayer) {
    let clock: SharedClock = Arc::new(clock.clone());
    let layer = UsagePlanLayer::builder()
        .with_clock(clock)
        .plan(
            Plan::new("gold")
                .throttle(0.001, burst)
                .quota(QuotaSettings::new(quota, QuotaPeriod::Day)),
        )
        .api_key(ApiKey::new("key-1", KEY_VALUE).unwrap().plan("gold"))
        .failure_policy(policy)
        .with_rate_limit_store(store.clone())
        .with_quota_store(store.clone())
        .build()
        .unwrap();
    let service = layer
        .layer(backend())
        .map_response(|r| r.status())
        .boxed_clone();
    (service, layer)
}

fn request() -> Request<Body> {
    Request::get("/orders/1")
        .header("X-Api-Key", KEY_VALUE)
        .body(Body::default())
        .unwrap()
}

/// Sends `n` requests spread over `services` from `n` tasks; the statuses.
async fn hammer(services: &[Svc], n: usize) -> Vec<StatusCode> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let service = services[i % services.len()].clone();
            tokio::spawn(async move { service.oneshot(request()).await.unwrap() })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn instances_share_one_bucket_exactly() {
    let url = redis_url();
    let prefix = prefix();
    let clock = server_clock(&url).await;
    // Four gateway instances: four stores, four connections, one Redis.
    let services: Vec<Svc> = (0..4)
        .map(|_| throttle(&patient(&url, &prefix), &clock, 50, FailurePolicy::Closed))
        .collect();
    let statuses = hammer(&services, 400).await;
    assert_eq!(count(&statuses, StatusCode::OK), 50, "burst 50, no refill");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 350);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn quota_is_exact_under_concurrency_and_over_quota_takes_no_token() {
    let url = redis_url();
    let prefix = prefix();
    let clock = server_clock(&url).await;
    let instances: Vec<(Svc, UsagePlanLayer)> = (0..4)
        .map(|_| {
            usage_plan(
                &patient(&url, &prefix),
                &clock,
                30,
                20,
                FailurePolicy::Closed,
            )
        })
        .collect();
    let services: Vec<Svc> = instances.iter().map(|(s, _)| s.clone()).collect();
    let statuses = hammer(&services, 200).await;
    assert_eq!(count(&statuses, StatusCode::OK), 20, "quota 20");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 180);

    let reader = patient(&url, &prefix);
    let today = Day::from_unix(Duration::from_secs(clock_unix(&clock).as_secs()));
    let usage = reader.usage("key-1", today, today).await.unwrap();
    assert_eq!(usage.days, vec![(today, 20)]);

    // 180 requests over quota took no token: 10 of the 30 are left.
    instances[0].1.grant("key-1", 100).await.unwrap();
    let statuses = hammer(&services, 50).await;
    assert_eq!(count(&statuses, StatusCode::OK), 10, "burst 30 − 20 used");
    let usage = reader.usage("key-1", today, today).await.unwrap();
    assert_eq!(usage.days, vec![(today, 30)]);
    assert_eq!(usage.extra.len(), 1);
}

fn clock_unix(clock: &ManualClock) -> Duration {
    use apigw::clock::Clock;
    clock.unix_time()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn throttled_requests_never_count() {
    let url = redis_url();
    let prefix = prefix();
    let clock = server_clock(&url).await;
    let services: Vec<Svc> = (0..3)
        .map(|_| {
            usage_plan(
                &patient(&url, &prefix),
                &clock,
                15,
                1000,
                FailurePolicy::Closed,
            )
            .0
        })
        .collect();
    let statuses = hammer(&services, 150).await;
    assert_eq!(count(&statuses, StatusCode::OK), 15, "burst 15");
    let today = Day::from_unix(clock_unix(&clock));
    let usage = patient(&url, &prefix)
        .usage("key-1", today, today)
        .await
        .unwrap();
    assert_eq!(
        usage.days,
        vec![(today, 15)],
        "only admitted requests count"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn clock_skew_between_instances_changes_nothing() {
    let url = redis_url();
    let prefix = prefix();
    // An hour apart inside one UTC day: the same quota period on both (a
    // skew across midnight is a new period, tested below).
    let early = server_day_clock(&url, 3600).await;
    let late = server_day_clock(&url, 2 * 3600).await;
    let stores = [patient(&url, &prefix), patient(&url, &prefix)];
    let throttles = vec![
        throttle(&stores[0], &early, 10, FailurePolicy::Closed),
        throttle(&stores[1], &late, 10, FailurePolicy::Closed),
    ];
    let statuses = hammer(&throttles, 100).await;
    assert_eq!(count(&statuses, StatusCode::OK), 10);

    let plans = vec![
        usage_plan(&stores[0], &early, 1000, 25, FailurePolicy::Closed).0,
        usage_plan(&stores[1], &late, 1000, 25, FailurePolicy::Closed).0,
    ];
    let statuses = hammer(&plans, 100).await;
    assert_eq!(
        count(&statuses, StatusCode::OK),
        25,
        "one quota, whatever the clocks"
    );
}

/// A replica whose clock is already past midnight starts the new day's
/// quota; one still before midnight then counts against that newest day,
/// never the old one (a period never goes back).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn skew_across_midnight_counts_against_the_newest_day() {
    let url = redis_url();
    let prefix = prefix();
    let before = server_day_clock(&url, -1800).await;
    let after = server_day_clock(&url, 1800).await;
    let store = patient(&url, &prefix);
    let (lagging, _) = usage_plan(&store, &before, 1000, 25, FailurePolicy::Closed);
    let (leading, _) = usage_plan(&store, &after, 1000, 25, FailurePolicy::Closed);

    let statuses = hammer(std::slice::from_ref(&lagging), 10).await;
    assert_eq!(count(&statuses, StatusCode::OK), 10, "yesterday's quota");
    let statuses = hammer(std::slice::from_ref(&leading), 30).await;
    assert_eq!(count(&statuses, StatusCode::OK), 25, "today's quota, fresh");
    let statuses = hammer(std::slice::from_ref(&lagging), 10).await;
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        10,
        "the lagging replica counts against today, which is spent"
    );

    let today = Day::from_unix(clock_unix(&after));
    let yesterday = Day::from_unix(clock_unix(&before));
    assert_eq!(yesterday.next(), today);
    let usage = store.usage("key-1", yesterday, today).await.unwrap();
    assert_eq!(usage.days, vec![(yesterday, 10), (today, 25)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn script_flush_mid_test_keeps_requests_working() {
    let url = redis_url();
    let prefix = prefix();
    let clock = server_clock(&url).await;
    let services = vec![
        throttle(&patient(&url, &prefix), &clock, 100, FailurePolicy::Closed),
        throttle(&patient(&url, &prefix), &clock, 100, FailurePolicy::Closed),
    ];
    let first = hammer(&services, 30).await;
    assert_eq!(count(&first, StatusCode::OK), 30);
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut admin(&url).await)
        .await
        .unwrap();
    let second = hammer(&services, 30).await;
    assert_eq!(count(&second, StatusCode::OK), 30, "NOSCRIPT reloads");
    let third = hammer(&services, 100).await;
    assert_eq!(count(&third, StatusCode::OK), 40, "100 − 60 left");
}

/// A `redis-server` of this test's own on a free loopback port, killed on
/// drop.
struct Server {
    port: u16,
    child: Option<Child>,
}

impl Server {
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self { port, child: None };
        server.restart().await;
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for this test");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        for _ in 0..250 {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server on port {} did not come up", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn commandstat(conn: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn one_round_trip_per_request() {
    let server = Server::start().await;
    let url = server.url();
    let prefix = prefix();
    let clock = server_clock(&url).await;
    let store = patient(&url, &prefix);
    let (plan, _layer) = usage_plan(&store, &clock, 1000, 1000, FailurePolicy::Closed);
    let limiter = throttle(&store, &clock, 1000, FailurePolicy::Closed);
    // The first request loads the script (EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA).
    hammer(&[plan.clone(), limiter.clone()], 2).await;
    let mut conn = admin(&url).await;
    let before = commandstat(&mut conn, "evalsha").await;
    let loads = commandstat(&mut conn, "script|load").await;
    let statuses = hammer(&[plan, limiter], 100).await;
    assert_eq!(count(&statuses, StatusCode::OK), 100);
    assert_eq!(commandstat(&mut conn, "evalsha").await - before, 100);
    assert_eq!(commandstat(&mut conn, "script|load").await, loads);
    // Commands the script runs show up in the stats too; the client sends
    // none but EVALSHA.
    assert_eq!(commandstat(&mut conn, "eval").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn failure_policies_when_redis_dies_and_recovery_without_restart() {
    let mut server = Server::start().await;
    let url = server.url();
    let prefix = prefix();
    let clock = server_clock(&url).await;
    let open = throttle(&store(&url, &prefix), &clock, 1000, FailurePolicy::Open);
    let closed = throttle(&store(&url, &prefix), &clock, 1000, FailurePolicy::Closed);
    let (plan_open, _l1) = usage_plan(
        &store(&url, &prefix),
        &clock,
        1000,
        1000,
        FailurePolicy::Open,
    );
    let (plan_closed, _l2) = usage_plan(
        &store(&url, &prefix),
        &clock,
        1000,
        1000,
        FailurePolicy::Closed,
    );
    let all = [&open, &closed, &plan_open, &plan_closed];
    // The first request connects and loads the script within the 50 ms
    // timeout; on a loaded machine it may take a few tries.
    for service in all {
        let mut admitted = false;
        for _ in 0..100 {
            if service.clone().oneshot(request()).await.unwrap() == StatusCode::OK {
                admitted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(admitted, "the server never answered in time");
    }

    server.kill();
    // The store's timeout is 50 ms; nothing may take much longer.
    let bounded = |service: &Svc| {
        let service = service.clone();
        async move {
            tokio::time::timeout(Duration::from_millis(1000), service.oneshot(request()))
                .await
                .expect("a request hung past the store timeout")
                .unwrap()
        }
    };
    for _ in 0..5 {
        assert_eq!(bounded(&open).await, StatusCode::OK, "fail open admits");
        assert_eq!(
            bounded(&plan_open).await,
            StatusCode::OK,
            "fail open admits"
        );
        assert_eq!(
            bounded(&closed).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "fail closed answers 503"
        );
        assert_eq!(bounded(&plan_closed).await, StatusCode::SERVICE_UNAVAILABLE);
    }

    server.restart().await;
    // The same layers recover on their own once the connection is back.
    let mut recovered = [false; 2];
    for _ in 0..250 {
        recovered[0] |= bounded(&closed).await == StatusCode::OK;
        recovered[1] |= bounded(&plan_closed).await == StatusCode::OK;
        if recovered == [true; 2] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(recovered, [true; 2], "no recovery without a restart");
    // And the fresh server keeps answering.
    for _ in 0..20 {
        assert_eq!(bounded(&closed).await, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis"]
async fn limiter_decisions_follow_the_bucket_math() {
    use apigw::store::{BucketKey, Decision, LimitSpec, RateLimitStore};
    use apigw::throttle::Limit;

    let url = redis_url();
    let store = patient(&url, &prefix());
    let clock: SharedClock = Arc::new(ManualClock::new());
    let spec = LimitSpec::new("decisions", Limit::new(1.0, 3).unwrap(), 10);
    let limiter = store.limiter(&spec, &clock);
    let key = BucketKey::Ip("192.0.2.1".parse().unwrap());
    let mut remaining = Vec::new();
    for _ in 0..3 {
        match limiter.check(&key).await.unwrap() {
            Decision::Admitted {
                remaining: r,
                reset,
            } => {
                assert!(reset <= Duration::from_secs(3), "{reset:?}");
                remaining.push(r);
            }
            other => panic!("expected a token, got {other:?}"),
        }
    }
    assert_eq!(remaining, vec![2, 1, 0]);
    match limiter.check(&key).await.unwrap() {
        Decision::Rejected {
            retry_after: Some(wait),
        } => assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        ),
        other => panic!("expected a rejection, got {other:?}"),
    }
    // Another key has its own bucket.
    let other = BucketKey::text("{braces}:and:colons%");
    assert!(limiter.check(&other).await.unwrap().is_admitted());
    // Burst 0 admits nothing, with no round trip.
    let blocked = store.limiter(
        &LimitSpec::new("blocked", Limit::new(0.0, 0).unwrap(), 10),
        &clock,
    );
    assert_eq!(
        blocked.check(&key).await.unwrap(),
        Decision::Rejected { retry_after: None }
    );
}

/// What the test proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Pass bytes both ways.
    Forward,
    /// Accept and hold connections, never answering (a store that hangs).
    Hang,
    /// Listen no more and drop every connection (a store that is gone).
    Down,
}

/// A TCP proxy on 127.0.0.1 in front of a Redis, which the test stops,
/// hangs and restarts on the same port. Every mode change drops the open
/// connections.
struct Proxy {
    addr: std::net::SocketAddr,
    target: String,
    mode: tokio::sync::watch::Sender<Mode>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mode, _) = tokio::sync::watch::channel(Mode::Forward);
        let mut proxy = Self {
            addr: listener.local_addr().unwrap(),
            target,
            mode,
            accept: None,
        };
        proxy.accept = Some(proxy.serve(listener));
        proxy
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let mut changes = self.mode.subscribe();
        let mode = self.mode.clone();
        let target = self.target.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((client, _)) = accepted {
                            tokio::spawn(connection(client, target.clone(), mode.subscribe()));
                        }
                    }
                    _ = changes.wait_for(|m| *m == Mode::Down) => return,
                }
            }
        })
    }

    async fn set(&mut self, new: Mode) {
        self.mode.send_replace(new);
        if new == Mode::Down {
            if let Some(accept) = self.accept.take() {
                accept.await.unwrap();
            }
        } else if self.accept.is_none() {
            let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
            self.accept = Some(self.serve(listener));
        }
    }
}

async fn connection(
    mut client: tokio::net::TcpStream,
    target: String,
    mut mode: tokio::sync::watch::Receiver<Mode>,
) {
    let current = *mode.borrow_and_update();
    match current {
        Mode::Forward => {
            let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = mode.changed() => {}
            }
        }
        Mode::Hang => {
            let _ = mode.changed().await;
        }
        Mode::Down => {}
    }
}

/// `host:port` of a `redis://host:port[/db]` URL.
fn host_port(url: &str) -> String {
    let rest = url.strip_prefix("redis://").expect("a redis:// URL");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap().to_owned()
}

fn named_throttle(
    store: &Arc<RedisStore>,
    clock: &ManualClock,
    name: &str,
    burst: u32,
    policy: FailurePolicy,
) -> Svc {
    let clock: SharedClock = Arc::new(clock.clone());
    TokenBucketThrottleLayer::builder()
        .rate(0.001)
        .burst(burst)
        .name(name)
        .failure_policy(policy)
        .with_clock(clock)
        .with_store(store.clone())
        .build()
        .unwrap()
        .layer(backend())
        .map_response(|r| r.status())
        .boxed_clone()
}

/// Opens the store's connection and loads the script, retrying while a
/// loaded machine makes the first connect slow; no layer's bucket is used.
async fn warm_up(store: &Arc<RedisStore>) {
    use apigw::store::{BucketKey, LimitSpec, RateLimitStore};
    use apigw::throttle::Limit;
    let clock: SharedClock = Arc::new(ManualClock::new());
    let spec = LimitSpec::new("warm-up", Limit::new(1e6, 1_000_000).unwrap(), 10);
    let limiter = store.limiter(&spec, &clock);
    for _ in 0..100 {
        if limiter.check(&BucketKey::Global).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server never answered in time");
}

/// Sends `n` requests one after another, each bounded by `bound`.
async fn sequential(service: &Svc, n: usize, bound: Duration) -> Vec<StatusCode> {
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        let status = tokio::time::timeout(bound, service.clone().oneshot(request()))
            .await
            .expect("a request hung past the store timeout")
            .unwrap();
        statuses.push(status);
    }
    statuses
}

/// Retries until `service` admits: the local share is spent, so a 200 can
/// only come from Redis.
async fn until_admitted(service: &Svc, bound: Duration) {
    for _ in 0..250 {
        if sequential(service, 1, bound).await[0] == StatusCode::OK {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no recovery without a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn local_fallback_decides_at_limit_over_replicas_and_recovers() {
    let url = redis_url();
    let mut proxy = Proxy::start(host_port(&url)).await;
    let prefix = prefix();
    let clock = server_clock(&url).await;
    // The counts below are exact only if no request that reached Redis is
    // taken for a failure: a request whose answer comes after the timeout
    // has spent a shared token and is then decided locally. So while Redis
    // is up or refuses connections (answered at once), the timeout is long
    // enough for any stall of a loaded CI machine (with 1 s, one request in
    // a few hundred runs timed out and the recovery counts came out one
    // short); only the hang below uses a short one, on a store of its own.
    let timeout = Duration::from_secs(10);
    let bound = timeout * 3;
    let store = store_with_timeout(&proxy.url(), &prefix, timeout);
    let local = FailurePolicy::Local { replicas: 2 };
    let throttle = named_throttle(&store, &clock, "stage", 10, local);
    let (plan, _layer) = usage_plan(&store, &clock, 1000, 10, local);
    warm_up(&store).await;

    // Shared: 3 of the bucket's 10 and 3 of the quota's 10.
    assert_eq!(
        count(&sequential(&throttle, 3, bound).await, StatusCode::OK),
        3
    );
    assert_eq!(count(&sequential(&plan, 3, bound).await, StatusCode::OK), 3);

    // Redis gone: each process decides with half the limits, from scratch.
    proxy.set(Mode::Down).await;
    let statuses = sequential(&throttle, 8, bound).await;
    assert_eq!(count(&statuses, StatusCode::OK), 5, "burst 10 / 2 replicas");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 3);
    let statuses = sequential(&plan, 8, bound).await;
    assert_eq!(count(&statuses, StatusCode::OK), 5, "quota 10 / 2 replicas");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 3);

    // Redis back through the same port: the same layers use it again, and
    // what was decided locally was never written to it.
    proxy.set(Mode::Forward).await;
    until_admitted(&throttle, bound).await;
    until_admitted(&plan, bound).await;
    // 10 − 3 − the one that proved recovery.
    let statuses = sequential(&throttle, 10, bound).await;
    assert_eq!(count(&statuses, StatusCode::OK), 6);
    let statuses = sequential(&plan, 10, bound).await;
    assert_eq!(count(&statuses, StatusCode::OK), 6);

    // Redis hangs: every request waits out the timeout, then is decided
    // locally (a fresh limit: its shared bucket would admit all 10).
    proxy.set(Mode::Hang).await;
    let hang_timeout = Duration::from_millis(500);
    let hang_store = store_with_timeout(&proxy.url(), &prefix, hang_timeout);
    let bound = hang_timeout * 3;
    let hung = named_throttle(&hang_store, &clock, "hung", 10, local);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let hung = hung.clone();
            tokio::spawn(async move {
                tokio::time::timeout(bound, hung.oneshot(request()))
                    .await
                    .expect("a request hung past the store timeout")
                    .unwrap()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(count(&statuses, StatusCode::OK), 5);
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis"]
async fn every_policy_against_a_closed_port() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let clock = ManualClock::new();
    let dead = store(&url, &prefix());
    let bound = Duration::from_secs(1);
    let open = named_throttle(&dead, &clock, "open", 4, FailurePolicy::Open);
    let closed = named_throttle(&dead, &clock, "closed", 4, FailurePolicy::Closed);
    let local = named_throttle(
        &dead,
        &clock,
        "local",
        4,
        FailurePolicy::Local { replicas: 4 },
    );
    let open = sequential(&open, 6, bound).await;
    assert_eq!(count(&open, StatusCode::OK), 6, "fail open admits");
    let closed = sequential(&closed, 6, bound).await;
    assert_eq!(count(&closed, StatusCode::SERVICE_UNAVAILABLE), 6);
    let local = sequential(&local, 6, bound).await;
    assert_eq!(count(&local, StatusCode::OK), 1, "burst 4 / 4 replicas");
    assert_eq!(count(&local, StatusCode::TOO_MANY_REQUESTS), 5);
}

fn prechecking(url: &str, prefix: &str, connections: usize) -> Arc<RedisStore> {
    Arc::new(
        RedisStore::builder()
            .url(url)
            .key_prefix(prefix)
            .timeout(Duration::from_secs(5))
            .connections(connections)
            .local_precheck(true)
            .build()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn local_precheck_saves_round_trips_and_changes_no_decision() {
    let server = Server::start().await;
    let url = server.url();
    let prefix = prefix();
    let clock = server_clock(&url).await;
    // Four instances with the pre-check and one without, one bucket.
    let stores: Vec<_> = (0..4).map(|_| prechecking(&url, &prefix, 2)).collect();
    let mut throttles: Vec<Svc> = stores
        .iter()
        .map(|store| throttle(store, &clock, 10, FailurePolicy::Closed))
        .collect();
    throttles.push(throttle(
        &patient(&url, &prefix),
        &clock,
        10,
        FailurePolicy::Closed,
    ));
    let statuses = hammer(&throttles, 500).await;
    assert_eq!(count(&statuses, StatusCode::OK), 10, "burst 10, no refill");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 490);

    // Every pre-checking instance has seen the bucket empty for ~1000 s:
    // it rejects without asking Redis.
    let mut conn = admin(&url).await;
    let before = commandstat(&mut conn, "evalsha").await;
    let statuses = hammer(&throttles[..4], 200).await;
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 200);
    assert_eq!(commandstat(&mut conn, "evalsha").await, before);

    // The usage plan's throttle too; its quota counts only what Redis admitted.
    let plans: Vec<Svc> = stores
        .iter()
        .map(|store| usage_plan(store, &clock, 5, 1000, FailurePolicy::Closed).0)
        .collect();
    let statuses = hammer(&plans, 200).await;
    assert_eq!(count(&statuses, StatusCode::OK), 5, "burst 5");
    let before = commandstat(&mut conn, "evalsha").await;
    let statuses = hammer(&plans, 200).await;
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 200);
    assert_eq!(commandstat(&mut conn, "evalsha").await, before);
    let today = Day::from_unix(clock_unix(&clock));
    let usage = stores[0].usage("key-1", today, today).await.unwrap();
    assert_eq!(usage.days, vec![(today, 5)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis"]
async fn requests_take_the_pools_connections_in_turn() {
    let server = Server::start().await;
    let url = server.url();
    let clock = server_clock(&url).await;
    let pooled = Arc::new(
        RedisStore::builder()
            .url(&url)
            .key_prefix(prefix())
            .timeout(Duration::from_secs(5))
            .connections(3)
            .build()
            .unwrap(),
    );
    let service = throttle(&pooled, &clock, 1000, FailurePolicy::Closed);
    let statuses = hammer(&[service], 60).await;
    assert_eq!(count(&statuses, StatusCode::OK), 60);
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin(&url).await)
        .await
        .unwrap();
    // Three pooled connections whose last command was the script call.
    let pooled = clients
        .lines()
        .filter(|l| l.contains("cmd=evalsha"))
        .count();
    assert_eq!(pooled, 3, "{clients}");
}
