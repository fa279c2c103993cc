use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = secret_sync::cli::Cli::parse();
    match secret_sync::cli::main(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e.downcast_ref::<secret_sync::cli::FailedSyncs>() {
                Some(_) => std::process::ExitCode::from(secret_sync::cli::FailedSyncs::EXIT_CODE),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}
