//! `strata dev`: two sites on loopback replicating to each other, with a ready user, for
//! trying Strata out. Configs are written on first use and reused after.

use crate::config::Config;
use crate::server::{self, AnyError};
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

fn write_config(path: &Path, name: &str, id: u64, port: u16, token: &str, secret: &str) -> std::io::Result<()> {
    std::fs::write(
        path,
        format!(
            "site_name = \"{name}\"\nsite_id = \"{id:016x}\"\ndata_dir = \"data\"\nreserve_bytes = 67108864\n\n[s3]\nlisten = \"127.0.0.1:{port}\"\nroot_domain = \"localhost\"\n\n[admin]\nlisten = \"127.0.0.1:{}\"\ntoken = \"{token}\"\n\n[repl]\nlisten = \"127.0.0.1:{}\"\naccess_key = \"strata-dev-repl\"\nsecret_key = \"{secret}\"\n",
            port + 1,
            port + 2
        ),
    )
}

async fn start(dir: &Path, name: &str, id: u64, port: u16, secret: &str) -> Result<DevSite, AnyError> {
    let site_dir = dir.join(name);
    std::fs::create_dir_all(&site_dir)?;
    let path = site_dir.join("strata.toml");
    if !path.exists() {
        let token = format!("{:032x}", rand::random::<u128>());
        write_config(&path, name, id, port, &token, secret)?;
    }
    let cfg = Config::load(&path)?;
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
    from.repl.connect(&addr).await?;
    let name = &to.cfg.site_name;
    if !known.is_some_and(|s| s.enabled) {
        from.repl.realtime(name, SinkOp::Enable { blocks: true }).await?;
    }
    from.repl.realtime(name, SinkOp::Start).await?;
    Ok(())
}

pub async fn run(dir: &Path, port: u16) -> Result<(), AnyError> {
    std::fs::create_dir_all(dir)?;
    let secret_path = dir.join("repl-secret");
    if !secret_path.exists() {
        std::fs::write(&secret_path, format!("{:032x}", rand::random::<u128>()))?;
    }
    let secret = std::fs::read_to_string(&secret_path)?.trim().to_owned();
    let a = start(dir, "site-a", 0xa1, port, &secret).await?;
    let b = start(dir, "site-b", 0xb2, port + 10, &secret).await?;
    link(&a, &b).await?;
    link(&b, &a).await?;

    // The user is made on site-a; realtime carries it to site-b.
    let store_a = a.repl.store();
    let user = store_a
        .run(|s| match s.list_users()?.into_iter().find(|u| u.name == "dev") {
            Some(u) => Ok(u),
            None => s.create_user("dev", None, None),
        })
        .await?;
    let store_b = b.repl.store();
    for _ in 0..100 {
        let key = user.access_key.clone();
        if store_b.run(move |s| s.user_by_access_key(&key)).await?.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "Strata dev: two sites replicating to each other.\n\n  site-a:     http://{a3}   (config {ac})\n  site-b:     http://{b3}   (config {bc})\n  access key: {ak}\n  secret key: {sk}\n\nWrite to one, read from the other:\n  export AWS_ACCESS_KEY_ID={ak} AWS_SECRET_ACCESS_KEY={sk} AWS_DEFAULT_REGION=us-east-1\n  aws --endpoint-url http://{a3} s3 mb s3://demo\n  aws --endpoint-url http://{a3} s3 cp README.md s3://demo/\n  aws --endpoint-url http://{b3} s3 ls s3://demo\n  aws --endpoint-url http://{b3} s3 cp s3://demo/README.md -\n\nReplication status:\n  strata repl --config {ac} status\n\nCtrl-C stops both sites; data stays in {dir}.",
        a3 = a.cfg.s3.listen,
        b3 = b.cfg.s3.listen,
        ac = a.config_path,
        bc = b.config_path,
        ak = user.access_key,
        sk = user.secret_key,
        dir = dir.display(),
    );
    let (ra, rb) = tokio::join!(a.task, b.task);
    ra??;
    rb??;
    Ok(())
}
