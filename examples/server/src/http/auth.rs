//! Who calls: users with argon2 password hashes, signed tokens with a TTL, roles.
//!
//! A token is `<user, base64url>.<expiry, unix seconds>.<nonce>.<HMAC-SHA256, hex>` signed
//! with the server's token secret: any API process with the same secret accepts it, with
//! no store lookup (multi-process mode gives every process the same secret). A token is
//! valid until its expiry and only while its user still exists; the user's role is read
//! at each request. Credentials come as StackStorm's client sends them: the `X-Auth-Token`
//! header, the `x-auth-token` query parameter (the event stream) or the `auth-token`
//! cookie.

use super::error::ApiError;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    /// Read everything.
    Viewer,
    /// Also run, cancel, respond, set keys, emit.
    Operator,
    /// Also change definitions, users' API keys, packs.
    Admin,
}

impl Role {
    pub(crate) fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// A user: the argon2 hash of the password (PHC string) and the role.
#[derive(Clone)]
pub(crate) struct User {
    pub hash: String,
    pub role: Role,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User").field("role", &self.role).finish()
    }
}

/// How a caller was authenticated.
#[derive(Debug, Clone)]
pub(crate) enum Method {
    /// A token, valid until then.
    Token(DateTime<Utc>),
    /// An API key, by its id.
    ApiKey(String),
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: String,
    pub role: Role,
    pub method: Method,
}

impl Caller {
    /// Refused (403) unless the caller's role is at least `need`.
    pub(crate) fn require(&self, need: Role, what: &str) -> Result<(), ApiError> {
        if self.role >= need {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "user '{}' (role {}) may not {what}: it needs the role {}",
                self.user,
                self.role.as_str(),
                need.as_str()
            )))
        }
    }
}

/// The users, the token secret and the token lifetimes.
pub(crate) struct Auth {
    users: HashMap<String, User>,
    secret: Vec<u8>,
    /// A token's lifetime when the request names none.
    pub default_ttl: Duration,
    /// The longest lifetime a request may ask for.
    pub max_ttl: Duration,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("default_ttl", &self.default_ttl)
            .finish_non_exhaustive()
    }
}

/// A token issued: what `POST /auth/v1/tokens` answers.
#[derive(Debug)]
pub(crate) struct Issued {
    pub token: String,
    pub expiry: DateTime<Utc>,
}

type HmacSha256 = Hmac<Sha256>;

/// The message a wrong user name or password gets (the same for both).
const BAD_CREDENTIALS: &str = "Invalid or missing credentials";

impl Auth {
    /// `users` (name → user) and the secret tokens are signed with (at least 32 bytes).
    pub(crate) fn new(users: HashMap<String, User>, secret: Vec<u8>) -> Result<Auth, String> {
        if secret.len() < 32 {
            return Err("the token secret must be at least 32 bytes".into());
        }
        if users.is_empty() {
            return Err("no user is configured".into());
        }
        Ok(Auth {
            users,
            secret,
            default_ttl: Duration::from_secs(24 * 3600),
            max_ttl: Duration::from_secs(24 * 3600),
        })
    }

