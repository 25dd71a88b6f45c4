//! The Store conformance suite (`attune_core::conformance`) run on [`PgStore`] against the
//! real PostgreSQL, each check in a fresh schema of its own (skipped, saying why, when the
//! server cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is not `1`).

use attune_store_postgres::testing::TestSchema;

attune_core::store_conformance_tests!(optional TestSchema::create);

/// The Transport conformance suite on [`PgTransport`]s, each fresh one over a fresh schema;
/// a peer is a second store and transport on the same schema (what another process opens).
mod transport {
    use async_trait::async_trait;
    use attune_core::conformance::transport::TransportFactory;
    use attune_core::transport::Transport;
    use attune_store_postgres::PgTransport;
    use attune_store_postgres::testing::TestSchema;
    use std::sync::{Arc, Mutex};

    /// A transport made, with its schema.
    type Made = (Arc<dyn Transport>, Arc<TestSchema>);

    /// The transports made, with their schemas (dropped when the check ends).
    struct Pg {
        made: Mutex<Vec<Made>>,
    }

    /// A factory, or `None` when PostgreSQL cannot be reached (skipped).
    async fn factory() -> Option<Pg> {
        let probe = TestSchema::create().await?;
        drop(probe);
        Some(Pg {
            made: Mutex::new(Vec::new()),
        })
    }

    #[async_trait]
    impl TransportFactory for Pg {
        async fn fresh(&self) -> Arc<dyn Transport> {
            let schema = Arc::new(TestSchema::create().await.expect("a test schema"));
            let t: Arc<dyn Transport> = Arc::new(
                PgTransport::open(schema.store())
                    .await
                    .expect("open a transport"),
            );
            self.made.lock().unwrap().push((t.clone(), schema));
            t
        }

        async fn peer(&self, transport: &Arc<dyn Transport>) -> Arc<dyn Transport> {
            let schema = {
                let made = self.made.lock().unwrap();
                let (_, schema) = made
                    .iter()
                    .find(|(t, _)| Arc::ptr_eq(t, transport))
                    .expect("a transport this factory made");
                schema.clone()
            };
            let store = schema.peer().await;
            let t: Arc<dyn Transport> = Arc::new(
                PgTransport::open(&store)
                    .await
                    .expect("open a peer transport"),
            );
            self.made.lock().unwrap().push((t.clone(), schema));
            t
        }
    }

    attune_core::transport_conformance_tests!(optional factory());
}
