//! Paths in JSON, in the one shape every kaudit output uses
//! (`kaudit_analyzer::report::json_path`): a string when the path is UTF-8,
//! else an object with its `lossy` text and its bytes in `hex`. Read back
//! losslessly, as is the array of bytes closures cached in a graph by
//! earlier versions hold.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Hex { hex: String },
    Bytes(Vec<u8>),
}

impl Repr {
    fn into_bytes<E: serde::de::Error>(self) -> Result<Vec<u8>, E> {
        match self {
            Repr::Text(t) => Ok(t.into_bytes()),
            Repr::Bytes(b) => Ok(b),
            Repr::Hex { hex } => {
                let h = hex.as_bytes();
                if h.len() % 2 != 0 {
                    return Err(E::custom("a hex path of odd length"));
                }
                h.chunks(2)
                    .map(|c| {
                        std::str::from_utf8(c)
                            .ok()
                            .and_then(|c| u8::from_str_radix(c, 16).ok())
                            .ok_or_else(|| E::custom("a hex path with a non-hex digit"))
                    })
                    .collect()
            }
        }
    }
}

/// `#[serde(with = "crate::pathser::bytes")]` for `Vec<u8>` paths.
pub mod bytes {
    use super::*;

    /// Serialize a path.
    pub fn serialize<S: Serializer>(p: &[u8], s: S) -> Result<S::Ok, S::Error> {
        kaudit_analyzer::report::json_path(p).serialize(s)
    }

    /// Deserialize a path.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Repr::deserialize(d)?.into_bytes()
    }
}

/// `#[serde(with = "crate::pathser::opt_bytes")]` for `Option<Vec<u8>>`.
pub mod opt_bytes {
    use super::*;

    /// Serialize an optional path.
    pub fn serialize<S: Serializer>(p: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => super::bytes::serialize(p, s),
            None => s.serialize_none(),
        }
    }

    /// Deserialize an optional path.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<Repr>::deserialize(d)?
            .map(Repr::into_bytes)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct P {
        #[serde(with = "super::bytes")]
        p: Vec<u8>,
        #[serde(with = "super::opt_bytes")]
        q: Option<Vec<u8>>,
    }

    #[test]
    fn utf8_paths_are_strings_others_lossy_and_hex_and_both_come_back() {
        let v = P {
            p: b"/usr/bin/x".to_vec(),
            q: Some(b"/a\xffb".to_vec()),
        };
        let j = serde_json::to_string(&v).unwrap();
        assert_eq!(
            j,
            "{\"p\":\"/usr/bin/x\",\"q\":{\"hex\":\"2f61ff62\",\"lossy\":\"/a\u{fffd}b\"}}"
        );
        assert_eq!(serde_json::from_str::<P>(&j).unwrap(), v);
        // a closure cached by an earlier version: the array of the bytes
        let old: P = serde_json::from_str(r#"{"p":"/x","q":[47,97,255,98]}"#).unwrap();
        assert_eq!(old.q.as_deref(), Some(&b"/a\xffb"[..]));
        assert!(serde_json::from_str::<P>(r#"{"p":{"hex":"2f6"},"q":null}"#).is_err());
        let n: P = serde_json::from_str(r#"{"p":"/x","q":null}"#).unwrap();
        assert_eq!(n.q, None);
    }
}
