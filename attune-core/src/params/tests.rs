//! Unit tests of parameter schemas, validation and secret masking.

use super::*;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn errs(schema: &ParamSchema, v: Value) -> Vec<ParamError> {
    match schema.validate(&obj(v)) {
        Ok(_) => Vec::new(),
        Err(e) => e.0,
    }
}

fn one(spec: ParamSpec) -> ParamSchema {
    ParamSchema::new().with("p", spec)
}

fn ok(schema: &ParamSchema, v: Value) -> Map<String, Value> {
    let res = schema.validate(&obj(v));
    assert!(res.is_ok(), "unexpected errors: {res:?}");
    res.unwrap_or_default()
}

fn example() -> ParamSchema {
    ParamSchema::new()
        .with("host", ParamSpec::string().required().description("target"))
        .with(
            "port",
            ParamSpec::integer().default(22).min(1.0).max(65535.0),
        )
        .with(
            "mode",
            ParamSpec::string()
                .enum_values(vec![json!("fast"), json!("safe")])
                .default("safe"),
        )
        .with("password", ParamSpec::string().secret())
        .with("region", ParamSpec::string().default("eu").immutable())
        .with("tags", ParamSpec::array().items(ParamSpec::string()))
        .with("opts", ParamSpec::object())
        .with("timeout", ParamSpec::integer().default(60))
        .with("cmd", ParamSpec::string().position(0))
}

#[test]
fn json_type_names() {
    assert_eq!(json_type_name(&json!(null)), "null");
    assert_eq!(json_type_name(&json!(true)), "boolean");
    assert_eq!(json_type_name(&json!(3)), "integer");
    assert_eq!(json_type_name(&json!(-3)), "integer");
    assert_eq!(json_type_name(&json!(u64::MAX)), "integer");
    assert_eq!(json_type_name(&json!(3.0)), "number");
    assert_eq!(json_type_name(&json!("x")), "string");
    assert_eq!(json_type_name(&json!([])), "array");
    assert_eq!(json_type_name(&json!({})), "object");
}

#[test]
fn type_checks_pass_and_fail() {
    let cases = [
        (ParamSpec::string(), json!("x"), json!(1)),
        (ParamSpec::integer(), json!(3), json!(3.0)),
        (ParamSpec::integer(), json!(u64::MAX), json!("3")),
        (ParamSpec::number(), json!(3.5), json!(true)),
        (ParamSpec::number(), json!(3), json!(null)),
        (ParamSpec::boolean(), json!(false), json!(0)),
        (ParamSpec::array(), json!([1]), json!({})),
        (ParamSpec::object(), json!({"a": 1}), json!([])),
        (ParamSpec::of(ParamType::Null), json!(null), json!(0)),
    ];
    for (spec, good, bad) in cases {
        let s = one(spec.required());
        ok(&s, json!({ "p": good }));
        let e = errs(&s, json!({ "p": bad }));
        assert_eq!(e.len(), 1, "{bad} should fail");
    }
    let e = errs(&one(ParamSpec::integer()), json!({"p": 3.0}));
    assert_eq!(e[0].message, "expected integer, got number");
    let e = errs(&one(ParamSpec::number()), json!({"p": true}));
    assert_eq!(e[0].message, "expected number, got boolean");
}

#[test]
fn any_type_accepts_everything() {
    for v in [json!(null), json!(1), json!("s"), json!([1]), json!({})] {
        ok(&one(ParamSpec::any()), json!({ "p": v }));
        ok(&one(ParamSpec::of(ParamType::Any)), json!({ "p": v }));
    }
}

#[test]
fn union_types() {
    let s = one(ParamSpec::of_types(vec![
        ParamType::String,
        ParamType::Integer,
    ]));
    ok(&s, json!({"p": "a"}));
    ok(&s, json!({"p": 5}));
    let e = errs(&s, json!({"p": 1.5}));
    assert_eq!(e[0].message, "expected string or integer, got number");
}

