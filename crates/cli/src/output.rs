//! What every command prints goes through here: [`stdout`] for its output, [`note!`] for a line
//! on standard error.
//!
//! Rust ignores `SIGPIPE`, so a reader of standard output that goes away (`pipework list | head
//! -1`) shows up as `EPIPE` on the next write, which `println!` turns into a panic. Written
//! through [`stdout`], that write fails with an error [`is_closed`] recognises, and `main` ends
//! the command quietly. A line that cannot be written to standard error is dropped: there is
//! nowhere left to say so.
//!
//! Names are data that other programs (or a careless shell) chose, so text meant for a person
//! shows them through [`escape`], and errors through [`error_text`]: a name cannot move the
//! cursor, ring the bell or forge a line of its own. `--json` output gives names exactly as
//! they are.

use std::fmt::{self, Write as _};
use std::io::{self, Write};

/// Standard output, locked for as long as this lives. Write to it with `write!` / `writeln!`
/// and `?`; an `EPIPE` comes back as an error that [`is_closed`] recognises.
pub struct Stdout(io::StdoutLock<'static>);

/// Standard output, for one command's output.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(closed)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).map_err(closed)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(closed)
    }
}

/// The reader of standard output went away.
#[derive(Debug)]
struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for Closed {}

/// Marks `EPIPE` on standard output as [`Closed`], so that it cannot be mistaken for a broken
/// pipe to a peer (which is a real error).
fn closed(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, Closed)
    } else {
        e
    }
}

/// Whether `e` says that the reader of standard output went away.
pub fn is_closed(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Closed>())
}

/// Writes one line to standard error, dropped if standard error is gone.
pub fn note_line(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// `eprintln!` that never panics: one line to standard error, dropped if standard error is gone.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::note_line(format_args!($($arg)*))
    };
}

pub(crate) use note;

/// `text` with every character that a terminal would act on written out instead: C0 controls
/// and DEL (`\n`, `\t`, `\r`, else `\x1b`-style), C1 controls and the Unicode line and paragraph
/// separators (`\u{85}`-style). What is left prints as itself on one line.
///
/// Backslashes are left alone (they fill Win32 names), so a name that spells `\n` itself reads
/// the same as one holding a newline; `--json` tells them apart.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            '\0'..='\x1f' | '\x7f' => {
                let _ = write!(out, r"\x{:02x}", c as u32);
            }
            '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, r"\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// An error's message as `pipework: ...` shows it: one line, names plain.
///
/// The library quotes some names Rust-style (`"\\\\.\\mailslot\\x"`), which doubles every
/// backslash of a Win32 name. A quoted piece that is exactly such a quotation of text the user
/// gave on the command line (or of a part of it, or of a full name made from it) is shown as
/// that text, plainly; then the whole message goes through [`escape`].
pub fn error_text(message: &str, args: &[String]) -> String {
    escape(&unquote_names(message, args))
}

/// `e` as `pipework: ...` shows it: [`error_text`] with this process's command line.
pub fn error(e: &dyn fmt::Display) -> String {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    error_text(&e.to_string(), &args)
}

/// [`error_text`]'s first half: Rust-style quotations of the user's names replaced by the names.
fn unquote_names(message: &str, args: &[String]) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..open]);
        let quoted = &rest[open..];
        match parse_quoted(quoted) {
            Some((text, len))
                if !text.is_empty()
                    && format!("{text:?}") == quoted[..len]
                    && args.iter().any(|a| {
                        !a.is_empty() && (a.contains(text.as_str()) || text.contains(a.as_str()))
                    }) =>
            {
                out.push_str(&text);
                rest = &quoted[len..];
            }
            _ => {
                out.push('"');
                rest = &quoted[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of the Rust string literal that starts `s` (at its `"`) and its length in `s`;
/// `None` if it is not one (no closing quote, an escape Rust's `Debug` does not write).
fn parse_quoted(s: &str) -> Option<(String, usize)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut text = String::new();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((text, at + 1)),
            '\\' => match chars.next()?.1 {
                'n' => text.push('\n'),
                'r' => text.push('\r'),
                't' => text.push('\t'),
                '0' => text.push('\0'),
                '\\' => text.push('\\'),
                '"' => text.push('"'),
                '\'' => text.push('\''),
                'u' => {
                    if chars.next()?.1 != '{' {
                        return None;
                    }
                    let mut hex = String::new();
                    loop {
                        match chars.next()?.1 {
                            '}' => break,
                            h if h.is_ascii_hexdigit() && hex.len() < 6 => hex.push(h),
                            _ => return None,
                        }
                    }
                    text.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            },
            c => text.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_written_out() {
        assert_eq!(escape("plain name"), "plain name");
        assert_eq!(escape(r"\\.\pipe\x"), r"\\.\pipe\x");
        assert_eq!(
            escape("a\x1b[31m\x07b\nc\r\td\x7f\u{85}\u{9b}\u{2028}\u{2029}é"),
            r"a\x1b[31m\x07b\nc\r\td\x7f\u{85}\u{9b}\u{2028}\u{2029}é"
        );
    }

    #[test]
    fn quoted_names_of_the_user_become_plain() {
        let args = vec![r"\\.\mailslot\".to_string()];
        let message = format!("invalid mailslot name {:?}: empty slot name", args[0]);
        assert_eq!(
            error_text(&message, &args),
            r"invalid mailslot name \\.\mailslot\: empty slot name"
        );
        // A full name made from a short one, holding a control character.
        let args = vec!["a\x1bb".to_string()];
        let message = format!("invalid name {:?}: why", "Local\\a\x1bb");
        assert_eq!(
            error_text(&message, &args),
            r"invalid name Local\a\x1bb: why"
        );
        // Quotes around anything else stay.
        let args = vec!["x".to_string()];
        assert_eq!(
            error_text(r#"no mechanism "other" here, "a"b"#, &args),
            r#"no mechanism "other" here, "a"b"#
        );
    }
}
