//! Log output: one JSON object per line by default (what log shippers expect), or a readable
//! format for a terminal. The filter comes from `RUST_LOG` through the configuration.

use tracing_subscriber::EnvFilter;
use wfops_config::{Config, LogFormat};

/// Installs the global subscriber. Returns `false` when one was already installed (tests).
pub fn init(config: &Config) -> bool {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
            .is_ok(),
        LogFormat::Pretty => builder.try_init().is_ok(),
    }
}
