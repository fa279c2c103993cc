//! `humanitec-sandbox`: a stateful fake of Humanitec's values API.

use std::net::SocketAddr;

use clap::Parser;
use humanitec_sandbox::{Sandbox, SandboxConfig};

#[derive(Parser)]
#[command(
    version,
    about = "A stateful fake of Humanitec's values API, for tests and demos"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "SANDBOX_LISTEN", default_value = "127.0.0.1:4010")]
    listen: SocketAddr,
    /// JSON file with orgs, apps, envs and tokens (default: the demo config).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = match &args.config {
        None => SandboxConfig::demo(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: cannot use sandbox config {}: {e}", path.display());
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    let sandbox = match Sandbox::start(config.clone(), args.listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("humanitec-sandbox listening on {}", sandbox.base_url());
    // The tokens are fake, so printing them helps whoever points a worker here.
    for t in &config.tokens {
        println!("  token {} -> org {} as {:?}", t.token, t.org, t.role);
    }
    let _ = tokio::signal::ctrl_c().await;
    sandbox.shutdown();
    std::process::ExitCode::SUCCESS
}
