"""A client of pipework's message pipes, in Python's standard library alone.

A pipework named pipe is, under the hood, a Unix-domain stream socket per listening instance;
`pipework pipe path NAME` prints the socket of one that is listening now. A foreign client (one
that is not pipework: socat, Python's `socket`) gets no handshake. On a byte pipe the socket
carries exactly the bytes written, both ways, and needs nothing of this module. On a message
pipe every message, both ways, is framed as

    length: 4 bytes, unsigned, little-endian | payload: `length` bytes

with nothing between frames; a message may be empty (a length of 0). Raw bytes sent without a
frame are read by the server as a length, so it waits for a message that never comes: that is
why socat gets nothing back from a message pipe.

    from pipework_pipe import MessagePipe

    with MessagePipe.open("jobs") as pipe:       # \\\\.\\pipe\\jobs, via `pipework pipe path`
        pipe.send(b"request")
        reply = pipe.recv()                      # one whole message, or None at the end

An instance serves one client at a time and stops listening once it admits one: each new
connection asks `pipework pipe path` again, and fails while every instance is busy unless told
to wait (`wait=`, seconds: `pipework pipe path --wait`).
"""

import socket
import struct
import subprocess

__all__ = ["MessagePipe", "socket_path", "MAX_MESSAGE"]

_HEADER = struct.Struct("<I")

#: The largest message the framing can carry (the length is 32 bits).
MAX_MESSAGE = 0xFFFFFFFF

# Bytes asked of the socket at a time while a message's payload arrives: memory grows with the
# bytes that came, never with the length a peer announced.
_PIECE = 1 << 20


def socket_path(name, pipework="pipework", wait=None):
    """The socket of an instance of the pipe `name` (`jobs` or `\\\\.\\pipe\\jobs`) that is
    listening now, as `pipework pipe path` prints it. `pipework` is the command to run; `wait`
    (seconds) lets it wait that long for an instance to listen when all are busy.

    Raises `OSError` with pipework's own message when there is none (no such pipe, or every
    instance busy).
    """
    command = [pipework, "pipe", "path", name]
    if wait is not None:
        command += ["--wait", str(int(wait * 1000))]
    done = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise OSError(message or f"pipework pipe path {name} failed")
    return done.stdout.decode().rstrip("\n")


class MessagePipe:
    """One connection to a message pipe: `send` writes one message, `recv` reads one."""

    def __init__(self, sock):
        """Wraps `sock`, a connected Unix-domain stream socket."""
        self._sock = sock

    @classmethod
    def connect(cls, path, timeout=None):
        """Connects to the instance listening on the socket `path`. `timeout` (seconds, or None
        for none) bounds the connection and every later send and receive."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    @classmethod
    def open(cls, name, pipework="pipework", timeout=None, wait=None):
        """Connects to the pipe `name`, through the socket `pipework pipe path` names; `wait`
        (seconds) waits that long for a free instance (`WaitNamedPipe`)."""
        return cls.connect(socket_path(name, pipework, wait), timeout)

    def send(self, message):
        """Sends `message` (bytes-like) as one message."""
        data = memoryview(message).cast("B")
        if len(data) > MAX_MESSAGE:
            raise ValueError(
                f"a message holds at most {MAX_MESSAGE} bytes; this one has {len(data)}"
            )
        self._sock.sendall(_HEADER.pack(len(data)))
        self._sock.sendall(data)

    def recv(self, max_size=None):
        """The next whole message as bytes, or None once the server has closed the connection
        between messages.

        Raises `ConnectionError` when the connection ends in the middle of a message, and
        `ValueError` when a message is longer than `max_size` (if given) before reading it.
        """
        header = self._read(_HEADER.size, at_start=True)
        if header is None:
            return None
        (length,) = _HEADER.unpack(header)
        if max_size is not None and length > max_size:
            raise ValueError(f"a message of {length} bytes is longer than {max_size}")
        return self._read(length, at_start=False)

    def transact(self, message, max_size=None):
        """Sends `message` and returns the reply (`TransactNamedPipe`); None if the server
        closed the connection instead of replying."""
        self.send(message)
        return self.recv(max_size)

    def __iter__(self):
        """The messages until the server closes the connection."""
        while True:
            message = self.recv()
            if message is None:
                return
            yield message

    def shutdown_write(self):
        """Tells the server that no more messages come (it sees the end of the pipe); replies
        can still be read."""
        self._sock.shutdown(socket.SHUT_WR)

    def fileno(self):
        """The socket's file descriptor (for `select` and the like)."""
        return self._sock.fileno()

    def close(self):
        """Closes the connection."""
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self, count, at_start):
        """Exactly `count` bytes; None if the stream ends before the first of them and
        `at_start`, else `ConnectionError` if it ends early."""
        pieces = []
        got = 0
        while got < count:
            piece = self._sock.recv(min(count - got, _PIECE))
            if not piece:
                if at_start and got == 0:
                    return None
                raise ConnectionError(
                    "the pipe's server closed the connection in the middle of a message"
                )
            pieces.append(piece)
            got += len(piece)
        return b"".join(pieces)
