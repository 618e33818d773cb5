//! Proptest generators: arbitrary JSON, n8n-shaped workflows, and a JSON writer that spells the
//! same value many ways (key order, whitespace, escapes, number forms).

use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Characters chosen to hit every canonicalization path: ASCII, escapes, control characters,
/// non-ASCII BMP, the U+E000..U+FFFF block (which sorts after astral characters in UTF-16),
/// astral characters, and the JSON-special quote, backslash and slash.
const CHARS: &[char] = &[
    'a', 'b', 'z', 'A', 'Z', '0', '9', ' ', '_', '-', '.', '"', '\\', '/', '\n', '\t', '\r',
    '\u{8}', '\u{c}', '\u{1}', '\u{1f}', '\u{7f}', 'é', 'ß', 'Ω', '€', '\u{2028}', '\u{e000}',
    '\u{fffd}', '😀', '𝄞', '中',
];

pub fn arb_string() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(CHARS), 0..8).prop_map(|v| v.into_iter().collect())
}

pub fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&["a", "b", "ab", "B", "name", "type", "é", "😀", "\u{e000}", ""][..])
            .prop_map(str::to_owned),
        1 => arb_string(),
    ]
}

pub fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(
            &[
                0.1,
                1e21,
                1e-7,
                5e-324,
                1.7976931348623157e308,
                123.456,
                1e20
            ][..]
        )
        .prop_map(Value::from),
    ]
}

pub fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// How to spell a value as JSON text.
#[derive(Clone, Debug)]
pub struct Style {
    /// Drives key order, whitespace, escapes and number spellings.
    pub seed: u64,
    pub pretty: bool,
}

pub fn arb_style() -> impl Strategy<Value = Style> {
    (any::<u64>(), any::<bool>()).prop_map(|(seed, pretty)| Style { seed, pretty })
}

/// A tiny deterministic PRNG (splitmix64) so that one seed gives one spelling.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// Writes `v` as JSON text, varying everything that must not matter.
pub fn write_styled(v: &Value, style: &Style) -> Vec<u8> {
    let mut out = String::new();
    let mut rng = Rng::new(style.seed);
    write_into(v, &mut rng, style.pretty, 0, &mut out);
    out.into_bytes()
}

fn ws(rng: &mut Rng, pretty: bool, depth: usize, out: &mut String) {
    if pretty {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(if rng.below(2) == 0 { "  " } else { "\t" });
        }
    } else if rng.below(4) == 0 {
        out.push(' ');
    }
}

fn write_into(v: &Value, rng: &mut Rng, pretty: bool, depth: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, rng, out),
        Value::String(s) => write_str(s, rng, out),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, pretty, depth + 1, out);
                write_into(e, rng, pretty, depth + 1, out);
            }
            if !a.is_empty() {
                ws(rng, pretty, depth, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            rng.shuffle(&mut keys);
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, pretty, depth + 1, out);
                write_str(k, rng, out);
                if rng.below(3) == 0 {
                    out.push(' ');
                }
                out.push(':');
                if pretty {
                    out.push(' ');
                }
                write_into(&m[*k], rng, pretty, depth + 1, out);
            }
            if !m.is_empty() {
                ws(rng, pretty, depth, out);
            }
            out.push('}');
        }
    }
}

/// Same double, different text: `100`, `100.0`, `1e2`, `1.00E+2`, Rust's shortest forms.
fn write_number(n: &serde_json::Number, rng: &mut Rng, out: &mut String) {
    if let Some(i) = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)) {
        match rng.below(4) {
            0 => out.push_str(&format!("{i}.0")),
            1 => out.push_str(&format!("{i}e0")),
            2 if i != 0 => out.push_str(&format!("{i}0E-1")),
            _ => out.push_str(&i.to_string()),
        }
    } else {
        let f = n.as_f64().unwrap_or(0.0);
        match rng.below(3) {
            0 => out.push_str(&format!("{f:e}")),
            1 => out.push_str(&format!("{f:E}")),
            _ => out.push_str(&format!("{f:?}")),
        }
    }
}

