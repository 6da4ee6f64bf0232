//! Byte classes checked eight bytes at a time (SWAR), for the JSON writers
//! (Lambda events, access-log lines) whose values are mostly clean text.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// `byte` in every byte of a word.
pub(crate) const fn splat(byte: u8) -> u64 {
    ONES * byte as u64
}

/// The high bit of a byte of the result is set where that byte of `word` is
/// zero. Borrows only start at a zero byte, so "any bit set" is exact (the
/// position of the first one is too; later ones may be spurious).
pub(crate) fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word
}

/// The high bit of a byte of the result is set where that byte of `word` is
/// one JSON must escape: a control character, `"` or `\`.
pub(crate) fn json_escape_bits(word: u64) -> u64 {
    (word.wrapping_sub(splat(0x20)) & !word)
        | zero_bytes(word ^ splat(b'"'))
        | zero_bytes(word ^ splat(b'\\'))
}

/// Whether `bits` flags any byte of `bytes` (by the high bit of that byte of
/// its result), eight bytes per step and no early exit. The tail is padded
/// with `a`, which `bits` must not flag.
pub(crate) fn any_flagged(bytes: &[u8], bits: impl Fn(u64) -> u64) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut acc = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        acc |= bits(u64::from_le_bytes(word));
    }
    let rest = chunks.remainder();
    let mut word = [b'a'; 8];
    word[..rest.len()].copy_from_slice(rest);
    acc |= bits(u64::from_le_bytes(word));
    acc & HIGH != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escape_bits_flag_exactly_controls_quotes_and_backslashes() {
        for byte in 0..=u8::MAX {
            let wanted = byte < 0x20 || byte == b'"' || byte == b'\\';
            for at in 0..11 {
                let mut text = *b"clean text!";
                text[at] = byte;
                assert_eq!(
                    any_flagged(&text, json_escape_bits),
                    wanted,
                    "{byte:#04x} at {at}"
                );
            }
        }
    }
}
