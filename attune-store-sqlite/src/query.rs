//! The WHERE clause of list queries, built from a filter and a page.

use crate::error::Res;
use crate::rows::limit;
use attune_core::store::Page;
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};

/// Conditions joined by AND, with their arguments.
#[derive(Debug, Default)]
pub(crate) struct Where {
    conds: Vec<String>,
    args: Vec<Value>,
}

impl Where {
    /// `col IS NULL`.
    pub(crate) fn is_null(&mut self, col: &str) -> &mut Self {
        self.conds.push(format!("{col} IS NULL"));
        self
    }

    /// `col = value`.
    pub(crate) fn eq(&mut self, col: &str, value: impl Into<Value>) -> &mut Self {
        self.cmp(col, "=", value)
    }

    /// `col <op> value` for a comparison operator.
    pub(crate) fn cmp(&mut self, col: &str, op: &str, value: impl Into<Value>) -> &mut Self {
        self.args.push(value.into());
        self.conds.push(format!("{col} {op} ?{}", self.args.len()));
        self
    }

    /// `template` with `{}` standing for `value` (a condition a column comparison cannot
    /// say: a subquery).
    pub(crate) fn with_value(&mut self, template: &str, value: impl Into<Value>) -> &mut Self {
        self.args.push(value.into());
        let mark = format!("?{}", self.args.len());
        self.conds.push(template.replace("{}", &mark));
        self
    }

    /// `col IN (values)`; the caller handles an empty list (it matches nothing).
    pub(crate) fn any_of(
        &mut self,
        col: &str,
        values: impl IntoIterator<Item = Value>,
    ) -> &mut Self {
        let mut marks = Vec::new();
        for v in values {
            self.args.push(v);
            marks.push(format!("?{}", self.args.len()));
        }
        self.conds.push(format!("{col} IN ({})", marks.join(", ")));
        self
    }

    fn clause(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        }
    }

    /// `select WHERE … AND id > after ORDER BY id LIMIT page.limit`, with `id` the id
    /// column of the driving table; each row parsed by `parse`.
    pub(crate) fn page<T>(
        mut self,
        conn: &Connection,
        select: &str,
        id: &str,
        page: &Page,
        mut parse: impl FnMut(&Row<'_>) -> Res<T>,
    ) -> Res<Vec<T>> {
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        if let Some(a) = page.after {
            self.cmp(
                id,
                if page.newest_first { "<" } else { ">" },
                a.into_bytes().to_vec(),
            );
        }
        self.args.push(Value::Integer(limit(page.limit)));
        self.args.push(Value::Integer(limit(page.offset)));
        let n = self.args.len();
        let sql = format!(
            "{select}{} ORDER BY {id}{} LIMIT ?{} OFFSET ?{n}",
            self.clause(),
            if page.newest_first { " DESC" } else { "" },
            n - 1
        );
        let mut st = conn.prepare_cached(&sql)?;
        let mut rows = st.query(params_from_iter(self.args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(parse(r)?);
        }
        Ok(out)
    }

    /// `SELECT COUNT(*) FROM table WHERE …`.
    pub(crate) fn count(self, conn: &Connection, table: &str) -> Res<u64> {
        let sql = format!("SELECT COUNT(*) FROM {table}{}", self.clause());
        let n: i64 = conn
            .prepare_cached(&sql)?
            .query_row(params_from_iter(self.args.iter()), |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
