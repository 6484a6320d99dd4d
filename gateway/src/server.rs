//! Running a site: open the store, serve S3 and the admin API, collect garbage.

use crate::admin::{self, AdminState};
use crate::config::Config;
use crate::http_serve;
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::purge::Purger;
use crate::repl_auth::ReplAuth;
use crate::s3::{self, S3State};
use crate::scrub::Scrubber;
use crate::tls::{self, Certs, TlsListener};
use axum::serve::ListenerExt;
use std::sync::Arc;
use std::time::Duration;
use strata_blockstore::{blocking, Store, StoreConfig};
use strata_repl::{ReplConfig, Replication};

/// Opens the store (start-up recovery scans the disk) on a blocking thread.
pub async fn open_store(cfg: &Config) -> strata_blockstore::Result<Arc<Store>> {
    let mut sc = StoreConfig::new(&cfg.data_dir);
    sc.block_size = cfg.block_size;
    sc.reserve_bytes = cfg.reserve_bytes;
    sc.gc_grace = Duration::from_secs(cfg.gc.grace_secs);
    sc.site_id = cfg.site_id();
    sc.index_shards = cfg.store.index_shards;
    if cfg.store.engine == crate::config::EngineKind::Rados {
        sc.rados = Some(strata_blockstore::RadosConfig {
            ceph_conf: cfg.store.ceph_conf.clone().unwrap_or_default(),
            ceph_user: cfg.store.ceph_user.clone(),
            data_pool: cfg.store.data_pool.clone(),
            meta_pool: cfg.store.meta_pool.clone(),
            namespace: cfg.store.namespace.clone(),
        });
    }
    let store = blocking(move || Store::open(sc)).await?;
    let space = store.run(|s| s.space()).await?;
    if space.total < space.reserve {
        // Not an error: reads, lists, deletes and replicated deletes still work, and
        // the operator may mean it (a fenced copy). But every write will be refused.
        tracing::warn!(
            disk_bytes = space.total,
            reserve_bytes = space.reserve,
            data_dir = %cfg.data_dir.display(),
            "the data disk is smaller than reserve_bytes: this site will refuse every write (507) until reserve_bytes is lowered"
        );
    }
    Ok(store)
}

/// The certificates of the S3 and replication ports, when they speak TLS.
struct PortCerts {
    s3: Option<Arc<Certs>>,
    repl: Option<Arc<Certs>>,
}

impl PortCerts {
    fn load(cfg: &Config) -> Result<PortCerts, AnyError> {
        let load = |cert: &Option<std::path::PathBuf>, key: &Option<std::path::PathBuf>| match (cert, key) {
            (Some(c), Some(k)) => Certs::load(c, k).map(Some),
            _ => Ok(None),
        };
        Ok(PortCerts {
            s3: load(&cfg.s3.tls_cert, &cfg.s3.tls_key)?,
            repl: match &cfg.repl {
                Some(r) => load(&r.tls_cert, &r.tls_key)?,
                None => None,
            },
        })
    }
}

async fn open_replication(
    cfg: &Config,
    store: &Arc<Store>,
    certs: &PortCerts,
) -> Result<Option<Arc<Replication>>, AnyError> {
    let Some(r) = &cfg.repl else {
        // A gateway without [repl] trims the change log as no sink needs it: on a site
        // whose other gateways replicate, that would drop what their sinks still need.
        let s = store.clone();
        if store.shared() && blocking(move || strata_repl::has_peers(&s)).await? {
            return Err("this site replicates (its other gateways have peers): give every gateway of the site the same [repl] section".into());
        }
        return Ok(None);
    };
    let tls = match &r.tls_ca {
        Some(ca) => {
            let own = certs.repl.clone().filter(|_| r.tls_client_auth);
            Some(tls::client_config(ca, own)?)
        }
        None => None,
    };
    let rc = ReplConfig {
        site_name: cfg.site_name.clone(),
        advertise: r.advertise.clone().unwrap_or_else(|| r.listen.to_string()),
        access_key: r.access_key.clone(),
        secret_key: r.secret_key.clone(),
        realtime_max_bytes: r.realtime_max_bytes,
        fullsync_interval: Duration::from_secs(r.fullsync_interval),
        fullsync_max_bytes_per_sec: r.fullsync_max_bytes_per_sec,
        proxy_get_window: r.proxy_get_window,
        proxy_get_blocks_in_memory: r.proxy_get_blocks_in_memory,
        tls,
        compression_level: r.compression_level,
        max_clock_skew: Duration::from_secs(r.max_clock_skew),
        authority: r.authority.clone(),
        peer_secrets: r.peer_secrets.clone(),
        accept: r.accept.clone(),
    };
    let store = store.clone();
    Ok(Some(blocking(move || Replication::open(store, &rc)).await?))
}