#[test]
fn required_and_defaults() {
    let s = example();
    let e = errs(&s, json!({}));
    assert_eq!(e, vec![ParamError::new("host", "is required")]);
    let out = ok(&s, json!({"host": "h"}));
    assert_eq!(out.get("port"), Some(&json!(22)));
    assert_eq!(out.get("mode"), Some(&json!("safe")));
    assert_eq!(out.get("region"), Some(&json!("eu")));
    assert_eq!(out.get("timeout"), Some(&json!(60)));
    assert!(!out.contains_key("password"));
    let out = ok(&s, json!({"host": "h", "port": 2222}));
    assert_eq!(out.get("port"), Some(&json!(2222)));
    // required with a default is satisfied by the default
    let s = one(ParamSpec::string().required().default("d"));
    assert_eq!(ok(&s, json!({})).get("p"), Some(&json!("d")));
}

#[test]
fn null_default_is_inserted() {
    let s = one(ParamSpec::any().default(Value::Null));
    assert_eq!(ok(&s, json!({})).get("p"), Some(&Value::Null));
}

#[test]
fn supplied_null_means_unset_unless_type_admits_null() {
    let s = one(ParamSpec::integer().default(5));
    assert_eq!(ok(&s, json!({"p": null})).get("p"), Some(&json!(5)));
    let s = one(ParamSpec::integer());
    assert!(!ok(&s, json!({"p": null})).contains_key("p"));
    let s = one(ParamSpec::integer().required());
    assert_eq!(errs(&s, json!({"p": null}))[0].message, "is required");
    let s = one(ParamSpec::of_types(vec![ParamType::Integer, ParamType::Null]).default(5));
    assert_eq!(ok(&s, json!({"p": null})).get("p"), Some(&Value::Null));
}

#[test]
fn enum_values() {
    let s = example();
    ok(&s, json!({"host": "h", "mode": "fast"}));
    let e = errs(&s, json!({"host": "h", "mode": "slow"}));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].param, "mode");
    assert_eq!(
        e[0].message,
        r#"value "slow" is not one of ["fast", "safe"]"#
    );
    let s = one(ParamSpec::number().enum_values(vec![json!(1), json!(2.5)]));
    ok(&s, json!({"p": 1.0}));
    ok(&s, json!({"p": 2.5}));
    assert_eq!(errs(&s, json!({"p": 3})).len(), 1);
}

#[test]
fn minimum_maximum_inclusive() {
    let s = example();
    ok(&s, json!({"host": "h", "port": 1}));
    ok(&s, json!({"host": "h", "port": 65535}));
    let e = errs(&s, json!({"host": "h", "port": 0}));
    assert_eq!(e[0].message, "0 is less than the minimum 1");
    let e = errs(&s, json!({"host": "h", "port": 65536}));
    assert_eq!(e[0].message, "65536 is greater than the maximum 65535");
    let s = one(ParamSpec::number().min(0.5).max(1.5));
    ok(&s, json!({"p": 0.5}));
    assert_eq!(errs(&s, json!({"p": 0.49})).len(), 1);
    assert_eq!(errs(&s, json!({"p": 2})).len(), 1);
}

#[test]
fn string_and_array_lengths() {
    let s = one(ParamSpec::string().min_length(2).max_length(3));
    ok(&s, json!({"p": "ab"}));
    ok(&s, json!({"p": "äöü"})); // chars, not bytes
    assert_eq!(
        errs(&s, json!({"p": "a"}))[0].message,
        "length 1 is less than minLength 2"
    );
    assert_eq!(
        errs(&s, json!({"p": "abcd"}))[0].message,
        "length 4 is greater than maxLength 3"
    );
    let s = one(ParamSpec::array().min_length(1).max_length(2));
    ok(&s, json!({"p": [1, 2]}));
    assert_eq!(errs(&s, json!({"p": []})).len(), 1);
    assert_eq!(errs(&s, json!({"p": [1, 2, 3]})).len(), 1);
}

#[test]
fn items_are_checked_with_paths() {
    let s = example();
    ok(&s, json!({"host": "h", "tags": ["a", "b"]}));
    let e = errs(&s, json!({"host": "h", "tags": ["a", "b", 3]}));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].param, "tags[2]");
    assert_eq!(
        e[0].to_string(),
        "parameter 'tags[2]': expected string, got integer"
    );
    let nested =
        one(ParamSpec::array().items(ParamSpec::array().items(ParamSpec::integer().min(0.0))));
    ok(&nested, json!({"p": [[1], [2, 3]]}));
    let e = errs(&nested, json!({"p": [[1], [2, -3]]}));
    assert_eq!(e[0].param, "p[1][1]");
}

