//! Two processes sharing the clipboard with delayed rendering: the owner announces text and an
//! image (the registered `PNG` format) without making them; the reader's first request has the
//! owner render the one it asks for, and on its clean exit the owner renders the rest
//! (`WM_RENDERALLFORMATS`), which a reader finds after the owner is gone.
//!
//! `cargo run -p pipework --example clipboard_delayed`
//!
//! It uses a headless clipboard of its own. With `--system` it uses the session's (X11's when
//! `DISPLAY` is set), where the data outlives the owner only through a clipboard manager:
//!
//! `cargo run -p pipework --features x11 --example clipboard_delayed -- --system`

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use pipework::clipboard::{register_format, Session, CF_UNICODETEXT, PNG};

const WAIT: Duration = Duration::from_secs(10);

fn session(system: bool) -> io::Result<Session> {
    if system {
        Session::system()
    } else {
        Session::headless(&format!("example-{}", std::process::id()))
    }
}

/// The owner: announces two formats, renders on demand, and renders the rest when told to exit.
fn owner(session: Session) -> io::Result<()> {
    let png = register_format(PNG)?;
    let renderer = session.renderer(move |format| {
        eprintln!(
            "owner: asked to render {}",
            pipework::clipboard::format_name(format)
        );
        if format == CF_UNICODETEXT {
            Some(pipework::clipboard::encode_text(
                CF_UNICODETEXT,
                "made on demand",
            ))
        } else if format == png {
            // A 1x1 PNG image would go here; any bytes do for the example.
            Some(b"\x89PNG\r\n\x1a\n(image bytes)".to_vec())
        } else {
            None
        }
    })?;
    {
        let mut clipboard = renderer.open(WAIT)?;
        clipboard.empty()?;
        clipboard.set_delayed(CF_UNICODETEXT)?;
        clipboard.set_delayed(png)?;
    }
    println!("ready");
    io::stdout().flush()?;
    // Wait for the reader to say "exit" (or to go away).
    let mut line = String::new();
    io::stdin().read_line(&mut line)?;
    let rendered = renderer.render_all(WAIT)?;
    eprintln!("owner: rendered {rendered} more format(s) before exiting");
    Ok(())
}

fn main() -> io::Result<()> {
    let system = std::env::args().any(|a| a == "--system");
    if std::env::args().nth(1).as_deref() == Some("--owner") {
        let name = std::env::args().nth(2).expect("clipboard name");
        let session = if name == "--system" {
            Session::system()?
        } else {
            Session::headless(&name)?
        };
        return owner(session);
    }
    let session = session(system)?;
    let name = if system {
        "--system".to_string()
    } else {
        format!("example-{}", std::process::id())
    };
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--owner", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    out.read_line(&mut line)?;
    assert_eq!(line.trim(), "ready");

    // The reader asks for the text: the owner renders it now.
    {
        let clipboard = session.open(WAIT)?;
        let formats: Vec<String> = clipboard
            .formats()?
            .into_iter()
            .map(pipework::clipboard::format_name)
            .collect();
        println!("reader: formats {formats:?}");
        println!("reader: text {:?}", clipboard.get_text()?);
    }
    // The owner exits cleanly, rendering the image first.
    writeln!(child.stdin.take().expect("piped"), "exit")?;
    child.wait()?;
    let clipboard = session.open(WAIT)?;
    let image = clipboard.get(register_format(PNG)?)?;
    println!(
        "reader: after the owner exited, the image is {} bytes",
        image.map_or(0, |i| i.len())
    );
    drop(clipboard);
    if !system {
        session.remove()?;
    }
    Ok(())
}
