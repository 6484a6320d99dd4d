//! Object Lock: whether a version may go, asked in one place by every path that removes
//! a version (a delete by version id, DeleteObjects, lifecycle, a bucket's delete, a
//! delete replicated from another site), and the rules for changing a retention.
//! A plain delete in a versioned bucket removes nothing (it adds a marker), so it is
//! never refused.

use crate::error::{Error, Result};
use crate::records::{Manifest, Retention, RetentionMode, VersionLock};

/// Who asks for a version's removal, and what they may override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remover {
    /// A client, and whether it asked to bypass GOVERNANCE retention (with the
    /// permission to, checked by the gateway).
    Client { bypass_governance: bool },
    /// Another site, whose own check let the delete through: GOVERNANCE yields (that
    /// site's requester was allowed to bypass it), COMPLIANCE and legal holds do not.
    Replica,
    /// This site's lifecycle worker: yields to every lock.
    Lifecycle,
}

/// Ok if `m` may be removed at `now_ms` by `who`; else AccessDenied, as S3 answers.
pub fn may_remove(m: &Manifest, now_ms: u64, who: Remover) -> Result<()> {
    let VersionLock { retention, legal_hold } = m.headers.lock;
    if legal_hold {
        return Err(Error::ObjectLocked("a legal hold is on this version".into()));
    }
    let Some(r) = retention.filter(|r| r.until_ms > now_ms) else {
        return Ok(());
    };
    let yields = r.mode == RetentionMode::Governance
        && matches!(
            who,
            Remover::Client {
                bypass_governance: true
            } | Remover::Replica
        );
    match yields {
        true => Ok(()),
        false => Err(Error::ObjectLocked(format!(
            "{} retention holds this version until {} ms",
            r.mode.name(),
            r.until_ms
        ))),
    }
}

/// Whether `m` is locked now against every remover but a GOVERNANCE bypass.
pub fn is_locked(m: &Manifest, now_ms: u64) -> bool {
    may_remove(m, now_ms, Remover::Lifecycle).is_err()
}

/// Ok if a version's retention may change from `old` to `new` at `now_ms`: COMPLIANCE
/// only lengthens (and stays COMPLIANCE); GOVERNANCE shortened, removed or made
/// COMPLIANCE-less needs the bypass.
pub fn may_change_retention(old: Option<Retention>, new: Option<Retention>, now_ms: u64, bypass: bool) -> Result<()> {
    let Some(old) = old.filter(|r| r.until_ms > now_ms) else {
        return Ok(());
    };
    let lengthens = new.is_some_and(|n| n.until_ms >= old.until_ms);
    match old.mode {
        RetentionMode::Compliance if lengthens && new.is_some_and(|n| n.mode == RetentionMode::Compliance) => Ok(()),
        RetentionMode::Compliance => Err(Error::ObjectLocked(
            "a COMPLIANCE retention can be lengthened, never shortened or removed".into(),
        )),
        RetentionMode::Governance if lengthens || bypass => Ok(()),
        RetentionMode::Governance => Err(Error::ObjectLocked(
            "shortening or removing a GOVERNANCE retention needs x-amz-bypass-governance-retention".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::Hlc;
    use crate::records::SiteId;

    fn locked(mode: RetentionMode, until_ms: u64, hold: bool) -> Manifest {
        let mut m = Manifest::tombstone("b", "k", Hlc(1), SiteId(1));
        m.headers.lock = VersionLock {
            retention: Some(Retention { mode, until_ms }),
            legal_hold: hold,
        };
        m
    }

    #[test]
    fn compliance_yields_to_nobody_until_it_ends() {
        let m = locked(RetentionMode::Compliance, 1000, false);
        for who in [
            Remover::Client {
                bypass_governance: true,
            },
            Remover::Replica,
            Remover::Lifecycle,
        ] {
            assert!(may_remove(&m, 999, who).is_err());
            assert!(may_remove(&m, 1000, who).is_ok());
        }
    }

    #[test]
    fn governance_yields_to_a_bypass_and_a_replica_and_a_hold_to_nobody() {
        let m = locked(RetentionMode::Governance, 1000, false);
        let bypass = Remover::Client {
            bypass_governance: true,
        };
        let plain = Remover::Client {
            bypass_governance: false,
        };
        assert!(may_remove(&m, 0, bypass).is_ok() && may_remove(&m, 0, Remover::Replica).is_ok());
        assert!(may_remove(&m, 0, plain).is_err() && may_remove(&m, 0, Remover::Lifecycle).is_err());
        let held = locked(RetentionMode::Governance, 0, true);
        assert!(may_remove(&held, 5000, bypass).is_err());
    }

    #[test]
    fn compliance_lengthens_only() {
        let c = |until_ms| {
            Some(Retention {
                mode: RetentionMode::Compliance,
                until_ms,
            })
        };
        let g = |until_ms| {
            Some(Retention {
                mode: RetentionMode::Governance,
                until_ms,
            })
        };
        assert!(may_change_retention(c(100), c(200), 0, false).is_ok());
        assert!(may_change_retention(c(100), c(50), 0, true).is_err());
        assert!(may_change_retention(c(100), g(500), 0, true).is_err());
        assert!(may_change_retention(c(100), None, 0, true).is_err());
        assert!(may_change_retention(c(100), None, 100, false).is_ok());
        assert!(may_change_retention(g(100), g(50), 0, false).is_err());
        assert!(may_change_retention(g(100), None, 0, true).is_ok());
        assert!(may_change_retention(g(100), c(100), 0, false).is_ok());
    }
}
