//! The clipboard's Win32 rules on the headless backend, across real processes: one opener,
//! ownership, the order of formats, synthesized text, registered and private formats, file
//! lists, delayed rendering (once, when asked; all on a clean exit; none from a dead owner),
//! sequence numbers and listeners.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{child, err_kind, wait, TIMEOUT};
use pipework::clipboard::{
    decode_hdrop, decode_text, encode_hdrop, encode_text, register_format, Session, CF_HDROP,
    CF_OEMTEXT, CF_PRIVATEFIRST, CF_TEXT, CF_UNICODETEXT,
};

fn main() {
    common::main(
        &[
            ("one_opener_at_a_time", one_opener_at_a_time),
            (
                "opener_killed_leaves_the_clipboard_free",
                opener_killed_leaves_the_clipboard_free,
            ),
            (
                "empty_makes_the_opener_the_owner",
                empty_makes_the_opener_the_owner,
            ),
            (
                "formats_keep_the_order_they_were_set_in",
                formats_keep_the_order_they_were_set_in,
            ),
            (
                "text_formats_are_made_from_one_another",
                text_formats_are_made_from_one_another,
            ),
            (
                "registered_format_reads_back_in_another_process",
                registered_format_reads_back_in_another_process,
            ),
            ("file_lists_cross_as_cf_hdrop", file_lists_cross_as_cf_hdrop),
            (
                "delayed_format_is_rendered_once_when_first_asked",
                delayed_format_is_rendered_once_when_first_asked,
            ),
            (
                "owner_renders_all_formats_on_clean_exit",
                owner_renders_all_formats_on_clean_exit,
            ),
            (
                "delayed_format_of_a_killed_owner_reads_as_none",
                delayed_format_of_a_killed_owner_reads_as_none,
            ),
            (
                "only_the_owners_renderer_may_delay_a_format",
                only_the_owners_renderer_may_delay_a_format,
            ),
            (
                "sequence_number_counts_every_change_by_any_process",
                sequence_number_counts_every_change_by_any_process,
            ),
            (
                "listener_hears_another_process_close_after_a_change",
                listener_hears_another_process_close_after_a_change,
            ),
            #[cfg(feature = "tokio")]
            (
                "async_listener_streams_changes",
                async_listener_streams_changes,
            ),
            (
                "data_outlives_the_process_that_set_it",
                data_outlives_the_process_that_set_it,
            ),
            ("large_data_crosses", large_data_crosses),
            ("damaged_state_is_refused", damaged_state_is_refused),
            (
                "owner_announcing_too_much_is_refused",
                owner_announcing_too_much_is_refused,
            ),
            (
                "hostile_data_files_are_refused_without_reading_them_whole",
                hostile_data_files_are_refused_without_reading_them_whole,
            ),
            (
                "owner_is_told_when_another_process_empties_the_clipboard",
                owner_is_told_when_another_process_empties_the_clipboard,
            ),
        ],
        &[
            ("hold_open", hold_open),
            ("set_formats", set_formats),
            ("delayed_owner", delayed_owner),
            ("read_format", read_format),
            ("boasting_owner", boasting_owner),
            ("destroy_watcher", destroy_watcher),
        ],
    );
}

const WAIT: Duration = Duration::from_secs(10);

fn session_name(what: &str) -> String {
    format!("pw-test-{}-{what}", std::process::id())
}

