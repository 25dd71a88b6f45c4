//! [`PgStoreBuilder`]: where the store connects, in which schema, with how many connections,
//! and how long it keeps trying to reach PostgreSQL at start.

use crate::error::is_transient;
use crate::store::PgStore;
use attune_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use std::str::FromStr;
use std::time::Duration;

/// The PostgreSQL schema Attune's tables live in unless [`PgStoreBuilder::schema`] says
/// otherwise.
pub const DEFAULT_SCHEMA: &str = "attune";

/// Builds a [`PgStore`]: `PgStore::builder(url)...open().await`.
///
/// `open` connects (retrying with backoff while PostgreSQL is unreachable or starting, for
/// [`connect_for`](Self::connect_for) at most), creates the schema if needed and applies the
/// pending migrations (refusing a schema written by a newer release, or one that holds
/// tables that are not Attune's).
#[derive(Clone, Debug)]
pub struct PgStoreBuilder {
    url: String,
    schema: String,
    max_connections: u32,
    connect_for: Duration,
    statement_timeout: Option<Duration>,
    application_name: String,
}

impl PgStoreBuilder {
    /// A builder for the database at `url` (`postgres://user:password@host:port/database`,
    /// with any of libpq's query parameters sqlx accepts, such as `sslmode`).
    ///
    /// A `schema=NAME` query parameter (Attune's, taken out of the URL before it is used)
    /// names the PostgreSQL schema, as [`schema`](Self::schema) does.
    pub fn new(url: impl Into<String>) -> Self {
        let (url, schema) = take_schema_param(&url.into());
        PgStoreBuilder {
            url,
            schema: schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_string()),
            max_connections: 16,
            connect_for: Duration::from_secs(30),
            statement_timeout: Some(Duration::from_secs(60)),
            application_name: "attune".to_string(),
        }
    }

    /// The PostgreSQL schema of Attune's tables (default [`DEFAULT_SCHEMA`]): lower-case
    /// letters, digits and `_`, starting with a letter or `_`, at most 63 bytes. Several
    /// independent Attune deployments may share one database, each in its own schema.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The most connections the store's pool opens (default 16).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long `open` keeps retrying while PostgreSQL cannot be reached (default 30 s);
    /// then it fails with the last error. A refused login or a missing database fails at
    /// once.
    pub fn connect_for(mut self, d: Duration) -> Self {
        self.connect_for = d;
        self
    }

    /// The server-side time limit of one statement (default 60 s; `None`: the server's
    /// setting). A statement cut short fails its call with a transient error, and its
    /// transaction changes nothing.
    pub fn statement_timeout(mut self, d: Option<Duration>) -> Self {
        self.statement_timeout = d;
        self
    }

    /// The `application_name` the connections report to PostgreSQL (default `attune`),
    /// shown in `pg_stat_activity`; cut to PostgreSQL's 63 bytes.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        let mut name: String = name.into();
        // PostgreSQL keeps 63 bytes (and says so in a notice on every connection).
        let mut end = name.len().min(63);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
        self.application_name = name;
        self
    }

    /// The schema name, checked.
    pub(crate) fn checked_schema(&self) -> Result<&str> {
        check_schema_name(&self.schema)?;
        Ok(&self.schema)
    }

    /// The connection options: the URL's, with the schema as search path and the timeout.
    pub(crate) fn connect_options(&self) -> Result<PgConnectOptions> {
        let schema = self.checked_schema()?;
        let opts = PgConnectOptions::from_str(&self.url).map_err(|e| {
            Error::invalid(
                format!("PostgreSQL URL '{}'", redact(&self.url)),
                e.to_string(),
            )
        })?;
        let mut params = vec![("search_path", schema.to_string())];
        if let Some(t) = self.statement_timeout {
            params.push(("statement_timeout", format!("{}ms", t.as_millis().max(1))));
        }
        Ok(opts
            .application_name(&self.application_name)
            .options(params))
    }

    /// Connects, applies the migrations, and returns the store.
    pub async fn open(self) -> Result<PgStore> {
        let opts = self.connect_options()?;
        let pool = connect(&opts, self.max_connections, self.connect_for).await?;
        crate::migrations::migrate(&pool, self.checked_schema()?, &describe(&opts)).await?;
        Ok(PgStore::from_pool(
            pool,
            self.schema.clone(),
            describe(&opts),
            opts,
        ))
    }
}

