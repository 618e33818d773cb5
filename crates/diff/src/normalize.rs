//! Workflow validation and the normalized (hashed) and portable (committed) forms.
//!
//! The rules are specified in `docs/content-hash.md` and argued in
//! `docs/decisions/normalization.md`; keep the three in step.

use std::borrow::Cow;

use crate::canon::Emitter;
use crate::error::DiffError;
use crate::json::{excerpt, str_eq, str_value, type_name, utf16_cmp, Kind, Tape};
use crate::references::{
    is_caller_type, is_reference_id, reads_from_database, LOCATOR_CACHE_FIELDS, RESOLVED_KEY,
};

/// Maps an instance's workflow id to a token that names the same workflow in every instance
/// (the engine answers the canonical workflow id), or `None` when it does not know it.
pub type Resolve<'r> = &'r dyn Fn(&str) -> Option<String>;

/// Top-level fields that make up a workflow's behaviour: the allow-list of the content hash.
pub const HASHED_FIELDS: [&str; 4] = ["connections", "name", "nodes", "settings"];

/// Node fields that n8n assigns per instance or that only place the node on the canvas.
pub const NODE_EXCLUDED_FIELDS: [&str; 4] = ["id", "position", "positionAbsolute", "webhookId"];

/// Which output a [`Workflow`] is written as.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Form {
    /// The hashed form: behaviour only.
    Hash,
    /// The file committed to Git: everything n8n needs to recreate the workflow.
    Portable,
}

/// A validated view of a workflow document on a tape.
pub(crate) struct Workflow<'a> {
    name: Option<usize>,
    /// Node items with their decoded names, sorted by name.
    nodes: Vec<(usize, Cow<'a, str>)>,
    connections: usize,
    /// The settings object, when present and not empty.
    settings: Option<usize>,
}

/// Checks `tape` (parsed from `text`) against the rules for a workflow document.
pub(crate) fn validate<'a>(text: &'a str, tape: &Tape) -> Result<Workflow<'a>, DiffError> {
    let root = &tape.items[0];
    if root.kind != Kind::Obj {
        return Err(DiffError::NotAnObject {
            found: type_name(root),
        });
    }
    for &k in tape.members(0) {
        let key = str_value(text, &tape.items[k as usize]);
        if !is_field_name(&key) {
            return Err(DiffError::MangledKey { key: excerpt(&key) });
        }
    }
    let field = |name: &'static str| tape.get(text, 0, name);

    let nodes_i = field("nodes").ok_or(DiffError::MissingField { field: "nodes" })?;
    if tape.items[nodes_i].kind != Kind::Arr {
        return Err(DiffError::FieldType {
            field: "nodes",
            expected: "an array",
            found: type_name(&tape.items[nodes_i]),
        });
    }
    let connections = field("connections").ok_or(DiffError::MissingField {
        field: "connections",
    })?;
    if tape.items[connections].kind != Kind::Obj {
        return Err(DiffError::FieldType {
            field: "connections",
            expected: "an object",
            found: type_name(&tape.items[connections]),
        });
    }
    let name = match field("name") {
        Some(i) if tape.items[i].kind != Kind::Str => {
            return Err(DiffError::FieldType {
                field: "name",
                expected: "a string",
                found: type_name(&tape.items[i]),
            })
        }
        other => other,
    };
    let settings = match field("settings") {
        None => None,
        Some(i) => match tape.items[i].kind {
            Kind::Null => None,
            Kind::Obj if tape.items[i].a == 0 => None,
            Kind::Obj => Some(i),
            _ => {
                return Err(DiffError::FieldType {
                    field: "settings",
                    expected: "an object or null",
                    found: type_name(&tape.items[i]),
                })
            }
        },
    };

    let mut nodes: Vec<(usize, usize, Cow<'a, str>)> =
        Vec::with_capacity(tape.items[nodes_i].a as usize);
    for (index, n) in tape.elements(nodes_i).enumerate() {
        let it = &tape.items[n];
        if it.kind != Kind::Obj {
            return Err(DiffError::NodeNotObject {
                index,
                found: type_name(it),
            });
        }
        let name_i = tape
            .get(text, n, "name")
            .ok_or(DiffError::NodeNameMissing { index })?;
        let name_it = &tape.items[name_i];
        if name_it.kind != Kind::Str {
            return Err(DiffError::NodeNameNotString {
                index,
                found: type_name(name_it),
            });
        }
        nodes.push((n, index, str_value(text, name_it)));
    }
    nodes.sort_by(|a, b| utf16_cmp(&a.2, &b.2).then(a.1.cmp(&b.1)));
    for w in nodes.windows(2) {
        if w[0].2 == w[1].2 {
            return Err(DiffError::DuplicateNodeName {
                name: excerpt(&w[1].2),
                first: w[0].1,
                second: w[1].1,
            });
        }
    }
    Ok(Workflow {
        name,
        nodes: nodes.into_iter().map(|(n, _, name)| (n, name)).collect(),
        connections,
        settings,
    })
}