/// A child with piped stdin and stdout.
struct Peer {
    child: std::process::Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(role: &str, args: &[&str]) -> Peer {
        let mut child = child(role)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    fn line(&mut self) -> String {
        common::line(&mut self.stdout)
    }

    fn say(&mut self, text: &str) {
        writeln!(self.stdin.as_mut().unwrap(), "{text}").unwrap();
    }

    /// Waits for its exit (it must succeed) and returns the rest of what it printed.
    fn finish(mut self) -> String {
        drop(self.stdin.take());
        let status = wait(&mut self.child);
        let mut rest = String::new();
        while let Ok(n) = self.stdout.read_line(&mut rest) {
            if n == 0 {
                break;
            }
        }
        assert!(status.success(), "child failed: {status}; printed {rest:?}");
        rest
    }
}

fn stdin_line() -> String {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    line.trim().to_string()
}

// Child: opens the clipboard, says so, and closes it when told (or killed).
fn hold_open(args: &[String]) {
    let session = Session::headless(&args[0]).unwrap();
    let _clipboard = session.open(WAIT).unwrap();
    println!("open");
    stdin_line();
}

// Child: empties the clipboard and sets each `FORMAT=TEXT` argument, as UTF-8 bytes (text
// formats encoded as such); `name:X` formats are registered first. Prints the sequence number.
fn set_formats(args: &[String]) {
    let session = Session::headless(&args[0]).unwrap();
    let mut clipboard = session.open(WAIT).unwrap();
    clipboard.empty().unwrap();
    for arg in &args[1..] {
        let (format, text) = arg.split_once('=').unwrap();
        let format = match format.strip_prefix("name:") {
            Some(name) => register_format(name).unwrap(),
            None => format.parse().unwrap(),
        };
        let data = if [CF_TEXT, CF_OEMTEXT, CF_UNICODETEXT].contains(&format) {
            encode_text(format, text)
        } else {
            text.as_bytes().to_vec()
        };
        clipboard.set(format, &data).unwrap();
    }
    drop(clipboard);
    println!("{}", session.sequence_number().unwrap());
}

// Child: reads one format and prints it as text, a file list as its paths joined by `|` (or
// "none").
fn read_format(args: &[String]) {
    let session = Session::headless(&args[0]).unwrap();
    let clipboard = session.open(WAIT).unwrap();
    let format: u32 = args[1].parse().unwrap();
    match clipboard.get(format).unwrap() {
        Some(data) if format == CF_HDROP => println!("{}", decode_hdrop(&data).unwrap().join("|")),
        Some(data) => println!("{}", String::from_utf8_lossy(&data)),
        None => println!("none"),
    }
}

// Child: owns the clipboard with a renderer, announcing the formats in args[2..] delayed (and
// CF_TEXT "placed" set directly). Then waits for an order: "exit" (render all, then exit) or
// "drop" (exit without rendering). Prints each render as it happens and the count at the end.
fn delayed_owner(args: &[String]) {
    let session = Session::headless(&args[0]).unwrap();
    let renders = Arc::new(AtomicUsize::new(0));
    let counted = renders.clone();
    let renderer = session
        .renderer(move |format| {
            counted.fetch_add(1, Ordering::SeqCst);
            Some(format!("rendered {format}").into_bytes())
        })
        .unwrap();
    {
        let mut clipboard = renderer.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set(CF_TEXT, b"placed\0").unwrap();
        for format in &args[1..] {
            clipboard.set_delayed(format.parse().unwrap()).unwrap();
        }
    }
    println!("ready");
    match stdin_line().as_str() {
        "exit" => {
            let n = renderer.render_all(WAIT).unwrap();
            println!("render_all {n}");
        }
        _ => drop(renderer),
    }
    println!("renders {}", renders.load(Ordering::SeqCst));
}

fn one_opener_at_a_time() {
    let name = session_name("one-opener");
    let session = Session::headless(&name).unwrap();
    let mut holder = Peer::start("hold_open", &[&name]);
    assert_eq!(holder.line(), "open");
    let e = session.open(Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceBusy);
    assert!(e.to_string().contains(&name), "{e}");
    holder.say("close");
    // Waits for the holder to close, then has it.
    let clipboard = session.open(TIMEOUT).unwrap();
    // While this process holds it, another cannot open it either.
    let mut other = Peer::start("read_format", &[&name, "1"]);
    drop(clipboard);
    assert_eq!(other.line(), "none");
    other.finish();
    holder.finish();
    session.remove().unwrap();
}

fn opener_killed_leaves_the_clipboard_free() {
    let name = session_name("killed-opener");
    let session = Session::headless(&name).unwrap();
    let mut holder = Peer::start("hold_open", &[&name]);
    assert_eq!(holder.line(), "open");
    holder.child.kill().unwrap();
    holder.child.wait().unwrap();
    let mut clipboard = session.open(TIMEOUT).unwrap();
    clipboard.empty().unwrap();
    drop(clipboard);
    session.remove().unwrap();
}

fn empty_makes_the_opener_the_owner() {
    let name = session_name("owner");
    let session = Session::headless(&name).unwrap();
    assert_eq!(session.owner().unwrap(), None);
    let setter = Peer::start("set_formats", &[&name, "1=one"]);
    let pid = setter.child.id();
    setter.finish();
    assert_eq!(session.owner().unwrap(), Some(pid));
    let mut clipboard = session.open(WAIT).unwrap();
    assert_eq!(clipboard.formats().unwrap()[0], CF_TEXT);
    clipboard.empty().unwrap();
    assert_eq!(clipboard.formats().unwrap(), Vec::<u32>::new());
    assert_eq!(clipboard.get(CF_TEXT).unwrap(), None);
    drop(clipboard);
    assert_eq!(session.owner().unwrap(), Some(std::process::id()));
    session.remove().unwrap();
}

fn formats_keep_the_order_they_were_set_in() {
    let name = session_name("order");
    let session = Session::headless(&name).unwrap();
    let rich = format!("{name}-Rich");
    let private = CF_PRIVATEFIRST + 3;
    Peer::start(
        "set_formats",
        &[
            &name,
            &format!("name:{rich}=<b>hi</b>"),
            &format!("{private}=private"),
            "13=hi",
            "15=files",
        ],
    )
    .finish();
    let rich_id = register_format(&rich).unwrap();
    let expected = vec![
        rich_id,
        private,
        CF_UNICODETEXT,
        CF_HDROP,
        CF_TEXT,
        CF_OEMTEXT,
    ];
    let mut clipboard = session.open(WAIT).unwrap();
    assert_eq!(clipboard.formats().unwrap(), expected);
    assert_eq!(session.count_formats().unwrap(), 4);
    assert_eq!(clipboard.get(private).unwrap().unwrap(), b"private");
    // Setting a format again replaces its data where it stands.
    clipboard.set(private, b"again").unwrap();
    assert_eq!(clipboard.formats().unwrap(), expected);
    drop(clipboard);
    assert_eq!(
        Peer::start("read_format", &[&name, &private.to_string()]).finish(),
        "again\n"
    );
    for f in &expected {
        assert!(session.is_format_available(*f).unwrap(), "{f:#x}");
    }
    assert!(!session.is_format_available(CF_PRIVATEFIRST).unwrap());
    session.remove().unwrap();
}

fn text_formats_are_made_from_one_another() {
    let name = session_name("synth");
    let session = Session::headless(&name).unwrap();
    Peer::start("set_formats", &[&name, "1=Grüße ½"]).finish();
    {
        let clipboard = session.open(WAIT).unwrap();
        assert_eq!(
            clipboard.formats().unwrap(),
            [CF_TEXT, CF_UNICODETEXT, CF_OEMTEXT]
        );
        assert_eq!(clipboard.get_text().unwrap().unwrap(), "Grüße ½");
        let oem = clipboard.get(CF_OEMTEXT).unwrap().unwrap();
        assert_eq!(oem, [b'G', b'r', 0x81, 0xE1, b'e', b' ', 0xAB, 0]);
    }
    // From OEM text to the others; and Unicode text is the source whenever it is there.
    Peer::start("set_formats", &[&name, "7=Ä×"]).finish();
    {
        let clipboard = session.open(WAIT).unwrap();
        assert_eq!(
            decode_text(CF_TEXT, &clipboard.get(CF_TEXT).unwrap().unwrap()),
            "Ä?"
        );
    }
    Peer::start("set_formats", &[&name, "1=ansi", "13=unicode"]).finish();
    let clipboard = session.open(WAIT).unwrap();
    assert_eq!(clipboard.get(CF_OEMTEXT).unwrap().unwrap(), b"unicode\0");
    assert_eq!(clipboard.get(CF_TEXT).unwrap().unwrap(), b"ansi\0");
    drop(clipboard);
    session.remove().unwrap();
}

fn registered_format_reads_back_in_another_process() {
    let name = session_name("registered");
    let session = Session::headless(&name).unwrap();
    let format_name = format!("{name}-Shared Format");
    Peer::start(
        "set_formats",
        &[&name, &format!("name:{format_name}=payload")],
    )
    .finish();
    let id = register_format(&format_name.to_uppercase()).unwrap();
    assert!(id >= 0xC000);
    let clipboard = session.open(WAIT).unwrap();
    assert_eq!(clipboard.formats().unwrap(), [id]);
    assert_eq!(clipboard.get(id).unwrap().unwrap(), b"payload");
    drop(clipboard);
    session.remove().unwrap();
}

fn file_lists_cross_as_cf_hdrop() {
    let name = session_name("hdrop");
    let session = Session::headless(&name).unwrap();
    let paths = ["/tmp/a file.txt", "/home/ü/b"];
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set(CF_HDROP, &encode_hdrop(&paths)).unwrap();
    }
    let out = Peer::start("read_format", &[&name, &CF_HDROP.to_string()]).finish();
    assert_eq!(out, "/tmp/a file.txt|/home/ü/b\n");
    let clipboard = session.open(WAIT).unwrap();
    assert_eq!(
        decode_hdrop(&clipboard.get(CF_HDROP).unwrap().unwrap()).unwrap(),
        paths
    );
    drop(clipboard);
    session.remove().unwrap();
}

