//! A Ceph RADOS cluster, through librados (loaded at run time, see `librados`): the
//! pieces a site of many gateways is built on. Blocks are whole objects in a data pool;
//! metadata shards are index objects whose omap holds their records, committed with one
//! write operation guarded by the object's version, exactly as RGW's bucket index is
//! (no consensus of Strata's own): two gateways committing to one shard from the same
//! version get one success and one [`Committed::Conflict`], and the loser reads again.

mod engine;
mod librados;

pub use engine::RadosEngine;

use crate::error::{Error, Result};
use libc::{c_char, c_int, size_t};
use librados::{Api, IoCtx, Rados};
use std::ffi::CString;
use std::path::Path;
use std::sync::Arc;

/// librados' errors are negative errno values.
fn check(api_ret: c_int, op: &str) -> Result<c_int> {
    if api_ret < 0 {
        return Err(Error::Rados {
            op: op.to_owned(),
            errno: -api_ret,
        });
    }
    Ok(api_ret)
}

/// Whether `e` is a read or commit refused because the object's version moved on
/// from the one it expected.
pub fn moved_on(e: &Error) -> bool {
    matches!(e, Error::Rados { errno, .. } if *errno == libc::ERANGE || *errno == libc::EOVERFLOW)
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InvalidArgument(format!("{s:?} holds a NUL byte")))
}

struct Handle {
    api: &'static Api,
    rados: Rados,
}

// librados' cluster handle is safe to use from many threads at once.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        unsafe { (self.api.rados_shutdown)(self.rados) }
    }
}

/// A connection to a cluster.
#[derive(Clone)]
pub struct Cluster {
    handle: Arc<Handle>,
}

impl Cluster {
    /// Connects as `user` (`client.<user>`) with the settings of the ceph.conf at
    /// `conf`. Fails, saying why, when librados is missing or no mon answers within
    /// `timeout_secs`.
    pub fn connect(conf: &Path, user: &str, timeout_secs: u32) -> Result<Cluster> {
        let api = librados::api().map_err(|why| Error::Rados {
            op: why,
            errno: libc::ENOENT,
        })?;
        let mut rados: Rados = std::ptr::null_mut();
        let id = c_string(user)?;
        check(
            unsafe { (api.rados_create)(&mut rados, id.as_ptr()) },
            "create a cluster handle",
        )?;
        let handle = Handle { api, rados };
        let path = c_string(&conf.to_string_lossy())?;
        check(
            unsafe { (api.rados_conf_read_file)(rados, path.as_ptr()) },
            &format!("read {}", conf.display()),
        )?;
        let timeout = c_string(&timeout_secs.to_string())?;
        for option in ["client_mount_timeout", "rados_mon_op_timeout", "rados_osd_op_timeout"] {
            let option = c_string(option)?;
            check(
                unsafe { (api.rados_conf_set)(rados, option.as_ptr(), timeout.as_ptr()) },
                "set a timeout",
            )?;
        }
        check(
            unsafe { (api.rados_connect)(rados) },
            &format!("connect to the monitors {} names", conf.display()),
        )?;
        Ok(Cluster {
            handle: Arc::new(handle),
        })
    }

    /// The cluster's raw capacity and what is free of it, in bytes.
    pub fn capacity(&self) -> Result<(u64, u64)> {
        let mut stat = librados::ClusterStat::default();
        check(
            unsafe { (self.handle.api.rados_cluster_stat)(self.handle.rados, &mut stat) },
            "read the cluster's capacity",
        )?;
        Ok((stat.kb << 10, stat.kb_avail << 10))
    }

    /// The pool `name`, created first when `create` and it does not exist.
    pub fn pool(&self, name: &str, create: bool) -> Result<Pool> {
        let (api, rados) = (self.handle.api, self.handle.rados);
        let c_name = c_string(name)?;
        let id = unsafe { (api.rados_pool_lookup)(rados, c_name.as_ptr()) };
        if id == -(libc::ENOENT as i64) && create {
            match unsafe { (api.rados_pool_create)(rados, c_name.as_ptr()) } {
                r if r == -libc::EEXIST => {}
                r => {
                    check(r, &format!("create pool {name}"))?;
                }
            }
        } else if id < 0 {
            check(id as c_int, &format!("find pool {name}"))?;
        }
        Ok(Pool {
            cluster: self.clone(),
            name: c_name,
            namespace: None,
        })
    }
}

