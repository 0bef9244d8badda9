//! Lower-case hex, the one spelling of digests and keys across runplz (file names, record
//! fields, box-side names).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `b` in lower-case hex.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(DIGITS[usize::from(x >> 4)] as char);
        s.push(DIGITS[usize::from(x & 15)] as char);
    }
    s
}

/// A sha256 in lower-case hex, without allocating.
pub fn hex32(b: &[u8; 32]) -> [u8; 64] {
    let mut out = [0; 64];
    for (i, x) in b.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(x >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(x & 15)];
    }
    out
}

/// The first `n` bytes of the sha256 of `bytes`, in hex: a short key, stable across Rust
/// releases.
pub fn sha256_prefix(bytes: &[u8], n: usize) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes)[..n])
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_spells_every_byte_and_the_prefix_is_the_digests_start() {
        let all: Vec<u8> = (0..=255).collect();
        let want: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex(&all), want);
        let d: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(super::hex32(&d).as_slice(), super::hex(&d).as_bytes());
        // sha256("abc"), as sha256sum prints it.
        assert_eq!(super::sha256_prefix(b"abc", 4), "ba7816bf");
    }
}
