//! The librados C API, loaded at run time with `dlopen`: the functions Strata calls,
//! found by name in `librados.so.2`. Loading at run time keeps Ceph out of the build
//! (a site on sled never needs it) and lets `strata serve` say plainly when a site
//! configured for RADOS runs on a machine without librados.

use libc::{c_char, c_int, c_void, size_t, time_t};
use std::ffi::CStr;
use std::sync::OnceLock;

pub type Rados = *mut c_void;
pub type IoCtx = *mut c_void;
pub type WriteOp = *mut c_void;
pub type ReadOp = *mut c_void;
pub type OmapIter = *mut c_void;
pub type ListCtx = *mut c_void;

/// `rados_write_op_operate` / `rados_read_op_operate` flags: none.
pub const OPERATION_NOFLAG: c_int = 0;
/// `rados_write_op_create`: fail with EEXIST if the object exists.
pub const CREATE_EXCLUSIVE: c_int = 1;
/// `rados_write_op_omap_cmp`: the comparison that must hold (`LIBRADOS_CMPXATTR_OP_EQ`).
pub const CMP_EQ: u8 = 1;
/// `rados_lock_exclusive`: a lock this client (and cookie) holds already is renewed.
pub const LOCK_FLAG_RENEW: u8 = 1;

/// `struct rados_cluster_stat_t`: the cluster's capacity, in KiB.
#[repr(C)]
#[derive(Default)]
pub struct ClusterStat {
    pub kb: u64,
    pub kb_used: u64,
    pub kb_avail: u64,
    pub num_objects: u64,
}

macro_rules! api {
    ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// The librados functions, resolved once.
        #[allow(non_snake_case)]
        pub struct Api {
            $(pub $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        impl Api {
            fn resolve(lib: *mut c_void) -> Result<Api, String> {
                Ok(Api {
                    $($name: unsafe {
                        let sym = libc::dlsym(lib, concat!(stringify!($name), "\0").as_ptr().cast());
                        if sym.is_null() {
                            return Err(format!("librados has no {}", stringify!($name)));
                        }
                        std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($arg),*) $(-> $ret)?>(sym)
                    },)*
                })
            }
        }
    };
}

api! {
    rados_create: fn(*mut Rados, *const c_char) -> c_int;
    rados_conf_read_file: fn(Rados, *const c_char) -> c_int;
    rados_conf_set: fn(Rados, *const c_char, *const c_char) -> c_int;
    rados_connect: fn(Rados) -> c_int;
    rados_shutdown: fn(Rados);
    rados_pool_lookup: fn(Rados, *const c_char) -> i64;
    rados_pool_create: fn(Rados, *const c_char) -> c_int;
    rados_ioctx_create: fn(Rados, *const c_char, *mut IoCtx) -> c_int;
    rados_ioctx_destroy: fn(IoCtx);
    rados_ioctx_set_namespace: fn(IoCtx, *const c_char);
    rados_write_full: fn(IoCtx, *const c_char, *const c_char, size_t) -> c_int;
    rados_read: fn(IoCtx, *const c_char, *mut c_char, size_t, u64) -> c_int;
    rados_stat: fn(IoCtx, *const c_char, *mut u64, *mut time_t) -> c_int;
    rados_remove: fn(IoCtx, *const c_char) -> c_int;
    rados_get_last_version: fn(IoCtx) -> u64;
    rados_create_write_op: fn() -> WriteOp;
    rados_release_write_op: fn(WriteOp);
    rados_write_op_create: fn(WriteOp, c_int, *const c_char);
    rados_write_op_assert_version: fn(WriteOp, u64);
    rados_write_op_assert_exists: fn(WriteOp);
    rados_write_op_setxattr: fn(WriteOp, *const c_char, *const c_char, size_t);
    rados_write_op_remove: fn(WriteOp);
    rados_write_op_omap_set2: fn(WriteOp, *const *const c_char, *const *const c_char, *const size_t, *const size_t, size_t);
    rados_write_op_omap_rm_keys2: fn(WriteOp, *const *const c_char, *const size_t, size_t);
    rados_write_op_omap_cmp2: fn(WriteOp, *const c_char, u8, *const c_char, size_t, size_t, *mut c_int);
    rados_write_op_operate: fn(WriteOp, IoCtx, *const c_char, *mut time_t, c_int) -> c_int;
    rados_create_read_op: fn() -> ReadOp;
    rados_release_read_op: fn(ReadOp);
    rados_read_op_omap_get_vals2: fn(ReadOp, *const c_char, *const c_char, u64, *mut OmapIter, *mut u8, *mut c_int);
    rados_read_op_operate: fn(ReadOp, IoCtx, *const c_char, c_int) -> c_int;
    rados_read_op_assert_version: fn(ReadOp, u64);
    rados_read_op_omap_get_vals_by_keys2: fn(ReadOp, *const *const c_char, size_t, *const size_t, *mut OmapIter, *mut c_int);
    rados_nobjects_list_open: fn(IoCtx, *mut ListCtx) -> c_int;
    rados_nobjects_list_next: fn(ListCtx, *mut *const c_char, *mut *const c_char, *mut *const c_char) -> c_int;
    rados_nobjects_list_close: fn(ListCtx);
    rados_cluster_stat: fn(Rados, *mut ClusterStat) -> c_int;
    rados_omap_get_next2: fn(OmapIter, *mut *mut c_char, *mut *mut c_char, *mut size_t, *mut size_t) -> c_int;
    rados_omap_get_end: fn(OmapIter);
    rados_lock_exclusive: fn(IoCtx, *const c_char, *const c_char, *const c_char, *const c_char, *mut libc::timeval, u8) -> c_int;
    rados_unlock: fn(IoCtx, *const c_char, *const c_char, *const c_char) -> c_int;
}

/// librados, loaded on first use; Err says why it cannot be.
pub fn api() -> Result<&'static Api, String> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(|| {
        let lib = unsafe { libc::dlopen(c"librados.so.2".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if lib.is_null() {
            let why = unsafe { libc::dlerror() };
            let why = if why.is_null() {
                "unknown reason".into()
            } else {
                unsafe { CStr::from_ptr(why) }.to_string_lossy().into_owned()
            };
            return Err(format!(
                "librados cannot be loaded ({why}); install Debian's librados2 (scripts/install-ceph.sh)"
            ));
        }
        Api::resolve(lib)
    })
    .as_ref()
    .map_err(Clone::clone)
}
