//! The signal names that filters keep. Most names are short (`"key_down"`,
//! `"modem_message"`), and a pull builds a filter each time it is called, so
//! short names are stored inline: building, cloning and dropping one touches
//! no allocator and no reference count.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Names up to this many bytes are stored inline.
const INLINE: usize = 22;

/// A signal name. It hashes and compares as its bytes, so maps keyed by
/// `Name` are searched with `&[u8]` (a signal's `name().as_bytes()`).
#[derive(Clone)]
pub(crate) enum Name {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>),
}

impl Name {
    pub(crate) fn new(name: &str) -> Name {
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                Name::Inline { len, bytes }
            }
            _ => Name::Shared(Arc::from(name)),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Name::Shared(name) => name.as_bytes(),
        }
    }

    pub(crate) fn is(&self, name: &str) -> bool {
        self.as_bytes() == name.as_bytes()
    }

    /// The name as text. The bytes always came from a `&str`, so this never
    /// fails; the check costs a few nanoseconds and is only made off the hot path.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for Name {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn short_names_are_inline_and_long_ones_shared() {
        assert!(matches!(Name::new("key_down"), Name::Inline { .. }));
        assert!(matches!(Name::new(&"x".repeat(INLINE)), Name::Inline { .. }));
        assert!(matches!(Name::new(&"x".repeat(INLINE + 1)), Name::Shared(_)));
        assert!(matches!(Name::new(&"x".repeat(300)), Name::Shared(_)));
    }

    #[test]
    fn names_compare_and_hash_as_their_bytes() {
        let long = "a_rather_long_signal_name_indeed";
        let mut map = HashMap::new();
        map.insert(Name::new("touch"), 1);
        map.insert(Name::new(long), 2);
        map.insert(Name::new(""), 3);
        assert_eq!(map.get("touch".as_bytes()), Some(&1));
        assert_eq!(map.get(long.as_bytes()), Some(&2));
        assert_eq!(map.get("".as_bytes()), Some(&3));
        assert_eq!(map.get("touc".as_bytes()), None);
        assert!(Name::new("é").is("é"));
        assert_eq!(Name::new(long).as_str(), long);
        assert_eq!(format!("{:?}", Name::new("drag")), "\"drag\"");
    }
}
