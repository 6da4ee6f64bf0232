//! Checks per second through one `RedisStore` (one multiplexed connection)
//! with many requests in flight, next to `redis-benchmark` sending the same
//! `EVALSHA` over one connection with the same pipelining, against the same
//! server in the same run; and the latency of one check against the
//! in-memory store.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo bench --features redis --bench redis_store`
//!
//! Every bucket admits everything (1e9/s, burst 1,000,000,000), so every
//! check writes its bucket: the admitted path. `redis-benchmark` must be on
//! `PATH` for the comparison row (it is skipped with a note otherwise).
#![allow(clippy::print_stdout)] // A bench reports on stdout.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use apigw::clock::{ManualClock, SharedClock};
use apigw::store::{BucketKey, LimitSpec, MemoryRateLimitStore, RateLimitStore, RedisStore};
use apigw::throttle::Limit;
use tokio::time::Instant;

const IN_FLIGHT: usize = 64;
const CHECKS: usize = 200_000;

fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run(&url));
}

async fn run(url: &str) {
    let clock: SharedClock = Arc::new(ManualClock::new());
    let spec = LimitSpec::new(
        "bench",
        Limit::new(1e9, 1_000_000_000).expect("limit"),
        1000,
    );
    let store = RedisStore::builder()
        .url(url)
        .key_prefix("apigw-bench")
        .timeout(Duration::from_secs(5))
        .build()
        .expect("store");
    let limiter = store.limiter(&spec, &clock);
    let key = BucketKey::text("bench-key");
    // Loads the script.
    limiter.check(&key).await.expect("redis answers");

    // Throughput: IN_FLIGHT tasks sharing one connection.
    let start = Instant::now();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            let key = key.clone();
            tokio::spawn(async move {
                for _ in 0..CHECKS / IN_FLIGHT {
                    limiter.check(&key).await.expect("redis answers");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let elapsed = start.elapsed();
    let done = CHECKS / IN_FLIGHT * IN_FLIGHT;
    let ours = done as f64 / elapsed.as_secs_f64();
    println!(
        "RedisStore, 1 connection, {IN_FLIGHT} in flight: {ours:.0} checks/s ({done} in {elapsed:.2?})"
    );

    // Latency of one check at a time, Redis and in memory.
    let n = 20_000;
    let start = Instant::now();
    for _ in 0..n {
        limiter.check(&key).await.expect("redis answers");
    }
    let redis_latency = start.elapsed() / n;
    let memory = MemoryRateLimitStore::new().limiter(&spec, &clock);
    let start = Instant::now();
    for _ in 0..n {
        memory.check(&key).await.expect("memory answers");
    }
    let memory_latency = start.elapsed() / n;
    println!("one check at a time: RedisStore {redis_latency:.2?}, in memory {memory_latency:.2?}");

    // redis-benchmark: the same EVALSHA, 1 connection, pipeline IN_FLIGHT.
    let (host, port) = host_port(url);
    let output = Command::new("redis-benchmark")
        .args([
            "-h",
            &host,
            "-p",
            &port,
            "-c",
            "1",
            "-P",
            &IN_FLIGHT.to_string(),
        ])
        .args(["-n", &CHECKS.to_string(), "-q"])
        .args([
            "EVALSHA",
            store.script_hash(),
            "1",
            "{apigw-bench:t:bench:s:rb}",
        ])
        .args(["1000000000", "1", "1000000000", "-1"])
        .output();
    match output {
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout);
            // The progress lines end in `\r`; the summary comes last.
            let line = text.rsplit('\r').next().unwrap_or("").trim().to_owned();
            println!("redis-benchmark -c 1 -P {IN_FLIGHT} EVALSHA (same script): {line}");
        }
        Err(error) => println!("redis-benchmark not run: {error}"),
    }
}

fn host_port(url: &str) -> (String, String) {
    let rest = url.rsplit('@').next().unwrap_or(url);
    let rest = rest.trim_start_matches("redis://");
    let rest = rest.split('/').next().unwrap_or(rest);
    match rest.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.to_owned()),
        None => (rest.to_owned(), "6379".to_owned()),
    }
}
