//! The sending side: `SendMessage`, `SendMessageTimeout`, `PostMessage`, broadcasts and
//! `WM_COPYDATA`, over connections to the target's socket kept for the next call.

use std::io::{self, ErrorKind, IoSlice, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::net::SendFlags;

use super::blob;
use super::recv::write_all;
use super::wire::{Answer, Op, Request, Status, ABORT_IF_HUNG, ANSWER_LEN, IN_MEMFD};
use super::{socket_path, Hwnd, WM_COPYDATA};
use crate::sys::error::error;
use crate::sys::fdpass;

/// Data of this many bytes or more travels in a sealed memfd instead of through the socket.
///
/// Measured with `examples/copydata_threshold.rs` (release build, `WM_COPYDATA` round trips
/// between two processes, each size both ways in one run, on a loaded 2-core machine): the
/// socket won up to 4 MiB (64 B: 0.30 vs 0.51 ms, 1 MiB: 1.1 vs 2.7 ms, 4 MiB: 8.5 vs
/// 15.8 ms) and the two met at 8 MiB (22.5 vs 21.9 ms). The memfd pays for its creation,
/// seals, mapping and a page fault per page, the socket for copying every byte twice; past
/// 8 MiB the copies cost more. Up to 1 GiB travels this way; the socket carries at most
/// 16 MiB.
pub const MEMFD_THRESHOLD: usize = 8 << 20;

/// The threshold in force: [`MEMFD_THRESHOLD`] unless a measurement moved it.
static THRESHOLD: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(MEMFD_THRESHOLD);

/// Moves this process's switch to the memfd to `bytes` (for measuring where it pays:
/// `examples/copydata_threshold.rs`). Data over 16 MiB always travels in a memfd.
#[doc(hidden)]
pub fn set_memfd_threshold(bytes: usize) {
    THRESHOLD.store(bytes.max(1), std::sync::atomic::Ordering::Relaxed);
}

/// Idle connections kept for later calls, at most this many in all.
const POOL_MAX: usize = 64;

static POOL: Mutex<Vec<(Hwnd, UnixStream)>> = Mutex::new(Vec::new());

fn pooled(target: Hwnd) -> Option<UnixStream> {
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let i = pool.iter().rposition(|(h, _)| *h == target)?;
    Some(pool.swap_remove(i).1)
}

fn give_back(target: Hwnd, stream: UnixStream) {
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() >= POOL_MAX {
        pool.remove(0);
    }
    pool.push((target, stream));
}

/// How errors name a window.
fn what(target: Hwnd) -> String {
    format!("window {target}")
}

fn gone(target: Hwnd) -> io::Error {
    error(
        ErrorKind::NotFound,
        what(target),
        "no such window (destroyed, or its process ended)",
    )
}

fn connect(target: Hwnd) -> io::Result<(UnixStream, bool)> {
    if let Some(s) = pooled(target) {
        return Ok((s, true));
    }
    let path = socket_path(target)?;
    match UnixStream::connect(&path) {
        Ok(s) => Ok((s, false)),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::NotFound | ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
            ) =>
        {
            Err(gone(target))
        }
        Err(e) => Err(crate::sys::error::named(what(target), e)),
    }
}

/// A message to send or post: its number, parameters and, for data-carrying messages, bytes.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The message number.
    pub msg: u32,
    /// `wParam`.
    pub wparam: usize,
    /// `lParam`.
    pub lparam: isize,
    /// The bytes it carries (copied to the receiver; empty for most messages).
    pub data: &'a [u8],
    /// The window the sender names as its own ([`super::Origin::window`] at the receiver).
    pub from: Option<Hwnd>,
}

impl<'a> Outgoing<'a> {
    /// A message without data.
    pub fn new(msg: u32, wparam: usize, lparam: isize) -> Outgoing<'a> {
        Outgoing {
            msg,
            wparam,
            lparam,
            data: &[],
            from: None,
        }
    }

    /// The same message carrying `data`.
    pub fn with_data(self, data: &'a [u8]) -> Outgoing<'a> {
        Outgoing { data, ..self }
    }

    /// The same message naming `from` as the sending window.
    pub fn from_window(self, from: Hwnd) -> Outgoing<'a> {
        Outgoing {
            from: Some(from),
            ..self
        }
    }
}

/// How a send waits (`SendMessageTimeout`'s flags and timeout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Gives up after this long (`None`: waits as long as the handler takes).
    pub timeout: Option<Duration>,
    /// `SMTO_ABORTIFHUNG`: fails at once when the target is not responding (it has not asked
    /// for a message for a while although messages wait).
    pub abort_if_hung: bool,
}

/// What one call brought back.
pub(crate) struct Answered {
    pub(crate) result: isize,
    pub(crate) data: Vec<u8>,
}

