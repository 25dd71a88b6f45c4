//! What the store refuses, and how it fails: a schema written by a newer release, a schema
//! of another application, a server that cannot be reached at start, a statement that
//! times out in the middle of a batch (nothing half-applied, the retry succeeds). Skipped,
//! saying why, when the test server cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is not
//! `1`.

use attune_core::Error;
use attune_core::model::Event;
use attune_core::store::{EventFilter, Store};
use attune_store_postgres::PgStore;
use attune_store_postgres::testing::TestSchema;
use serde_json::json;
use sqlx::Row;
use std::time::Duration;

fn run<F: std::future::Future>(f: F) -> F::Output {
    attune_core::conformance::run(f)
}

#[test]
fn a_schema_from_a_newer_release_is_refused() {
    run(async {
        let Some(pg) = TestSchema::create().await else {
            return;
        };
        sqlx::query("INSERT INTO attune_schema_version (version) VALUES (99)")
            .execute(pg.pool())
            .await
            .expect("record a newer version");
        let err = PgStore::builder(pg.url())
            .schema(pg.schema())
            .open()
            .await
            .expect_err("a newer schema");
        let msg = err.to_string();
        assert!(matches!(err, Error::Unsupported(_)), "{msg}");
        assert!(msg.contains("version 99") && msg.contains("newer"), "{msg}");
        assert!(msg.contains(pg.schema()), "names the schema: {msg}");
    });
}

#[test]
fn a_schema_of_another_application_is_refused_and_left_alone() {
    run(async {
        let Some(pg) = TestSchema::create().await else {
            return;
        };
        // Another schema of the same database, holding someone else's table.
        let theirs = format!("{}_app", pg.schema());
        for sql in [
            format!("CREATE SCHEMA {theirs}"),
            format!("CREATE TABLE {theirs}.customers (id int)"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pg.pool())
                .await
                .expect("set up the other application");
        }
        let err = PgStore::builder(pg.url())
            .schema(&theirs)
            .open()
            .await
            .expect_err("a foreign schema");
        let msg = err.to_string();
        assert!(
            msg.contains("customers") && msg.contains("another application"),
            "{msg}"
        );
        let tables: Vec<String> =
            sqlx::query("SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1")
                .bind(&theirs)
                .fetch_all(pg.pool())
                .await
                .expect("list tables")
                .iter()
                .map(|r| r.get(0))
                .collect();
        assert_eq!(tables, vec!["customers".to_string()], "nothing was written");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {theirs} CASCADE")))
            .execute(pg.pool())
            .await
            .expect("clean up");
    });
}

#[test]
fn an_unreachable_server_is_retried_then_named() {
    run(async {
        let err = PgStore::builder("postgres://postgres:hunter2@127.0.0.1:1/postgres")
            .connect_for(Duration::from_millis(400))
            .open()
            .await
            .expect_err("nothing listens on port 1");
        let msg = err.to_string();
        assert!(
            err.is_retryable(),
            "a refused connection is transient: {msg}"
        );
        assert!(msg.contains("127.0.0.1:1"), "names the server: {msg}");
        assert!(msg.contains("gave up after"), "says it retried: {msg}");
        assert!(!msg.contains("hunter2"), "never shows the password: {msg}");
    });
}

#[test]
fn a_statement_timeout_mid_batch_applies_nothing_and_the_retry_succeeds() {
    run(async {
        let Some(pg) = TestSchema::create().await else {
            return;
        };
        let store = PgStore::builder(pg.url())
            .schema(pg.schema())
            .statement_timeout(Some(Duration::from_millis(300)))
            .open()
            .await
            .expect("open with a short statement timeout");
        let events: Vec<Event> = (0..50)
            .map(|i| Event::new("t.tick", json!({"i": i}), chrono::Utc::now()))
            .collect();
        // Another session holds a lock the batch's insert needs, past the timeout.
        let mut blocker = pg.pool().begin().await.expect("begin");
        sqlx::query("LOCK TABLE unmatched_events IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *blocker)
            .await
            .expect("lock");
        let results = store.insert_events(&events).await;
        assert_eq!(results.len(), events.len());
        for r in &results {
            let e = r.as_ref().expect_err("timed out");
            assert!(e.is_retryable(), "a statement timeout is transient: {e}");
        }
        blocker.rollback().await.expect("release the lock");
        assert_eq!(
            store
                .count_events(&EventFilter::default())
                .await
                .expect("count"),
            0,
            "nothing of the batch was applied"
        );
        for r in store.insert_events(&events).await {
            r.expect("the retry succeeds");
        }
        assert_eq!(
            store
                .count_events(&EventFilter::default())
                .await
                .expect("count"),
            50
        );
    });
}
