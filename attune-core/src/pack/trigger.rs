//! Trigger type files (`triggers/*.yaml`) and sensor files (`sensors/*.yaml`, which may
//! declare trigger types too, as StackStorm sensors do).

use super::files::PackDir;
use super::{Located, qualify};
use crate::document::fields::{Fields, Source, a_type};
use crate::document::problem::Report;
use crate::document::yaml::item;
use crate::model::{Sensor, TriggerType};
use serde_json::Value;

/// Reads one trigger type file.
pub(crate) fn read_trigger(
    dir: &PackDir,
    pack: &str,
    file: &str,
    r: &mut Report,
) -> Option<Located<TriggerType>> {
    let (src, doc) = dir.read_yaml(file, r)?;
    trigger_from(&src, "", &doc.value, pack, r)
}

/// A trigger type from the mapping at `path` (a file, or an item of a sensor's
/// `trigger_types`).
fn trigger_from(
    src: &Source,
    path: &str,
    value: &Value,
    pack: &str,
    r: &mut Report,
) -> Option<Located<TriggerType>> {
    let mut f = Fields::new(src, path, value, r)?;
    let name = f.name_in_pack(r, &["ref", "name"], pack);
    let description = f.string(r, &["description"]).map(|f| f.value);
    let params = schema_of(&mut f, r, &["parameters_schema", "parameters"]);
    let payload = schema_of(&mut f, r, &["payload_schema", "output"]);
    // `payload_info`: the payload keys StackStorm's web UI shows; descriptive only.
    f.accept(&[
        "label",
        "tags",
        "uid",
        "id",
        "metadata_file",
        "payload_info",
    ]);
    f.finish(r);
    let trigger_ref = qualify(src, &name?, pack, r)?;
    let mut t = TriggerType::new(trigger_ref);
    t.description = description.unwrap_or_default();
    t.parameters_schema = params;
    t.payload_schema = payload;
    Some(Located {
        def: t,
        src: src.clone(),
        paths: Vec::new(),
    })
}

fn schema_of(f: &mut Fields<'_>, r: &mut Report, keys: &[&'static str]) -> Value {
    match f.any(keys) {
        None => Value::Null,
        Some(s) if s.value.is_object() => crate::params::draft3_required(s.value),
        Some(s) => {
            let msg = format!("must be a schema mapping, got {}", a_type(s.value));
            r.push(f.src.problem(&s.path, msg));
            Value::Null
        }
    }
}

/// Reads one sensor file; its inline trigger types are returned beside it.
pub(crate) fn read_sensor(
    dir: &PackDir,
    pack: &str,
    file: &str,
    r: &mut Report,
) -> Option<(Located<Sensor>, Vec<Located<TriggerType>>)> {
    let (src, doc) = dir.read_yaml(file, r)?;
    let mut f = Fields::new(&src, "", &doc.value, r)?;
    let name = f.name_in_pack(r, &["ref", "name", "class_name"], pack);
    let description = f.string(r, &["description"]).map(|f| f.value);
    let runner = f.string(r, &["runner_type", "runner", "runtime"]);
    let entry = f.string(r, &["entry_point"]);
    let class_name = f.string(r, &["class_name"]).map(|c| c.value);
    let poll = f.number(r, &["poll_interval"]);
    let enabled = f.boolean(r, &["enabled"]);
    let config = f
        .mapping(r, &["config"])
        .map(|c| Value::Object(c.value.clone()));
    let mut triggers = Vec::new();
    let mut trigger_refs = Vec::new();
    if let Some(list) = f.any(&["trigger_types"]) {
        match list.value {
            Value::Array(items) => {
                for (i, t) in items.iter().enumerate() {
                    let at = item(&list.path, i);
                    match t {
                        // A ref of a trigger type declared elsewhere.
                        Value::String(s) => trigger_refs.push(if s.contains('.') {
                            s.clone()
                        } else {
                            format!("{pack}.{s}")
                        }),
                        _ => {
                            if let Some(t) = trigger_from(&src, &at, t, pack, r) {
                                trigger_refs.push(t.def.trigger_ref.clone());
                                triggers.push(t);
                            }
                        }
                    }
                }
            }
            other => {
                r.push(src.problem(&list.path, format!("must be a list, got {}", a_type(other))))
            }
        }
    }
    f.accept(&["label", "tags", "uid", "id", "metadata_file"]);
    f.finish(r);

    let sensor_ref = qualify(&src, &name?, pack, r)?;
    let mut paths = Vec::new();
    let runner = match (runner, &entry) {
        (Some(rn), _) => {
            paths.push(("runner", rn.path));
            super::runners::runtime_for_runner(super::runners::current_runner_name(&rn.value))
                .to_string()
        }
        (None, Some(ep)) if ep.value.ends_with(".py") => "python".into(),
        (None, Some(ep)) if ep.value.ends_with(".sh") => "shell".into(),
        (None, _) => {
            r.push(src.problem(
                "",
                "missing 'runner_type' (it cannot be told from the entry point)",
            ));
            String::new()
        }
    };
    let mut sensor = Sensor {
        sensor_ref,
        description: description.unwrap_or_default(),
        runner,
        entry_point: None,
        class_name,
        poll_interval_secs: None,
        trigger_types: trigger_refs,
        config: config.unwrap_or(Value::Null),
        enabled: enabled.unwrap_or(true),
    };
    if let Some(p) = poll {
        if p.value.is_finite() && p.value > 0.0 {
            sensor.poll_interval_secs = Some(p.value);
        } else {
            r.push(src.problem(
                &p.path,
                format!("must be a positive number of seconds, got {}", p.value),
            ));
        }
    }
    if let Some(ep) = entry {
        paths.push(("entry_point", ep.path.clone()));
        match dir.entry_point("sensors", &ep.value) {
            Ok(rel) => sensor.entry_point = Some(rel),
            Err(e) => r.push(src.problem(&ep.path, e)),
        }
    }
    paths.push(("trigger_types", "trigger_types".into()));
    Some((
        Located {
            def: sensor,
            src,
            paths,
        },
        triggers,
    ))
}
