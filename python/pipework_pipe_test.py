"""Tests of pipework_pipe against a real pipework message pipe (standard library only).

Run by the Rust test suite (crates/cli/tests/python_cli.rs), which starts
`pipework pipe serve NAME --message --instances 2` (an echo server) and passes

    PIPEWORK       the pipework binary
    PIPEWORK_PIPE  the pipe's name

By hand: start such a server, then `PIPEWORK=pipework PIPEWORK_PIPE=NAME python3
python/pipework_pipe_test.py`.
"""

import os
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipework_pipe import MessagePipe, socket_path  # noqa: E402

PIPEWORK = os.environ.get("PIPEWORK", "pipework")
PIPE = os.environ.get("PIPEWORK_PIPE")
# Bounds every wait on the server: a test fails rather than hangs.
TIMEOUT = 30


def open_pipe():
    return MessagePipe.open(PIPE, pipework=PIPEWORK, timeout=TIMEOUT, wait=TIMEOUT)


@unittest.skipIf(PIPE is None, "needs PIPEWORK_PIPE: the name of a message pipe's echo server")
class AgainstAServer(unittest.TestCase):
    def test_message_boundaries_round_trip(self):
        # Sent back to back before any reply is read: only the framing can keep them apart.
        messages = [
            b"hello",
            b"",
            b"two\nlines\n",
            b"\x00\x01\x02 binary \xff",
            bytes(range(256)) * 17,
            b"x" * 70_000,
            os.urandom(300_000),
            b"last",
        ]
        with open_pipe() as pipe:
            for m in messages:
                pipe.send(m)
            for m in messages:
                got = pipe.recv()
                self.assertEqual(len(got), len(m))
                self.assertEqual(got, m)

    def test_transact_and_bytearray_and_memoryview(self):
        with open_pipe() as pipe:
            self.assertEqual(pipe.transact(b"request"), b"request")
            self.assertEqual(pipe.transact(bytearray(b"array")), b"array")
            self.assertEqual(pipe.transact(memoryview(b"view")), b"view")

    def test_the_end_is_none_after_the_last_reply(self):
        with open_pipe() as pipe:
            pipe.send(b"one")
            pipe.send(b"two")
            pipe.shutdown_write()
            self.assertEqual(list(pipe), [b"one", b"two"])
            self.assertIsNone(pipe.recv())

    def test_max_size_refuses_a_longer_message(self):
        with open_pipe() as pipe:
            pipe.send(b"x" * 100)
            with self.assertRaises(ValueError):
                pipe.recv(max_size=99)

    def test_the_path_is_a_socket(self):
        path = socket_path(PIPE, PIPEWORK, wait=TIMEOUT)
        self.assertTrue(os.path.isabs(path), path)

    def test_no_such_pipe_is_pipeworks_error(self):
        with self.assertRaises(OSError) as caught:
            socket_path(PIPE + "-no-such-pipe", PIPEWORK)
        self.assertIn("no-such-pipe", str(caught.exception))


class Framing(unittest.TestCase):
    """The framing itself, over a socket pair: the server's side written by hand."""

    def pair(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.settimeout(TIMEOUT)
        theirs.settimeout(TIMEOUT)
        self.addCleanup(theirs.close)
        pipe = MessagePipe(ours)
        self.addCleanup(pipe.close)
        return pipe, theirs

    def test_a_frame_is_a_little_endian_length_then_the_bytes(self):
        pipe, theirs = self.pair()
        pipe.send(b"abc")
        pipe.send(b"")
        pipe.shutdown_write()
        wire = b""
        while chunk := theirs.recv(4096):
            wire += chunk
        self.assertEqual(wire, b"\x03\x00\x00\x00abc\x00\x00\x00\x00")

    def test_a_message_cut_short_is_an_error_not_a_message(self):
        pipe, theirs = self.pair()
        theirs.sendall(struct.pack("<I", 10) + b"abc")
        theirs.shutdown(socket.SHUT_WR)
        with self.assertRaises(ConnectionError):
            pipe.recv()

    def test_a_header_cut_short_is_an_error(self):
        pipe, theirs = self.pair()
        theirs.sendall(b"\x05\x00")
        theirs.shutdown(socket.SHUT_WR)
        with self.assertRaises(ConnectionError):
            pipe.recv()

    def test_a_huge_announced_length_allocates_nothing_up_front(self):
        pipe, theirs = self.pair()
        theirs.sendall(struct.pack("<I", 0xFFFFFFFF) + b"only this")
        theirs.shutdown(socket.SHUT_WR)
        # Reads what came, then reports the cut: no 4 GiB buffer is made first.
        with self.assertRaises(ConnectionError):
            pipe.recv()


if __name__ == "__main__":
    unittest.main(verbosity=2)