fn delayed_format_is_rendered_once_when_first_asked() {
    let name = session_name("delayed");
    let session = Session::headless(&name).unwrap();
    let private = CF_PRIVATEFIRST + 1;
    let mut owner = Peer::start("delayed_owner", &[&name, &private.to_string()]);
    assert_eq!(owner.line(), "ready");
    assert!(session.is_format_available(private).unwrap());
    let seq = session.sequence_number().unwrap();
    // Asked by another process: rendered then.
    assert_eq!(
        Peer::start("read_format", &[&name, &private.to_string()]).finish(),
        format!("rendered {private}\n")
    );
    // Asked again, here and there: read from the clipboard, not rendered again.
    let clipboard = session.open(WAIT).unwrap();
    assert_eq!(
        clipboard.get(private).unwrap().unwrap(),
        format!("rendered {private}").as_bytes()
    );
    drop(clipboard);
    assert_eq!(
        Peer::start("read_format", &[&name, &private.to_string()]).finish(),
        format!("rendered {private}\n")
    );
    assert_eq!(session.sequence_number().unwrap(), seq);
    owner.say("drop");
    assert_eq!(owner.finish(), "renders 1\n");
    session.remove().unwrap();
}

fn owner_renders_all_formats_on_clean_exit() {
    let name = session_name("render-all");
    let session = Session::headless(&name).unwrap();
    let a = CF_PRIVATEFIRST + 2;
    let b = register_format(&format!("{name}-Late")).unwrap();
    let mut owner = Peer::start("delayed_owner", &[&name, &a.to_string(), &b.to_string()]);
    assert_eq!(owner.line(), "ready");
    owner.say("exit");
    assert_eq!(owner.finish(), "render_all 2\nrenders 2\n");
    // The owner is gone; its data stays, in order.
    let clipboard = session.open(WAIT).unwrap();
    assert_eq!(
        clipboard.formats().unwrap(),
        [CF_TEXT, a, b, CF_UNICODETEXT, CF_OEMTEXT]
    );
    assert_eq!(
        clipboard.get(b).unwrap().unwrap(),
        format!("rendered {b}").as_bytes()
    );
    assert_eq!(
        clipboard.get(a).unwrap().unwrap(),
        format!("rendered {a}").as_bytes()
    );
    drop(clipboard);
    session.remove().unwrap();
}

