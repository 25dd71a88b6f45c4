//! `pack.yaml`, `config.schema.yaml` and the pack config values.

use super::files::PackDir;
use super::schema;
use crate::document::fields::{Fields, Source};
use crate::document::problem::{Problem, Report};
use crate::document::yaml::child;
use crate::model::Pack;
use crate::params::ParamSchema;
use serde_json::{Map, Value};
use std::path::Path;

/// Whether `r` is a valid pack ref: letters, digits, `_` and `-`.
pub(crate) fn valid_pack_ref(r: &str) -> bool {
    !r.is_empty()
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Reads `pack.yaml` (+ `config.schema.yaml`), and the config values: `config` in pack.yaml,
/// overridden by `<config_dir>/<ref>.yaml` when given. Config values are validated against
/// the schema (defaults applied).
pub(crate) fn read(
    dir: &PackDir,
    config_dir: Option<&Path>,
    r: &mut Report,
) -> Option<(Pack, ParamSchema)> {
    let (src, doc) = dir.read_yaml("pack.yaml", r)?;
    let mut f = Fields::new(&src, "", &doc.value, r)?;
    let pack_ref = f.string(r, &["ref"]);
    let name = f.string(r, &["name"]);
    let label = f.string(r, &["label"]);
    let description = f.string(r, &["description"]).map(|f| f.value);
    let version = f.any(&["version"]).map(|v| match v.value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let author = f.string(r, &["author"]).map(|f| f.value);
    f.string(r, &["email"]);
    f.accept(&[
        "keywords",
        "stackstorm_version",
        "python_versions",
        "dependencies",
        "contributors",
        "system",
        "url",
        "uid",
        "id",
        "runtime_deps",
        "tags",
        // Informational keys of StackStorm-Exchange pack.yaml files (`runner_type` there
        // names the runner most of the pack's actions use; each action names its own).
        "runner_type",
        "website",
        "repo_url",
    ]);
    let inline_schema = f.any(&["conf_schema", "config_schema"]);
    let inline_config = f.mapping(r, &["config"]);
    f.finish(r);

    // StackStorm packs name themselves with `name` and may omit `ref`.
    let (ref_path, pack_ref) = match (pack_ref, &name) {
        (Some(f), _) => (f.path, f.value),
        (None, Some(n)) => (n.path.clone(), n.value.clone()),
        (None, None) => {
            r.push(src.problem("", "missing required key 'ref' (or 'name')"));
            return None;
        }
    };
    if valid_pack_ref(&pack_ref) {
        dir.set_pack_ref(&pack_ref);
    } else {
        r.push(src.problem(
            &ref_path,
            format!("'{pack_ref}' is not a valid pack ref (letters, digits, '_' and '-' only)"),
        ));
    }

    if let (Some(s), Ok(Some(_))) = (&inline_schema, dir.resolve("config.schema.yaml")) {
        r.push(src.problem(
            &s.path,
            "the config schema is given twice: here and in config.schema.yaml (keep one)",
        ));
    }
    let schema = match (inline_schema, dir.resolve("config.schema.yaml")) {
        (Some(s), _) => schema::read_config(&src, &s.path, s.value, r),
        (None, Ok(Some(_))) => match dir.read_yaml("config.schema.yaml", r) {
            Some((csrc, cdoc)) => schema::read_config(&csrc, "", &cdoc.value, r),
            None => ParamSchema::default(),
        },
        (None, Err(e)) => {
            r.push(Problem::file("config.schema.yaml", e));
            ParamSchema::default()
        }
        (None, Ok(None)) => ParamSchema::default(),
    };

    let mut config = inline_config
        .as_ref()
        .map(|c| c.value.clone())
        .unwrap_or_default();
    let mut config_src = (
        src.clone(),
        inline_config.map_or_else(|| "config".into(), |c| c.path),
    );
    let mut config_file_read = false;
    // An invalid ref never names a file (it could hold `/` or `..`).
    if let Some(cd) = config_dir.filter(|_| valid_pack_ref(&pack_ref)) {
        let file = cd.join(format!("{pack_ref}.yaml"));
        // Whatever is there is read as a config file: a FIFO or a device is a problem.
        if std::fs::symlink_metadata(&file).is_ok() {
            config_file_read = true;
            match read_config_file(dir, &file) {
                Ok((csrc, map)) => {
                    config.extend(map);
                    config_src = (csrc, String::new());
                }
                Err(p) => r.push(p),
            }
        }
    }
    // As StackStorm registers a pack whose config is not written yet: with no config at all,
    // a required value without a default is a warning, and an action that reads it fails
    // at run time naming it. A config that is given must be complete.
    let no_config = config.is_empty() && !config_file_read;
    let mut checked = schema.clone();
    if no_config {
        for (name, spec) in schema.iter() {
            // An object its properties' defaults make (see `nested_defaults`) is given.
            let made = spec
                .extra
                .get("properties")
                .and_then(Value::as_object)
                .and_then(default_object)
                .is_some();
            if spec.required && spec.default.is_none() && made {
                if let Some(s) = checked.0.get_mut(name) {
                    s.required = false;
                }
            } else if spec.required && spec.default.is_none() {
                r.warn(src.problem(
                    &child("config", name),
                    format!(
                        "required config value '{name}' is not given (no config file): \
                         what reads it will fail until it is"
                    ),
                ));
                if let Some(s) = checked.0.get_mut(name) {
                    s.required = false;
                }
            }
        }
    }
    let config = match checked.validate(&config) {
        Ok(mut v) => {
            nested_defaults(&schema, &mut v);
            v
        }
        Err(errors) => {
            let (csrc, base) = &config_src;
            for e in errors.iter() {
                let at = child(base, &e.param);
                r.push(csrc.hinted(
                    &at,
                    e.message.clone(),
                    e.hint.clone().map(|h| format!("did you mean '{h}'?")),
                ));
            }
            config
        }
    };

    let pack = Pack {
        label: label
            .map(|f| f.value)
            .or(name.map(|f| f.value))
            .unwrap_or_else(|| pack_ref.clone()),
        pack_ref,
        description: description.unwrap_or_default(),
        version: version.unwrap_or_default(),
        author,
        config_schema: serde_json::to_value(&schema).unwrap_or_default(),
        config: if config.is_empty() {
            Value::Null
        } else {
            Value::Object(config)
        },
        path: Some(dir.root.clone()),
    };
    Some((pack, schema))
}

/// As StackStorm's config loader: inside a config value that is an object, a property the
/// schema gives a default and the value lacks gets the default, at every level.
/// The object the defaults of `props` make (properties with a non-null default, and objects
/// whose own properties give one), if they give anything.
fn default_object(props: &Map<String, Value>) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for (k, spec) in props {
        if let Some(d) = spec.get("default").filter(|d| !d.is_null()) {
            out.insert(k.clone(), d.clone());
        } else if let Some(Value::Object(inner)) = spec.get("properties")
            && let Some(v) = default_object(inner)
        {
            out.insert(k.clone(), Value::Object(v));
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Fills the defaults of object values' properties, nested too, after the config was
/// validated (StackStorm's config loader does it when an action reads the config).
fn nested_defaults(schema: &ParamSchema, config: &mut Map<String, Value>) {
    fn fill(props: &Map<String, Value>, value: &mut Map<String, Value>) {
        for (k, spec) in props {
            if let Some(d) = spec.get("default")
                && !value.contains_key(k)
            {
                value.insert(k.clone(), d.clone());
            }
            if let Some(Value::Object(inner)) = spec.get("properties") {
                match value.get_mut(k) {
                    Some(Value::Object(v)) => fill(inner, v),
                    None => {
                        if let Some(v) = default_object(inner) {
                            value.insert(k.clone(), Value::Object(v));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
    }
    for (name, spec) in schema.iter() {
        let Some(Value::Object(props)) = spec.extra.get("properties") else {
            continue;
        };
        match config.get_mut(name) {
            Some(Value::Object(v)) => fill(props, v),
            // As StackStorm's config loader: an object value not given is made of its
            // properties' defaults (nested too), when they give any.
            None if spec.default.is_none() => {
                if let Some(v) = default_object(props) {
                    config.insert(name.clone(), Value::Object(v));
                }
            }
            _ => {}
        }
    }
}

/// A config file outside the pack (`<config_dir>/<pack>.yaml`), StackStorm style: within the
/// size limit and charged to the pack's budget.
fn read_config_file(dir: &PackDir, file: &Path) -> Result<(Source, Map<String, Value>), Problem> {
    let name = file.display().to_string();
    let text = dir.read_charged(file, &name)?;
    let (src, doc) = dir.parse_charged(&name, &text)?;
    match doc.value {
        Value::Object(m) => Ok((src, m)),
        Value::Null => Ok((src, Map::new())),
        other => Err(src.problem(
            "",
            format!(
                "must be a mapping, got {}",
                crate::document::fields::a_type(&other)
            ),
        )),
    }
}
