//! Clipboard formats: the standard numbers, names, registered formats, and the conversions
//! Win32 makes between them (the three text formats; file lists). I/O-free, so every byte a
//! peer wrote is parsed here with its lengths checked.

use std::io;

use crate::sys::error::invalid;

/// ANSI text, NUL-terminated. pipework's ANSI code page is UTF-8 (as Windows with "Use Unicode
/// UTF-8 for worldwide language support"), so this is UTF-8 text with a NUL at the end.
pub const CF_TEXT: u32 = 1;
/// A bitmap handle (not carried across processes by pipework; the number is reserved).
pub const CF_BITMAP: u32 = 2;
/// OEM text, NUL-terminated: code page 437, characters it lacks become `?`.
pub const CF_OEMTEXT: u32 = 7;
/// A device-independent bitmap: `BITMAPINFO` followed by the bits.
pub const CF_DIB: u32 = 8;
/// UTF-16LE text, NUL-terminated.
pub const CF_UNICODETEXT: u32 = 13;
/// A list of files: a `DROPFILES` header and the paths ([`encode_hdrop`], [`decode_hdrop`]).
pub const CF_HDROP: u32 = 15;
/// The locale of the text formats (an LCID, 4 bytes).
pub const CF_LOCALE: u32 = 16;
/// A version 5 device-independent bitmap.
pub const CF_DIBV5: u32 = 17;
/// The first private format: formats `0x200..=0x2FF` mean what their owner says.
pub const CF_PRIVATEFIRST: u32 = 0x200;
/// The last private format.
pub const CF_PRIVATELAST: u32 = 0x2FF;
/// The first GDI-object format.
pub const CF_GDIOBJFIRST: u32 = 0x300;
/// The last GDI-object format.
pub const CF_GDIOBJLAST: u32 = 0x3FF;
/// The first registered format (`RegisterClipboardFormat` gives `0xC000..=0xFFFF`).
pub const REGISTERED_FIRST: u32 = 0xC000;
/// The registered format's name that browsers and image programs use for PNG images.
pub const PNG: &str = "PNG";

const STANDARD: &[(u32, &str)] = &[
    (1, "CF_TEXT"),
    (2, "CF_BITMAP"),
    (3, "CF_METAFILEPICT"),
    (4, "CF_SYLK"),
    (5, "CF_DIF"),
    (6, "CF_TIFF"),
    (7, "CF_OEMTEXT"),
    (8, "CF_DIB"),
    (9, "CF_PALETTE"),
    (10, "CF_PENDATA"),
    (11, "CF_RIFF"),
    (12, "CF_WAVE"),
    (13, "CF_UNICODETEXT"),
    (14, "CF_ENHMETAFILE"),
    (15, "CF_HDROP"),
    (16, "CF_LOCALE"),
    (17, "CF_DIBV5"),
    (0x80, "CF_OWNERDISPLAY"),
    (0x81, "CF_DSPTEXT"),
    (0x82, "CF_DSPBITMAP"),
    (0x83, "CF_DSPMETAFILEPICT"),
    (0x8E, "CF_DSPENHMETAFILE"),
];

/// The name of a standard format (`CF_TEXT`), or `None`.
pub fn standard_name(format: u32) -> Option<&'static str> {
    STANDARD.iter().find(|(n, _)| *n == format).map(|(_, s)| *s)
}

/// `RegisterClipboardFormat`: the number of the format `name`, the same in every process of
/// the session (see [`crate::atom::register_clipboard_format`]).
pub fn register_format(name: &str) -> io::Result<u32> {
    crate::atom::register_clipboard_format(name)
}

/// The name of `format`: a standard format's (`CF_TEXT`), a registered format's
/// (`GetClipboardFormatName`), `CF_PRIVATE+n` / `CF_GDIOBJ+n`, or its number in hex.
pub fn format_name(format: u32) -> String {
    if let Some(name) = standard_name(format) {
        return name.to_string();
    }
    match format {
        CF_PRIVATEFIRST..=CF_PRIVATELAST => format!("CF_PRIVATEFIRST+{}", format - CF_PRIVATEFIRST),
        CF_GDIOBJFIRST..=CF_GDIOBJLAST => format!("CF_GDIOBJFIRST+{}", format - CF_GDIOBJFIRST),
        REGISTERED_FIRST..=0xFFFF => {
            crate::atom::clipboard_format_name(format).unwrap_or_else(|_| format!("{format:#06x}"))
        }
        _ => format!("{format:#x}"),
    }
}

