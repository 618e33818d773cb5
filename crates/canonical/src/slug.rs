//! Canonical slugs: the human-readable, file-system-safe name of a canonical workflow, used
//! as its Git file name (`workflows/<slug>.json`).
//!
//! A slug is derived from the workflow name once, when the canonical workflow is created, and
//! then stored: renaming the workflow does not move its file. Given the same name and the same
//! set of taken slugs the result is always the same.

use std::collections::HashSet;

use sha2::{Digest, Sha256};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::error::CanonicalError;

/// Longest slug, in bytes (slugs are ASCII). Leaves room for `.json` and a folder within the
/// 255-byte file-name limit and Windows' 260-character path habit.
pub const MAX_SLUG_LEN: usize = 64;

/// Used when a name has nothing to keep (empty, only punctuation).
pub const FALLBACK_SLUG: &str = "workflow";

/// How many numbered variants `unique_slug` tries before giving up.
pub const MAX_SUFFIX: u32 = 10_000;

/// Device names Windows reserves in any directory, with or without an extension.
const WINDOWS_RESERVED: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Letters that Unicode decomposition does not reduce to ASCII but that have a usual ASCII
/// spelling.
fn fold_special(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' | 'ẞ' => "ss",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'ø' | 'Ø' => "o",
        'đ' | 'Đ' | 'ð' | 'Ð' => "d",
        'þ' | 'Þ' => "th",
        'ł' | 'Ł' => "l",
        'ı' => "i",
        'ħ' | 'Ħ' => "h",
        'ŧ' | 'Ŧ' => "t",
        'ŋ' | 'Ŋ' => "n",
        'ſ' => "s",
        _ => return None,
    })
}

/// The slug a name maps to before uniqueness is considered.
///
/// Lower-case ASCII letters and digits separated by single hyphens: accents are removed
/// (NFKD, then combining marks dropped), a few letters are spelled out (`ß` → `ss`), anything
/// else separates words. Letters and digits with no ASCII form (Cyrillic, CJK, …) can not be
/// kept; when a name has some, the slug gets the first 8 hex digits of the name's SHA-256 so
/// that two such names do not collapse into the same slug. Windows device names get a
/// `-workflow` suffix; the result is at most [`MAX_SLUG_LEN`] bytes.
pub fn base_slug(name: &str) -> String {
    let mut b = Builder::default();
    let mut lossy = false;
    for c in name.nfkd() {
        // Accents go; so do apostrophes, which join a word rather than split it ("Søren's").
        if is_combining_mark(c) || matches!(c, '\'' | '\u{2019}' | '\u{02bc}') {
            continue;
        }
        if c.is_ascii_alphanumeric() {
            b.letter(c.to_ascii_lowercase());
        } else if c == '&' {
            b.gap();
            b.word("and");
            b.gap();
        } else if let Some(s) = fold_special(c) {
            b.word(s);
        } else {
            // Letters and digits with no ASCII form are lost: remember it for the suffix.
            lossy |= c.is_alphanumeric();
            b.gap();
        }
    }
    let out = b.out;
    let suffix = lossy.then(|| {
        let digest = Sha256::digest(name.as_bytes());
        hex::encode(&digest[..4])
    });
    let mut slug = if out.is_empty() {
        FALLBACK_SLUG.to_owned()
    } else {
        out
    };
    if let Some(s) = &suffix {
        slug = with_suffix(&slug, s);
    } else {
        truncate(&mut slug, MAX_SLUG_LEN);
    }
    if is_reserved(&slug) {
        slug = with_suffix(&slug, "workflow");
    }
    slug
}

/// Joins words with single hyphens, never leading or trailing.
#[derive(Default)]
struct Builder {
    out: String,
    gap: bool,
}

impl Builder {
    fn sep(&mut self) {
        if self.gap && !self.out.is_empty() {
            self.out.push('-');
        }
        self.gap = false;
    }
    fn letter(&mut self, c: char) {
        self.sep();
        self.out.push(c);
    }
    fn word(&mut self, s: &str) {
        self.sep();
        self.out.push_str(s);
    }
    fn gap(&mut self) {
        self.gap = true;
    }
}

/// `base` cut so that `base-suffix` fits in [`MAX_SLUG_LEN`].
fn with_suffix(base: &str, suffix: &str) -> String {
    let mut b = base.to_owned();
    truncate(&mut b, MAX_SLUG_LEN.saturating_sub(suffix.len() + 1));
    if b.is_empty() {
        return suffix.to_owned();
    }
    format!("{b}-{suffix}")
}

/// Cuts an ASCII slug to `max` bytes, preferring a word boundary, without a trailing hyphen.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        // At a hyphen if one is in the second half, else mid-word.
        let cut = s[..=max]
            .rfind('-')
            .filter(|&i| i >= max / 2)
            .unwrap_or(max);
        s.truncate(cut);
    }
    while s.ends_with('-') {
        s.pop();
    }
}

fn is_reserved(slug: &str) -> bool {
    WINDOWS_RESERVED.contains(&slug)
}

/// A slug for `name` that `taken` does not hold: the base slug, else `base-2`, `base-3`, …
///
/// `taken` must answer case-insensitively if the taken slugs may have upper-case letters
/// (Git checkouts on macOS and Windows do not tell `Orders.json` from `orders.json`);
/// [`unique_slug_among`] does that for a list.
pub fn unique_slug(name: &str, taken: impl Fn(&str) -> bool) -> Result<String, CanonicalError> {
    let base = base_slug(name);
    if !taken(&base) {
        return Ok(base);
    }
    for n in 2..=MAX_SUFFIX {
        let candidate = with_suffix(&base, &n.to_string());
        if !taken(&candidate) {
            return Ok(candidate);
        }
    }
    Err(CanonicalError::SlugSpaceExhausted {
        base,
        tried: MAX_SUFFIX,
    })
}

/// [`unique_slug`] against a list of the tenant's slugs, compared case-insensitively.
pub fn unique_slug_among<'a>(
    name: &str,
    taken: impl IntoIterator<Item = &'a str>,
) -> Result<String, CanonicalError> {
    let set: HashSet<String> = taken.into_iter().map(str::to_ascii_lowercase).collect();
    unique_slug(name, |s| set.contains(s))
}

/// Checks a slug that did not come from [`base_slug`] (an API caller's choice, an imported
/// file name) against the same rules.
pub fn validate_slug(slug: &str) -> Result<(), CanonicalError> {
    let bad = |reason| {
        Err(CanonicalError::InvalidSlug {
            slug: slug.chars().take(80).collect(),
            reason,
        })
    };
    if slug.is_empty() {
        return bad("it is empty");
    }
    if slug.len() > MAX_SLUG_LEN {
        return bad("it is longer than 64 characters");
    }
    if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return bad("only lower-case ASCII letters, digits and hyphens are allowed");
    }
    if slug.starts_with('-') || slug.ends_with('-') || slug.contains("--") {
        return bad("hyphens must separate words");
    }
    if is_reserved(slug) {
        return bad("it is a device name reserved by Windows");
    }
    Ok(())
}