/// n8n's workflow fields are identifiers; any other top-level key means the document was
/// damaged (the fixture corpus holds exports whose every line became a quoted key).
fn is_field_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// Writes `wf` in `form`. `scratch` is reused for sorting connection targets.
pub(crate) fn write<const PRETTY: bool>(
    em: &mut Emitter<'_, '_, PRETTY>,
    wf: &Workflow<'_>,
    form: Form,
    scratch: &mut Vec<u8>,
    resolve: Option<Resolve<'_>>,
) {
    // Top-level keys in RFC 8785 order: connections < name < nodes < settings.
    em.begin(b'{');
    let mut first = true;
    em.entry(&mut first);
    em.key_str("connections");
    write_connections(em, wf.connections, scratch);
    if let Some(n) = wf.name {
        em.entry(&mut first);
        em.key_str("name");
        em.value(n);
    }
    em.entry(&mut first);
    em.key_str("nodes");
    em.begin(b'[');
    let mut first_node = true;
    for (n, _) in &wf.nodes {
        em.entry(&mut first_node);
        write_node(em, *n, form, resolve);
    }
    em.end(b']', !first_node);
    match (wf.settings, form) {
        (Some(s), _) => {
            em.entry(&mut first);
            em.key_str("settings");
            em.value(s);
        }
        (None, Form::Portable) => {
            // n8n's API requires `settings`; an absent one means the defaults.
            em.entry(&mut first);
            em.key_str("settings");
            em.begin(b'{');
            em.end(b'}', false);
        }
        (None, Form::Hash) => {}
    }
    em.end(b'}', true);
}

fn write_node<const PRETTY: bool>(
    em: &mut Emitter<'_, '_, PRETTY>,
    node: usize,
    form: Form,
    resolve: Option<Resolve<'_>>,
) {
    let tape = em.tape;
    let text = em.text;
    em.begin(b'{');
    let mut first = true;
    for &k in tape.members(node) {
        let key = &tape.items[k as usize];
        let v = k as usize + 1;
        if form == Form::Hash {
            if NODE_EXCLUDED_FIELDS.iter().any(|f| str_eq(text, key, f)) {
                continue;
            }
            if tape.items[v].kind == Kind::Obj {
                if str_eq(text, key, "credentials") {
                    em.entry(&mut first);
                    em.key_item(k as usize);
                    write_credentials_by_name(em, v);
                    continue;
                }
                if str_eq(text, key, "parameters") && is_caller(tape, text, node) {
                    em.entry(&mut first);
                    em.key_item(k as usize);
                    write_caller_parameters(em, v, resolve);
                    continue;
                }
            }
        }
        em.entry(&mut first);
        em.key_item(k as usize);
        em.value(v);
    }
    em.end(b'}', !first);
}

/// Whether node `node` has a `type` that calls another workflow by id.
fn is_caller(tape: &Tape, text: &str, node: usize) -> bool {
    tape.get(text, node, "type").is_some_and(|t| {
        let it = &tape.items[t];
        it.kind == Kind::Str && is_caller_type(&str_value(text, it))
    })
}

