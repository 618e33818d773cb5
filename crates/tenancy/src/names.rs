//! Tenant slugs and email addresses: the two identifiers people type.

use crate::Error;

pub const MAX_SLUG_LEN: usize = 63;
pub const MAX_TENANT_NAME_CHARS: usize = 200;

/// A URL- and DNS-label-safe slug from a tenant name: lowercase ASCII letters and digits
/// separated by single dashes. Accented Latin letters lose their accent rather than the whole
/// letter, so "Café Ops" becomes `cafe-ops`.
pub fn slugify(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::InvalidTenantName("must not be empty"));
    }
    if name.chars().count() > MAX_TENANT_NAME_CHARS {
        return Err(Error::InvalidTenantName("must be at most 200 characters"));
    }
    let mut slug = String::with_capacity(name.len());
    let mut pending_dash = false;
    for c in name.chars().flat_map(fold_char) {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    if slug.is_empty() {
        return Err(Error::InvalidTenantName(
            "must contain at least one ASCII letter or digit",
        ));
    }
    if slug.len() > MAX_SLUG_LEN {
        slug.truncate(MAX_SLUG_LEN);
        while slug.ends_with('-') {
            slug.pop();
        }
    }
    Ok(slug)
}

/// Maps common accented Latin letters to their base letter; everything else passes through.
fn fold_char(c: char) -> impl Iterator<Item = char> {
    let folded: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ß' => "ss",
        _ => "",
    };
    let single = if folded.is_empty() { Some(c) } else { None };
    folded.chars().chain(single)
}

/// Trims and lowercases an email and checks its shape. Emails are unique across the whole
/// installation (login happens before the tenant is known), so they are compared lowercased.
pub fn normalize_email(email: &str) -> Result<String, Error> {
    let email = email.trim();
    if email.is_empty() {
        return Err(Error::InvalidEmail("must not be empty"));
    }
    if email.len() > 254 {
        return Err(Error::InvalidEmail("must be at most 254 characters"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidEmail("must not contain spaces"));
    }
    let (local, domain) = email
        .rsplit_once('@')
        .ok_or(Error::InvalidEmail("must contain `@`"))?;
    if local.is_empty() || local.contains('@') {
        return Err(Error::InvalidEmail(
            "must have one `@` after a non-empty local part",
        ));
    }
    if domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(Error::InvalidEmail(
            "the domain must look like `example.com`",
        ));
    }
    Ok(email.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        let cases = [
            ("Acme", "acme"),
            ("  Acme Corp  ", "acme-corp"),
            ("Acme -- Corp!!", "acme-corp"),
            ("Café Ops", "cafe-ops"),
            ("Straße 42", "strasse-42"),
            ("___x___", "x"),
            ("日本 Team", "team"),
        ];
        for (name, slug) in cases {
            assert_eq!(slugify(name).unwrap(), slug, "{name}");
        }
        let long = slugify(&"ab ".repeat(60)).unwrap();
        assert!(long.len() <= MAX_SLUG_LEN && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn bad_names() {
        assert_eq!(
            slugify("   ").unwrap_err(),
            Error::InvalidTenantName("must not be empty")
        );
        assert!(slugify("日本").is_err());
        assert!(slugify(&"a".repeat(201)).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        let bad = [
            ("", "empty"),
            ("ada", "`@`"),
            ("@example.com", "local part"),
            ("a@b@example.com", "local part"),
            ("ada@localhost", "domain"),
            ("ada@.com", "domain"),
            ("ada@example.", "domain"),
            ("a da@example.com", "spaces"),
        ];
        for (input, expected) in bad {
            let err = normalize_email(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }
}
