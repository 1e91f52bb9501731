//! Win32 formats ↔ the names the desktop's clipboards use (X11 targets, Wayland MIME types),
//! and the data conversions between them: one table for the X11 and the Wayland backends.
//!
//! * The text formats ↔ `text/plain;charset=utf-8`, `UTF8_STRING`, `text/plain` (UTF-8),
//!   `STRING` (Latin-1), `TEXT`.
//! * The registered format `PNG` ↔ `image/png`; `CF_DIB` ↔ `image/bmp` (a BMP file header added
//!   or taken off); `CF_HDROP` ↔ `text/uri-list` (`file://` URIs).
//! * Any other registered format ↔ its name (so `text/html` is the registered format named
//!   `text/html`); other formats ↔ `application/x-pipework-cf-N`.
//! * Names of protocol targets (all capitals, no slash: `TARGETS`, `MULTIPLE`, `SAVE_TARGETS`)
//!   stand for no format.
#![cfg_attr(not(feature = "wayland"), allow(dead_code))]

use std::io;

use super::format::{
    decode_hdrop, decode_text, encode_hdrop, encode_text, is_text, CF_DIB, CF_HDROP,
    CF_UNICODETEXT, PNG, REGISTERED_FIRST,
};

/// The UTF-8 text names, most specific first.
pub(crate) const UTF8_TEXT: [&str; 4] = [
    "text/plain;charset=utf-8",
    "UTF8_STRING",
    "text/plain",
    "TEXT",
];
/// The Latin-1 text name.
pub(crate) const STRING: &str = "STRING";

/// Whether `name` stands for text.
pub(crate) fn is_text_name(name: &str) -> bool {
    name == STRING
        || UTF8_TEXT.contains(&name)
        || name.eq_ignore_ascii_case("text/plain;charset=utf-8")
}

/// The name a non-text `format` goes by.
pub(crate) fn name_of_format(format: u32) -> io::Result<String> {
    Ok(if format == CF_DIB {
        "image/bmp".into()
    } else if format == CF_HDROP {
        "text/uri-list".into()
    } else if format >= REGISTERED_FIRST {
        let name = crate::atom::clipboard_format_name(format)?;
        if name == PNG {
            "image/png".into()
        } else {
            name
        }
    } else {
        format!("application/x-pipework-cf-{format}")
    })
}

/// The names `format` is offered under, most specific first.
pub(crate) fn names_of_format(format: u32) -> io::Result<Vec<String>> {
    if is_text(format) {
        let mut names: Vec<String> = UTF8_TEXT.iter().map(|s| s.to_string()).collect();
        names.push(STRING.into());
        return Ok(names);
    }
    Ok(vec![name_of_format(format)?])
}

/// The format `name` stands for (`None`: a protocol target, or nothing pipework can number).
pub(crate) fn format_of_name(name: &str) -> io::Result<Option<u32>> {
    if is_text_name(name) {
        return Ok(Some(CF_UNICODETEXT));
    }
    match name {
        "image/png" => return super::register_format(PNG).map(Some),
        "image/bmp" => return Ok(Some(CF_DIB)),
        "text/uri-list" => return Ok(Some(CF_HDROP)),
        _ => {}
    }
    if name.is_empty()
        || name.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !name.contains('/')
    {
        return Ok(None);
    }
    if let Some(n) = name.strip_prefix("application/x-pipework-cf-") {
        return Ok(n.parse().ok().filter(|n| (1..REGISTERED_FIRST).contains(n)));
    }
    Ok(super::register_format(name).ok())
}

/// `format`'s Win32 data as it goes out under `name` (`None`: it does not convert).
pub(crate) fn to_wire(format: u32, name: &str, data: &[u8]) -> Option<Vec<u8>> {
    if is_text(format) {
        let text = decode_text(format, data);
        if name == STRING {
            return Some(
                text.chars()
                    .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                    .collect(),
            );
        }
        return Some(text.into_bytes());
    }
    if format == CF_DIB {
        return dib_to_bmp(data);
    }
    if format == CF_HDROP {
        return Some(paths_to_uri_list(&decode_hdrop(data).ok()?));
    }
    Some(data.to_vec())
}

/// Data that came in under `name` as `format` holds it (`None`: it does not convert).
pub(crate) fn from_wire(format: u32, name: &str, data: Vec<u8>) -> Option<Vec<u8>> {
    if is_text(format) {
        let text: String = if name == STRING {
            data.iter().map(|&b| char::from(b)).collect()
        } else {
            String::from_utf8_lossy(&data).into_owned()
        };
        return Some(encode_text(CF_UNICODETEXT, &text));
    }
    if format == CF_DIB {
        return bmp_to_dib(&data);
    }
    if format == CF_HDROP {
        return Some(encode_hdrop(&uri_list_to_paths(&data)));
    }
    Some(data)
}