/// One pool of a cluster, or one namespace of it.
pub struct Pool {
    cluster: Cluster,
    name: CString,
    /// Objects live in this namespace of the pool (RADOS keeps namespaces apart:
    /// names, listings and locks), when set.
    namespace: Option<CString>,
}

/// A pool's I/O context for one operation. librados reports an operation's object
/// version through its context, so each operation has one of its own.
struct Io {
    api: &'static Api,
    io: IoCtx,
}

impl Drop for Io {
    fn drop(&mut self) {
        unsafe { (self.api.rados_ioctx_destroy)(self.io) }
    }
}

/// A shard commit: what it writes to one object's omap, and what must hold first.
#[derive(Debug, Default, Clone)]
pub struct OmapWrite {
    /// The object must not exist yet (a new shard).
    pub create: bool,
    /// The object must be at this version (what the committer read).
    pub expect_version: Option<u64>,
    /// Keys that must hold these values.
    pub expect_values: Vec<(Vec<u8>, Vec<u8>)>,
    pub set: Vec<(Vec<u8>, Vec<u8>)>,
    pub remove: Vec<Vec<u8>>,
}

/// How a commit ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Committed {
    /// Applied; the object's version after it.
    Done(u64),
    /// The object is not as the commit expected (another commit came first, or it
    /// exists already): nothing was written.
    Conflict,
}

/// Whether a lease was had.
#[derive(Debug, PartialEq, Eq)]
pub enum Lease {
    /// This client holds it (taken, or renewed) for the duration asked.
    Held,
    /// Another client holds it.
    Busy,
}

/// A page of an object's omap, in key order.
#[derive(Debug)]
pub struct OmapPage {
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Whether keys follow the last entry.
    pub more: bool,
    /// The object's version when it was read.
    pub version: u64,
}

impl Pool {
    fn io(&self) -> Result<Io> {
        let api = self.cluster.handle.api;
        let mut io: IoCtx = std::ptr::null_mut();
        check(
            unsafe { (api.rados_ioctx_create)(self.cluster.handle.rados, self.name.as_ptr(), &mut io) },
            "open an I/O context",
        )?;
        if let Some(ns) = &self.namespace {
            unsafe { (api.rados_ioctx_set_namespace)(io, ns.as_ptr()) };
        }
        Ok(Io { api, io })
    }

    /// The same pool, its objects in namespace `ns` (several sites may share a pool).
    pub fn in_namespace(mut self, ns: &str) -> Result<Pool> {
        self.namespace = Some(c_string(ns)?);
        Ok(self)
    }

    /// The cluster's raw capacity and what is free of it, in bytes.
    pub fn capacity(&self) -> Result<(u64, u64)> {
        self.cluster.capacity()
    }

    /// Writes the whole object `oid` (a block: written once under its hash).
    pub fn write_full(&self, oid: &str, data: &[u8]) -> Result<()> {
        let io = self.io()?;
        let c_oid = c_string(oid)?;
        check(
            unsafe { (io.api.rados_write_full)(io.io, c_oid.as_ptr(), data.as_ptr().cast(), data.len()) },
            &format!("write {oid}"),
        )?;
        Ok(())
    }

    /// The object's size, or None when it does not exist.
    pub fn stat(&self, oid: &str) -> Result<Option<u64>> {
        let io = self.io()?;
        let c_oid = c_string(oid)?;
        let (mut size, mut mtime) = (0u64, 0 as libc::time_t);
        match unsafe { (io.api.rados_stat)(io.io, c_oid.as_ptr(), &mut size, &mut mtime) } {
            r if r == -libc::ENOENT => Ok(None),
            r => check(r, &format!("stat {oid}")).map(|_| Some(size)),
        }
    }

    /// The object's size, modification time (whole seconds) and version, or None
    /// when it does not exist.
    pub fn stat_version(&self, oid: &str) -> Result<Option<(u64, i64, u64)>> {
        let io = self.io()?;
        let c_oid = c_string(oid)?;
        let (mut size, mut mtime) = (0u64, 0 as libc::time_t);
        match unsafe { (io.api.rados_stat)(io.io, c_oid.as_ptr(), &mut size, &mut mtime) } {
            r if r == -libc::ENOENT => Ok(None),
            r => {
                check(r, &format!("stat {oid}"))?;
                Ok(Some((size, mtime, unsafe { (io.api.rados_get_last_version)(io.io) })))
            }
        }
    }

