//! Logging set-up shared by the binaries.

use tracing_subscriber::EnvFilter;

/// Structured logs: JSON inside Lambda (so CloudWatch can query fields),
/// human-readable elsewhere. `RUST_LOG` filters; the default is `info`.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if in_lambda {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .with_ansi(false)
            .init();
    } else {
        builder.with_ansi(false).init();
    }
}