/// One request and its answer on a connection to `target`.
pub(crate) fn transact(
    target: Hwnd,
    op: Op,
    out: &Outgoing<'_>,
    options: SendOptions,
) -> io::Result<Answered> {
    let deadline = options
        .timeout
        .map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
    let threshold = THRESHOLD
        .load(std::sync::atomic::Ordering::Relaxed)
        .min(super::wire::MAX_INLINE as usize);
    let memfd = if out.data.len() >= threshold {
        Some(blob::seal(out.data).map_err(|e| crate::sys::error::named(what(target), e))?)
    } else {
        None
    };
    let mut flags = 0;
    if options.abort_if_hung {
        flags |= ABORT_IF_HUNG;
    }
    if memfd.is_some() {
        flags |= IN_MEMFD;
    }
    let header = Request {
        op,
        flags,
        msg: out.msg,
        wparam: out.wparam as u64,
        lparam: out.lparam as i64,
        from: out.from.map_or(0, |h| h.0),
        len: out.data.len() as u64,
    }
    .encode();
    let (stream, was_pooled) = connect(target)?;
    let left = |deadline: Option<Instant>| -> io::Result<Option<Duration>> {
        match deadline {
            None => Ok(None),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(l) if !l.is_zero() => Ok(Some(l)),
                _ => Err(timed_out(target, options.timeout)),
            },
        }
    };
    stream
        .set_write_timeout(left(deadline)?)
        .map_err(|e| crate::sys::error::named(what(target), e))?;
    // The header, with the memfd or followed by the inline bytes.
    let write = (|| -> io::Result<()> {
        let inline: &[u8] = if memfd.is_some() { &[] } else { out.data };
        let handles: Vec<_> = memfd.iter().map(|f| f.as_fd()).collect();
        let n = fdpass::send(
            stream.as_fd(),
            &[IoSlice::new(&header), IoSlice::new(inline)],
            &handles,
            SendFlags::empty(),
        )?;
        let total = header.len() + inline.len();
        if n < total {
            if n < header.len() {
                write_all(&stream, &header[n..])?;
                write_all(&stream, inline)?;
            } else {
                write_all(&stream, &inline[n - header.len()..])?;
            }
        }
        Ok(())
    })();
    if let Err(e) = write {
        return Err(match e.kind() {
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::NotConnected => {
                if was_pooled {
                    // The window went away since this connection was last used: try afresh,
                    // which tells a destroyed window from one that lives on.
                    return transact(target, op, out, options);
                }
                gone(target)
            }
            ErrorKind::WouldBlock | ErrorKind::TimedOut => timed_out(target, options.timeout),
            _ => crate::sys::error::named(what(target), e),
        });
    }
    stream
        .set_read_timeout(left(deadline)?)
        .map_err(|e| crate::sys::error::named(what(target), e))?;
    let mut head = [0u8; ANSWER_LEN];
    let read = (&stream).read_exact(&mut head).and_then(|()| {
        let answer = Answer::decode(&head)?;
        let data = super::wire::read_inline(&stream, answer.len)?;
        Ok((answer, data))
    });
    let (answer, data) = match read {
        Ok(x) => x,
        Err(e) => {
            return Err(match e.kind() {
                ErrorKind::WouldBlock | ErrorKind::TimedOut => timed_out(target, options.timeout),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
                    error(
                        ErrorKind::ConnectionAborted,
                        what(target),
                        "the window's process ended during the call",
                    )
                }
                _ => crate::sys::error::named(what(target), e),
            })
        }
    };
    match answer.status {
        Status::Done => {
            give_back(target, stream);
            Ok(Answered {
                result: answer.result as isize,
                data,
            })
        }
        Status::Full => {
            give_back(target, stream);
            Err(error(
                ErrorKind::QuotaExceeded,
                what(target),
                "its message queue is full (ERROR_NOT_ENOUGH_QUOTA)",
            ))
        }
        Status::Hung => {
            give_back(target, stream);
            Err(error(
                ErrorKind::TimedOut,
                what(target),
                "not responding (the send was aborted because the window is hung)",
            ))
        }
        Status::Destroyed => Err(error(
            ErrorKind::ConnectionAborted,
            what(target),
            "the window was destroyed before it handled the message",
        )),
        Status::Refused => Err(error(
            ErrorKind::InvalidData,
            what(target),
            "the window refused the message",
        )),
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}

fn timed_out(target: Hwnd, timeout: Option<Duration>) -> io::Error {
    error(
        ErrorKind::TimedOut,
        what(target),
        format_args!(
            "no answer within {} ms (ERROR_TIMEOUT)",
            timeout.unwrap_or_default().as_millis()
        ),
    )
}