#[test]
fn immutable_params() {
    let s = example();
    ok(&s, json!({"host": "h", "region": "eu"}));
    let e = errs(&s, json!({"host": "h", "region": "us"}));
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0].to_string(),
        "parameter 'region': is immutable and cannot be overridden"
    );
    let no_default = one(ParamSpec::string().immutable());
    assert_eq!(errs(&no_default, json!({"p": "x"})).len(), 1);
    ok(&no_default, json!({}));
}

#[test]
fn unknown_params_and_hints() {
    let s = example();
    let e = errs(&s, json!({"host": "h", "prot": 22}));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].hint.as_deref(), Some("port"));
    assert_eq!(
        e[0].to_string(),
        "parameter 'prot': unknown parameter (did you mean 'port'?)"
    );
    let e = errs(&s, json!({"host": "h", "Timeout": 1}));
    assert_eq!(e[0].hint.as_deref(), Some("timeout"));
    let e = errs(&s, json!({"host": "h", "zzzzzzzz": 1}));
    assert_eq!(e[0].hint, None);
    assert_eq!(e[0].to_string(), "parameter 'zzzzzzzz': unknown parameter");
    // empty schema accepts anything
    let out = ok(&ParamSchema::new(), json!({"x": 1, "y": [true]}));
    assert_eq!(out.len(), 2);
}

/// `validate_taking` gives what `validate` gives; it takes the map only when no params are
/// declared, and leaves it whole otherwise (also on errors, which name the same params).
#[test]
fn validate_taking_gives_what_validate_gives() {
    let given = json!({"x": 1, "y": [true], "z": null});
    let mut taken = obj(given.clone());
    let out = ParamSchema::new().validate_taking(&mut taken).unwrap();
    assert_eq!(
        out,
        ParamSchema::new().validate(&obj(given.clone())).unwrap()
    );
    assert!(taken.is_empty());
    let s = example();
    for v in [
        json!({"host": "h"}),
        json!({"host": "h", "port": 0}),
        json!({"nope": 1}),
    ] {
        let mut kept = obj(v.clone());
        let a = s.validate_taking(&mut kept).map_err(|e| e.to_string());
        let b = s.validate(&obj(v.clone())).map_err(|e| e.to_string());
        assert_eq!(a, b, "{v}");
        assert_eq!(kept, obj(v));
    }
}

#[test]
fn all_errors_in_one_pass() {
    let s = example();
    let err = s
        .validate(&obj(
            json!({"port": "22", "mode": "slow", "tags": [1, "x", 2]}),
        ))
        .err()
        .unwrap_or(ParamErrors(Vec::new()));
    let params: Vec<&str> = err.iter().map(|e| e.param.as_str()).collect();
    assert_eq!(params, vec!["host", "mode", "port", "tags[0]", "tags[2]"]);
    assert_eq!(err.len(), 5);
    let e3 = errs(&s, json!({"host": 1, "port": 0, "bogus": 1}));
    assert_eq!(e3.len(), 3);
}

#[test]
fn errors_display_joined() {
    let errs = ParamErrors(vec![
        ParamError::new("a", "is required"),
        ParamError {
            param: "b".into(),
            message: "unknown parameter".into(),
            hint: Some("c".into()),
        },
    ]);
    assert!(!errs.is_empty());
    assert_eq!(
        errs.to_string(),
        "parameter 'a': is required; parameter 'b': unknown parameter (did you mean 'c'?)"
    );
    let as_err: &dyn std::error::Error = &errs;
    assert!(as_err.source().is_none());
}

