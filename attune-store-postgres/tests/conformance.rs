//! The Store conformance suite (`attune_core::conformance`) run on [`PgStore`] against the
//! real PostgreSQL, each check in a fresh schema of its own (skipped, saying why, when the
//! server cannot be reached and `ATTUNE_REQUIRE_POSTGRES` is not `1`).

use attune_store_postgres::testing::TestSchema;

attune_core::store_conformance_tests!(optional TestSchema::create);