/// `SendMessage`: delivers `msg` to `target` and waits until its handler returns, however
/// long that takes; the handler's result.
///
/// `NotFound` at once when the window does not exist (destroyed, or its process ended);
/// `ConnectionAborted` when it goes away during the call.
pub fn send_message(target: Hwnd, msg: u32, wparam: usize, lparam: isize) -> io::Result<isize> {
    send(
        target,
        &Outgoing::new(msg, wparam, lparam),
        SendOptions::default(),
    )
}

/// `SendMessageTimeout`: like [`send_message`], but gives up after `timeout` (`TimedOut`), or
/// at once with `abort_if_hung` when the target is not responding (`TimedOut` too, saying so).
/// The handler may still run later; its result is then dropped.
pub fn send_message_timeout(
    target: Hwnd,
    msg: u32,
    wparam: usize,
    lparam: isize,
    timeout: Duration,
    abort_if_hung: bool,
) -> io::Result<isize> {
    send(
        target,
        &Outgoing::new(msg, wparam, lparam),
        SendOptions {
            timeout: Some(timeout),
            abort_if_hung,
        },
    )
}

/// Sends any message, with data and options: the general form of [`send_message`] and
/// [`send_message_timeout`].
pub fn send(target: Hwnd, message: &Outgoing<'_>, options: SendOptions) -> io::Result<isize> {
    transact(target, Op::Send, message, options).map(|a| a.result)
}

/// `PostMessage`: queues `msg` at `target` and returns without waiting for it to be handled.
///
/// `QuotaExceeded` when the window's queue is full (10,000 messages by default, as Win32);
/// `NotFound` when the window does not exist.
pub fn post_message(target: Hwnd, msg: u32, wparam: usize, lparam: isize) -> io::Result<()> {
    post(target, &Outgoing::new(msg, wparam, lparam))
}

/// Posts any message, with data (copied into the target's queue).
///
/// `WM_COPYDATA` cannot be posted (`InvalidInput`, `ERROR_MESSAGE_SYNC_ONLY`): its data is only
/// valid during a send.
pub fn post(target: Hwnd, message: &Outgoing<'_>) -> io::Result<()> {
    if message.msg == WM_COPYDATA {
        return Err(error(
            ErrorKind::InvalidInput,
            what(target),
            "WM_COPYDATA can only be sent, not posted (ERROR_MESSAGE_SYNC_ONLY)",
        ));
    }
    transact(
        target,
        Op::Post,
        message,
        SendOptions {
            timeout: Some(Duration::from_secs(5)),
            abort_if_hung: false,
        },
    )
    .map(drop)
}

/// `WM_COPYDATA`: sends `data` with its kind (`dwData`) to `target` and waits for the
/// receiver's result, at most `timeout` when given.
///
/// The receiver sees the bytes read-only while it handles the message ([`super::Message::copy_data`]),
/// with this process's id and user. Data of [`MEMFD_THRESHOLD`] bytes or more travels in a
/// sealed memfd (up to 1 GiB). Errors: `NotFound` (no such window), `TimedOut`,
/// `ConnectionAborted` (the receiver ended during the call).
pub fn copy_data(
    target: Hwnd,
    kind: usize,
    data: &[u8],
    timeout: Option<Duration>,
) -> io::Result<isize> {
    copy_data_as(None, target, kind, data, timeout)
}

pub(crate) fn copy_data_as(
    from: Option<Hwnd>,
    target: Hwnd,
    kind: usize,
    data: &[u8],
    timeout: Option<Duration>,
) -> io::Result<isize> {
    let message = Outgoing {
        msg: WM_COPYDATA,
        wparam: from.map_or(0, |h| h.0 as usize),
        lparam: kind as isize,
        data,
        from,
    };
    send(
        target,
        &message,
        SendOptions {
            timeout,
            abort_if_hung: false,
        },
    )
}

/// `SendMessage(HWND_BROADCAST, ...)` as `SendMessageTimeout` with `SMTO_ABORTIFHUNG`: sends
/// to every window of this session, each with `timeout`; each window's outcome.
pub fn broadcast(
    msg: u32,
    wparam: usize,
    lparam: isize,
    timeout: Duration,
) -> io::Result<Vec<(Hwnd, io::Result<isize>)>> {
    Ok(super::list()?
        .into_iter()
        .map(|w| {
            let r = send_message_timeout(w.hwnd, msg, wparam, lparam, timeout, true);
            (w.hwnd, r)
        })
        .collect())
}

/// `PostMessage(HWND_BROADCAST, ...)`: posts to every window of this session; each window's
/// outcome.
pub fn broadcast_post(
    msg: u32,
    wparam: usize,
    lparam: isize,
) -> io::Result<Vec<(Hwnd, io::Result<()>)>> {
    Ok(super::list()?
        .into_iter()
        .map(|w| (w.hwnd, post_message(w.hwnd, msg, wparam, lparam)))
        .collect())
}