/// A `CF_DIB` as a BMP file: the 14-byte file header in front. `None` when the DIB's header
/// does not hold together.
pub(crate) fn dib_to_bmp(dib: &[u8]) -> Option<Vec<u8>> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(dib.get(at..at + 4)?.try_into().ok()?));
    let header = u32_at(0)? as usize;
    if header < 12 || header > dib.len() {
        return None;
    }
    let (bits, compression, used) = if header == 12 {
        (u16::from_le_bytes(dib.get(10..12)?.try_into().ok()?), 0, 0)
    } else {
        (
            u16::from_le_bytes(dib.get(14..16)?.try_into().ok()?),
            u32_at(16)?,
            u32_at(32)? as usize,
        )
    };
    let entry = if header == 12 { 3 } else { 4 };
    let colors = if used > 0 {
        used
    } else if bits <= 8 {
        1usize << bits
    } else {
        0
    };
    let masks = if header == 40 && compression == 3 {
        12
    } else {
        0
    };
    let offset = 14 + header + masks + colors.checked_mul(entry)?;
    let size = u32::try_from(14 + dib.len()).ok()?;
    let mut out = Vec::with_capacity(14 + dib.len());
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&u32::try_from(offset).ok()?.to_le_bytes());
    out.extend_from_slice(dib);
    Some(out)
}

/// A BMP file's DIB (the file header taken off).
pub(crate) fn bmp_to_dib(bmp: &[u8]) -> Option<Vec<u8>> {
    (bmp.len() > 14 && bmp.starts_with(b"BM")).then(|| bmp[14..].to_vec())
}

pub(crate) fn paths_to_uri_list<S: AsRef<str>>(paths: &[S]) -> Vec<u8> {
    let mut out = String::new();
    for path in paths {
        out.push_str("file://");
        for b in path.as_ref().bytes() {
            if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

pub(crate) fn uri_list_to_paths(list: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(list);
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix("file://")?;
            // file:///path or file://host/path: the path starts at the third slash.
            let path = &rest[rest.find('/')?..];
            let bytes = path.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' && i + 2 < bytes.len() {
                    let hex = |b: u8| char::from(b).to_digit(16);
                    if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                }
                out.push(bytes[i]);
                i += 1;
            }
            Some(String::from_utf8_lossy(&out).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_lists_and_bitmaps_convert() {
        let paths = ["/tmp/a b", "/x/ü%"];
        let list = paths_to_uri_list(&paths);
        assert_eq!(
            String::from_utf8(list.clone()).unwrap(),
            "file:///tmp/a%20b\r\nfile:///x/%C3%BC%25\r\n"
        );
        assert_eq!(uri_list_to_paths(&list), paths);
        assert_eq!(
            uri_list_to_paths(b"# comment\nfile://host/p%2\nhttp://x/y\n"),
            ["/p%2"]
        );
        // A 1x1 24-bit DIB.
        let mut dib = vec![0u8; 40];
        dib[0] = 40;
        dib[4] = 1;
        dib[8] = 1;
        dib[12] = 1;
        dib[14] = 24;
        dib.extend_from_slice(&[1, 2, 3, 0]);
        let bmp = dib_to_bmp(&dib).unwrap();
        assert_eq!(&bmp[..2], b"BM");
        assert_eq!(u32::from_le_bytes(bmp[10..14].try_into().unwrap()), 54);
        assert_eq!(bmp_to_dib(&bmp).unwrap(), dib);
        assert_eq!(dib_to_bmp(&[1, 2]), None);
        assert_eq!(dib_to_bmp(&[0xFF; 8]), None);
    }

    #[test]
    fn names_map_both_ways() {
        assert_eq!(format_of_name("UTF8_STRING").unwrap(), Some(CF_UNICODETEXT));
        assert_eq!(format_of_name("text/plain").unwrap(), Some(CF_UNICODETEXT));
        assert_eq!(format_of_name("TARGETS").unwrap(), None);
        assert_eq!(format_of_name("SAVE_TARGETS").unwrap(), None);
        assert_eq!(format_of_name("image/bmp").unwrap(), Some(CF_DIB));
        assert_eq!(
            format_of_name("application/x-pipework-cf-512").unwrap(),
            Some(512)
        );
        assert_eq!(format_of_name("application/x-pipework-cf-0").unwrap(), None);
        assert_eq!(
            name_of_format(0x200).unwrap(),
            "application/x-pipework-cf-512"
        );
        assert_eq!(name_of_format(CF_HDROP).unwrap(), "text/uri-list");
        assert_eq!(
            to_wire(CF_UNICODETEXT, STRING, &encode_text(CF_UNICODETEXT, "é✓")).unwrap(),
            [0xE9, b'?']
        );
        assert_eq!(
            from_wire(CF_UNICODETEXT, "text/plain", "é".into()).unwrap(),
            encode_text(CF_UNICODETEXT, "é")
        );
    }
}
