//! Go writes nil slices and maps as `null`; shepard wants them empty. Use with
//! `#[serde(default, deserialize_with = "nullable::default")]`.

use serde::{Deserialize, Deserializer};

/// Decodes `null` as `T::default()` and anything else as `T`.
pub fn default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[derive(Debug, serde::Deserialize)]
    struct Lists {
        #[serde(default, deserialize_with = "super::default")]
        tags: Vec<String>,
        #[serde(default, deserialize_with = "super::default")]
        meta: BTreeMap<String, String>,
    }

    #[test]
    fn null_and_missing_are_empty() {
        let l: Lists = serde_json::from_str(r#"{"tags":null}"#).unwrap();
        assert!(l.tags.is_empty() && l.meta.is_empty());
        let l: Lists = serde_json::from_str(r#"{"tags":["a"],"meta":{"k":"v"}}"#).unwrap();
        assert_eq!(l.tags, ["a"]);
        assert_eq!(l.meta["k"], "v");
    }
}