#[test]
fn serde_round_trip_with_extras_and_unions() {
    let raw = json!({
        "host": {"type": "string", "required": true, "description": "target"},
        "port": {"type": "integer", "default": 22, "minimum": 1, "maximum": 65535},
        "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
        "password": {"type": "string", "secret": true},
        "region": {"type": "string", "default": "eu", "immutable": true},
        "tags": {"type": "array", "items": {"type": "string"}, "min_length": 1},
        "opts": {"type": "object", "x-ui": {"widget": "json"}},
        "id": {"type": ["string", "integer"], "pattern": "^[a-z]+$", "maxLength": 9},
        "cmd": {"type": "string", "position": 0},
        "free": {"default": null},
    });
    let schema: ParamSchema = serde_json::from_value(raw.clone()).unwrap_or_default();
    assert_eq!(schema.len(), 10);
    let id = schema.get("id").cloned().unwrap_or_default();
    assert_eq!(
        id.kind,
        Some(TypeSpec::Union(vec![ParamType::String, ParamType::Integer]))
    );
    assert_eq!(id.extra.get("pattern"), Some(&json!("^[a-z]+$")));
    assert_eq!(id.max_length, Some(9));
    let tags = schema.get("tags").cloned().unwrap_or_default();
    assert_eq!(tags.min_length, Some(1));
    assert_eq!(tags.items.as_deref(), Some(&ParamSpec::string()));
    let opts = schema.get("opts").cloned().unwrap_or_default();
    assert_eq!(opts.extra.get("x-ui"), Some(&json!({"widget": "json"})));
    let free = schema.get("free").cloned().unwrap_or_default();
    assert_eq!(free.default, Some(Value::Null));
    assert_eq!(free.kind, None);
    assert_eq!(schema.get("port").and_then(|p| p.minimum), Some(1.0));
    assert!(schema.validate_schema().is_empty());

    let text = serde_json::to_string(&schema).unwrap_or_default();
    let back: ParamSchema = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(back, schema);
    // canonical names on output
    let out = serde_json::to_value(&schema).unwrap_or_default();
    assert_eq!(out["tags"]["minLength"], json!(1));
    assert_eq!(out["host"], raw["host"]);
    assert_eq!(out["free"], json!({"default": null}));
}

#[test]
fn serde_rejects_bad_types() {
    let bad: Result<ParamSchema, _> = serde_json::from_value(json!({"a": {"type": "str"}}));
    assert!(bad.is_err());
    let bad: Result<ParamSchema, _> = serde_json::from_value(json!({"a": {"required": "yes"}}));
    assert!(bad.is_err());
}

#[test]
fn builders() {
    assert_eq!(
        ParamSpec::string().kind,
        Some(TypeSpec::Single(ParamType::String))
    );
    assert_eq!(ParamSpec::integer().kind, Some(ParamType::Integer.into()));
    assert_eq!(ParamSpec::number().kind, Some(ParamType::Number.into()));
    assert_eq!(ParamSpec::boolean().kind, Some(ParamType::Boolean.into()));
    assert_eq!(ParamSpec::array().kind, Some(ParamType::Array.into()));
    assert_eq!(ParamSpec::object().kind, Some(ParamType::Object.into()));
    assert_eq!(ParamSpec::any().kind, None);
    let s = ParamSpec::string()
        .required()
        .secret()
        .immutable()
        .default("x")
        .description("d")
        .min_length(1)
        .max_length(2);
    assert!(s.required && s.secret && s.immutable);
    assert_eq!(s.default, Some(json!("x")));
    assert_eq!(s.description.as_deref(), Some("d"));
    assert_eq!((s.min_length, s.max_length), (Some(1), Some(2)));
    assert_eq!(ParamType::Boolean.to_string(), "boolean");
}

