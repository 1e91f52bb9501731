//! The message variant: whole messages of any size, a writer killed mid-message.

use super::*;

pub(super) fn messages_of_any_size_arrive_whole_across_processes() {
    use pipework::named_pipe::MessageRead;
    let (r, w) = ShmPipeOptions::new().capacity(16 * 1024).create().unwrap();
    let count = 600;
    let mut c = start("send_messages", &[&count.to_string()], w.into(), false);
    let mut reader = shm_pipe::ShmMessageReader::new(r);
    let mut buf = vec![0u8; 4096];
    for i in 0..count {
        let mut got = Vec::new();
        loop {
            match reader.read_message(&mut buf).unwrap() {
                MessageRead::Complete(n) => {
                    got.extend_from_slice(&buf[..n]);
                    break;
                }
                MessageRead::MoreData { read, .. } => got.extend_from_slice(&buf[..read]),
                MessageRead::End => panic!("end of data before message {i}"),
            }
        }
        assert!(got == message(i), "message {i} arrived whole");
    }
    assert_eq!(reader.read_message(&mut buf).unwrap(), MessageRead::End);
    assert!(wait(&mut c).success());
}

pub(super) fn a_writer_killed_mid_message_is_an_error_not_a_short_message() {
    use pipework::named_pipe::MessageRead;
    // A ring that holds everything the child sends, so it reaches its kill point unread.
    let (r, w) = ShmPipeOptions::new().capacity(64 * 1024).create().unwrap();
    let mut cmd = child("send_messages");
    cmd.arg("3").stdin(Stdio::piped()).stdout(Stdio::piped());
    let n = cmd.inherit_handle(OwnedFd::from(w));
    let mut c = cmd.arg(n.to_string()).arg("hang").spawn().unwrap();
    drop(cmd);
    let _stdin = c.stdin.take();
    assert_eq!(common::first_line(&mut c), "half sent");
    Process::from_child(&c).unwrap().kill().unwrap();
    let _ = wait(&mut c);
    let mut reader = shm_pipe::ShmMessageReader::new(r);
    let mut buf = vec![0u8; 100_000];
    for i in 0..3 {
        assert_eq!(
            reader.read_message(&mut buf).unwrap(),
            MessageRead::Complete(message(i).len())
        );
    }
    let err = reader.read_message(&mut buf).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe),
        "{err}"
    );
}
