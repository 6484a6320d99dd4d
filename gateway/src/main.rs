//! `strata`: run a site and operate it.

mod admin;
mod admin_client;
mod bench;
mod config;
mod metrics;
mod s3;
mod server;
mod timefmt;

use admin::{CreateUser, UserView};
use clap::{Parser, Subcommand};
use config::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Strata: an S3-compatible object store whose sites replicate"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a site.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Operate a running site through its admin API.
    Admin {
        #[arg(long)]
        config: PathBuf,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Load-test any S3 endpoint: ops/s, MiB/s and latency percentiles per operation.
    Bench(bench::BenchArgs),
    /// Start a local site with a ready user, for trying Strata out.
    Dev {
        /// Where the dev site keeps its config and data.
        #[arg(long, default_value = ".strata-dev")]
        dir: PathBuf,
        /// Port of the S3 API; the admin API uses the next one.
        #[arg(long, default_value_t = 9000)]
        port: u16,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Users and their S3 credentials.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Requests served since start, per S3 operation, as JSON.
    Metrics,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print its access key and secret.
    Create {
        name: String,
        /// Use this access key instead of a generated one (for test suites).
        #[arg(long, requires = "secret_key")]
        access_key: Option<String>,
        #[arg(long, requires = "access_key")]
        secret_key: Option<String>,
    },
    List,
    Delete {
        name: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration.
    Example,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

async fn run(cmd: Command) -> Result<(), AnyError> {
    match cmd {
        Command::Serve { config } => {
            let cfg = Config::load(&config)?;
            let store = server::open_store(&cfg)?;
            server::serve(cfg, store, |_| {}).await?;
        }
        Command::Admin { config, command } => {
            let cfg = Config::load(&config)?;
            match command {
                AdminCommand::User { command } => user_command(&cfg, command).await?,
                AdminCommand::Metrics => {
                    let body = admin_client::call(&cfg, "GET", "/v1/metrics", None).await?;
                    println!("{}", String::from_utf8_lossy(&body));
                }
            }
        }
        Command::Config {
            command: ConfigCommand::Example,
        } => print!("{}", config::EXAMPLE),
        Command::Dev { dir, port } => dev(&dir, port).await?,
        Command::Bench(args) => {
            let json = args.json;
            let report = bench::run(args).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                report.print_table();
            }
        }
    }
    Ok(())
}

async fn user_command(cfg: &Config, cmd: UserCommand) -> Result<(), AnyError> {
    match cmd {
        UserCommand::Create {
            name,
            access_key,
            secret_key,
        } => {
            let body = serde_json::to_string(&CreateUser {
                name,
                access_key,
                secret_key,
            })?;
            let u: UserView = serde_json::from_slice(&admin_client::call(cfg, "POST", "/v1/users", Some(body)).await?)?;
            println!(
                "user: {}\naccess_key: {}\nsecret_key: {}",
                u.name, u.access_key, u.secret_key
            );
        }
        UserCommand::List => {
            let users: Vec<UserView> =
                serde_json::from_slice(&admin_client::call(cfg, "GET", "/v1/users", None).await?)?;
            println!("{:<24} ACCESS_KEY", "NAME");
            for u in users {
                println!("{:<24} {}", u.name, u.access_key);
            }
        }
        UserCommand::Delete { name } => {
            admin_client::call(cfg, "DELETE", &format!("/v1/users/{name}"), None).await?;
            println!("deleted user {name}");
        }
    }
    Ok(())
}

/// A one-command local site: writes a config on first use, makes a `dev` user, prints
/// how to reach it, and serves.
async fn dev(dir: &Path, port: u16) -> Result<(), AnyError> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("strata.toml");
    if !path.exists() {
        let token = format!("{:032x}", rand::random::<u128>());
        std::fs::write(
            &path,
            format!(
                "site_name = \"dev\"\ndata_dir = \"data\"\n\n[s3]\nlisten = \"127.0.0.1:{port}\"\nroot_domain = \"localhost\"\n\n[admin]\nlisten = \"127.0.0.1:{}\"\ntoken = \"{token}\"\n",
                port + 1
            ),
        )?;
    }
    let cfg = Config::load(&path)?;
    let store = server::open_store(&cfg)?;
    let user = match store.list_users()?.into_iter().find(|u| u.name == "dev") {
        Some(u) => u,
        None => store.create_user("dev", None, None)?,
    };
    let config_path = path.display().to_string();
    server::serve(cfg, store, move |cfg| {
        println!(
            "Strata dev site is up.\n\n  endpoint:   http://{s3}\n  access key: {ak}\n  secret key: {sk}\n  config:     {config_path}\n\nTry it:\n  export AWS_ACCESS_KEY_ID={ak} AWS_SECRET_ACCESS_KEY={sk} AWS_DEFAULT_REGION=us-east-1\n  aws --endpoint-url http://{s3} s3 mb s3://demo\n  aws --endpoint-url http://{s3} s3 cp README.md s3://demo/\n  aws --endpoint-url http://{s3} s3 ls s3://demo\n\nCtrl-C stops the site; data stays in {dir}.",
            s3 = cfg.s3.listen,
            ak = user.access_key,
            sk = user.secret_key,
            dir = cfg.data_dir.display(),
        );
    })
    .await?;
    Ok(())
}