#[test]
fn secrets_redact_and_values() {
    let s = example().with("token", ParamSpec::any().secret());
    assert!(s.has_secrets());
    assert_eq!(
        s.secret_names().collect::<Vec<_>>(),
        vec!["password", "token"]
    );
    assert!(
        !ParamSchema::new()
            .with("a", ParamSpec::string())
            .has_secrets()
    );
    let params = obj(json!({"host": "h", "password": "hunter2", "token": {"k": 1}}));
    let red = s.redact(&params);
    assert_eq!(red.get("password"), Some(&json!(REDACTED)));
    assert_eq!(red.get("token"), Some(&json!(REDACTED)));
    assert_eq!(red.get("host"), Some(&json!("h")));
    assert_eq!(params.get("password"), Some(&json!("hunter2")));
    let red = s.redact(&obj(json!({"host": "h"})));
    assert!(!red.contains_key("password"));
    // Each value's text first, then its other forms (here base64: the JSON and URL forms of
    // these texts are the texts themselves, except the object's).
    let values = s.secret_values(&params);
    assert_eq!(values[0], "hunter2");
    assert!(values.contains(&"aHVudGVyMg==".to_owned()), "{values:?}");
    assert!(values.contains(&r#"{"k":1}"#.to_owned()), "{values:?}");
    assert!(values.contains(&r#"{\"k\":1}"#.to_owned()), "{values:?}");
    assert!(
        values.contains(&"%7B%22k%22%3A1%7D".to_owned()),
        "{values:?}"
    );
    assert_eq!(
        values.len(),
        secret_forms("hunter2").len() + secret_forms(r#"{"k":1}"#).len()
    );
    let empty = obj(json!({"password": "", "token": null}));
    assert!(s.secret_values(&empty).is_empty());
}

#[test]
fn mask_secrets_in_text() {
    let secrets = vec!["abc".to_owned(), "abcdef".to_owned(), String::new()];
    assert_eq!(
        mask_secrets("x abcdef y abc z", &secrets),
        "x ******** y ******** z"
    );
    assert_eq!(mask_secrets("abcabc", &secrets), "****************");
    assert_eq!(mask_secrets("nothing here", &secrets), "nothing here");
    assert_eq!(mask_secrets("abc", &[]), "abc");
    assert_eq!(mask_secrets("", &secrets), "");
    let uni = vec!["pässwörd".to_owned()];
    assert_eq!(mask_secrets("ü pässwörd ü", &uni), "ü ******** ü");
    // the mask itself is never re-masked
    assert_eq!(mask_secrets("a*b", &["*".to_owned()]), "a********b");
}

/// A secret with non-ASCII (two-byte and astral) characters and URL delimiters.
const TRICKY: &str = "päss wörd/+?&=😀";

#[test]
fn secret_forms_are_the_encodings_actions_print() {
    let forms = secret_forms(TRICKY);
    assert_eq!(forms[0], TRICKY, "the text itself comes first");
    // What Python writes (json.dumps, urllib.parse.quote / quote_plus, base64), and the
    // other case of hex digits.
    for want in [
        r"p\u00e4ss w\u00f6rd/+?&=\ud83d\ude00",
        r"p\u00E4ss w\u00F6rd/+?&=\uD83D\uDE00",
        "p%C3%A4ss%20w%C3%B6rd%2F%2B%3F%26%3D%F0%9F%98%80",
        "p%C3%A4ss%20w%C3%B6rd/%2B%3F%26%3D%F0%9F%98%80",
        "p%C3%A4ss+w%C3%B6rd%2F%2B%3F%26%3D%F0%9F%98%80",
        "p%c3%a4ss%20w%c3%b6rd%2f%2b%3f%26%3d%f0%9f%98%80",
        "p%c3%a4ss+w%c3%b6rd%2f%2b%3f%26%3d%f0%9f%98%80",
        "cMOkc3Mgd8O2cmQvKz8mPfCfmIA=",
        "cMOkc3Mgd8O2cmQvKz8mPfCfmIA",
    ] {
        assert!(forms.contains(&want.to_owned()), "{want} not in {forms:?}");
    }
    let mut unique = forms.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), forms.len(), "no duplicates: {forms:?}");
    // Quotes, backslashes and control characters escaped as JSON writes them.
    let forms = secret_forms("a\"b\\c\nd\u{1}é");
    assert!(
        forms.contains(&r#"a\"b\\c\nd\u0001\u00e9"#.to_owned()),
        "{forms:?}"
    );
    assert!(
        forms.contains(&r#"a\"b\\c\nd\u0001é"#.to_owned()),
        "{forms:?}"
    );
    // Both base64 alphabets, with and without padding.
    let forms = secret_forms("???>>>a");
    for want in ["Pz8/Pj4+YQ==", "Pz8/Pj4+YQ", "Pz8_Pj4-YQ==", "Pz8_Pj4-YQ"] {
        assert!(forms.contains(&want.to_owned()), "{want} not in {forms:?}");
    }
    // A plain word is its own JSON and URL form; only base64 adds forms.
    assert_eq!(
        secret_forms("hunter2"),
        ["hunter2", "aHVudGVyMg", "aHVudGVyMg=="]
    );
    assert!(secret_forms("").is_empty());
}

#[test]
fn every_form_of_a_secret_is_masked_in_text() {
    let secrets = ParamSchema::new()
        .with("pw", ParamSpec::string().secret())
        .secret_values(&obj(json!({ "pw": TRICKY })));
    let forms = secret_forms(TRICKY);
    let text: String = forms.iter().map(|f| format!("<{f}>\n")).collect();
    let masked = mask_secrets(&text, &secrets);
    assert_eq!(
        masked,
        format!("<{REDACTED}>\n").repeat(forms.len()),
        "{masked}"
    );
    let mut v = json!({ "out": text, "list": [forms[1].clone()] });
    mask_value(&mut v, &secrets);
    assert!(!v.to_string().contains("u00e4"), "{v}");
    assert_eq!(v["list"][0], json!(REDACTED));
}

#[test]
fn positional_params() {
    let s = example()
        .with("arg2", ParamSpec::string().position(2))
        .with("arg1", ParamSpec::string().position(1));
    assert_eq!(s.positional_names(), vec!["cmd", "arg1", "arg2"]);
    assert_eq!(s.get("cmd").and_then(|c| c.position), Some(0));
    assert!(s.validate_schema().is_empty());
    let dup = s.with("other", ParamSpec::string().position(1));
    let e = dup.validate_schema();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].message, "position 1 is also used by 'arg1'");
}

#[test]
fn validate_schema_checks() {
    assert!(example().validate_schema().is_empty());
    let cases = [
        (
            ParamSpec::integer().default("x"),
            "invalid default: expected integer, got string",
        ),
        (
            ParamSpec::string()
                .enum_values(vec![json!("a")])
                .default("b"),
            r#"invalid default: value "b" is not one of ["a"]"#,
        ),
        (
            ParamSpec::integer().min(5.0).default(1),
            "invalid default: 1 is less than the minimum 5",
        ),
        (
            ParamSpec::integer().min(5.0).max(1.0),
            "minimum 5 is greater than maximum 1",
        ),
        (
            ParamSpec::string().min_length(5).max_length(1),
            "minLength 5 is greater than maxLength 1",
        ),
        (
            ParamSpec::string().immutable(),
            "immutable parameter must have a default",
        ),
        (
            ParamSpec::string().enum_values(vec![]),
            "enum must not be empty",
        ),
        (
            ParamSpec::string().enum_values(vec![json!(1)]),
            "enum value 1 is not of type string",
        ),
        (
            ParamSpec::string().min(1.0),
            "minimum/maximum only apply to integer or number parameters",
        ),
        (
            ParamSpec::integer().max_length(1),
            "minLength/maxLength only apply to string or array parameters",
        ),
        (
            ParamSpec::string().items(ParamSpec::string()),
            "items only applies to array parameters",
        ),
        (ParamSpec::of_types(vec![]), "type list must not be empty"),
        (
            ParamSpec::string().required().default(Value::Null),
            "invalid default: expected string, got null",
        ),
    ];
    for (spec, msg) in cases {
        let e = one(spec).validate_schema();
        assert_eq!(e.len(), 1, "{msg}: {e:?}");
        assert_eq!(e[0].message, msg);
        assert_eq!(e[0].param, "p");
    }
    let bad_items =
        one(ParamSpec::array().items(ParamSpec::integer().default("x"))).validate_schema();
    assert_eq!(bad_items[0].param, "p[]");
    let bad_default_item = one(ParamSpec::array()
        .items(ParamSpec::string())
        .default(json!(["a", 1])));
    assert_eq!(bad_default_item.validate_schema()[0].param, "p[1]");
    // optional param with a null default is fine
    assert!(
        one(ParamSpec::string().default(Value::Null))
            .validate_schema()
            .is_empty()
    );
    let blank = ParamSchema::new()
        .with("", ParamSpec::any())
        .validate_schema();
    assert_eq!(blank.len(), 1);
}

#[test]
fn errors_never_show_secret_values() {
    let s = ParamSchema::new()
        .with("pin", ParamSpec::integer().secret().min(1000.0).max(9999.0))
        .with(
            "token",
            ParamSpec::string()
                .secret()
                .enum_values(vec![json!("a"), json!("b")]),
        )
        .with(
            "keys",
            ParamSpec::array()
                .secret()
                .items(ParamSpec::integer().max(5.0)),
        );
    let err = s
        .validate(
            json!({"pin": 123_456_789, "token": "hunter2", "keys": [42]})
                .as_object()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
    assert_eq!(err.matches("********").count(), 3, "{err}");
    for leaked in ["123456789", "hunter2", "42"] {
        assert!(!err.contains(leaked), "{leaked} in {err}");
    }
}
