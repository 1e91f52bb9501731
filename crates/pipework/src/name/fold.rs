//! Case-insensitive names as Win32 compares them: each UTF-16 character is upper-cased on its
//! own (`RtlUpcaseUnicodeString`), with no full Unicode case folding.
//!
//! The rule, character by character:
//!
//! * a character outside the Basic Multilingual Plane is left as it is (Windows' table covers
//!   UTF-16 code units, and a surrogate has no case);
//! * a BMP character becomes its simple upper-case mapping (Unicode's one-to-one mapping) when
//!   that is one BMP character, and stays as it is otherwise: `ß` stays `ß`, never `SS`;
//! * so `σ` and the final `ς` both become `Σ` ("σασ" names the same object as "ΣΑΣ"), while the
//!   Kelvin sign `K` (U+212A), already upper case, stays itself and never meets `k`/`K`.
//!
//! Rust's [`char::to_uppercase`] gives the full mapping, which expands some characters into
//! several; for those the simple mapping is either none (the character stays) or, for the Greek
//! letters with a subscript iota, the matching letter with the adscript (`ᾳ` → `ᾼ`), which
//! [`upcase`] adds by hand.

/// The upper-case form of one character, as Win32's name comparison sees it.
pub fn upcase(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    if u32::from(c) > 0xFFFF {
        return c;
    }
    let mut full = c.to_uppercase();
    match (full.next(), full.next()) {
        (Some(up), None) if u32::from(up) <= 0xFFFF => up,
        (Some(_), Some(_)) => simple_of_expanding(c),
        _ => c,
    }
}

/// The simple upper-case mapping of a character whose full mapping has several characters.
fn simple_of_expanding(c: char) -> char {
    let code = u32::from(c);
    let up = match code {
        // ᾀ..ᾇ, ᾐ..ᾗ, ᾠ..ᾧ → ᾈ..ᾏ, ᾘ..ᾟ, ᾨ..ᾯ
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => code + 8,
        0x1FB3 => 0x1FBC, // ᾳ → ᾼ
        0x1FC3 => 0x1FCC, // ῃ → ῌ
        0x1FF3 => 0x1FFC, // ῳ → ῼ
        _ => code,
    };
    char::from_u32(up).unwrap_or(c)
}

/// The identity form of a name: every character through [`upcase`]. Two names name the same
/// object exactly when their folded forms are equal.
///
/// ```
/// use pipework::name::fold;
///
/// assert_eq!(fold("Jobs"), "JOBS");
/// assert_eq!(fold("σασ"), fold("ΣΑΣ"));
/// assert_ne!(fold("\u{212A}"), fold("k")); // the Kelvin sign is not the letter k
/// assert_eq!(fold("straße"), "STRAßE"); // no expansion to SS
/// ```
pub fn fold(name: &str) -> String {
    name.chars().map(upcase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_simple_mapping() {
        assert_eq!(fold("σασ"), "ΣΑΣ");
        assert_eq!(fold("ς"), "Σ");
        assert_eq!(fold("\u{212A}"), "\u{212A}");
        assert_ne!(fold("\u{212A}"), fold("k"));
        assert_eq!(fold("ß"), "ß");
        assert_eq!(fold("ﬁ"), "ﬁ");
        assert_eq!(fold("ᾳ"), "ᾼ");
        assert_eq!(fold("ᾀ"), "ᾈ");
        assert_eq!(fold("ǆ"), "Ǆ");
        assert_eq!(fold("ǅ"), "Ǆ");
        assert_eq!(fold("ÿ"), "Ÿ");
        // Outside the BMP: unchanged, even where Unicode has a case pair (Deseret).
        assert_eq!(fold("\u{10428}"), "\u{10428}");
        assert_eq!(fold("Ab-9._~"), "AB-9._~");
    }

    #[test]
    fn is_idempotent_over_the_whole_bmp() {
        for code in 0..=0xFFFFu32 {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let once = upcase(c);
            assert_eq!(upcase(once), once, "U+{code:04X}");
            assert!(u32::from(once) <= 0xFFFF, "U+{code:04X}");
        }
    }
}