fn delayed_format_of_a_killed_owner_reads_as_none() {
    let name = session_name("killed-owner");
    let session = Session::headless(&name).unwrap();
    let a = CF_PRIVATEFIRST + 4;
    let mut owner = Peer::start("delayed_owner", &[&name, &a.to_string()]);
    assert_eq!(owner.line(), "ready");
    owner.child.kill().unwrap();
    owner.child.wait().unwrap();
    let clipboard = session.open(WAIT).unwrap();
    assert_eq!(clipboard.get(a).unwrap(), None);
    // What the owner had placed is still there.
    assert_eq!(clipboard.get(CF_TEXT).unwrap().unwrap(), b"placed\0");
    drop(clipboard);
    // An owner that exits without rendering: the same.
    let mut owner = Peer::start("delayed_owner", &[&name, &a.to_string()]);
    assert_eq!(owner.line(), "ready");
    owner.say("drop");
    assert_eq!(owner.finish(), "renders 0\n");
    let clipboard = session.open(WAIT).unwrap();
    assert_eq!(clipboard.get(a).unwrap(), None);
    drop(clipboard);
    session.remove().unwrap();
}

fn only_the_owners_renderer_may_delay_a_format() {
    let name = session_name("delay-rights");
    let session = Session::headless(&name).unwrap();
    let mut clipboard = session.open(WAIT).unwrap();
    clipboard.empty().unwrap();
    assert_eq!(
        err_kind(clipboard.set_delayed(CF_TEXT)),
        ErrorKind::PermissionDenied
    );
    drop(clipboard);
    let renderer = session.renderer(|_| None).unwrap();
    // Opened through a renderer, but another opener emptied it last: not the owner.
    let mut clipboard = renderer.open(WAIT).unwrap();
    assert_eq!(
        err_kind(clipboard.set_delayed(CF_TEXT)),
        ErrorKind::PermissionDenied
    );
    clipboard.empty().unwrap();
    clipboard.set_delayed(CF_TEXT).unwrap();
    // A renderer that cannot render: the format reads as none.
    assert_eq!(clipboard.get(CF_TEXT).unwrap(), None);
    assert_eq!(err_kind(clipboard.set(0, b"x")), ErrorKind::InvalidInput);
    assert_eq!(err_kind(clipboard.get(0x1_0000)), ErrorKind::InvalidInput);
    drop(clipboard);
    drop(renderer);
    session.remove().unwrap();
}