    /// From the environment: the first admin from `ATTUNE_ADMIN_USER` and
    /// `ATTUNE_ADMIN_PASSWORD` (both needed: the API never runs open), the token secret
    /// from `ATTUNE_AUTH_SECRET` (32 bytes or more). Without a secret, one is made at
    /// random for this process (tokens then end with it) — refused when `shared` (a
    /// database several API processes serve, which must all accept the same tokens).
    pub(crate) fn from_env(shared: bool) -> Result<Auth, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (Some(user), Some(password)) = (var("ATTUNE_ADMIN_USER"), var("ATTUNE_ADMIN_PASSWORD"))
        else {
            return Err(
                "--http needs a first user: set ATTUNE_ADMIN_USER and ATTUNE_ADMIN_PASSWORD".into(),
            );
        };
        let secret = match var("ATTUNE_AUTH_SECRET") {
            Some(s) if s.len() >= 32 => s.into_bytes(),
            Some(_) => return Err("ATTUNE_AUTH_SECRET: 32 bytes or more".into()),
            None if shared => {
                return Err(
                    "--http on a shared database needs ATTUNE_AUTH_SECRET (32 bytes \
                     or more, the same in every process) so that every API process accepts \
                     the same tokens"
                        .into(),
                );
            }
            None => {
                let mut b = vec![0u8; 32];
                getrandom::fill(&mut b).map_err(|e| format!("no random token secret: {e}"))?;
                b
            }
        };
        let mut users = match var("ATTUNE_USERS_FILE") {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("ATTUNE_USERS_FILE {path}: {e}"))?;
                users_file(&text).map_err(|e| format!("ATTUNE_USERS_FILE {path}: {e}"))?
            }
            None => HashMap::new(),
        };
        users.insert(
            user,
            User {
                hash: Self::hash_password(&password)?,
                role: Role::Admin,
            },
        );
        Auth::new(users, secret)
    }

    /// The argon2 hash (PHC string) of `password`.
    pub(crate) fn hash_password(password: &str) -> Result<String, String> {
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| format!("cannot hash the password: {e}"))
    }

    /// Checks `user`'s password (argon2: tens of milliseconds, run off the async threads
    /// by the caller) and issues a token valid for `ttl` (the default when `None`; refused
    /// over the maximum or under one second).
    pub(crate) fn login(
        &self,
        user: &str,
        password: &str,
        ttl: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Issued, ApiError> {
        let Some(u) = self.users.get(user) else {
            // The same work as for a real user, so the time does not tell names apart.
            let _ = Self::hash_password(password);
            return Err(ApiError::unauthorized(BAD_CREDENTIALS));
        };
        let ok = PasswordHash::new(&u.hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        if !ok {
            return Err(ApiError::unauthorized(BAD_CREDENTIALS));
        }
        let ttl = match ttl {
            None => self.default_ttl,
            Some(s) if s >= 1 && s <= self.max_ttl.as_secs() => Duration::from_secs(s),
            Some(s) => {
                return Err(ApiError::bad_request(format!(
                    "ttl: {s} seconds is not between 1 and the maximum, {}",
                    self.max_ttl.as_secs()
                )));
            }
        };
        let expiry = now + chrono::TimeDelta::seconds(ttl.as_secs() as i64);
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| {
            ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        })?;
        let body = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(user),
            expiry.timestamp(),
            hex(&nonce)
        );
        let token = format!("{body}.{}", hex(&self.sign(&body)));
        Ok(Issued { token, expiry })
    }

    /// The caller a token stands for; 401 when it is malformed, forged, expired, or its
    /// user is gone.
    pub(crate) fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Caller, ApiError> {
        let invalid = || ApiError::unauthorized("Invalid or expired token");
        let (body, sig) = token.rsplit_once('.').ok_or_else(invalid)?;
        let sig = unhex(sig).ok_or_else(invalid)?;
        let mut mac = HmacSha256::new_from_slice(&self.secret).map_err(|_| invalid())?;
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| invalid())?;
        let mut parts = body.split('.');
        let (Some(user), Some(expiry), Some(_nonce), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let user = URL_SAFE_NO_PAD
            .decode(user)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(invalid)?;
        let expiry = expiry
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or_else(invalid)?;
        if expiry <= now {
            return Err(invalid());
        }
        let u = self.users.get(&user).ok_or_else(invalid)?;
        Ok(Caller {
            role: u.role,
            user,
            method: Method::Token(expiry),
        })
    }

    /// The caller an API key of `user` stands for; 401 when the user is no longer
    /// configured.
    pub(crate) fn key_caller(&self, user: &str, key_id: &str) -> Result<Caller, ApiError> {
        let u = self
            .users
            .get(user)
            .ok_or_else(|| ApiError::unauthorized("Invalid or disabled API key"))?;
        Ok(Caller {
            user: user.to_string(),
            role: u.role,
            method: Method::ApiKey(key_id.to_string()),
        })
    }

    /// Whether `user` is configured.
    pub(crate) fn has_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    fn sign(&self, body: &str) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(body.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Users of a users file: one `name:role:argon2-hash` a line (the hash in PHC form, as
/// `argon2` prints it), `#` comments and blank lines skipped. An error names the line.
pub(crate) fn users_file(text: &str) -> Result<HashMap<String, User>, String> {
    let mut users = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("line {}", n + 1);
        let mut parts = line.splitn(3, ':');
        let (Some(name), Some(role), Some(hash)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("{at}: not name:role:hash"));
        };
        if name.is_empty() {
            return Err(format!("{at}: the user name is empty"));
        }
        let role = Role::parse(role)
            .ok_or_else(|| format!("{at}: role '{role}' is not one of admin, operator, viewer"))?;
        if PasswordHash::new(hash).is_err() {
            return Err(format!(
                "{at}: the hash of '{name}' is not an argon2 PHC string"
            ));
        }
        if users
            .insert(
                name.to_string(),
                User {
                    hash: hash.to_string(),
                    role,
                },
            )
            .is_some()
        {
            return Err(format!("{at}: user '{name}' appears twice"));
        }
    }
    Ok(users)
}

