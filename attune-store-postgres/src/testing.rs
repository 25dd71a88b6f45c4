//! Fresh, empty stores for tests, each in its own PostgreSQL schema.
//!
//! [`TestSchema::create`] opens a [`PgStore`] in a new schema `attune_t_<random>` of the
//! database named by `ATTUNE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), and drops the schema when the value is
//! dropped. When that server cannot be reached, `create` returns `None` and the test is
//! skipped — the reason is written once per test binary to the terminal (not to the
//! captured output), naming the server and the error — unless `ATTUNE_REQUIRE_POSTGRES=1`,
//! which CI sets: then it panics.

use crate::config::redact;
use crate::store::PgStore;
use std::io::Write;
use std::ops::Deref;
use std::sync::Once;
use std::time::Duration;

/// The variable naming the test server's URL.
pub const URL_VAR: &str = "ATTUNE_TEST_POSTGRES";
/// The variable that makes an unreachable test server an error instead of a skip.
pub const REQUIRE_VAR: &str = "ATTUNE_REQUIRE_POSTGRES";
/// The test server's URL when [`URL_VAR`] is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The URL tests connect to.
pub fn url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// Whether tests must have PostgreSQL ([`REQUIRE_VAR`] is `1`).
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// A store in a schema of its own, dropped with it.
#[derive(Debug)]
pub struct TestSchema {
    store: PgStore,
    url: String,
    schema: String,
}

impl TestSchema {
    /// A fresh, migrated schema and a store on it; `None` (test skipped) when the test
    /// server cannot be reached and [`required`] is false.
    ///
    /// # Panics
    ///
    /// When the server cannot be reached and [`required`] is true, or when it can be
    /// reached but the schema cannot be created.
    pub async fn create() -> Option<TestSchema> {
        let url = url();
        let schema = format!("attune_t_{}", uuid::Uuid::new_v4().simple());
        let opened = PgStore::builder(&url)
            .schema(&schema)
            .max_connections(8)
            .connect_for(if required() {
                Duration::from_secs(30)
            } else {
                Duration::ZERO
            })
            .open()
            .await;
        match opened {
            Ok(store) => Some(TestSchema { store, url, schema }),
            Err(e) if !required() && e.is_retryable() => {
                skip_notice(&url, &e);
                None
            }
            Err(e) => panic!("PostgreSQL test server {} ({URL_VAR}): {e}", redact(&url)),
        }
    }

    /// Another store on the same schema, with its own pool: what a second process opens.
    pub async fn peer(&self) -> PgStore {
        PgStore::builder(&self.url)
            .schema(&self.schema)
            .max_connections(8)
            .open()
            .await
            .expect("open a second store on the test schema")
    }

    /// The store.
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's URL naming the schema (`?schema=` or `&schema=`): what another process
    /// (`attune --db`, a child of a test) opens to share this one.
    pub fn schema_url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}schema={}", self.url, self.schema)
    }
}

impl Deref for TestSchema {
    type Target = PgStore;
    fn deref(&self) -> &PgStore {
        &self.store
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, schema, pool) = (
            self.url.clone(),
            self.schema.clone(),
            self.store.pool().clone(),
        );
        // Drop may run inside a runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                pool.close().await;
                let pool = crate::config::connect(
                    &crate::PgStoreBuilder::new(&url).connect_options().ok()?,
                    1,
                    Duration::from_secs(5),
                )
                .await
                .ok()?;
                let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .ok()?;
                pool.close().await;
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            let _ = writeln!(
                std::io::stderr(),
                "note: test schema '{}' could not be dropped",
                self.schema
            );
        }
    }
}

/// Writes once per process why PostgreSQL tests are skipped, past the test harness's
/// output capture.
fn skip_notice(url: &str, e: &attune_core::Error) {
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: PostgreSQL tests of this binary pass without running: the test server \
             {} ({URL_VAR}) cannot be reached: {e}. Set {REQUIRE_VAR}=1 to make this an error.",
            redact(url)
        );
    });
}
