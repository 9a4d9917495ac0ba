//! `string_enum!`: an enum over the string values Nomad documents for a field (`ClientStatus`,
//! `ChangeMode`, …) that keeps any other value as `Other(String)`, so a newer server's value
//! neither fails decoding nor gets lost, and prints back exactly as received.

/// Declares `pub enum $name { $variant ("text"), …, Other(String) }` with `as_str`, `From<&str>`,
/// `Display`, `Serialize` and `Deserialize` (a `null` decodes as `""`, like a Go string).
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value not listed above, as the server sent it.
            Other(String),
        }

        impl $name {
            /// The value as Nomad writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )*
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $text => Self::$variant, )*
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <Option<String> as serde::Deserialize>::deserialize(d)?;
                Ok(Self::from(s.as_deref().unwrap_or("")))
            }
        }
    };
}

pub(crate) use string_enum;

#[cfg(test)]
mod tests {
    string_enum! {
        /// Test enum.
        pub enum Colour {
            Red = "red",
            DarkBlue = "dark blue",
        }
    }

    #[test]
    fn known_and_unknown_values_round_trip() {
        let v: Vec<Colour> = serde_json::from_str(r#"["red","dark blue","mauve",null]"#).unwrap();
        assert_eq!(
            v,
            [
                Colour::Red,
                Colour::DarkBlue,
                Colour::Other("mauve".into()),
                Colour::Other(String::new())
            ]
        );
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"["red","dark blue","mauve",""]"#
        );
    }
}
