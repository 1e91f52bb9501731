//! The headless clipboard's state file: its sequence number, owner and formats, written whole
//! and renamed into place, and parsed by I/O-free code that checks every field.
//!
//! ```text
//! pipework-clipboard 2
//! seq 12
//! owner 4242 \\.\pipe\pipework.clipboard-render.4242.9f3c...
//! format 13 file d-4242-1-5d1e 5000 -
//! format 1 inline 68690a00 4 -
//! format 49161 delayed - - 504e47
//! ```
//!
//! A format line: its number, `file NAME LENGTH` (the data is that file of the clipboard's
//! directory, of that many bytes, at most [`MAX_DATA`]: a reader takes no more), `inline HEX
//! LENGTH` (data of at most [`INLINE_MAX`] bytes, in the state itself; `-` when empty) or
//! `delayed - -` (its owner renders it when asked), and a registered format's name in hex
//! (numbers of registered formats are re-read from the name: they live in the atom table,
//! which may have been started afresh since).

use std::fmt::Write as _;

pub(crate) use super::render::MAX_DATA;

/// The most formats one clipboard holds.
pub(crate) const MAX_FORMATS: usize = 4096;
/// The largest state file read.
pub(crate) const MAX_STATE_BYTES: usize = 4 << 20;
/// The most data a format keeps in the state file itself (more goes to a file of its own):
/// 4096 formats of it fit in [`MAX_STATE_BYTES`].
pub(crate) const INLINE_MAX: usize = 256;
const HEADER: &str = "pipework-clipboard 2";

/// Where a format's data is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Data {
    /// In this file of the clipboard's directory, of this many bytes.
    File(String, u64),
    /// In the state itself (at most [`INLINE_MAX`] bytes).
    Inline(Vec<u8>),
    /// With the owner, who renders it when asked.
    Delayed,
}

/// One format on the clipboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) format: u32,
    /// A registered format's name.
    pub(crate) name: Option<String>,
    pub(crate) data: Data,
}

/// The whole state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) seq: u64,
    /// The owner's process id (0: none).
    pub(crate) owner: u32,
    /// The owner's render pipe, when it can render delayed formats.
    pub(crate) renderer: Option<String>,
    pub(crate) formats: Vec<Entry>,
}