/// Escapes what JSON requires, and randomly escapes other characters as `\uXXXX` (surrogate
/// pairs for astral ones) or `\/`.
fn write_str(s: &str, rng: &mut Rng, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        let must = c == '"' || c == '\\' || (c as u32) < 0x20;
        if must || rng.below(6) == 0 {
            match (c, rng.below(2)) {
                ('"', 0) => out.push_str("\\\""),
                ('\\', 0) => out.push_str("\\\\"),
                ('\n', 0) => out.push_str("\\n"),
                ('\t', 0) => out.push_str("\\t"),
                ('/', 0) => out.push_str("\\/"),
                _ => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        if rng.below(2) == 0 {
                            out.push_str(&format!("\\u{u:04x}"));
                        } else {
                            out.push_str(&format!("\\u{u:04X}"));
                        }
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

const NODE_NAMES: &[&str] = &[
    "Start",
    "HTTP Request",
    "Set",
    "If",
    "Code",
    "Webhook",
    "Slack",
    "Merge",
    "Ünïcode ✓",
    "😀 Emoji",
    "Name/With~Slash",
    "\u{e000} private",
    "a",
    "B",
];
const NODE_TYPES: &[&str] = &[
    "n8n-nodes-base.manualTrigger",
    "n8n-nodes-base.httpRequest",
    "n8n-nodes-base.set",
    "n8n-nodes-base.if",
    "n8n-nodes-base.code",
    "n8n-nodes-base.webhook",
    "@n8n/n8n-nodes-langchain.agent",
];
const CONN_KINDS: &[&str] = &["main", "main", "main", "ai_tool", "ai_languageModel"];

fn arb_params() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(arb_key(), arb_json(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn arb_node(name: String) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(NODE_TYPES),
        prop_oneof![Just(json!(1)), Just(json!(2)), Just(json!(4.2))],
        (-2000i32..2000, -2000i32..2000),
        arb_params(),
        prop::option::of((
            prop::sample::select(&["httpBasicAuth", "slackApi", "openAiApi"][..]),
            prop::sample::select(&["Prod key", "Shared", "Ω account"][..]),
            any::<u32>(),
        )),
        any::<bool>(),
        any::<u64>(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            move |(ty, ver, (x, y), params, cred, webhook, id, disabled)| {
                let mut n = Map::new();
                n.insert("id".into(), json!(format!("{id:016x}-node")));
                n.insert("name".into(), json!(name));
                n.insert("type".into(), json!(ty));
                n.insert("typeVersion".into(), ver);
                n.insert("position".into(), json!([x, y]));
                n.insert("parameters".into(), params);
                if let Some((cty, cname, cid)) = cred {
                    n.insert(
                        "credentials".into(),
                        json!({ cty: { "id": cid.to_string(), "name": cname } }),
                    );
                }
                if webhook {
                    n.insert("webhookId".into(), json!(format!("{id:x}-hook")));
                }
                if let Some(d) = disabled {
                    n.insert("disabled".into(), json!(d));
                }
                Value::Object(n)
            },
        )
}

/// An n8n-shaped workflow with the metadata n8n adds, a few nodes and connections among them.
pub fn arb_workflow() -> impl Strategy<Value = Value> {
    prop::sample::subsequence(NODE_NAMES, 1..8)
        .prop_flat_map(|names| {
            let n = names.len();
            let nodes: Vec<_> = names.iter().map(|s| arb_node((*s).to_owned())).collect();
            let edges = prop::collection::vec(
                (0..n, 0..n, 0usize..3, prop::sample::select(CONN_KINDS), 0u32..2),
                0..(2 * n),
            );
            (
                Just(names),
                nodes,
                edges,
                arb_string(),
                prop_oneof![
                    Just(None),
                    Just(Some(Value::Null)),
                    Just(Some(json!({}))),
                    Just(Some(json!({"executionOrder": "v1"}))),
                    Just(Some(json!({"executionOrder": "v1", "timezone": "Europe/Paris", "saveManualExecutions": true}))),
                ],
                any::<bool>(),
                any::<u64>(),
            )
        })
        .prop_map(|(names, nodes, edges, name, settings, active, seed)| {
            let mut conns = Map::new();
            for (from, to, output, kind, index) in edges {
                let src = conns
                    .entry(names[from].to_owned())
                    .or_insert_with(|| json!({}));
                let list = src
                    .as_object_mut()
                    .into_iter()
                    .next()
                    .map(|m| m.entry(kind.to_owned()).or_insert_with(|| json!([])));
                if let Some(Value::Array(outs)) = list {
                    while outs.len() <= output {
                        outs.push(json!([]));
                    }
                    if let Value::Array(t) = &mut outs[output] {
                        t.push(json!({"node": names[to], "type": kind, "index": index}));
                    }
                }
            }
            let mut w = Map::new();
            w.insert("id".into(), json!(format!("{seed:x}")));
            w.insert("name".into(), json!(name));
            w.insert("active".into(), json!(active));
            w.insert("nodes".into(), Value::Array(nodes));
            w.insert("connections".into(), Value::Object(conns));
            if let Some(s) = settings {
                w.insert("settings".into(), s);
            }
            w.insert("versionId".into(), json!(format!("v-{seed}")));
            w.insert("tags".into(), json!([{"id": "1", "name": "prod"}]));
            w.insert("meta".into(), json!({"instanceId": format!("{seed:x}")}));
            w.insert("pinData".into(), json!({}));
            Value::Object(w)
        })
}
