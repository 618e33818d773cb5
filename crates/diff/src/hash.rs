//! The content hash: SHA-256 of the normalized workflow's canonical JSON.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canon::{write_string, Emitter};
use crate::error::DiffError;
use crate::json::{excerpt, Tape};
use crate::normalize::{self, Form, Resolve};

/// The version of the content-hash rules (`docs/content-hash.md`). Stored hashes computed by
/// an older version are recomputed from the stored documents when it changes.
/// 1: the first rules; 2: sub-workflow references are compared by the workflow they call.
pub const HASH_RULES_VERSION: i32 = 2;

/// SHA-256 of a workflow's normalized canonical JSON. Displays and serializes as 64 lower-case
/// hex digits, the form stored in the database and shown to users.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// SHA-256 of arbitrary bytes; used for canonical bytes obtained elsewhere.
    pub fn of_canonical_bytes(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl FromStr for ContentHash {
    type Err = DiffError;

    /// Accepts only the canonical spelling (lower-case) so that a hash has one text form and
    /// string comparison in SQL stays correct.
    fn from_str(s: &str) -> Result<Self, DiffError> {
        let bad = || DiffError::InvalidContentHash { value: excerpt(s) };
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| bad())?;
        Ok(Self(out))
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Hashes, canonicalizes and formats workflow documents, reusing its buffers between calls.
/// Keep one per thread for batches; the free functions create one per call.
#[derive(Debug, Default)]
pub struct ContentHasher {
    tape: Tape,
    out: Vec<u8>,
    scratch: Vec<u8>,
    value_buf: Vec<u8>,
}

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// The content hash of a workflow document (raw JSON bytes, as read from n8n or Git).
    pub fn hash(&mut self, doc: &[u8]) -> Result<ContentHash, DiffError> {
        let bytes = self.canonical(doc)?;
        Ok(ContentHash(Sha256::digest(bytes).into()))
    }

    /// The normalized canonical JSON that [`ContentHasher::hash`] hashes. This is also the
    /// payload compared by hash-collision detection.
    pub fn canonical(&mut self, doc: &[u8]) -> Result<&[u8], DiffError> {
        self.render(doc, Form::Hash, None)
    }

    /// Like [`ContentHasher::hash`], comparing each sub-workflow reference by the token
    /// `resolve` gives its id (the called canonical workflow); an id it does not know is
    /// hashed as written. Without references this is [`ContentHasher::hash`].
    pub fn hash_resolving(
        &mut self,
        doc: &[u8],
        resolve: Resolve<'_>,
    ) -> Result<ContentHash, DiffError> {
        let bytes = self.render(doc, Form::Hash, Some(resolve))?;
        Ok(ContentHash(Sha256::digest(bytes).into()))
    }

    /// The canonical JSON that [`ContentHasher::hash_resolving`] hashes.
    pub fn canonical_resolving(
        &mut self,
        doc: &[u8],
        resolve: Resolve<'_>,
    ) -> Result<&[u8], DiffError> {
        self.render(doc, Form::Hash, Some(resolve))
    }

    /// [`ContentHasher::hash_resolving`] for a `serde_json::Value`.
    pub fn hash_value_resolving(
        &mut self,
        doc: &Value,
        resolve: Resolve<'_>,
    ) -> Result<ContentHash, DiffError> {
        let bytes = self.render_value(doc, Form::Hash, Some(resolve))?;
        Ok(ContentHash(Sha256::digest(bytes).into()))
    }

    /// [`ContentHasher::canonical_resolving`] for a `serde_json::Value`.
    pub fn canonical_value_resolving(
        &mut self,
        doc: &Value,
        resolve: Resolve<'_>,
    ) -> Result<&[u8], DiffError> {
        self.render_value(doc, Form::Hash, Some(resolve))
    }

    /// The portable file committed to Git for this workflow; see [`portable`].
    pub fn portable(&mut self, doc: &[u8]) -> Result<&[u8], DiffError> {
        self.render(doc, Form::Portable, None)
    }

    /// The content hash of a workflow held as a `serde_json::Value`. Gives the same hash as
    /// the document the value was parsed from (a `Value` can not hold duplicate keys, so that
    /// check can not apply).
    pub fn hash_value(&mut self, doc: &Value) -> Result<ContentHash, DiffError> {
        let bytes = self.render_value(doc, Form::Hash, None)?;
        Ok(ContentHash(Sha256::digest(bytes).into()))
    }

    /// Like [`ContentHasher::canonical`] for a `serde_json::Value`.
    pub fn canonical_value(&mut self, doc: &Value) -> Result<&[u8], DiffError> {
        self.render_value(doc, Form::Hash, None)
    }

    /// Like [`ContentHasher::portable`] for a `serde_json::Value`.
    pub fn portable_value(&mut self, doc: &Value) -> Result<&[u8], DiffError> {
        self.render_value(doc, Form::Portable, None)
    }

    fn render(
        &mut self,
        doc: &[u8],
        form: Form,
        resolve: Option<Resolve<'_>>,
    ) -> Result<&[u8], DiffError> {
        render_into(
            &mut self.tape,
            &mut self.out,
            &mut self.scratch,
            doc,
            form,
            resolve,
        )?;
        Ok(&self.out)
    }

    fn render_value(
        &mut self,
        doc: &Value,
        form: Form,
        resolve: Option<Resolve<'_>>,
    ) -> Result<&[u8], DiffError> {
        self.value_buf.clear();
        write_value(&mut self.value_buf, doc);
        render_into(
            &mut self.tape,
            &mut self.out,
            &mut self.scratch,
            &self.value_buf,
            form,
            resolve,
        )?;
        Ok(&self.out)
    }
}

fn render_into(
    tape: &mut Tape,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    doc: &[u8],
    form: Form,
    resolve: Option<Resolve<'_>>,
) -> Result<(), DiffError> {
    let text = std::str::from_utf8(doc).map_err(|e| DiffError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    tape.parse(text)?;
    let wf = normalize::validate(text, tape)?;
    out.clear();
    match form {
        Form::Hash => {
            let mut em = Emitter::<false>::new(text, tape, out);
            normalize::write(&mut em, &wf, form, scratch, resolve);
        }
        Form::Portable => {
            let mut em = Emitter::<true>::new(text, tape, out);
            normalize::write(&mut em, &wf, form, scratch, None);
            out.push(b'\n');
        }
    }
    Ok(())
}

/// The content hash of a workflow document. See `docs/content-hash.md`.
pub fn content_hash(doc: &[u8]) -> Result<ContentHash, DiffError> {
    ContentHasher::new().hash(doc)
}

/// The content hash of a workflow document whose sub-workflow references `resolve` maps to
/// the workflows they call. See `docs/content-hash.md#6-sub-workflow-references`.
pub fn content_hash_resolving(doc: &[u8], resolve: Resolve<'_>) -> Result<ContentHash, DiffError> {
    ContentHasher::new().hash_resolving(doc, resolve)
}

/// [`content_hash_resolving`] for a workflow held as a `serde_json::Value`.
pub fn content_hash_value_resolving(
    doc: &Value,
    resolve: Resolve<'_>,
) -> Result<ContentHash, DiffError> {
    ContentHasher::new().hash_value_resolving(doc, resolve)
}

/// The content hash of a workflow held as a `serde_json::Value`.
pub fn content_hash_value(doc: &Value) -> Result<ContentHash, DiffError> {
    ContentHasher::new().hash_value(doc)
}

/// The normalized canonical JSON of a workflow document (the bytes that are hashed).
pub fn canonical_bytes(doc: &[u8]) -> Result<Vec<u8>, DiffError> {
    ContentHasher::new().canonical(doc).map(<[u8]>::to_vec)
}

/// The normalized canonical JSON of a workflow held as a `serde_json::Value`.
pub fn canonical_bytes_value(doc: &Value) -> Result<Vec<u8>, DiffError> {
    ContentHasher::new()
        .canonical_value(doc)
        .map(<[u8]>::to_vec)
}

/// Hashes many documents on all cores (rayon's global pool); results are in input order.
pub fn content_hash_batch<D>(docs: &[D]) -> Vec<Result<ContentHash, DiffError>>
where
    D: AsRef<[u8]> + Sync,
{
    docs.par_iter()
        .map_init(ContentHasher::new, |h, d| h.hash(d.as_ref()))
        .collect()
}

/// The portable JSON that onboarding commits to Git for a workflow: `name`, `nodes` (complete,
/// with ids, webhook ids, positions and credential references), `connections` and `settings`,
/// without instance metadata, pinned data or static data; keys sorted, nodes sorted by name,
/// two-space indent, a trailing newline. Hashing it gives the workflow's content hash.
pub fn portable(doc: &[u8]) -> Result<Vec<u8>, DiffError> {
    ContentHasher::new().portable(doc).map(<[u8]>::to_vec)
}

/// [`portable`] for a workflow held as a `serde_json::Value`.
pub fn portable_value(doc: &Value) -> Result<Vec<u8>, DiffError> {
    ContentHasher::new().portable_value(doc).map(<[u8]>::to_vec)
}

/// RFC 8785 canonical JSON of any JSON document (no workflow rules): sorted keys, no
/// whitespace, minimal string escapes, ECMAScript number forms.
pub fn canonicalize_json(doc: &[u8]) -> Result<Vec<u8>, DiffError> {
    let text = std::str::from_utf8(doc).map_err(|e| DiffError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut tape = Tape::default();
    tape.parse(text)?;
    let mut out = Vec::with_capacity(doc.len());
    Emitter::<false>::new(text, &tape, &mut out).value(0);
    Ok(out)
}

/// Serializes a `Value` as JSON text for the tape parser. Numbers use serde_json's own text
/// form, which parses back to the same double.
fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, e);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(out, e);
            }
            out.push(b'}');
        }
    }
}
