//! Property tests of name parsing and key making: random and truncated input never panics,
//! every key fits a socket path, folding is idempotent.

use proptest::prelude::*;

use super::*;

/// Strings made of the characters names are built from, with Win32's prefixes mixed in.
fn name_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just(r"\\".to_string()),
        Just(r"\".to_string()),
        Just(".".to_string()),
        Just("*".to_string()),
        Just("/".to_string()),
        Just("pipe".to_string()),
        Just("PIPE".to_string()),
        Just("mailslot".to_string()),
        Just("Local".to_string()),
        Just("Global".to_string()),
        Just("\0".to_string()),
        Just("σ".to_string()),
        Just("ς".to_string()),
        Just("\u{212A}".to_string()),
        Just("ß".to_string()),
        Just("\u{10428}".to_string()),
        "[a-zA-Z0-9%~._-]{0,8}",
        any::<String>(),
    ];
    prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
}

/// The longest socket path: `sun_path` is 108 bytes with its NUL.
const SUN_PATH: usize = 107;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic(text in name_text(), cut in 0usize..64) {
        // Every prefix of the text (on a character boundary) as well as the whole.
        let mut ends: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        ends.push(text.len());
        let end = ends[cut % ends.len()];
        for t in [&text[..], &text[..end]] {
            if let Ok(p) = PipeName::parse(t) {
                prop_assert!(!p.name().is_empty());
                prop_assert_eq!(p.folded(), fold(p.name()));
                prop_assert_eq!(PipeName::parse(&p.to_string()).ok(), Some(p.clone()));
            }
            if let Ok(m) = MailslotName::parse(t) {
                prop_assert!(!m.path().is_empty());
                prop_assert_eq!(MailslotName::parse(&m.to_string()).ok(), Some(m.clone()));
                prop_assert_eq!(m.hashed().len(), 32);
            }
            if let Ok(o) = ObjectName::parse(t) {
                prop_assert!(o.os_name().len() <= 255);
                prop_assert!(!o.os_name().contains('/'));
                prop_assert!(!o.os_name().contains('\0'));
            }
            let _ = check_name("x", t);
        }
    }

    #[test]
    fn keys_fit_a_socket_path(text in name_text()) {
        let key = file_key(&fold(&text));
        prop_assert!(key.len() <= 40, "{key}");
        prop_assert!(!key.contains('/') && !key.contains('\0') && !key.starts_with('.'));
        prop_assert!(key != "." && key != "..");
        // The deepest socket: a pipe slot's, under the longest private base the defaults give.
        let longest = format!("/tmp/pipework-4294967295/pipe/{key}/i65535");
        prop_assert!(longest.len() <= SUN_PATH, "{longest}");
        let global = format!("/tmp/pipework-pipe-{key}/i65535");
        prop_assert!(global.len() <= SUN_PATH, "{global}");
    }

    #[test]
    fn fold_is_idempotent(text in any::<String>()) {
        let once = fold(&text);
        prop_assert_eq!(fold(&once), once.clone());
        prop_assert_eq!(once.chars().count(), text.chars().count());
        prop_assert_eq!(file_key(&once), file_key(&fold(&once)));
    }

    #[test]
    fn names_equal_under_fold_share_their_key(text in "[a-zA-Zσςß\u{212A}k0-9._-]{1,60}") {
        let lower = text.to_lowercase();
        if fold(&lower) == fold(&text) {
            prop_assert_eq!(file_key(&fold(&lower)), file_key(&fold(&text)));
        }
    }
}
