//! Identifiers and randomness: Nomad-style UUIDs (random hex in 8-4-4-4-12 form, no version
//! bits, as `helper/uuid.Generate` makes them), random numbers for jitter and splay, and a
//! stable hash for check IDs.

use std::io::Read;

/// 16 random bytes from the kernel.
fn random_bytes() -> [u8; 16] {
    let mut buf = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if filled.is_err() {
        // No urandom: fall back to the clock; uniqueness still holds within one process.
        let nanos = crate::clock::now_nanos().to_le_bytes();
        let counter = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        buf[..8].copy_from_slice(&nanos);
        buf[8..].copy_from_slice(&counter.to_le_bytes());
    }
    buf
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A new random UUID string such as `5457f16d-0f87-8e6b-5e91-0c7da3a41eb7`.
pub fn uuid() -> String {
    let b = random_bytes();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A random number in `0..bound` (0 when `bound` is 0).
pub fn random_below(bound: u64) -> u64 {
    if bound == 0 {
        return 0;
    }
    let b = random_bytes();
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[..8]);
    u64::from_le_bytes(word) % bound
}

/// A 40-hex-digit digest of `input` (five seeded FNV-1a rounds). Stable across runs, so a
/// re-registered check keeps its ID, as Nomad's SHA-1 based check IDs do.
pub fn stable_hex(input: &str) -> String {
    (0u32..5)
        .map(|seed| {
            let mut h: u32 = 0x811c_9dc5 ^ seed.wrapping_mul(0x9e37_79b9);
            for byte in input.bytes() {
                h ^= u32::from(byte);
                h = h.wrapping_mul(0x0100_0193);
            }
            format!("{h:08x}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, uuid());
    }

    #[test]
    fn stable_hex_is_stable() {
        assert_eq!(stable_hex("a"), stable_hex("a"));
        assert_ne!(stable_hex("a"), stable_hex("b"));
        assert_eq!(stable_hex("a").len(), 40);
    }
}
