//! `strata`: run a site and operate it.

mod admin;
mod admin_client;
mod config;
mod dev;
mod dev_certs;
mod http_serve;
mod lifecycle;
mod metrics;
mod purge;
mod repl_auth;
mod repl_cli;
mod s3;
mod scrub;
mod server;
mod timefmt;
mod tls;

use admin::{CreateUser, UserView};
use clap::{Parser, Subcommand};
use config::Config;
use std::path::PathBuf;
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
    /// Replication with other sites, through the local site's admin API.
    Repl {
        #[arg(long)]
        config: PathBuf,
        #[command(subcommand)]
        command: repl_cli::ReplCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Load-test any S3 endpoint: ops/s, MiB/s and latency percentiles per operation.
    Bench(strata_loadgen::BenchArgs),
    /// A TCP proxy that adds a round-trip time (a WAN on loopback, for benchmarks and
    /// rehearsals): `strata wan-proxy --listen 127.0.0.1:0 --to HOST:PORT --rtt-ms 50`.
    WanProxy(strata_loadgen::wan::WanArgs),
    /// Start two local sites replicating to each other, with a ready user.
    Dev {
        /// Where the dev sites keep their configs and data.
        #[arg(long, default_value = ".strata-dev")]
        dir: PathBuf,
        /// S3 port of site-a; its admin and replication ports are the next two.
        /// site-b uses the same three ports plus 10.
        #[arg(long, default_value_t = 9000)]
        port: u16,
        /// How many sites: two replicate both ways; more form a ring (site-a to
        /// site-b to ... back to site-a), each on the ports of the one before plus 10.
        #[arg(long, default_value_t = 2)]
        sites: usize,
        /// TLS on every port, with a CA made for the dev directory (ca.pem) and mutual
        /// TLS between the sites.
        #[arg(long)]
        tls: bool,
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
    /// Refuse client writes (on) or take them again (off), persisted: fences an old
    /// primary during failover. Replication still applies what sources send.
    ReadOnly {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// The site's data disk (free space, the reserve) and whether it takes new data.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Read back every block records reference, check its SHA-256, and replace a bad or
    /// missing one with a good copy from a peer site. Waits for the run and prints
    /// what it found; exits 1 if a block could not be replaced.
    Scrub {
        #[arg(long)]
        json: bool,
    },
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
    /// The user's access key.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Issue a new access key and secret; the old key is refused from now on (or
    /// after --grace seconds), on every site the change replicates to.
    Rotate {
        name: String,
        /// Seconds the old key is still accepted, for its clients to move over.
        #[arg(long, default_value_t = 0)]
        grace: u64,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration.
    Example,
    /// Make a CA (DIR/ca.pem) and, for each SITE, a certificate for localhost and
    /// 127.0.0.1 signed by it (DIR/SITE/tls/cert.pem, key.pem): TLS to try out or
    /// benchmark, as `strata dev --tls` uses.
    DevCerts {
        #[arg(long)]
        dir: PathBuf,
        #[arg(required = true)]
        sites: Vec<String>,
    },
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

use server::AnyError;

async fn run(cmd: Command) -> Result<(), AnyError> {
    match cmd {
        Command::Serve { config } => {
            let cfg = Config::load(&config)?;
            let store = server::open_store(&cfg).await?;
            server::serve(cfg, store, |_, _| {}).await?;
        }
        Command::Admin { config, command } => {
            let cfg = Config::load(&config)?;
            match command {
                AdminCommand::User { command } => user_command(&cfg, command).await?,
                AdminCommand::Metrics => {
                    let body = admin_client::call(&cfg, "GET", "/v1/metrics", None).await?;
                    println!("{}", String::from_utf8_lossy(&body));
                }
                AdminCommand::ReadOnly { state } => {
                    admin_client::call(&cfg, "POST", &format!("/v1/read-only/{state}"), None).await?;
                    println!("read-only {state}");
                }
                AdminCommand::Status { json } => {
                    let body = admin_client::call(&cfg, "GET", "/v1/status", None).await?;
                    if json {
                        println!("{}", String::from_utf8_lossy(&body));
                    } else {
                        print_site_status(&serde_json::from_slice(&body)?);
                    }
                }
                AdminCommand::Scrub { json } => {
                    let body = admin_client::call(&cfg, "POST", "/v1/scrub", None).await?;
                    let result: scrub::ScrubResult = serde_json::from_slice(&body)?;
                    if json {
                        println!("{}", String::from_utf8_lossy(&body));
                    } else {
                        print_scrub(&result);
                    }
                    if result.figures.unrepairable > 0 {
                        // The exit status scripts read: data is damaged for good here.
                        std::process::exit(1);
                    }
                }
            }
        }
        Command::Repl { config, command } => {
            let cfg = Config::load(&config)?;
            repl_cli::run(&cfg, command).await?;
        }
        Command::Config {
            command: ConfigCommand::Example,
        } => print!("{}", config::EXAMPLE),
        Command::Config {
            command: ConfigCommand::DevCerts { dir, sites },
        } => {
            dev_certs::ensure(&dir, &sites)?;
            println!("CA: {}", dir.join("ca.pem").display());
        }
        Command::Dev { dir, port, sites, tls } => dev::run(&dir, port, sites, tls).await?,
        Command::WanProxy(args) => strata_loadgen::wan::run(args).await?,
        Command::Bench(args) => {
            let json = args.json;
            let report = strata_loadgen::run(args).await?;
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
        UserCommand::Key {
            command: KeyCommand::Rotate { name, grace },
        } => {
            let path = format!("/v1/users/{name}/key/rotate?grace_secs={grace}");
            let u: UserView = serde_json::from_slice(&admin_client::call(cfg, "POST", &path, None).await?)?;
            println!(
                "user: {}\naccess_key: {}\nsecret_key: {}\nthe old key is retired{}",
                u.name,
                u.access_key,
                u.secret_key,
                if grace > 0 {
                    format!(" in {grace} s")
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

fn print_site_status(s: &admin::SiteStatus) {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!("site {} ({})", s.site, s.site_id);
    println!(
        "{}: {:.1} MiB free of {:.1} MiB; reserve {:.1} MiB; new data {}",
        if s.store == "rados" {
            "ceph cluster (raw)"
        } else {
            "disk"
        },
        mib(s.disk_free_bytes),
        mib(s.disk_total_bytes),
        mib(s.reserve_bytes),
        if s.accepting_new_data {
            "accepted"
        } else {
            "REFUSED (507) until space is freed; deletes work"
        }
    );
    if s.read_only {
        println!("READ-ONLY: client writes are refused (strata admin read-only off to take them)");
    }
    if let Some(why) = &s.failure {
        println!("STOPPED: a metadata write could not be made durable ({why}); restart the site");
    }
    if s.clock_ahead_ms > 1000 {
        println!(
            "clock: the newest timestamp is {} ms ahead of the wall clock",
            s.clock_ahead_ms
        );
    }
    let p = &s.purge;
    println!(
        "deletes: {} kept as graves ({} s retention), {} purged since start{}",
        p.graves,
        p.retention_secs,
        p.purged_total,
        p.held_by
            .as_ref()
            .map_or(String::new(), |sink| format!("; purge held back by sink {sink}"))
    );
    if let Some(r) = &s.scrub.running {
        println!(
            "scrub: running, {} of {} blocks checked, {} bad, {} repaired",
            r.figures.blocks_checked, r.blocks_total, r.figures.bad_found, r.figures.repaired
        );
    }
    if let Some(l) = &s.scrub.last {
        print_scrub(l);
    }
}

fn print_scrub(r: &scrub::ScrubResult) {
    let f = &r.figures;
    println!(
        "scrub: {} blocks ({} bytes) checked in {} ms; {} bad ({} missing, {} corrupt), {} repaired from a peer, {} unrepairable",
        f.blocks_checked,
        f.bytes_checked,
        r.ended_ms.saturating_sub(r.started_ms),
        f.bad_found,
        f.missing,
        f.corrupt,
        f.repaired,
        f.unrepairable
    );
    for u in &r.unrepairable_blocks {
        println!(
            "  unrepairable {:?} block {}: used by {:?}; {}",
            u.fault, u.block, u.keys, u.why
        );
    }
}