/// The id of a reference held by item `i` (a `workflowId` string or a locator's `value`).
fn reference_id<'a>(tape: &Tape, text: &'a str, i: usize) -> Option<Cow<'a, str>> {
    let it = &tape.items[i];
    if it.kind != Kind::Str {
        return None;
    }
    let id = str_value(text, it);
    is_reference_id(&id).then_some(id)
}

/// A caller node's `parameters`, with its sub-workflow reference (see `crate::references`)
/// compared by the workflow it names: `workflowId` (or the locator's `value`) becomes
/// `{"canonical": token}` when `resolve` knows the id and stays the id otherwise, and a
/// locator's cached name and URL are left out.
fn write_caller_parameters<const PRETTY: bool>(
    em: &mut Emitter<'_, '_, PRETTY>,
    params: usize,
    resolve: Option<Resolve<'_>>,
) {
    let tape = em.tape;
    let text = em.text;
    let source = tape.get(text, params, "source").and_then(|s| {
        let it = &tape.items[s];
        (it.kind == Kind::Str).then(|| str_value(text, it))
    });
    if !reads_from_database(source.as_deref()) {
        em.value(params);
        return;
    }
    em.begin(b'{');
    let mut first = true;
    for &k in tape.members(params) {
        let v = k as usize + 1;
        em.entry(&mut first);
        em.key_item(k as usize);
        if !str_eq(text, &tape.items[k as usize], "workflowId") {
            em.value(v);
            continue;
        }
        match tape.items[v].kind {
            Kind::Str => match reference_id(tape, text, v) {
                Some(id) => write_reference(em, v, &id, resolve),
                None => em.value(v),
            },
            Kind::Obj => write_locator(em, v, resolve),
            _ => em.value(v),
        }
    }
    em.end(b'}', !first);
}

/// A resource locator `{"__rl": true, "value": id, …}` that holds a reference; any other
/// object is written as it is.
fn write_locator<const PRETTY: bool>(
    em: &mut Emitter<'_, '_, PRETTY>,
    rl: usize,
    resolve: Option<Resolve<'_>>,
) {
    let tape = em.tape;
    let text = em.text;
    let is_locator = tape
        .get(text, rl, "__rl")
        .is_some_and(|i| tape.items[i].kind == Kind::True);
    let id = tape
        .get(text, rl, "value")
        .and_then(|v| Some((v, reference_id(tape, text, v)?)));
    let (true, Some((value, id))) = (is_locator, id) else {
        em.value(rl);
        return;
    };
    em.begin(b'{');
    let mut first = true;
    for &k in tape.members(rl) {
        let key = &tape.items[k as usize];
        if LOCATOR_CACHE_FIELDS.iter().any(|f| str_eq(text, key, f)) {
            continue;
        }
        em.entry(&mut first);
        em.key_item(k as usize);
        if k as usize + 1 == value {
            write_reference(em, value, &id, resolve);
        } else {
            em.value(k as usize + 1);
        }
    }
    em.end(b'}', !first);
}

/// The referenced workflow: `{"canonical": token}` when resolved, else item `i` (the id).
fn write_reference<const PRETTY: bool>(
    em: &mut Emitter<'_, '_, PRETTY>,
    i: usize,
    id: &str,
    resolve: Option<Resolve<'_>>,
) {
    match resolve.and_then(|r| r(id)) {
        Some(token) => {
            em.begin(b'{');
            let mut first = true;
            em.entry(&mut first);
            em.key_str(RESOLVED_KEY);
            crate::canon::write_string(em.out, &token);
            em.end(b'}', true);
        }
        None => em.value(i),
    }
}

/// `{type: {id, name}}` becomes `{type: name}`: credential ids differ per environment, the
/// name is what promotion maps. A reference that is not an object is kept as it is; an object
/// without a name becomes `null`.
fn write_credentials_by_name<const PRETTY: bool>(em: &mut Emitter<'_, '_, PRETTY>, creds: usize) {
    let tape = em.tape;
    let text = em.text;
    em.begin(b'{');
    let mut first = true;
    for &k in tape.members(creds) {
        let v = k as usize + 1;
        em.entry(&mut first);
        em.key_item(k as usize);
        if tape.items[v].kind == Kind::Obj {
            match tape.get(text, v, "name") {
                Some(name) => em.value(name),
                None => em.out.extend_from_slice(b"null"),
            }
        } else {
            em.value(v);
        }
    }
    em.end(b'}', !first);
}

