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
    #[inline]
    fn eq(&self, other: &Name) -> bool {
        match (self, other) {
            // Zero past their lengths: the whole arrays compare as the names
            // do, in a few word compares instead of a call to `memcmp`.
            (Name::Inline { len: a, bytes: x }, Name::Inline { len: b, bytes: y }) => {
                a == b && x == y
            }
            _ => self.as_bytes() == other.as_bytes(),
        }
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

/// The hasher of the kernel's maps keyed by signal name or task key, which
/// every push and pull searches. std's default (SipHash) spends hundreds of
/// instructions on a ten-byte name; this one takes a word at a time, with a
/// multiply and a rotate per word (the scheme of rustc's `FxHasher`),
/// started from a per-process random seed so that which names collide is not
/// known in advance.
#[derive(Clone, Copy)]
pub(crate) struct FastHash {
    seed: u64,
}

impl Default for FastHash {
    fn default() -> FastHash {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let seed = *SEED.get_or_init(|| {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(0x636f_7468_7265_6164_u64)
        });
        FastHash { seed }
    }
}

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.seed)
    }
}

/// See [`FastHash`].
pub(crate) struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(Self::K).rotate_left(26);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        // The last few bytes as one word, zero-padded, built from loads that
        // may overlap: no copy into a buffer, which is a call to `memcpy`
        // for a length known only at run time.
        let rest = chunks.remainder();
        let half = |at: usize| {
            u64::from(u32::from_le_bytes(rest[at..at + 4].try_into().expect("4 bytes")))
        };
        let byte = |at: usize| rest.get(at).map_or(0, |&b| u64::from(b)) << (8 * at);
        match rest.len() {
            0 => {}
            1..=3 => self.add(byte(0) | byte(1) | byte(2)),
            n => self.add(half(0) | (half(n - 4) >> (8 * (8 - n))) << 32),
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn finish(&self) -> u64 {
        // The low bits pick the bucket: fold the high ones, which the
        // multiplications mixed best, into them.
        self.0 ^ (self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn names_are_equal_exactly_when_their_bytes_are() {
        let long = "x".repeat(INLINE + 1);
        let texts = ["", "a", "a\0", "ab", "ba", "key_down", "key_up", &long[1..], &long];
        for a in texts {
            for b in texts {
                assert_eq!(Name::new(a) == Name::new(b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn a_short_name_keeps_its_bytes_and_zeros_after_them_at_every_length() {
        let text: String = ('a'..='z').collect();
        for len in 0..=INLINE {
            let name = Name::new(&text[..len]);
            let Name::Inline { len: kept, bytes } = &name else { panic!("{len} bytes are inline") };
            assert_eq!((usize::from(*kept), &bytes[..len]), (len, &text.as_bytes()[..len]));
            assert!(bytes[len..].iter().all(|&b| b == 0), "{len}: {bytes:?}");
        }
    }

    #[test]
    fn short_names_are_inline_and_long_ones_shared() {
        assert!(matches!(Name::new("key_down"), Name::Inline { .. }));
        assert!(matches!(Name::new(&"x".repeat(INLINE)), Name::Inline { .. }));
        assert!(matches!(Name::new(&"x".repeat(INLINE + 1)), Name::Shared(_)));
        assert!(matches!(Name::new(&"x".repeat(300)), Name::Shared(_)));
    }

    #[test]
    fn a_tail_hashes_as_its_zero_padded_word() {
        let bytes: Vec<u8> = (0..24u8).map(|b| b.wrapping_mul(37).wrapping_add(11)).collect();
        for len in 0..=bytes.len() {
            let bytes = &bytes[..len];
            let mut fast = FastHasher(7);
            fast.write(bytes);
            let mut padded = FastHasher(7);
            for chunk in bytes.chunks(8) {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                padded.add(u64::from_le_bytes(word));
            }
            assert_eq!(fast.finish(), padded.finish(), "{len} bytes");
        }
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

    #[test]
    fn the_fast_hash_tells_names_apart_and_spreads_them() {
        use std::collections::HashSet;
        use std::hash::BuildHasher;
        let hash = FastHash::default();
        let names: Vec<String> = (0..10_000).map(|i| format!("n{i}")).collect();
        let hashes: HashSet<u64> = names.iter().map(|n| hash.hash_one(n.as_bytes())).collect();
        assert_eq!(hashes.len(), names.len(), "no two of these names collide");
        // The bucket bits of a map of 1 024 buckets are used about evenly:
        // about 9.8 names each (a uniform hash leaves fewer than one bucket
        // empty on average, and one above 40 almost never).
        let mut buckets = [0u32; 1024];
        for h in &hashes {
            buckets[(h & 1023) as usize] += 1;
        }
        let empty = buckets.iter().filter(|&&n| n == 0).count();
        assert!(empty <= 10 && buckets.iter().all(|&n| n <= 40), "{buckets:?}");
        // Same bytes, same hash; the trailing partial word counts.
        assert_eq!(hash.hash_one(b"key_down"), hash.hash_one(b"key_down"));
        assert_ne!(hash.hash_one(b"key_down1"), hash.hash_one(b"key_down2"));
        let mut map: HashMap<Name, u8, FastHash> = HashMap::default();
        map.insert(Name::new("touch"), 1);
        assert_eq!(map.get("touch".as_bytes()), Some(&1));
    }
}
