use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = fim::cli::Cli::parse();
    let default_level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .init();

    let code = match fim::cmd::run(cli).map_err(anyhow::Error::from) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("fim: {err:#}");
            fim::exit::code_for(&err)
        }
    };
    ExitCode::from(code as u8)
}