/// Whether item `i` is an output with no targets (`[]` or `null`).
fn is_empty_output(tape: &Tape, i: usize) -> bool {
    let it = &tape.items[i];
    it.kind == Kind::Null || (it.kind == Kind::Arr && it.a == 0)
}

/// Number of outputs of connection-type list `list` that remain once trailing empty outputs
/// are dropped.
fn kept_outputs(tape: &Tape, list: usize) -> usize {
    let mut kept = 0;
    for (n, o) in tape.elements(list).enumerate() {
        if !is_empty_output(tape, o) {
            kept = n + 1;
        }
    }
    kept
}

/// Whether a source entry (`{type: [outputs]}`) has no connection left after normalization.
fn source_is_empty(tape: &Tape, src: usize) -> bool {
    tape.members(src).iter().all(|&k| {
        let v = k as usize + 1;
        tape.items[v].kind == Kind::Arr && kept_outputs(tape, v) == 0
    })
}

/// Connections `{source: {type: [[target, …], …]}}`: targets inside one output are sorted by
/// their canonical bytes (n8n does not keep their order), the output index is kept, trailing
/// outputs with no target are dropped (`[[a], []]` ≡ `[[a]]`), and so are types and sources
/// left with nothing. A part that does not have this shape is written as it is.
fn write_connections<const PRETTY: bool>(
    em: &mut Emitter<'_, '_, PRETTY>,
    conns: usize,
    scratch: &mut Vec<u8>,
) {
    let tape = em.tape;
    em.begin(b'{');
    let mut first = true;
    for &k in tape.members(conns) {
        let src = k as usize + 1;
        if tape.items[src].kind != Kind::Obj {
            em.entry(&mut first);
            em.key_item(k as usize);
            em.value(src);
            continue;
        }
        if source_is_empty(tape, src) {
            continue;
        }
        em.entry(&mut first);
        em.key_item(k as usize);
        em.begin(b'{');
        let mut first_type = true;
        for &tk in tape.members(src) {
            let list = tk as usize + 1;
            if tape.items[list].kind != Kind::Arr {
                em.entry(&mut first_type);
                em.key_item(tk as usize);
                em.value(list);
                continue;
            }
            let kept = kept_outputs(tape, list);
            if kept == 0 {
                continue;
            }
            em.entry(&mut first_type);
            em.key_item(tk as usize);
            em.begin(b'[');
            let mut first_out = true;
            for o in tape.elements(list).take(kept) {
                em.entry(&mut first_out);
                match tape.items[o].kind {
                    Kind::Null => {
                        em.begin(b'[');
                        em.end(b']', false);
                    }
                    Kind::Arr => write_targets(em, o, scratch),
                    _ => em.value(o),
                }
            }
            em.end(b']', !first_out);
        }
        em.end(b'}', !first_type);
    }
    em.end(b'}', !first);
}

/// One output's targets, sorted by their compact canonical bytes.
fn write_targets<const PRETTY: bool>(
    em: &mut Emitter<'_, '_, PRETTY>,
    output: usize,
    scratch: &mut Vec<u8>,
) {
    let tape = em.tape;
    if tape.items[output].a < 2 {
        em.value(output);
        return;
    }
    scratch.clear();
    let mut spans: Vec<(usize, usize, usize)> = Vec::with_capacity(tape.items[output].a as usize);
    {
        let mut compact = Emitter::<false>::new(em.text, tape, scratch);
        for t in tape.elements(output) {
            let start = compact.out.len();
            compact.value(t);
            spans.push((t, start, compact.out.len()));
        }
    }
    let bytes: &[u8] = scratch;
    spans.sort_by(|x, y| bytes[x.1..x.2].cmp(&bytes[y.1..y.2]));
    em.begin(b'[');
    let mut first = true;
    for (t, start, end) in spans {
        em.entry(&mut first);
        if PRETTY {
            em.value(t);
        } else {
            em.out.extend_from_slice(&bytes[start..end]);
        }
    }
    em.end(b']', !first);
}
