use std::fmt;

use serde::{Deserialize, Deserializer};

/// A value that must never reach a log line, an error message or an API response.
///
/// `Debug` and `Display` print `[redacted]` so that a secret nested anywhere in a struct that is
/// logged with `{:?}` stays hidden. There is deliberately no `Serialize` impl: turning a secret
/// into JSON has to be spelled out with [`Secret::expose`].
#[derive(Clone, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The only way to read the value; greppable on purpose.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Holder {
        name: &'static str,
        token: Secret<String>,
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2-very-secret".to_string());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        let h = Holder {
            name: "x",
            token: s.clone(),
        };
        let printed = format!("{h:?} {h:#?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("[redacted]"));
        assert_eq!(s.expose(), "hunter2-very-secret");
        assert_eq!(s.into_inner(), "hunter2-very-secret");
    }

    #[test]
    fn deserializes_transparently() {
        let s: Secret<String> = serde_json_like("\"abc\"");
        assert_eq!(s.expose(), "abc");
    }

    /// serde_json is not a dependency of this crate; a tiny string deserializer is enough.
    fn serde_json_like(input: &str) -> Secret<String> {
        use serde::de::value::{Error as DeError, StrDeserializer};
        use serde::de::IntoDeserializer;
        let inner = input.trim_matches('"');
        let de: StrDeserializer<'_, DeError> = inner.into_deserializer();
        Secret::<String>::deserialize(de).expect("string deserializes")
    }
}
