//! podflow: parse the command line, load the configuration, start logging, run the mode
//! (or the `inject`, `kustomize-component` and `collect` tools).

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;
use podflow::cli::{Cli, CollectArgs, Command, InjectArgs, KustomizeArgs};
use podflow::telemetry::logging::error_chain;
use podflow::{capabilities, collect, config::Config, modes, telemetry, webhook};

fn main() -> ExitCode {
    // First, while this is the only thread: capabilities are per thread, and every thread
    // started later inherits this one's.
    let net_raw = capabilities::raise_net_raw();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(&e.to_string()),
    };
    if let Err(e) = telemetry::logging::init(&config.log) {
        return usage_error(&e);
    }
    tracing::debug!(%net_raw, "CAP_NET_RAW");
    let mode = match (&cli.command, cli.mode) {
        (Some(Command::Inject(args)), _) => return inject(args, &config),
        (Some(Command::KustomizeComponent(args)), _) => return kustomize(args, &config),
        (Some(Command::Collect(args)), _) => return collect(args, &config),
        (None, Some(mode)) => mode,
        (None, None) => return usage_error("--mode is required"),
    };
    match modes::run(mode, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(modes::Failure::Usage(e)) => usage_error(&error_chain(e.chain())),
        Err(modes::Failure::Runtime(e)) => {
            let e = error_chain(e.chain());
            tracing::error!("{e}");
            eprintln!("podflow: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `podflow inject`: manifests in, manifests with the sidecar out; notes on stderr.
fn inject(args: &InjectArgs, config: &Config) -> ExitCode {
    let mut text = String::new();
    let read = match args.file() {
        Some(path) => std::fs::read_to_string(path)
            .map(|t| text = t)
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
        None => std::io::stdin()
            .read_to_string(&mut text)
            .map(drop)
            .map_err(|e| format!("cannot read standard input: {e}")),
    };
    if let Err(e) = read {
        return usage_error(&e);
    }
    let injector = webhook::Injector::new(config);
    match webhook::inject::manifests(&text, &injector) {
        Ok(out) => {
            for note in &out.notes {
                eprintln!("podflow: {note}");
            }
            if let Err(e) = std::io::stdout().write_all(out.yaml.as_bytes()) {
                eprintln!("podflow: cannot write standard output: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(&e.to_string()),
    }
}

/// `podflow kustomize-component`: the component's files written into `--out`.
fn kustomize(args: &KustomizeArgs, config: &Config) -> ExitCode {
    let template = webhook::sidecar::Template::from(config);
    match webhook::kustomize::write(&args.out, &template) {
        Ok(paths) => {
            for path in paths {
                eprintln!("podflow: wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("podflow: cannot write {}: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}

/// `podflow collect`: records received or read, as JSON lines.
fn collect(args: &CollectArgs, config: &Config) -> ExitCode {
    let listen = match args.listen.iter().map(|l| l.parse()).collect() {
        Ok(listen) => listen,
        Err(e) => return usage_error(&format!("--listen {e}")),
    };
    let tls = args
        .tls_cert
        .clone()
        .zip(args.tls_key.clone())
        .map(|(cert, key)| collect::ServerTls {
            cert,
            key,
            client_ca: args.tls_client_ca.clone(),
        });
    let args = collect::Args {
        listen,
        files: args.files.clone(),
        tls,
        enterprise_number: config.ipfix.enterprise_number,
    };
    match collect::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(&format!("collect: {e}")),
    }
}

/// Bad configuration or input: one line on stderr, exit code 2.
fn usage_error(msg: &str) -> ExitCode {
    eprintln!("podflow: {msg}");
    ExitCode::from(2)
}