/// The format a name stands for: a standard name (`CF_UNICODETEXT`, also without `CF_`, any
/// case), a number (`13`, `0xC001`), or else a registered format's name, registered on the way.
pub fn format_by_name(name: &str) -> io::Result<u32> {
    let upper = name.to_ascii_uppercase();
    for (n, s) in STANDARD {
        if *s == upper || s.strip_prefix("CF_") == Some(upper.as_str()) {
            return Ok(*n);
        }
    }
    let number = if let Some(hex) = upper.strip_prefix("0X") {
        u32::from_str_radix(hex, 16).ok()
    } else if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    };
    match number {
        Some(0) | Some(0x1_0000..) => Err(invalid(
            format_args!("clipboard format {name:?}"),
            "format numbers are 1 to 0xFFFF",
        )),
        Some(n) => Ok(n),
        None => register_format(name),
    }
}

/// Whether `format` is one of the three text formats, which Win32 makes from one another.
pub fn is_text(format: u32) -> bool {
    matches!(format, CF_TEXT | CF_OEMTEXT | CF_UNICODETEXT)
}

/// Text as `format` holds it (up to its first NUL): UTF-16LE for `CF_UNICODETEXT`, UTF-8 for
/// `CF_TEXT`, code page 437 for `CF_OEMTEXT`. Bad sequences become U+FFFD.
pub fn decode_text(format: u32, data: &[u8]) -> String {
    match format {
        CF_UNICODETEXT => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .take_while(|&u| u != 0)
                .collect();
            String::from_utf16_lossy(&units)
        }
        CF_OEMTEXT => data
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| {
                if b < 0x80 {
                    char::from(b)
                } else {
                    char::from_u32(u32::from(CP437_HIGH[usize::from(b - 0x80)])).unwrap_or('?')
                }
            })
            .collect(),
        _ => {
            let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
            String::from_utf8_lossy(&data[..end]).into_owned()
        }
    }
}

/// `text` as `format` holds it, with the terminating NUL.
pub fn encode_text(format: u32, text: &str) -> Vec<u8> {
    match format {
        CF_UNICODETEXT => text
            .encode_utf16()
            .chain(Some(0))
            .flat_map(u16::to_le_bytes)
            .collect(),
        CF_OEMTEXT => text
            .chars()
            .map(|c| {
                if c.is_ascii() {
                    c as u8
                } else {
                    CP437_HIGH
                        .iter()
                        .position(|&u| u32::from(u) == u32::from(c))
                        .map(|i| 0x80 + i as u8)
                        .unwrap_or(b'?')
                }
            })
            .chain(Some(0))
            .collect(),
        _ => text.bytes().chain(Some(0)).collect(),
    }
}

/// Win32's synthesized formats: for the text formats present (in `formats`' order), the other
/// text formats missing, which are enumerated after those placed on the clipboard. Only text is
/// synthesized (bitmaps would need image conversion pipework does not carry).
pub fn synthesized(formats: &[u32]) -> Vec<u32> {
    let mut extra = Vec::new();
    if formats.iter().any(|&f| is_text(f)) {
        for f in [CF_UNICODETEXT, CF_TEXT, CF_OEMTEXT] {
            if !formats.contains(&f) {
                extra.push(f);
            }
        }
    }
    extra
}

/// The source Win32 converts from to make the text format `target`: `CF_UNICODETEXT` when
/// present, else the first other text format in `formats`.
pub fn synthesis_source(target: u32, formats: &[u32]) -> Option<u32> {
    if !is_text(target) {
        return None;
    }
    if formats.contains(&CF_UNICODETEXT) {
        return Some(CF_UNICODETEXT);
    }
    formats.iter().copied().find(|&f| is_text(f) && f != target)
}

const DROPFILES_SIZE: usize = 20;

/// A `CF_HDROP` block: a `DROPFILES` header (files at offset 20, wide characters) and each path
/// in UTF-16LE with its NUL, then one more NUL.
pub fn encode_hdrop<S: AsRef<str>>(paths: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(DROPFILES_SIZE as u32).to_le_bytes());
    out.extend_from_slice(&[0; 12]); // pt.x, pt.y, fNC
    out.extend_from_slice(&1u32.to_le_bytes()); // fWide
    for path in paths {
        for unit in path.as_ref().encode_utf16().chain(Some(0)) {
            out.extend_from_slice(&unit.to_le_bytes());
        }
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// The paths of a `CF_HDROP` block (wide or ANSI); `InvalidData` when its header does not fit.
pub fn decode_hdrop(data: &[u8]) -> io::Result<Vec<String>> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("clipboard format CF_HDROP: {why}"),
        )
    };
    if data.len() < DROPFILES_SIZE {
        return Err(bad("shorter than its DROPFILES header"));
    }
    let word = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let start = word(0) as usize;
    if start < DROPFILES_SIZE || start > data.len() {
        return Err(bad("its file list starts outside the block"));
    }
    let wide = word(16) != 0;
    let list = &data[start..];
    let mut paths = Vec::new();
    if wide {
        let units: Vec<u16> = list
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        for part in units.split(|&u| u == 0) {
            if part.is_empty() {
                break;
            }
            paths.push(String::from_utf16_lossy(part));
        }
    } else {
        for part in list.split(|&b| b == 0) {
            if part.is_empty() {
                break;
            }
            paths.push(String::from_utf8_lossy(part).into_owned());
        }
    }
    Ok(paths)
}