/// The user and password of an `Authorization: Basic` header.
pub(crate) fn basic_credentials(header: &str) -> Option<(String, String)> {
    let b64 = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let mut users = HashMap::new();
        users.insert(
            "alice".to_string(),
            User {
                hash: Auth::hash_password("s3cret").unwrap(),
                role: Role::Operator,
            },
        );
        Auth::new(users, vec![7; 32]).unwrap()
    }

    #[test]
    fn a_token_stands_for_its_user_until_it_expires() {
        let a = auth();
        let now = Utc::now();
        let t = a.login("alice", "s3cret", Some(60), now).unwrap();
        let c = a.verify(&t.token, now).unwrap();
        assert_eq!((c.user.as_str(), c.role), ("alice", Role::Operator));
        let later = now + chrono::TimeDelta::seconds(61);
        assert_eq!(a.verify(&t.token, later).unwrap_err().status, 401);
    }

    #[test]
    fn wrong_passwords_forged_and_foreign_tokens_are_refused() {
        let a = auth();
        let now = Utc::now();
        assert_eq!(a.login("alice", "nope", None, now).unwrap_err().status, 401);
        assert_eq!(a.login("bob", "s3cret", None, now).unwrap_err().status, 401);
        assert_eq!(
            a.login("alice", "s3cret", Some(0), now).unwrap_err().status,
            400
        );
        let t = a.login("alice", "s3cret", None, now).unwrap().token;
        // Another user's name under alice's signature.
        let (_, rest) = t.split_once('.').unwrap();
        let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode("admin"));
        assert_eq!(a.verify(&forged, now).unwrap_err().status, 401);
        // Signed with another secret.
        let mut other = auth();
        other.secret = vec![8; 32];
        let foreign = other.login("alice", "s3cret", None, now).unwrap().token;
        assert_eq!(a.verify(&foreign, now).unwrap_err().status, 401);
        for junk in ["", ".", "a.b.c.d", "x.1.2.zz", &t[..t.len() - 1]] {
            assert_eq!(a.verify(junk, now).unwrap_err().status, 401, "{junk:?}");
        }
    }

    #[test]
    fn roles_are_ordered_and_checked() {
        let c = Caller {
            user: "v".into(),
            role: Role::Viewer,
            method: Method::Token(Utc::now()),
        };
        assert!(c.require(Role::Viewer, "read").is_ok());
        let e = c.require(Role::Operator, "run actions").unwrap_err();
        assert_eq!(e.status, 403);
        assert!(
            e.faultstring.contains("needs the role operator"),
            "{}",
            e.faultstring
        );
    }

    #[test]
    fn users_files_are_read_and_bad_lines_named() {
        let h = Auth::hash_password("pw").unwrap();
        let text = format!("# users\n\nvic:viewer:{h}\nopal:operator:{h}\n");
        let users = users_file(&text).unwrap();
        assert_eq!(users["vic"].role, Role::Viewer);
        assert_eq!(users["opal"].role, Role::Operator);
        for (bad, says) in [
            (format!("vic:king:{h}"), "line 1: role 'king'"),
            ("vic:viewer:plain".to_string(), "line 1: the hash of 'vic'"),
            (
                format!("a:viewer:{h}\na:admin:{h}"),
                "line 2: user 'a' appears twice",
            ),
            ("nocolons".to_string(), "line 1: not name:role:hash"),
            (format!(":viewer:{h}"), "line 1: the user name is empty"),
        ] {
            let e = users_file(&bad).unwrap_err();
            assert!(e.starts_with(says), "{bad}: {e}");
        }
    }

    #[test]
    fn basic_headers_are_read() {
        assert_eq!(
            basic_credentials("Basic YWxpY2U6czNjcjp0"),
            Some(("alice".into(), "s3cr:t".into()))
        );
        assert_eq!(basic_credentials("Bearer x"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}