fn sequence_number_counts_every_change_by_any_process() {
    let name = session_name("seq");
    let session = Session::headless(&name).unwrap();
    let before = session.sequence_number().unwrap();
    // empty + two sets: three changes.
    let after: u64 = Peer::start("set_formats", &[&name, "1=a", "513=b"])
        .finish()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(after, before + 3);
    assert_eq!(session.sequence_number().unwrap(), after);
    // Reading changes nothing.
    Peer::start("read_format", &[&name, "1"]).finish();
    assert_eq!(session.sequence_number().unwrap(), after);
    let mut clipboard = session.open(WAIT).unwrap();
    clipboard.set(CF_TEXT, b"c\0").unwrap();
    drop(clipboard);
    assert_eq!(session.sequence_number().unwrap(), after + 1);
    session.remove().unwrap();
}

fn listener_hears_another_process_close_after_a_change() {
    let name = session_name("listener");
    let session = Session::headless(&name).unwrap();
    let mut listener = session.listen().unwrap();
    assert_eq!(listener.wait(Some(Duration::ZERO)).unwrap(), None);
    let seq: u64 = Peer::start("set_formats", &[&name, "1=a"])
        .finish()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(listener.wait(Some(TIMEOUT)).unwrap(), Some(seq));
    // A reader is no change.
    Peer::start("read_format", &[&name, "1"]).finish();
    assert_eq!(listener.wait(Some(Duration::ZERO)).unwrap(), None);
    let seq: u64 = Peer::start("set_formats", &[&name, "13=b"])
        .finish()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(listener.wait(Some(TIMEOUT)).unwrap(), Some(seq));
    drop(listener);
    session.remove().unwrap();
}

#[cfg(feature = "tokio")]
fn async_listener_streams_changes() {
    let name = session_name("async-listener");
    let session = Session::headless(&name).unwrap();
    let rt = common::runtime();
    rt.block_on(async {
        let mut listener = session.listen().unwrap().into_async().unwrap();
        let setter = Peer::start("set_formats", &[&name, "1=a"]);
        let seq = tokio::time::timeout(TIMEOUT, listener.changed())
            .await
            .expect("a change within the timeout")
            .unwrap();
        let printed: u64 = setter.finish().trim().parse().unwrap();
        assert_eq!(seq, printed);
        let setter = Peer::start("set_formats", &[&name, "1=b"]);
        let next = tokio::time::timeout(
            TIMEOUT,
            std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut listener), cx)
            }),
        )
        .await
        .expect("a change within the timeout")
        .expect("a stream never ends")
        .unwrap();
        let printed: u64 = setter.finish().trim().parse().unwrap();
        assert_eq!(next, printed);
    });
    session.remove().unwrap();
}

