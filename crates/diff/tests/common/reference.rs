//! The obviously-correct reference implementation of the content hash, written the slow way
//! (`serde_json::Value`, owned copies, recursion) straight from `docs/content-hash.md`. The
//! fast implementation must produce the same bytes, and reject the same documents.

use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub const MAX_DEPTH: usize = 100;

/// A `Value` parsed with duplicate keys rejected (serde_json keeps the last one silently).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(k.clone(), v).is_some() {
                return Err(de::Error::custom(format!("duplicate key {k:?}")));
            }
        }
        Ok(Value::Object(out))
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Parses JSON text the strict way: UTF-8, no duplicate keys, finite numbers, bounded depth.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, String> {
    let Strict(v) = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if depth(&v) > MAX_DEPTH {
        return Err("too deep".into());
    }
    Ok(v)
}

pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// RFC 8785: keys by UTF-16 code units, ECMAScript numbers, minimal escapes, no whitespace.
pub fn jcs(v: &Value) -> String {
    let mut out = String::new();
    jcs_into(v, &mut out);
    out
}

fn jcs_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let f = n.as_f64().expect("serde_json numbers are finite");
            if f == 0.0 {
                out.push('0');
            } else {
                out.push_str(ryu_js::Buffer::new().format(f));
            }
        }
        Value::String(s) => jcs_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                jcs_into(e, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| utf16_cmp(a, b));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                jcs_string(k, out);
                out.push(':');
                jcs_into(&m[k], out);
            }
            out.push('}');
        }
    }
}

fn jcs_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn is_field_name(k: &str) -> bool {
    let mut cs = k.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn is_empty_output(v: &Value) -> bool {
    v.is_null() || v.as_array().is_some_and(Vec::is_empty)
}

fn normalize_connections(c: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (src, v) in c {
        let Value::Object(types) = v else {
            out.insert(src.clone(), v.clone());
            continue;
        };
        let mut t_out = Map::new();
        for (t, list) in types {
            let Value::Array(outputs) = list else {
                t_out.insert(t.clone(), list.clone());
                continue;
            };
            let mut outputs = outputs.clone();
            while outputs.last().is_some_and(is_empty_output) {
                outputs.pop();
            }
            if outputs.is_empty() {
                continue;
            }
            let outputs = outputs
                .into_iter()
                .map(|o| match o {
                    Value::Null => Value::Array(vec![]),
                    Value::Array(mut targets) => {
                        targets.sort_by_key(|a| jcs(a).into_bytes());
                        Value::Array(targets)
                    }
                    other => other,
                })
                .collect();
            t_out.insert(t.clone(), Value::Array(outputs));
        }
        if !t_out.is_empty() {
            out.insert(src.clone(), Value::Object(t_out));
        }
    }
    Value::Object(out)
}

/// A caller node's parameters with its sub-workflow reference written as the workflow it
/// calls (docs/content-hash.md, section 6), written out independently of the fast path.
fn normalize_reference(node: &mut Map<String, Value>, resolve: &dyn Fn(&str) -> Option<String>) {
    let is_caller = matches!(node.get("type"), Some(Value::String(t))
        if t == "n8n-nodes-base.executeWorkflow" || t == "@n8n/n8n-nodes-langchain.toolWorkflow");
    if !is_caller {
        return;
    }
    let Some(Value::Object(params)) = node.get_mut("parameters") else {
        return;
    };
    match params.get("source") {
        None => {}
        Some(Value::String(s)) if s == "database" => {}
        Some(Value::String(_)) => return,
        Some(_) => {}
    }
    let is_id = |s: &str| !s.is_empty() && !s.starts_with('=');
    let token = |id: &str| match resolve(id) {
        Some(t) => serde_json::json!({ "canonical": t }),
        None => Value::String(id.to_owned()),
    };
    match params.get_mut("workflowId") {
        Some(v @ Value::String(_)) => {
            let id = v.as_str().unwrap_or_default().to_owned();
            if is_id(&id) {
                *v = token(&id);
            }
        }
        Some(Value::Object(rl)) => {
            let id = match (rl.get("__rl"), rl.get("value")) {
                (Some(Value::Bool(true)), Some(Value::String(id))) if is_id(id) => id.clone(),
                _ => return,
            };
            rl.remove("cachedResultName");
            rl.remove("cachedResultUrl");
            rl.insert("value".into(), token(&id));
        }
        _ => {}
    }
}

/// The workflow rules on a `Value`: the normalized workflow, or why it is rejected.
pub fn normalize(w: &Value) -> Result<Value, String> {
    normalize_resolving(w, &|_| None)
}

/// [`normalize`] with sub-workflow references resolved by `resolve`.
pub fn normalize_resolving(
    w: &Value,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, String> {
    let Value::Object(w) = w else {
        return Err("not an object".into());
    };
    if let Some(k) = w.keys().find(|k| !is_field_name(k)) {
        return Err(format!("mangled key {k:?}"));
    }
    let nodes = match w.get("nodes") {
        None => return Err("missing nodes".into()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("nodes not an array".into()),
    };
    let connections = match w.get("connections") {
        None => return Err("missing connections".into()),
        Some(Value::Object(c)) => c,
        Some(_) => return Err("connections not an object".into()),
    };
    let mut out = Map::new();
    match w.get("name") {
        None => {}
        Some(n @ Value::String(_)) => {
            out.insert("name".into(), n.clone());
        }
        Some(_) => return Err("name not a string".into()),
    }
    match w.get("settings") {
        None | Some(Value::Null) => {}
        Some(Value::Object(s)) if s.is_empty() => {}
        Some(s @ Value::Object(_)) => {
            out.insert("settings".into(), s.clone());
        }
        Some(_) => return Err("settings not an object".into()),
    }
    let mut norm_nodes = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let Value::Object(n) = n else {
            return Err(format!("node {i} not an object"));
        };
        let name = match n.get("name") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("node {i} name not a string")),
            None => return Err(format!("node {i} has no name")),
        };
        let mut m = n.clone();
        for k in ["id", "webhookId", "position", "positionAbsolute"] {
            m.remove(k);
        }
        if let Some(Value::Object(creds)) = m.get_mut("credentials") {
            for v in creds.values_mut() {
                if let Value::Object(r) = v {
                    *v = r.get("name").cloned().unwrap_or(Value::Null);
                }
            }
        }
        normalize_reference(&mut m, resolve);
        norm_nodes.push((name, Value::Object(m)));
    }
    norm_nodes.sort_by(|a, b| utf16_cmp(&a.0, &b.0));
    for w in norm_nodes.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(format!("duplicate node name {:?}", w[0].0));
        }
    }
    out.insert(
        "nodes".into(),
        Value::Array(norm_nodes.into_iter().map(|(_, n)| n).collect()),
    );
    out.insert("connections".into(), normalize_connections(connections));
    Ok(Value::Object(out))
}

/// Canonical bytes of the normalized workflow in `bytes`.
pub fn canonical(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let v = parse_strict(bytes)?;
    Ok(jcs(&normalize(&v)?).into_bytes())
}

/// Canonical bytes of the normalized workflow in `bytes`, references resolved by `resolve`.
pub fn canonical_resolving(
    bytes: &[u8],
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<u8>, String> {
    let v = parse_strict(bytes)?;
    Ok(jcs(&normalize_resolving(&v, resolve)?).into_bytes())
}

pub fn hash(bytes: &[u8]) -> Result<String, String> {
    canonical(bytes).map(|c| hex::encode(Sha256::digest(c)))
}