/// Code page 437's characters 0x80..=0xFF.
const CP437_HIGH: [u16; 128] = [
    0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, 0x00EA, 0x00EB, 0x00E8, 0x00EF,
    0x00EE, 0x00EC, 0x00C4, 0x00C5, 0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9,
    0x00FF, 0x00D6, 0x00DC, 0x00A2, 0x00A3, 0x00A5, 0x20A7, 0x0192, 0x00E1, 0x00ED, 0x00F3, 0x00FA,
    0x00F1, 0x00D1, 0x00AA, 0x00BA, 0x00BF, 0x2310, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB,
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556, 0x2555, 0x2563, 0x2551, 0x2557,
    0x255D, 0x255C, 0x255B, 0x2510, 0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F,
    0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559,
    0x2558, 0x2552, 0x2553, 0x256B, 0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580,
    0x03B1, 0x00DF, 0x0393, 0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4, 0x03A6, 0x0398, 0x03A9, 0x03B4,
    0x221E, 0x03C6, 0x03B5, 0x2229, 0x2261, 0x00B1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00F7, 0x2248,
    0x00B0, 0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2, 0x25A0, 0x00A0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_through_every_text_format() {
        let s = "Grüße ½ αβ";
        for f in [CF_TEXT, CF_UNICODETEXT] {
            assert_eq!(decode_text(f, &encode_text(f, s)), s);
        }
        assert_eq!(
            decode_text(CF_OEMTEXT, &encode_text(CF_OEMTEXT, s)),
            "Grüße ½ α?"
        );
        assert_eq!(encode_text(CF_UNICODETEXT, "A"), [0x41, 0, 0, 0]);
        assert_eq!(encode_text(CF_OEMTEXT, "é"), [0x82, 0]);
        // Stops at the first NUL; odd bytes and bad UTF-8 never panic.
        assert_eq!(decode_text(CF_TEXT, b"ab\0cd"), "ab");
        assert_eq!(decode_text(CF_UNICODETEXT, &[0x41]), "");
        assert_eq!(decode_text(CF_TEXT, &[0xFF]), "\u{FFFD}");
    }

    #[test]
    fn hdrop_round_trips_and_refuses_bad_headers() {
        let paths = ["/tmp/a b", "/home/ü/x"];
        assert_eq!(decode_hdrop(&encode_hdrop(&paths)).unwrap(), paths);
        assert!(decode_hdrop(&[0; 19]).is_err());
        let mut bad = encode_hdrop(&paths);
        bad[0] = 0xFF;
        bad[1] = 0xFF;
        assert!(decode_hdrop(&bad).is_err());
        let mut ansi = vec![20, 0, 0, 0];
        ansi.extend_from_slice(&[0; 16]);
        ansi.extend_from_slice(b"/x\0/y\0\0");
        assert_eq!(decode_hdrop(&ansi).unwrap(), ["/x", "/y"]);
    }

    #[test]
    fn names_and_synthesis() {
        assert_eq!(format_by_name("cf_unicodetext").unwrap(), CF_UNICODETEXT);
        assert_eq!(format_by_name("text").unwrap(), CF_TEXT);
        assert_eq!(format_by_name("0x200").unwrap(), CF_PRIVATEFIRST);
        assert!(format_by_name("0").is_err());
        assert_eq!(format_name(CF_HDROP), "CF_HDROP");
        assert_eq!(format_name(0x201), "CF_PRIVATEFIRST+1");
        assert_eq!(synthesized(&[CF_TEXT, 0x200]), [CF_UNICODETEXT, CF_OEMTEXT]);
        assert_eq!(synthesized(&[0x200]), Vec::<u32>::new());
        assert_eq!(synthesis_source(CF_TEXT, &[CF_OEMTEXT]), Some(CF_OEMTEXT));
        assert_eq!(
            synthesis_source(CF_OEMTEXT, &[CF_TEXT, CF_UNICODETEXT]),
            Some(CF_UNICODETEXT)
        );
    }
}