fn data_outlives_the_process_that_set_it() {
    let name = session_name("outlives");
    let setter = Peer::start("set_formats", &[&name, "13=kept"]);
    setter.finish();
    // No process holds anything of the clipboard now; a new one reads it.
    assert_eq!(
        Peer::start("read_format", &[&name, &CF_TEXT.to_string()]).finish(),
        "kept\0\n"
    );
    Session::headless(&name).unwrap().remove().unwrap();
}

fn large_data_crosses() {
    let name = session_name("large");
    let session = Session::headless(&name).unwrap();
    let data: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
    let a = CF_PRIVATEFIRST + 9;
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set(a, &data).unwrap();
    }
    let other = Session::headless(&name).unwrap();
    let clipboard = other.open(WAIT).unwrap();
    assert!(clipboard.get(a).unwrap().unwrap() == data);
    drop(clipboard);
    session.remove().unwrap();
}

fn damaged_state_is_refused() {
    let name = session_name("damaged");
    let session = Session::headless(&name).unwrap();
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set(CF_TEXT, b"x\0").unwrap();
    }
    let state = session.directory().unwrap().join("state");
    for bad in [
        &b"garbage"[..],
        b"pipework-clipboard 2\nseq 1\nowner 1 -\nformat 1 file ../../etc/passwd 1 -\n",
        b"pipework-clipboard 2\nseq x\n",
        &[0xFF; 64][..],
    ] {
        std::fs::write(&state, bad).unwrap();
        assert_eq!(err_kind(session.sequence_number()), ErrorKind::InvalidData);
        let clipboard = session.open(WAIT).unwrap();
        let e = clipboard.get(CF_TEXT).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert!(e.to_string().contains(&name), "{e}");
    }
    // Emptying a state nobody can read (damaged, or another version's) starts it afresh,
    // counting on from the last change listeners heard of (the set above: 2).
    std::fs::write(
        &state,
        b"pipework-clipboard 1\nseq 9\nowner 1 -\nformat 1 file d-1 1\n",
    )
    .unwrap();
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        assert_eq!(clipboard.formats().unwrap(), Vec::<u32>::new());
        clipboard.set(CF_TEXT, b"y\0").unwrap();
    }
    assert_eq!(session.sequence_number().unwrap(), 4);
    // Emptying a readable one counts on from its own number.
    std::fs::write(&state, b"pipework-clipboard 2\nseq 5\nowner 1 -\n").unwrap();
    let mut clipboard = session.open(WAIT).unwrap();
    clipboard.empty().unwrap();
    drop(clipboard);
    assert_eq!(session.sequence_number().unwrap(), 6);
    session.remove().unwrap();
}

// Child: a render pipe that answers every request with a length past any limit, then nothing.
fn boasting_owner(args: &[String]) {
    use std::io::Read;
    let mut server = pipework::named_pipe::ServerOptions::new()
        .create(&args[0])
        .unwrap();
    println!("listening");
    server.connect().unwrap();
    let mut request = [0u8; 8];
    server.read_exact(&mut request).unwrap();
    server.write_all(&[0]).unwrap();
    server.write_all(&u64::MAX.to_le_bytes()).unwrap();
    server.flush().unwrap();
    stdin_line();
}

fn owner_announcing_too_much_is_refused() {
    let name = session_name("boaster");
    let session = Session::headless(&name).unwrap();
    let pipe = format!(r"\\.\pipe\pw-test-boaster-{}", std::process::id());
    let mut owner = Peer::start("boasting_owner", &[&pipe]);
    assert_eq!(owner.line(), "listening");
    // A state naming that pipe as the owner of a delayed format.
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
    }
    let state = session.directory().unwrap().join("state");
    std::fs::write(
        &state,
        format!("pipework-clipboard 2\nseq 9\nowner 1 {pipe}\nformat 513 delayed - - -\n"),
    )
    .unwrap();
    let clipboard = session.open(WAIT).unwrap();
    let e = clipboard.get(CF_PRIVATEFIRST + 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert!(e.to_string().contains(&name), "{e}");
    drop(clipboard);
    owner.say("done");
    owner.finish();
    session.remove().unwrap();
}

