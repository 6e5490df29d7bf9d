//! podflow: parse the command line, load the configuration, start logging, run the mode.

use std::process::ExitCode;

use clap::Parser;
use podflow::{cli::Cli, config::Config, modes, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(&e.to_string()),
    };
    if let Err(e) = telemetry::logging::init(&config.log) {
        return usage_error(&e);
    }
    match modes::run(cli.mode, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(modes::Failure::Usage(e)) => usage_error(&format!("{e:#}")),
        Err(modes::Failure::Runtime(e)) => {
            tracing::error!("{e:#}");
            eprintln!("podflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Bad configuration or input: one line on stderr, exit code 2.
fn usage_error(msg: &str) -> ExitCode {
    eprintln!("podflow: {msg}");
    ExitCode::from(2)
}