/// `url` without its `schema=` query parameter, and that parameter's value.
fn take_schema_param(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut schema = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("schema=") {
            Some(v) => {
                schema = Some(v.to_string());
                false
            }
            None => true,
        })
        .collect();
    if kept.is_empty() {
        (base.to_string(), schema)
    } else {
        (format!("{base}?{}", kept.join("&")), schema)
    }
}

/// `user@host:port/database`: where `opts` connects, without the password.
pub(crate) fn describe(opts: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        opts.get_username(),
        opts.get_host(),
        opts.get_port(),
        opts.get_database().unwrap_or(opts.get_username())
    )
}

/// `url` with its password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    redact(url)
}

/// `url` with its password replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((auth, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Refuses a schema name that would need quoting (or could not be one).
pub(crate) fn check_schema_name(schema: &str) -> Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("PostgreSQL schema name '{schema}'"),
            "use lower-case letters, digits and '_', starting with a letter or '_', \
             at most 63 bytes, not starting with 'pg_'",
        ))
    }
}

/// Opens a pool, retrying with a doubling backoff (100 ms to 5 s) for `patience` while the
/// server cannot be reached or is starting.
pub(crate) async fn connect(
    opts: &PgConnectOptions,
    max_connections: u32,
    patience: Duration,
) -> Result<PgPool> {
    let start = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(100);
    let mut tries = 0u32;
    loop {
        tries += 1;
        // One connection first: the pool's own connect retries for its whole acquire
        // timeout, which would hide a refused login behind the wait.
        match PgConnection::connect_with(opts).await {
            Ok(conn) => {
                let _ = conn.close().await;
                return Ok(PgPoolOptions::new()
                    .max_connections(max_connections)
                    .min_connections(0)
                    .acquire_timeout(Duration::from_secs(30))
                    .test_before_acquire(false)
                    .connect_lazy_with(opts.clone()));
            }
            Err(e) if is_transient(&e) && start.elapsed() + delay < patience => {
                tracing::warn!(
                    target: "attune::postgres",
                    server = %describe(opts),
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "PostgreSQL is not reachable yet"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                let transient = is_transient(&e);
                let why = if transient {
                    format!(" (gave up after {tries} tries in {:.0?})", start.elapsed())
                } else {
                    String::new()
                };
                return Err(Error::backend(
                    format!("connecting to PostgreSQL at {}: {e}{why}", describe(opts),),
                    transient,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        for good in ["attune", "_x", "a1_b", "attune_test_12"] {
            check_schema_name(good).expect(good);
        }
        for bad in [
            "",
            "Attune",
            "1a",
            "a-b",
            "a b",
            "pg_x",
            "x\"y",
            &"a".repeat(64),
        ] {
            assert!(check_schema_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact("nonsense"), "nonsense");
    }

    #[test]
    fn the_schema_comes_from_the_url() {
        let b = PgStoreBuilder::new("postgres://u@h/d?schema=ops&sslmode=disable");
        assert_eq!(
            (b.url.as_str(), b.schema.as_str()),
            ("postgres://u@h/d?sslmode=disable", "ops")
        );
        let b = PgStoreBuilder::new("postgres://u@h/d?schema=ops");
        assert_eq!(
            (b.url.as_str(), b.schema.as_str()),
            ("postgres://u@h/d", "ops")
        );
        let b = PgStoreBuilder::new("postgres://u@h/d").schema("x");
        assert_eq!(
            (b.url.as_str(), b.schema.as_str()),
            ("postgres://u@h/d", "x")
        );
        let err = PgStoreBuilder::new("postgres://u@h/d?schema=Bad-Name")
            .connect_options()
            .expect_err("a bad schema name");
        assert!(err.to_string().contains("Bad-Name"), "{err}");
    }

    #[test]
    fn a_bad_url_is_invalid_and_names_it() {
        let err = PgStoreBuilder::new("postgres://u:secret@h:notaport/d")
            .connect_options()
            .expect_err("a bad port");
        let msg = err.to_string();
        assert!(matches!(err, Error::Invalid { .. }), "{msg}");
        assert!(msg.contains("postgres://u:***@h:notaport/d"), "{msg}");
        assert!(!msg.contains("secret"), "{msg}");
    }
}
