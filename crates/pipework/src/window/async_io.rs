//! The tokio front-end of windows: a window's queue awaited, and sends that run on tokio's
//! blocking pool (the same calls as the blocking ones).

use std::io;
use std::time::Duration;

use super::{Hwnd, Message, Outgoing, SendOptions, Window};

impl Window {
    /// `GetMessage`, awaited: the next message (sent ones first). Cancel-safe: a message is
    /// only taken when the future completes.
    pub async fn recv(&self) -> Message {
        loop {
            let notified = self.shared().notify.notified();
            if let Some(m) = self.shared().take() {
                return m;
            }
            notified.await;
        }
    }
}

/// [`super::send`] on tokio's blocking pool: the handler's result. The message's data is
/// copied once to travel there. Dropping the future does not cancel the send.
pub async fn send_async(
    target: Hwnd,
    msg: u32,
    wparam: usize,
    lparam: isize,
    data: Vec<u8>,
    options: SendOptions,
) -> io::Result<isize> {
    tokio::task::spawn_blocking(move || {
        super::send(
            target,
            &Outgoing::new(msg, wparam, lparam).with_data(&data),
            options,
        )
    })
    .await
    .map_err(io::Error::other)?
}

/// [`super::copy_data`] on tokio's blocking pool.
pub async fn copy_data_async(
    target: Hwnd,
    kind: usize,
    data: Vec<u8>,
    timeout: Option<Duration>,
) -> io::Result<isize> {
    tokio::task::spawn_blocking(move || super::copy_data(target, kind, &data, timeout))
        .await
        .map_err(io::Error::other)?
}
