//! `strata dev`: sites on loopback replicating (two both ways, more in a ring), with a ready user, for
//! trying Strata out. Configs are written on first use and reused after.

use crate::config::Config;
use crate::dev_certs;
use crate::server::{self, AnyError};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use strata_repl::{Replication, SinkOp};

struct DevSite {
    cfg: Config,
    config_path: String,
    repl: Arc<Replication>,
    task: tokio::task::JoinHandle<Result<(), AnyError>>,
}

struct DevConfig<'a> {
    name: &'a str,
    id: u64,
    port: u16,
    secret: &'a str,
    tls: bool,
}

fn write_config(path: &Path, c: &DevConfig, token: &str) -> std::io::Result<()> {
    let (s3_tls, repl_tls) = match c.tls {
        true => (dev_certs::config(true), dev_certs::config(false)),
        false => ("", ""),
    };
    std::fs::write(
        path,
        format!(
            "site_name = \"{name}\"\nsite_id = \"{id:016x}\"\ndata_dir = \"data\"\nreserve_bytes = 67108864\n\n[s3]\nlisten = \"127.0.0.1:{port}\"\nroot_domain = \"localhost\"\n{s3_tls}\n[admin]\nlisten = \"127.0.0.1:{}\"\ntoken = \"{token}\"\n\n[repl]\nlisten = \"127.0.0.1:{}\"\naccess_key = \"strata-dev-repl\"\nsecret_key = \"{secret}\"\n# site-a decides bucket and user names for the group (docs/replication.md).\nauthority = \"site-a\"\n{repl_tls}",
            c.port + 1,
            c.port + 2,
            name = c.name,
            id = c.id,
            port = c.port,
            secret = c.secret,
        ),
    )
}

async fn start(dir: &Path, c: &DevConfig<'_>) -> Result<DevSite, AnyError> {
    let site_dir = dir.join(c.name);
    std::fs::create_dir_all(&site_dir)?;
    let path = site_dir.join("strata.toml");
    if !path.exists() {
        let token = format!("{:032x}", rand::random::<u128>());
        write_config(&path, c, &token)?;
    }
    let cfg = Config::load(&path)?;
    if cfg.s3.tls_cert.is_some() != c.tls {
        return Err(format!(
            "{} was made {} --tls: use another --dir, or remove it to start over",
            path.display(),
            if c.tls { "without" } else { "with" }
        )
        .into());
    }
    let store = server::open_store(&cfg).await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(server::serve(cfg.clone(), store, move |_, repl| {
        let _ = tx.send(repl);
    }));
    let repl = match rx.await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(format!("{} has no [repl] section", path.display()).into()),
        Err(_) => return Err(task.await?.err().unwrap_or_else(|| "site stopped".into())),
    };
    Ok(DevSite {
        cfg,
        config_path: path.display().to_string(),
        repl,
        task,
    })
}

/// Makes `to` a started realtime sink of `from`, unless it already is.
async fn link(from: &DevSite, to: &DevSite) -> Result<(), AnyError> {
    let known = from
        .repl
        .connections()
        .into_iter()
        .find(|p| p.info.name == to.cfg.site_name)
        .and_then(|p| p.sink);
    if known.is_some_and(|s| s.enabled && s.started) {
        return Ok(());
    }
    let addr = to.cfg.repl.as_ref().map(|r| r.listen.to_string()).unwrap_or_default();
    from.repl.connect(&addr, None).await?;
    let name = &to.cfg.site_name;
    if !known.is_some_and(|s| s.enabled) {
        from.repl.realtime(name, SinkOp::Enable { blocks: true }).await?;
    }
    from.repl.realtime(name, SinkOp::Start).await?;
    Ok(())
}

/// The dev sites' names: site-a, site-b, ... site-z.
fn name(i: usize) -> String {
    format!("site-{}", (b'a' + i as u8) as char)
}

