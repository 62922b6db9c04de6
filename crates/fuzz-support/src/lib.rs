//! The runner of the property-based fuzz tests: a bounded number of cases in
//! CI, more by hand through `PROPTEST_CASES`, a printed seed to replay a
//! failure, and a line per property saying how many inputs it tried.

use std::fmt::Debug;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// `Config::default()` already reads the `PROPTEST_*` variables; only the
/// case count is lowered to `default_cases`, and only when `PROPTEST_CASES`
/// is absent. The seed is fixed (and printed) so a failure can be replayed.
pub fn config(default_cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    if config.rng_seed == RngSeed::Random {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = (now as u64) ^ (u64::from(std::process::id()) << 32);
        config.rng_seed = RngSeed::Fixed(seed);
    }
    // No regression files: the failure message carries the minimal input.
    config.failure_persistence = None;
    config
}

/// Run one property of `suite` and report the number of inputs it tried.
///
/// # Panics
/// When the property fails, with the seed that replays it.
pub fn check<S>(
    suite: &str,
    default_cases: u32,
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let config = config(default_cases);
    let (cases, seed) = (config.cases, config.rng_seed);
    let tried = AtomicU64::new(0);
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |input| {
        tried.fetch_add(1, Ordering::Relaxed);
        test(input)
    });
    // Written to the process's stderr rather than through `eprintln!`, which
    // the test harness captures: the counts belong in the CI log.
    let _ = writeln!(
        std::io::stderr().lock(),
        "{suite}::{name}: {} inputs tried ({cases} cases, seed {seed}) in {:.2?}",
        tried.load(Ordering::Relaxed),
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("property {name} failed (PROPTEST_RNG_SEED={seed}): {e}");
    }
}
