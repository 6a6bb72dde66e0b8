//! Paths in JSON: a string when the path is UTF-8, else the array of its
//! bytes — lossless both ways.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Bytes(Vec<u8>),
}

/// `#[serde(with = "crate::pathser::bytes")]` for `Vec<u8>` paths.
pub mod bytes {
    use super::*;

    /// Serialize a path.
    pub fn serialize<S: Serializer>(p: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(p) {
            Ok(t) => s.serialize_str(t),
            Err(_) => p.serialize(s),
        }
    }

    /// Deserialize a path.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::Text(t) => t.into_bytes(),
            Repr::Bytes(b) => b,
        })
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
        Ok(Option::<Repr>::deserialize(d)?.map(|r| match r {
            Repr::Text(t) => t.into_bytes(),
            Repr::Bytes(b) => b,
        }))
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
    fn utf8_paths_are_strings_others_byte_arrays_and_both_come_back() {
        let v = P {
            p: b"/usr/bin/x".to_vec(),
            q: Some(b"/a\xffb".to_vec()),
        };
        let j = serde_json::to_string(&v).unwrap();
        assert_eq!(j, r#"{"p":"/usr/bin/x","q":[47,97,255,98]}"#);
        assert_eq!(serde_json::from_str::<P>(&j).unwrap(), v);
        let n: P = serde_json::from_str(r#"{"p":"/x","q":null}"#).unwrap();
        assert_eq!(n.q, None);
    }
}