    /// Marks an existing object as just used (its modification time becomes now, its
    /// version moves on); false when it does not exist.
    pub fn touch(&self, oid: &str) -> Result<bool> {
        let now = crate::hlc::now_millis().to_string();
        let (r, _) = self.write_op(oid, |api, op| unsafe {
            (api.rados_write_op_assert_exists)(op);
            (api.rados_write_op_setxattr)(op, c"strata.used".as_ptr(), now.as_ptr().cast(), now.len());
        })?;
        match -r {
            0 => Ok(true),
            libc::ENOENT => Ok(false),
            _ => check(r, &format!("touch {oid}")).map(|_| false),
        }
    }

    /// Removes the object if it is still at `version`; false when it moved on (it
    /// was written or touched since) or is gone.
    pub fn remove_at(&self, oid: &str, version: u64) -> Result<bool> {
        let (r, _) = self.write_op(oid, |api, op| unsafe {
            (api.rados_write_op_assert_version)(op, version);
            (api.rados_write_op_remove)(op);
        })?;
        match -r {
            0 => Ok(true),
            libc::ENOENT | libc::ERANGE | libc::EOVERFLOW => Ok(false),
            _ => check(r, &format!("remove {oid}")).map(|_| false),
        }
    }

    /// Runs one write operation, set up by `build`, on `oid`: librados' answer, and the
    /// object's version after it (meaningful when it succeeded).
    fn write_op(&self, oid: &str, build: impl FnOnce(&Api, librados::WriteOp)) -> Result<(c_int, u64)> {
        let io = self.io()?;
        let c_oid = c_string(oid)?;
        let op = unsafe { (io.api.rados_create_write_op)() };
        build(io.api, op);
        let r = unsafe {
            (io.api.rados_write_op_operate)(
                op,
                io.io,
                c_oid.as_ptr(),
                std::ptr::null_mut(),
                librados::OPERATION_NOFLAG,
            )
        };
        unsafe { (io.api.rados_release_write_op)(op) };
        Ok((r, unsafe { (io.api.rados_get_last_version)(io.io) }))
    }

    /// The whole object, or None when it does not exist.
    pub fn read(&self, oid: &str) -> Result<Option<Vec<u8>>> {
        let Some(size) = self.stat(oid)? else { return Ok(None) };
        let io = self.io()?;
        let c_oid = c_string(oid)?;
        let mut buf = vec![0u8; size as usize];
        let mut at = 0usize;
        while at < buf.len() {
            let r = unsafe {
                (io.api.rados_read)(
                    io.io,
                    c_oid.as_ptr(),
                    buf[at..].as_mut_ptr().cast(),
                    buf.len() - at,
                    at as u64,
                )
            };
            if r == -libc::ENOENT {
                return Ok(None);
            }
            let n = check(r, &format!("read {oid}"))? as usize;
            if n == 0 {
                buf.truncate(at);
                break;
            }
            at += n;
        }
        Ok(Some(buf))
    }

    /// Removes the object; false when it did not exist.
    pub fn remove(&self, oid: &str) -> Result<bool> {
        let io = self.io()?;
        let c_oid = c_string(oid)?;
        match unsafe { (io.api.rados_remove)(io.io, c_oid.as_ptr()) } {
            r if r == -libc::ENOENT => Ok(false),
            r => check(r, &format!("remove {oid}")).map(|_| true),
        }
    }

    /// Up to `max` omap entries of `oid` after the key `after` (from the first when
    /// empty) whose keys start with `prefix`, with the object's version; None when the
    /// object does not exist. With `expect_version`, a version that moved on fails the
    /// read with an error [`moved_on`] recognises.
    pub fn omap_page(
        &self,
        oid: &str,
        after: &[u8],
        prefix: &[u8],
        max: u64,
        expect_version: Option<u64>,
    ) -> Result<Option<OmapPage>> {
        // The C API takes these keys as C strings: omap keys are kept printable.
        let no_nul =
            |k: &[u8]| CString::new(k).map_err(|_| Error::InvalidArgument("an omap key holds a NUL byte".into()));
        let (start, prefix) = (no_nul(after)?, no_nul(prefix)?);
        self.read_omap(oid, expect_version, |api, op, iter, more, rval| unsafe {
            (api.rados_read_op_omap_get_vals2)(op, start.as_ptr(), prefix.as_ptr(), max, iter, more, rval)
        })
    }

