//! Canonical slugs: readable, stable, unique per tenant, safe as file names everywhere.

use proptest::prelude::*;
use wfops_canonical::{
    base_slug, unique_slug, unique_slug_among, validate_slug, CanonicalError, MAX_SLUG_LEN,
};

#[test]
fn readable_ascii_from_names() {
    let cases = [
        ("Customer Onboarding", "customer-onboarding"),
        ("  Sync: Stripe → HubSpot (v2)!  ", "sync-stripe-hubspot-v2"),
        ("Crème brûlée Überweisung", "creme-brulee-uberweisung"),
        ("Straße & Søren's Æble", "strasse-and-sorens-aeble"),
        ("Łódź ĦŦ ŋ ð þ", "lodz-ht-n-d-th"),
        ("ＦＵＬＬ－ｗｉｄｔｈ ①", "full-width-1"),
        ("ﬁle ligature", "file-ligature"),
        ("already-a-slug", "already-a-slug"),
        ("UPPER_snake_Case", "upper-snake-case"),
        ("a/b\\c:d*e?f\"g<h>i|j", "a-b-c-d-e-f-g-h-i-j"),
        ("..hidden.", "hidden"),
        ("trailing dots and spaces. . ", "trailing-dots-and-spaces"),
        ("", "workflow"),
        ("!!!", "workflow"),
        (
            "#️⃣Nostr #damus AI Powered Reporting + Gmail + Telegram",
            "nostr-damus-ai-powered-reporting-gmail-telegram",
        ),
    ];
    for (name, want) in cases {
        assert_eq!(base_slug(name), want, "{name:?}");
    }
}

#[test]
fn windows_device_names_are_avoided() {
    for name in [
        "CON", "con", "Prn", "AUX", "nul", "COM1", "com9", "LPT1", "lpt9", " Nul. ",
    ] {
        let slug = base_slug(name);
        assert!(slug.ends_with("-workflow"), "{name:?} → {slug}");
        assert_eq!(validate_slug(&slug), Ok(()));
    }
    assert_eq!(base_slug("Console"), "console");
    assert_eq!(base_slug("com10"), "com10");
}

#[test]
fn names_without_ascii_letters_keep_a_fingerprint() {
    let a = base_slug("Отчёт по продажам");
    let b = base_slug("Отчёт по закупкам");
    assert_ne!(a, b);
    assert!(
        a.starts_with("workflow-") && a.len() == "workflow-".len() + 8,
        "{a}"
    );
    let mixed = base_slug("Отчёт 2024 для CRM");
    assert!(mixed.starts_with("2024-crm-"), "{mixed}");
    assert_eq!(
        base_slug("日本語のワークフロー"),
        base_slug("日本語のワークフロー")
    );
}

#[test]
fn long_names_are_cut_at_a_word() {
    let name = "Sync every customer record from the billing system into the CRM and notify the account owner";
    let slug = base_slug(name);
    assert!(slug.len() <= MAX_SLUG_LEN, "{slug}");
    assert_eq!(
        slug,
        "sync-every-customer-record-from-the-billing-system-into-the-crm"
    );
    let word = "a".repeat(200);
    assert_eq!(base_slug(&word).len(), MAX_SLUG_LEN);
}

#[test]
fn unique_per_tenant() {
    let taken = ["orders", "orders-2", "Orders-3"];
    assert_eq!(unique_slug_among("Orders", taken).unwrap(), "orders-4");
    assert_eq!(unique_slug_among("Invoices", taken).unwrap(), "invoices");
    // Room is made for the suffix on a long slug.
    let long = "x".repeat(100);
    let first = base_slug(&long);
    let second = unique_slug_among(&long, [first.as_str()]).unwrap();
    assert_eq!(second.len(), MAX_SLUG_LEN);
    assert!(second.ends_with("-2"));
    let e = unique_slug("Orders", |_| true).unwrap_err();
    assert!(matches!(e, CanonicalError::SlugSpaceExhausted { .. }));
    assert_eq!(
        e.to_string(),
        "no free slug for \"orders\": suffixes -2 to -10000 are all taken"
    );
}

#[test]
fn validate_names_the_problem() {
    let cases = [
        ("", "it is empty"),
        (
            "Orders",
            "only lower-case ASCII letters, digits and hyphens are allowed",
        ),
        ("orders.json", "only lower-case"),
        ("-orders", "hyphens must separate words"),
        ("orders--x", "hyphens must separate words"),
        ("aux", "reserved by Windows"),
    ];
    for (slug, want) in cases {
        let e = validate_slug(slug).unwrap_err().to_string();
        assert!(e.contains(want), "{slug:?}: {e}");
    }
    assert!(validate_slug(&"a".repeat(65))
        .unwrap_err()
        .to_string()
        .contains("longer than 64"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the name: a valid slug (ASCII, bounded, no reserved name, no leading or
    /// trailing separator), the same one every time.
    #[test]
    fn any_name_gives_a_valid_stable_slug(name in any::<String>()) {
        let slug = base_slug(&name);
        prop_assert_eq!(validate_slug(&slug), Ok(()), "{:?} → {:?}", name, slug);
        prop_assert_eq!(base_slug(&name), slug);
    }

    /// Assigning slugs one by one to any list of names never reuses a slug, even when the
    /// names collide after folding.
    #[test]
    fn assigned_slugs_are_unique(names in prop::collection::vec(
        prop_oneof![Just("Orders".to_owned()), Just("orders!".to_owned()), Just("ÖRDERS".to_owned()), any::<String>()],
        0..30,
    )) {
        let mut taken: Vec<String> = Vec::new();
        for n in &names {
            let s = unique_slug_among(n, taken.iter().map(String::as_str)).unwrap();
            prop_assert_eq!(validate_slug(&s), Ok(()));
            prop_assert!(!taken.contains(&s));
            taken.push(s);
        }
    }
}