/// The one data file the state names, and the state's text.
fn only_data_file(session: &Session) -> (std::path::PathBuf, String) {
    let dir = session.directory().unwrap();
    let state = std::fs::read_to_string(dir.join("state")).unwrap();
    let line = state
        .lines()
        .find(|l| l.starts_with("format "))
        .expect("a format line");
    let file = line.split(' ').nth(3).unwrap();
    (dir.join(file), state)
}

fn hostile_data_files_are_refused_without_reading_them_whole() {
    let name = session_name("hostile-data");
    let session = Session::headless(&name).unwrap();
    // Data past what the state keeps inline: a file of its own.
    let set = || {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        let mut data = vec![b'x'; 1000];
        data.push(0);
        clipboard.set(CF_TEXT, &data).unwrap();
    };
    let refused = |what: &str| {
        let clipboard = session.open(WAIT).unwrap();
        let e = clipboard.get(CF_TEXT).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{what}: {e}");
        assert!(e.to_string().contains(&name), "{what}: {e}");
    };
    // A data file grown to a terabyte (sparse): refused from its size, nothing read.
    set();
    let (file, _) = only_data_file(&session);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    refused("a 1 TiB data file");
    // Grown a little, within the limit: still not what the state declares.
    std::fs::write(&file, b"tiny but longer\0").unwrap();
    refused("a longer data file");
    // Shrunk.
    std::fs::write(&file, b"t").unwrap();
    refused("a shorter data file");
    // A FIFO nobody writes to in its place: refused at once, no wait.
    std::fs::remove_file(&file).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &file,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    refused("a FIFO");
    // A state that declares more than the limit of one format.
    set();
    let (_, state) = only_data_file(&session);
    let line = state.lines().find(|l| l.starts_with("format ")).unwrap();
    let mut fields: Vec<&str> = line.split(' ').collect();
    fields[4] = "1099511627776";
    let bigger = state.replace(line, &fields.join(" "));
    std::fs::write(session.directory().unwrap().join("state"), bigger).unwrap();
    assert_eq!(err_kind(session.sequence_number()), ErrorKind::InvalidData);
    refused("a declared terabyte");
    // A huge update file: a listener reads a few bytes of it, no more.
    session.remove().unwrap();
    let session = Session::headless(&name).unwrap();
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(session.directory().unwrap().join("update"))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let mut listener = session.listen().unwrap();
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
    }
    assert!(listener.wait(Some(TIMEOUT)).unwrap().is_some());
    session.remove().unwrap();
}

// Child: owns the clipboard args[0] through a renderer (emptying it twice: its own emptying
// tells it nothing), says so, and prints "destroyed" once told, by callback and by wait.
fn destroy_watcher(args: &[String]) {
    let session = Session::headless(&args[0]).unwrap();
    let renderer = session.renderer(|_| None).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    renderer.on_destroy(move || {
        let _ = tx.send(());
    });
    for _ in 0..2 {
        let mut clipboard = renderer.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set(CF_TEXT, b"mine\0").unwrap();
    }
    assert!(!renderer.wait_destroyed(Duration::ZERO));
    println!("owner");
    assert!(renderer.wait_destroyed(TIMEOUT), "no WM_DESTROYCLIPBOARD");
    rx.recv_timeout(TIMEOUT).expect("the callback ran");
    println!("destroyed");
}

fn owner_is_told_when_another_process_empties_the_clipboard() {
    let name = session_name("destroy");
    let session = Session::headless(&name).unwrap();
    let mut owner = Peer::start("destroy_watcher", &[&name]);
    assert_eq!(owner.line(), "owner");
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set(CF_TEXT, b"theirs\0").unwrap();
    }
    assert_eq!(owner.line(), "destroyed");
    owner.finish();
    session.remove().unwrap();
}