/// Whether `name` may be a data file's name: 1 to 64 of `A-Z a-z 0-9 -`, starting `d-`.
pub(crate) fn is_data_file(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with("d-")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn hex(s: &str) -> String {
    s.bytes().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn hex_bytes(data: &[u8]) -> String {
    data.iter()
        .fold(String::with_capacity(2 * data.len()), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn unhex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 2 * INLINE_MAX {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) || s.len() > 2 * 255 * 3 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

impl State {
    /// The text of the state file.
    pub(crate) fn render(&self) -> String {
        let mut out = format!("{HEADER}\nseq {}\n", self.seq);
        let _ = writeln!(
            out,
            "owner {} {}",
            self.owner,
            self.renderer.as_deref().unwrap_or("-")
        );
        for e in &self.formats {
            let (how, file, len) = match &e.data {
                Data::File(f, len) => ("file", f.clone(), len.to_string()),
                Data::Inline(d) if d.is_empty() => ("inline", "-".into(), "0".into()),
                Data::Inline(d) => ("inline", hex_bytes(d), d.len().to_string()),
                Data::Delayed => ("delayed", "-".into(), "-".to_string()),
            };
            let name = e.name.as_deref().map(hex).unwrap_or_else(|| "-".into());
            let _ = writeln!(out, "format {} {how} {file} {len} {name}", e.format);
        }
        out
    }

    /// Parses a state file; `Err` says what is wrong with it.
    pub(crate) fn parse(bytes: &[u8]) -> Result<State, String> {
        if bytes.len() > MAX_STATE_BYTES {
            return Err(format!("it is {} bytes long", bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8".to_string())?;
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err("its first line is not a clipboard state's".into());
        }
        let seq = lines
            .next()
            .and_then(|l| l.strip_prefix("seq "))
            .and_then(|n| n.parse().ok())
            .ok_or("no sequence number")?;
        let owner_line = lines
            .next()
            .and_then(|l| l.strip_prefix("owner "))
            .ok_or("no owner line")?;
        let (pid, renderer) = owner_line.split_once(' ').ok_or("a bad owner line")?;
        let owner = pid.parse().map_err(|_| "a bad owner")?;
        let renderer = match renderer {
            "-" => None,
            r if r.starts_with(r"\\.\pipe\") && r.len() <= 200 && !r.contains(' ') => {
                Some(r.to_string())
            }
            _ => return Err("a bad render pipe".into()),
        };
        let mut formats: Vec<Entry> = Vec::new();
        for line in lines {
            if formats.len() == MAX_FORMATS {
                return Err(format!("more than {MAX_FORMATS} formats"));
            }
            let fields: Vec<&str> = line.split(' ').collect();
            let [tag, number, how, file, len, name] = fields[..] else {
                return Err(format!("a bad line {line:?}"));
            };
            if tag != "format" {
                return Err(format!("a bad line {line:?}"));
            }
            let format: u32 = number
                .parse()
                .ok()
                .filter(|n| (1..=0xFFFF).contains(n))
                .ok_or_else(|| format!("a bad format number {number:?}"))?;
            let data = match (how, file, len) {
                ("delayed", "-", "-") => Data::Delayed,
                ("file", f, len) if is_data_file(f) => {
                    let len: u64 = len
                        .parse()
                        .ok()
                        .filter(|&n| n <= MAX_DATA)
                        .ok_or_else(|| format!("a bad length for format {format}"))?;
                    Data::File(f.to_string(), len)
                }
                ("inline", hex, len) => {
                    let bytes = if hex == "-" {
                        Some(Vec::new())
                    } else {
                        unhex_bytes(hex)
                    };
                    match bytes {
                        Some(b) if b.len() <= INLINE_MAX && len == b.len().to_string() => {
                            Data::Inline(b)
                        }
                        _ => return Err(format!("bad inline data for format {format}")),
                    }
                }
                _ => return Err(format!("bad data for format {format}")),
            };
            let name = match name {
                "-" => None,
                n => Some(unhex(n).ok_or_else(|| format!("a bad name for format {format}"))?),
            };
            if formats.iter().any(|e| e.format == format) {
                return Err(format!("format {format} twice"));
            }
            formats.push(Entry { format, name, data });
        }
        Ok(State {
            seq,
            owner,
            renderer,
            formats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips() {
        let state = State {
            seq: 9,
            owner: 42,
            renderer: Some(r"\\.\pipe\r.1".into()),
            formats: vec![
                Entry {
                    format: 13,
                    name: None,
                    data: Data::File("d-1-2".into(), 7),
                },
                Entry {
                    format: 7,
                    name: None,
                    data: Data::Inline(b"hi\0".to_vec()),
                },
                Entry {
                    format: 8,
                    name: None,
                    data: Data::Inline(Vec::new()),
                },
                Entry {
                    format: 0xC001,
                    name: Some("My Format é".into()),
                    data: Data::Delayed,
                },
            ],
        };
        assert_eq!(State::parse(state.render().as_bytes()).unwrap(), state);
        assert!(
            State::parse(b"pipework-clipboard 2\nseq 1\nowner 1 -\nformat 1 file ../x 1 -\n")
                .is_err()
        );
        assert!(
            State::parse(b"pipework-clipboard 2\nseq 1\nowner 1 -\nformat 0 delayed - - -\n")
                .is_err()
        );
        assert!(State::parse(
            b"pipework-clipboard 2\nseq 1\nowner 1 -\nformat 1 delayed - - -\nformat 1 delayed - - -\n"
        )
        .is_err());
        // A length past the limit, or none.
        assert!(State::parse(
            b"pipework-clipboard 2\nseq 1\nowner 1 -\nformat 1 file d-1 1099511627776 -\n"
        )
        .is_err());
        assert!(
            State::parse(b"pipework-clipboard 2\nseq 1\nowner 1 -\nformat 1 file d-1 - -\n")
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = State::parse(&bytes);
            let mut framed = b"pipework-clipboard 2\nseq 1\nowner 1 -\n".to_vec();
            framed.extend_from_slice(&bytes);
            let _ = State::parse(&framed);
        }
    }
}