pub type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Serves until Ctrl-C or SIGTERM. `ready` runs once every listener is bound and
/// replication (if configured) has started.
pub async fn serve(
    cfg: Config,
    store: Arc<Store>,
    ready: impl FnOnce(&Config, Option<Arc<Replication>>),
) -> Result<(), AnyError> {
    let s3_listener = tokio::net::TcpListener::bind(cfg.s3.listen).await?;
    let admin_listener = tokio::net::TcpListener::bind(cfg.admin.listen).await?;
    let certs = PortCerts::load(&cfg)?;
    tls::watch(certs.s3.iter().chain(&certs.repl).cloned().collect());
    let tls_refusals = Arc::new(tls::Refusals::default());
    let repl = open_replication(&cfg, &store, &certs).await?;
    let mut repl_task = None;
    if let (Some(repl), Some(section)) = (&repl, &cfg.repl) {
        let listener = tokio::net::TcpListener::bind(section.listen).await?;
        let auth = Arc::new(ReplAuth {
            access_key: section.access_key.clone(),
            secret_key: section.secret_key.clone(),
            peer_secrets: section.peer_secrets.clone(),
        });
        let app = repl.router(auth);
        repl_task = Some(match &certs.repl {
            Some(c) => {
                let client_ca = section.tls_ca.as_deref().filter(|_| section.tls_client_auth);
                let config = tls::server_config(c.clone(), client_ca)?;
                let listener = TlsListener::new(listener, config, "replication", tls_refusals.clone());
                tokio::spawn(async move { axum::serve(listener, app).await })
            }
            None => {
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                tokio::spawn(async move { axum::serve(listener, app).await })
            }
        });
        repl.start();
    }
    let scrub = Scrubber::open(
        store.clone(),
        repl.clone(),
        Duration::from_secs(cfg.scrub_interval),
        cfg.scrub_max_bytes_per_sec,
    )
    .await?;
    scrub.spawn();
    let purge = Purger::new(
        store.clone(),
        repl.clone(),
        Duration::from_secs(cfg.tombstone_retention),
    );
    purge.spawn();
    let lifecycle = Lifecycle::open(store.clone(), Duration::from_secs(cfg.lifecycle_day_secs.max(1))).await;
    lifecycle.spawn();
    let metrics = Arc::new(Metrics::default());
    let s3_app = s3::service(S3State {
        store: store.clone(),
        metrics: metrics.clone(),
        region: cfg.s3.region.clone(),
        root_domain: cfg.s3.root_domain.clone(),
        default_ownership: cfg.s3.default_object_ownership,
        tls: cfg.s3.tls_cert.is_some(),
        repl: repl.clone(),
        uploads: s3::uploads::Uploads::new(
            cfg.s3.max_uploads_per_key,
            Duration::from_secs(cfg.s3.body_read_timeout_secs),
        ),
        lifecycle_day_ms: cfg.lifecycle_day_secs.max(1) * 1000,
    });
    let admin_state = AdminState {
        store: store.clone(),
        metrics,
        token: cfg.admin.token.clone(),
        site_name: cfg.site_name.clone(),
        repl: repl.clone(),
        sessions: Default::default(),
        history: Default::default(),
        tls_refusals: tls_refusals.clone(),
        scrub,
        purge,
        lifecycle,
    };
    admin::spawn_sampler(admin_state.clone());
    let admin_app = admin::service(admin_state);
    tracing::info!(
        site = %cfg.site_name,
        s3 = %cfg.s3.listen,
        admin = %cfg.admin.listen,
        repl = ?cfg.repl.as_ref().map(|r| r.listen),
        site_id = %store.site_id(),
        "site started"
    );
    if repl.is_none() {
        // Without replication no sink will ever read the change log: keep it short
        // (under load it grows by the size of every small object written).
        let s = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Err(e) = s.run(|s| s.trim_changes(s.last_seq())).await {
                    tracing::warn!(error = %e, "trimming the change log failed");
                }
            }
        });
    }
    ready(&cfg, repl);

    let gc_store = store.clone();
    let interval = Duration::from_secs(cfg.gc.interval_secs.max(1));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            match gc_store.run(|s| s.collect_garbage()).await {
                Ok(stats) if stats.removed > 0 => {
                    tracing::info!(removed = stats.removed, "garbage collected blocks")
                }
                Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
                Ok(_) => {}
            }
        }
    });

    let admin_task = tokio::spawn(async move { axum::serve(admin_listener, admin_app).await });
    tokio::spawn(tend_store(store.clone()));
    let header_timeout = Duration::from_secs(cfg.s3.header_read_timeout_secs);
    match &certs.s3 {
        Some(c) => {
            let config = tls::server_config(c.clone(), None)?;
            let listener = TlsListener::new(s3_listener, config, "S3", tls_refusals.clone());
            http_serve::serve(listener, s3_app, header_timeout, shutdown_signal()).await
        }
        None => {
            // Without TCP_NODELAY a small response written as headers then body waits
            // for the client's delayed ACK: tens of milliseconds per small GET. (The TLS
            // listener sets it on every connection it accepts.)
            let s3_listener = s3_listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY");
                }
            });
            http_serve::serve(s3_listener, s3_app, header_timeout, shutdown_signal()).await
        }
    }
    admin_task.abort();
    if let Some(t) = repl_task {
        t.abort();
    }
    tracing::info!("site stopped");
    Ok(())
}

/// Every second, releases or takes back the disk's ballast; and stops the process at
/// once if the store failed to make a change durable. That is fail-stop, as databases
/// answer a failed fsync: what was applied but not flushed lives in memory only, so
/// nothing more is served and no destructor may flush it now; a restart recovers the
/// last durable state.
async fn tend_store(store: Arc<Store>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for n in 0u64.. {
        tick.tick().await;
        if let Some(why) = store.failure() {
            tracing::error!(error = %why, "stopping: a metadata write could not be made durable; restart the site");
            std::process::exit(70);
        }
        if n % 10 == 0 {
            if let Err(e) = store.run(|s| s.tend_space()).await {
                tracing::warn!(error = %e, "could not check the data disk's space");
            }
            if let Err(e) = store.run(|s| s.reread_settings()).await {
                tracing::warn!(error = %e, "could not reread the site's settings");
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
