//! Users: the credentials S3 requests are signed with.

use crate::engine::Tree;
use crate::error::{Error, Result};
use crate::hlc::{now_millis, Hlc};
use crate::keys::user_key;
use crate::records::{Change, RetiredKey, User, UserStatus};
use crate::store::Store;

fn random_hex(len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(len);
    s
}

impl Store {
    /// Creates a user, with the given keys or freshly generated ones.
    pub fn create_user(&self, name: &str, access_key: Option<&str>, secret_key: Option<&str>) -> Result<User> {
        if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(Error::InvalidArgument(
                "user names are 1 to 64 of A-Z a-z 0-9 - _ .".into(),
            ));
        }
        let access_key = access_key
            .map(str::to_owned)
            .unwrap_or_else(|| format!("STRATA{}", random_hex(14).to_uppercase()));
        let secret_key = secret_key.map(str::to_owned).unwrap_or_else(|| random_hex(40));
        if access_key.len() < 3 || secret_key.len() < 8 {
            return Err(Error::InvalidArgument(
                "access key needs 3+ characters, secret key 8+".into(),
            ));
        }
        let now = now_millis();
        let user = User {
            name: name.to_owned(),
            access_key,
            secret_key,
            status: UserStatus::Active,
            created_ms: now,
            hlc: Hlc(0),
            site: self.site_id(),
        };
        self.meta.scan_then_commit(|guard| {
            if self
                .list_users()?
                .iter()
                .any(|u| u.name == user.name || u.access_key == user.access_key)
            {
                return Err(Error::UserExists);
            }
            self.meta.commit_locked(guard, now, |tx| {
                let mut user = user.clone();
                user.hlc = tx.stamp(&user_key(&user.name))?;
                tx.put(Tree::Users, user.access_key.as_bytes(), &user)?;
                tx.index_user(&user)?;
                tx.log(&Change::User(user.clone()))?;
                Ok(user)
            })
        })
    }

    /// The user a request signed with `access_key` acts as: by its current key, or by
    /// a rotated one whose grace has not ended (then with that key and its secret).
    pub fn user_by_access_key(&self, access_key: &str) -> Result<Option<User>> {
        if let Some(u) = self.meta.get::<User>(Tree::Users, access_key.as_bytes())? {
            return Ok(Some(u));
        }
        let Some(r) = self.meta.get::<RetiredKey>(Tree::RetiredKeys, access_key.as_bytes())? else {
            return Ok(None);
        };
        if r.until_ms <= now_millis() {
            return Ok(None);
        }
        Ok(self.user(&r.name)?.map(|u| User {
            access_key: access_key.to_owned(),
            secret_key: r.secret_key,
            ..u
        }))
    }

    pub fn list_users(&self) -> Result<Vec<User>> {
        let mut users: Vec<User> = self.meta.scan(Tree::Users, b"")?.into_iter().map(|(_, u)| u).collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(users)
    }

    /// The user of a name (a canonical id in ACLs). Users are few; this scans them.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        Ok(self.list_users()?.into_iter().find(|u| u.name == name))
    }

    /// Gives a user a new access key and secret. The old key stops working at once, or
    /// after `grace` (for its clients to move to the new one), here and (when the
    /// changes arrive) on every site: a user is one record.
    pub fn rotate_user_key(&self, name: &str, grace: std::time::Duration) -> Result<User> {
        let changes = self.rotate_user_key_changes(name, grace)?;
        match changes.into_iter().last() {
            Some(Change::User(u)) => Ok(u),
            _ => unreachable!("a rotation logs the user record last"),
        }
    }

    /// [`Store::rotate_user_key`], returning the changes it logged (the retired key,
    /// if any, then the user record), as the namespace authority answers them.
    pub fn rotate_user_key_changes(&self, name: &str, grace: std::time::Duration) -> Result<Vec<Change>> {
        self.meta.scan_then_commit(|guard| {
            let old = self.user(name)?.ok_or(Error::NoSuchUser)?;
            let user = User {
                access_key: format!("STRATA{}", random_hex(14).to_uppercase()),
                secret_key: random_hex(40),
                site: self.site_id(),
                ..old.clone()
            };
            if self.user_by_access_key(&user.access_key)?.is_some() {
                return Err(Error::UserExists);
            }
            let until_ms = now_millis() + grace.as_millis() as u64;
            self.meta.commit_locked(guard, now_millis(), |tx| {
                let mut user = user.clone();
                user.hlc = tx.stamp(&user_key(name))?;
                tx.remove(Tree::Users, old.access_key.as_bytes())?;
                let mut changes = Vec::new();
                if !grace.is_zero() {
                    let retired = RetiredKey {
                        name: name.to_owned(),
                        secret_key: old.secret_key.clone(),
                        until_ms,
                    };
                    tx.put(Tree::RetiredKeys, old.access_key.as_bytes(), &retired)?;
                    changes.push(Change::UserKeyRetired {
                        name: name.to_owned(),
                        access_key: old.access_key.clone(),
                        secret_key: old.secret_key.clone(),
                        until_ms,
                        hlc: user.hlc,
                        site: user.site,
                    });
                }
                tx.put(Tree::Users, user.access_key.as_bytes(), &user)?;
                tx.index_user(&user)?;
                changes.push(Change::User(user));
                for c in &changes {
                    tx.log(c)?;
                }
                Ok(changes)
            })
        })
    }

    /// Deletes a user's credentials. Buckets they own stay, and stay theirs if the name
    /// is created again.
    pub fn delete_user(&self, name: &str) -> Result<()> {
        let user = self.user(name)?.ok_or(Error::NoSuchUser)?;
        let site = self.site_id();
        self.meta.commit(now_millis(), |tx| {
            let hlc = tx.stamp(&user_key(&user.name))?;
            tx.remove(Tree::Users, user.access_key.as_bytes())?;
            tx.index_grave(user_key(&user.name), hlc, site)?;
            tx.log(&Change::UserDeleted {
                name: user.name.clone(),
                hlc,
                site,
            })
        })
    }
}