    /// The values of those of `keys` that `oid`'s omap holds, as [`Pool::omap_page`].
    pub fn omap_get(&self, oid: &str, keys: &[&[u8]], expect_version: Option<u64>) -> Result<Option<OmapPage>> {
        let ptrs: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr().cast()).collect();
        let lens: Vec<size_t> = keys.iter().map(|k| k.len()).collect();
        self.read_omap(oid, expect_version, |api, op, iter, _more, rval| unsafe {
            (api.rados_read_op_omap_get_vals_by_keys2)(op, ptrs.as_ptr(), keys.len(), lens.as_ptr(), iter, rval)
        })
    }

    /// One omap read operation, set up by `read`, and its entries.
    fn read_omap(
        &self,
        oid: &str,
        expect_version: Option<u64>,
        read: impl FnOnce(&Api, librados::ReadOp, *mut librados::OmapIter, *mut u8, *mut c_int),
    ) -> Result<Option<OmapPage>> {
        let io = self.io()?;
        let api = io.api;
        let c_oid = c_string(oid)?;
        let op = unsafe { (api.rados_create_read_op)() };
        let (mut iter, mut more, mut rval) = (std::ptr::null_mut(), 0u8, 0 as c_int);
        if let Some(v) = expect_version {
            unsafe { (api.rados_read_op_assert_version)(op, v) };
        }
        read(api, op, &mut iter, &mut more, &mut rval);
        let r = unsafe { (api.rados_read_op_operate)(op, io.io, c_oid.as_ptr(), librados::OPERATION_NOFLAG) };
        let result = (|| {
            if r == -libc::ENOENT {
                return Ok(None);
            }
            check(r, &format!("read the omap of {oid}"))?;
            check(rval, &format!("read the omap of {oid}"))?;
            let version = unsafe { (api.rados_get_last_version)(io.io) };
            let mut entries = Vec::new();
            loop {
                let (mut k, mut v, mut klen, mut vlen) = (std::ptr::null_mut(), std::ptr::null_mut(), 0, 0);
                check(
                    unsafe { (api.rados_omap_get_next2)(iter, &mut k, &mut v, &mut klen, &mut vlen) },
                    "walk an omap",
                )?;
                if k.is_null() {
                    break;
                }
                let key = unsafe { std::slice::from_raw_parts(k as *const u8, klen) }.to_vec();
                let value = if v.is_null() {
                    Vec::new()
                } else {
                    unsafe { std::slice::from_raw_parts(v as *const u8, vlen) }.to_vec()
                };
                entries.push((key, value));
            }
            Ok(Some(OmapPage {
                entries,
                more: more != 0,
                version,
            }))
        })();
        if !iter.is_null() {
            unsafe { (api.rados_omap_get_end)(iter) };
        }
        unsafe { (api.rados_release_read_op)(op) };
        result
    }

    /// The names of every object in the pool, in no particular order.
    pub fn list(&self) -> Result<Vec<String>> {
        let io = self.io()?;
        let api = io.api;
        let mut ctx: librados::ListCtx = std::ptr::null_mut();
        check(
            unsafe { (api.rados_nobjects_list_open)(io.io, &mut ctx) },
            "list a pool",
        )?;
        let mut names = Vec::new();
        let walked = loop {
            let (mut entry, mut key, mut nspace) = (std::ptr::null(), std::ptr::null(), std::ptr::null());
            match unsafe { (api.rados_nobjects_list_next)(ctx, &mut entry, &mut key, &mut nspace) } {
                r if r == -libc::ENOENT => break Ok(()),
                r if r < 0 => break check(r, "list a pool").map(drop),
                _ => names.push(
                    unsafe { std::ffi::CStr::from_ptr(entry) }
                        .to_string_lossy()
                        .into_owned(),
                ),
            }
        };
        unsafe { (api.rados_nobjects_list_close)(ctx) };
        walked.map(|()| names)
    }

    /// Takes, or renews, the exclusive lock `name` on `oid` for `secs` seconds, as the
    /// holder `cookie` of this connection (RADOS names a holder by client and cookie).
    /// A holder that stops renewing loses it when the time runs out, so another can
    /// take over: the lease by which one gateway at a time does a site-wide job.
    pub fn lease(&self, oid: &str, name: &str, cookie: &str, secs: u32) -> Result<Lease> {
        let io = self.io()?;
        let (c_oid, c_name, c_cookie) = (c_string(oid)?, c_string(name)?, c_string(cookie)?);
        let mut duration = libc::timeval {
            tv_sec: secs as libc::time_t,
            tv_usec: 0,
        };
        let r = unsafe {
            (io.api.rados_lock_exclusive)(
                io.io,
                c_oid.as_ptr(),
                c_name.as_ptr(),
                c_cookie.as_ptr(),
                // librados makes a C++ string of it: never null.
                c"".as_ptr(),
                &mut duration,
                librados::LOCK_FLAG_RENEW,
            )
        };
        match -r {
            0 => Ok(Lease::Held),
            libc::EBUSY | libc::EEXIST => Ok(Lease::Busy),
            _ => check(r, &format!("lock {name} on {oid}")).map(|_| Lease::Busy),
        }
    }

    /// Gives the lease up; false when this holder did not hold it.
    pub fn release(&self, oid: &str, name: &str, cookie: &str) -> Result<bool> {
        let io = self.io()?;
        let (c_oid, c_name, c_cookie) = (c_string(oid)?, c_string(name)?, c_string(cookie)?);
        match unsafe { (io.api.rados_unlock)(io.io, c_oid.as_ptr(), c_name.as_ptr(), c_cookie.as_ptr()) } {
            r if r == -libc::ENOENT => Ok(false),
            r => check(r, &format!("unlock {name} on {oid}")).map(|_| true),
        }
    }

    /// Applies `w` to `oid` in one atomic write operation: all of it if what it
    /// expects holds, else nothing ([`Committed::Conflict`]).
    pub fn commit(&self, oid: &str, w: &OmapWrite) -> Result<Committed> {
        // Written by the operation as it runs: alive until it returns.
        let mut cmp_rvals: Vec<c_int> = vec![0; w.expect_values.len()];
        let (r, version) = self.write_op(oid, |api, op| unsafe {
            if w.create {
                (api.rados_write_op_create)(op, librados::CREATE_EXCLUSIVE, std::ptr::null());
            }
            if let Some(v) = w.expect_version {
                (api.rados_write_op_assert_version)(op, v);
            }
            for ((k, v), rval) in w.expect_values.iter().zip(cmp_rvals.iter_mut()) {
                (api.rados_write_op_omap_cmp2)(
                    op,
                    k.as_ptr().cast(),
                    librados::CMP_EQ,
                    v.as_ptr().cast(),
                    k.len(),
                    v.len(),
                    rval,
                );
            }
            // librados copies keys and values into the operation as they are given.
            if !w.set.is_empty() {
                let keys: Vec<*const c_char> = w.set.iter().map(|(k, _)| k.as_ptr().cast()).collect();
                let vals: Vec<*const c_char> = w.set.iter().map(|(_, v)| v.as_ptr().cast()).collect();
                let key_lens: Vec<size_t> = w.set.iter().map(|(k, _)| k.len()).collect();
                let val_lens: Vec<size_t> = w.set.iter().map(|(_, v)| v.len()).collect();
                (api.rados_write_op_omap_set2)(
                    op,
                    keys.as_ptr(),
                    vals.as_ptr(),
                    key_lens.as_ptr(),
                    val_lens.as_ptr(),
                    w.set.len(),
                );
            }
            if !w.remove.is_empty() {
                let keys: Vec<*const c_char> = w.remove.iter().map(|k| k.as_ptr().cast()).collect();
                let key_lens: Vec<size_t> = w.remove.iter().map(|k| k.len()).collect();
                (api.rados_write_op_omap_rm_keys2)(op, keys.as_ptr(), key_lens.as_ptr(), w.remove.len());
            }
        })?;
        // A version that moved on (ERANGE or EOVERFLOW), an object that exists (EEXIST)
        // or is gone (ENOENT), a compare that failed (ECANCELED): another commit won.
        match -r {
            0 => Ok(Committed::Done(version)),
            libc::ERANGE | libc::EOVERFLOW | libc::EEXIST | libc::ENOENT | libc::ECANCELED => Ok(Committed::Conflict),
            _ => check(r, &format!("commit to {oid}")).map(|_| Committed::Conflict),
        }
    }
}
