//! Definitions (packs, actions, triggers, sensors, rules, policies) by `(kind, ref)`.

use crate::error::Res;
use crate::rows::{body_at, to_body};
use attune_core::model::{Definition, DefinitionKind};
use rusqlite::{Connection, OptionalExtension, params};

const UPSERT: &str = "INSERT INTO definitions (kind, def_ref, pack, body) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (kind, def_ref) DO UPDATE SET pack = excluded.pack, body = excluded.body";

/// The stored JSON of a definition.
fn definition_body(def: &Definition) -> Res<String> {
    to_body("definition", def)
}

fn upsert(conn: &Connection, def: &Definition) -> Res<()> {
    let body = definition_body(def)?;
    conn.prepare_cached(UPSERT)?.execute(params![
        def.kind().as_str(),
        def.def_ref(),
        def.pack(),
        body
    ])?;
    Ok(())
}

/// Inserts or replaces a definition.
pub(crate) fn put(conn: &Connection, def: &Definition) -> Res<()> {
    upsert(conn, def)
}

/// Deletes a definition; whether it existed.
pub(crate) fn delete(conn: &Connection, kind: DefinitionKind, def_ref: &str) -> Res<bool> {
    let n = conn
        .prepare_cached("DELETE FROM definitions WHERE kind = ?1 AND def_ref = ?2")?
        .execute(params![kind.as_str(), def_ref])?;
    Ok(n > 0)
}

/// Replaces every definition of `pack` with `defs` (run inside a savepoint: all or nothing).
pub(crate) fn replace_pack(conn: &Connection, pack: &str, defs: &[Definition]) -> Res<()> {
    attune_core::store::check_pack_definitions(pack, defs)?;
    conn.prepare_cached("DELETE FROM definitions WHERE pack = ?1")?
        .execute([pack])?;
    for d in defs {
        upsert(conn, d)?;
    }
    Ok(())
}

/// Reads a definition.
pub(crate) fn get(
    conn: &Connection,
    kind: DefinitionKind,
    def_ref: &str,
) -> Res<Option<Definition>> {
    let mut st =
        conn.prepare_cached("SELECT body FROM definitions WHERE kind = ?1 AND def_ref = ?2")?;
    let row = st
        .query_row(params![kind.as_str(), def_ref], |r| {
            Ok(body_at::<Definition>(r, 0, "definition"))
        })
        .optional()?;
    row.transpose()
}

/// Lists the definitions of `kind` (of `pack` only, if given), by ref.
pub(crate) fn list(
    conn: &Connection,
    kind: DefinitionKind,
    pack: Option<&str>,
) -> Res<Vec<Definition>> {
    let mut out = Vec::new();
    match pack {
        None => {
            let mut st = conn
                .prepare_cached("SELECT body FROM definitions WHERE kind = ?1 ORDER BY def_ref")?;
            let mut rows = st.query([kind.as_str()])?;
            while let Some(r) = rows.next()? {
                out.push(body_at(r, 0, "definition")?);
            }
        }
        Some(pack) => {
            let mut st = conn.prepare_cached(
                "SELECT body FROM definitions WHERE kind = ?1 AND pack = ?2 ORDER BY def_ref",
            )?;
            let mut rows = st.query(params![kind.as_str(), pack])?;
            while let Some(r) = rows.next()? {
                out.push(body_at(r, 0, "definition")?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_core::model::Rule;
    use serde_json::{Value, json};

    #[test]
    fn rule_criteria_round_trip() {
        for criteria in [
            json!({}),
            Value::Null,
            json!({"trigger.x": {"type": "eq", "pattern": 1}}),
        ] {
            let mut rule = Rule::new("p.r", "p.t", "p.a");
            rule.criteria = criteria.clone();
            let def = Definition::Rule(rule);
            let body = definition_body(&def).expect("serialize");
            let back: Definition = serde_json::from_str(&body).expect("parse");
            // No criteria (null or {}) reads back as {}: both match every event.
            let mut want = def.clone();
            if let Definition::Rule(r) = &mut want
                && r.criteria.is_null()
            {
                r.criteria = json!({});
            }
            assert_eq!(back, want, "criteria {criteria}");
        }
    }
}