pub async fn run(dir: &Path, port: u16, sites: usize, tls: bool) -> Result<(), AnyError> {
    if !(2..=26).contains(&sites) {
        return Err("--sites takes 2 to 26".into());
    }
    std::fs::create_dir_all(dir)?;
    let secret_path = dir.join("repl-secret");
    if !secret_path.exists() {
        std::fs::write(&secret_path, format!("{:032x}", rand::random::<u128>()))?;
    }
    let secret = std::fs::read_to_string(&secret_path)?.trim().to_owned();
    if tls {
        dev_certs::ensure(dir, &(0..sites).map(name).collect::<Vec<_>>())?;
    }
    let mut all = Vec::new();
    for i in 0..sites {
        // Ids a1, b2, c3, ...: fixed, so a dev directory reopens under the same ids.
        let id = ((0xa + i as u64) << 4) | (i as u64 + 1);
        let name = name(i);
        let c = DevConfig {
            name: &name,
            id,
            port: port + 10 * i as u16,
            secret: &secret,
            tls,
        };
        all.push(start(dir, &c).await?);
    }
    // A ring: each site streams to the next, the last to the first (two sites: both ways).
    for i in 0..sites {
        link(&all[i], &all[(i + 1) % sites]).await?;
    }

    // The user is made on site-a; realtime carries it round.
    let store_a = all[0].repl.store();
    let user = store_a
        .run(|s| match s.list_users()?.into_iter().find(|u| u.name == "dev") {
            Some(u) => Ok(u),
            None => s.create_user("dev", None, None),
        })
        .await?;
    for site in &all[1..] {
        let store = site.repl.store();
        for _ in 0..100 {
            let key = user.access_key.clone();
            if store.run(move |s| s.user_by_access_key(&key)).await?.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (first, last) = (&all[0], &all[sites - 1]);
    // With TLS the sites answer https for localhost and 127.0.0.1, trusting the dev CA.
    let (scheme, ca) = match tls {
        true => ("https", format!(" --ca-bundle {}", dir.join("ca.pem").display())),
        false => ("http", String::new()),
    };
    let mut listing = String::new();
    for s in &all {
        listing.push_str(&format!(
            "  {}:     {scheme}://{}   (config {})\n",
            s.cfg.site_name, s.cfg.s3.listen, s.config_path
        ));
    }
    let shape = if sites == 2 {
        "two sites replicating to each other, site-a deciding bucket names".to_owned()
    } else {
        format!("{sites} sites in a ring (each streams to the next, the last to site-a), site-a deciding bucket names")
    };
    let shape = if tls {
        format!("{shape}, TLS on every port (mutual on replication)")
    } else {
        shape
    };
    let aws = |url: &str, args: &str| format!("  aws --endpoint-url {scheme}://{url}{ca} s3 {args}\n");
    let banner = format!(
        "Strata dev: {shape}.\n\n{listing}  access key: {ak}\n  secret key: {sk}\n\nWrite to one, read from another:\n  export AWS_ACCESS_KEY_ID={ak} AWS_SECRET_ACCESS_KEY={sk} AWS_DEFAULT_REGION=us-east-1\n{}{}{}{}\nReplication status:\n  strata repl --config {ac} status\n\nCtrl-C stops every site; data stays in {dir}.",
        aws(&first.cfg.s3.listen.to_string(), "mb s3://demo"),
        aws(&first.cfg.s3.listen.to_string(), "cp README.md s3://demo/"),
        aws(&last.cfg.s3.listen.to_string(), "ls s3://demo"),
        aws(&last.cfg.s3.listen.to_string(), "cp s3://demo/README.md -"),
        ac = first.config_path,
        ak = user.access_key,
        sk = user.secret_key,
        dir = dir.display(),
    );
    // Whoever started us may stop reading (a script that wanted the keys, `| head`):
    // the sites keep running, so a closed stdout is no reason to fail (`println!`
    // would panic and take every site down).
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{banner}").and_then(|()| out.flush());
    drop(out);
    for site in all {
        site.task.await??;
    }
    Ok(())
}
