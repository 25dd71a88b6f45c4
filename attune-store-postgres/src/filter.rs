//! The WHERE clause of list and count queries, built from a filter and a page.

use crate::error::Res;
use crate::rows::limit;
use attune_core::store::Page;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use uuid::Uuid;

/// One bound value.
#[derive(Debug)]
pub(crate) enum Arg {
    Text(String),
    Id(Uuid),
    Int(i64),
    Texts(Vec<String>),
}

/// Conditions joined by AND, with their values (bound as `$1`, `$2`, ...).
#[derive(Debug, Default)]
pub(crate) struct Where {
    conds: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    /// `col IS NULL`.
    pub(crate) fn is_null(&mut self, col: &str) -> &mut Self {
        self.conds.push(format!("{col} IS NULL"));
        self
    }

    /// `col = value`.
    pub(crate) fn eq(&mut self, col: &str, value: Arg) -> &mut Self {
        self.cmp(col, "=", value)
    }

    /// `col op value`.
    pub(crate) fn cmp(&mut self, col: &str, op: &str, value: Arg) -> &mut Self {
        self.args.push(value);
        self.conds.push(format!("{col} {op} ${}", self.args.len()));
        self
    }

    /// `col = ANY(values)`.
    pub(crate) fn any_of(&mut self, col: &str, values: Vec<String>) -> &mut Self {
        self.args.push(Arg::Texts(values));
        self.conds
            .push(format!("{col} = ANY(${})", self.args.len()));
        self
    }

    fn clause(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        }
    }

    fn bind<'q>(
        args: Vec<Arg>,
        mut q: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        for a in args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Id(u) => q.bind(u),
                Arg::Int(n) => q.bind(n),
                Arg::Texts(v) => q.bind(v),
            };
        }
        q
    }

    /// One page of `select` (a `SELECT ... FROM ...` without WHERE) in the order of `id`,
    /// each row parsed by `parse`.
    pub(crate) async fn page<T>(
        mut self,
        pool: &PgPool,
        select: &str,
        id: &str,
        page: &Page,
        parse: impl Fn(&PgRow) -> Res<T>,
    ) -> Res<Vec<T>> {
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        if let Some(a) = page.after {
            self.cmp(id, if page.newest_first { "<" } else { ">" }, Arg::Id(a));
        }
        self.args.push(Arg::Int(limit(page.limit)));
        self.args.push(Arg::Int(limit(page.offset)));
        let n = self.args.len();
        let sql = format!(
            "{select}{} ORDER BY {id}{} LIMIT ${} OFFSET ${n}",
            self.clause(),
            if page.newest_first { " DESC" } else { "" },
            n - 1
        );
        let q = Self::bind(self.args, sqlx::query(AssertSqlSafe(sql)));
        let rows = q.fetch_all(pool).await?;
        rows.iter().map(parse).collect()
    }

    /// The number of rows of `from` (a table, or tables joined) matching.
    pub(crate) async fn count(self, pool: &PgPool, from: &str) -> Res<u64> {
        let sql = format!("SELECT count(*) FROM {from}{}", self.clause());
        let q = Self::bind(self.args, sqlx::query(AssertSqlSafe(sql)));
        let n: i64 = q.fetch_one(pool).await?.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
