//! Shared by the benches: named scenarios that run under criterion, or a
//! fixed number of times for an instruction count under callgrind.
//!
//! `APIGW_BENCH_LOOP=<scenario>:<n>` makes the bench binary run that
//! scenario 1,000 times (warm-up: first-use registrations, caches, lazy
//! statics), then `n` times, and exit. Counting instructions for `n` and for
//! 0 gives the cost of one iteration however loaded the machine is:
//! `benches/instructions.sh` does that (or, with `ONLY_LOOP=1`, counts the
//! measured iterations alone, for benches whose start-up varies).

use criterion::Criterion;

/// One benchmarked operation.
pub(crate) struct Scenario {
    /// Criterion's group.
    pub(crate) group: &'static str,
    /// The name within the group, and for `APIGW_BENCH_LOOP`.
    pub(crate) name: String,
    /// One iteration.
    pub(crate) run: Box<dyn FnMut()>,
}

impl Scenario {
    /// A scenario in `group`.
    pub(crate) fn new(
        group: &'static str,
        name: impl Into<String>,
        run: impl FnMut() + 'static,
    ) -> Self {
        Self {
            group,
            name: name.into(),
            run: Box::new(run),
        }
    }
}

/// Runs the scenario `APIGW_BENCH_LOOP` names and returns `true`, or returns
/// `false` when it is not set.
pub(crate) fn instruction_loop(scenarios: &mut [Scenario]) -> bool {
    let Ok(spec) = std::env::var("APIGW_BENCH_LOOP") else {
        return false;
    };
    let (name, count) = spec
        .rsplit_once(':')
        .expect("APIGW_BENCH_LOOP is <scenario>:<iterations>");
    let count: u64 = count.parse().expect("iterations are a number");
    let Some(scenario) = scenarios.iter_mut().find(|s| s.name == name) else {
        let names: Vec<_> = scenarios.iter().map(|s| s.name.as_str()).collect();
        panic!("no scenario `{name}`; there are {names:?}");
    };
    for _ in 0..1_000 {
        (scenario.run)();
    }
    measured_iterations(scenario, count);
    true
}

/// The measured iterations, in a function of their own so that callgrind can
/// count them alone (`--toggle-collect=*measured_iterations*`, what
/// `ONLY_LOOP=1 benches/instructions.sh` does): start-up work whose count
/// varies from run to run (key generation, entropy) is then left out.
#[inline(never)]
fn measured_iterations(scenario: &mut Scenario, count: u64) {
    for _ in 0..count {
        (scenario.run)();
    }
}

/// Runs every scenario under criterion, grouped.
pub(crate) fn criterion(scenarios: &mut [Scenario]) {
    let mut criterion = Criterion::default().configure_from_args();
    let mut groups: Vec<&'static str> = scenarios.iter().map(|s| s.group).collect();
    groups.dedup();
    for group_name in groups {
        let mut group = criterion.benchmark_group(group_name);
        for scenario in scenarios.iter_mut().filter(|s| s.group == group_name) {
            group.bench_function(scenario.name.as_str(), |b| b.iter(&mut scenario.run));
        }
        group.finish();
    }
    criterion.final_summary();
}

/// The bench's `main`: the instruction loop when asked, else criterion.
pub(crate) fn main(scenarios: impl FnOnce() -> Vec<Scenario>) {
    let mut scenarios = scenarios();
    if !instruction_loop(&mut scenarios) {
        criterion(&mut scenarios);
    }
}
