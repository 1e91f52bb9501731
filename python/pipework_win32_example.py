"""Calling the Win32 IPC functions of libpipework_win32.so from Python, with ctypes alone.

Build the library (`cargo build --release -p pipework-win32`), then:

    PIPEWORK_WIN32_LIB=target/release/libpipework_win32.so python3 python/pipework_win32_example.py

The declarations below are the headers' (crates/win32/include/), written as ctypes sees them:
DWORD is 32 bits, HANDLE a pointer, BOOL an int, and every call reports failure the Win32 way
(FALSE, NULL or INVALID_HANDLE_VALUE, and the code in GetLastError). The example makes an
anonymous pipe, a named pipe served by a thread, a named event and a named mapping, checking the
values Windows gives.
"""

import ctypes
import os
import sys
import threading
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_uint32, c_void_p

BOOL, DWORD, HANDLE = c_int, c_uint32, c_void_p
INVALID_HANDLE_VALUE = ctypes.c_void_p(-1).value
ERROR_BROKEN_PIPE, ERROR_FILE_NOT_FOUND, ERROR_ALREADY_EXISTS = 109, 2, 183
ERROR_PIPE_CONNECTED, ERROR_INVALID_NAME = 535, 123
PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE, PIPE_READMODE_MESSAGE = 3, 4, 2
GENERIC_READ, GENERIC_WRITE, OPEN_EXISTING = 0x80000000, 0x40000000, 3
PAGE_READWRITE, FILE_MAP_ALL_ACCESS = 4, 0xF001F
WAIT_OBJECT_0, WAIT_TIMEOUT = 0, 258


def load(path=None):
    """The library, its functions declared with their Win32 signatures."""
    lib = ctypes.CDLL(path or os.environ.get("PIPEWORK_WIN32_LIB", "libpipework_win32.so"))
    signatures = {
        "GetLastError": (DWORD, []),
        "CloseHandle": (BOOL, [HANDLE]),
        "CreatePipe": (BOOL, [POINTER(HANDLE), POINTER(HANDLE), c_void_p, DWORD]),
        "ReadFile": (BOOL, [HANDLE, c_void_p, DWORD, POINTER(DWORD), c_void_p]),
        "WriteFile": (BOOL, [HANDLE, c_void_p, DWORD, POINTER(DWORD), c_void_p]),
        "CreateNamedPipeA": (HANDLE, [c_char_p, DWORD, DWORD, DWORD, DWORD, DWORD, DWORD, c_void_p]),
        "ConnectNamedPipe": (BOOL, [HANDLE, c_void_p]),
        "CreateFileA": (HANDLE, [c_char_p, DWORD, DWORD, c_void_p, DWORD, DWORD, HANDLE]),
        "CallNamedPipeA": (BOOL, [c_char_p, c_void_p, DWORD, c_void_p, DWORD, POINTER(DWORD), DWORD]),
        "CreateEventA": (HANDLE, [c_void_p, BOOL, BOOL, c_char_p]),
        "SetEvent": (BOOL, [HANDLE]),
        "WaitForSingleObject": (DWORD, [HANDLE, DWORD]),
        "CreateFileMappingA": (HANDLE, [HANDLE, c_void_p, DWORD, DWORD, DWORD, c_char_p]),
        "OpenFileMappingA": (HANDLE, [DWORD, BOOL, c_char_p]),
        "MapViewOfFile": (c_void_p, [HANDLE, DWORD, DWORD, DWORD, c_size_t]),
        "UnmapViewOfFile": (BOOL, [c_void_p]),
        "GetCurrentProcessId": (DWORD, []),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def check(condition, what):
    if not condition:
        sys.exit(f"failed: {what}")


def main():
    k = load()
    pid = k.GetCurrentProcessId()

    # CreatePipe / WriteFile / ReadFile: the end of data is ERROR_BROKEN_PIPE.
    r, w, n = HANDLE(), HANDLE(), DWORD()
    check(k.CreatePipe(byref(r), byref(w), None, 0), "CreatePipe")
    check(k.WriteFile(w, b"from python", 11, byref(n), None) and n.value == 11, "WriteFile")
    k.CloseHandle(w)
    buf = ctypes.create_string_buffer(64)
    check(k.ReadFile(r, buf, 64, byref(n), None) and buf.raw[: n.value] == b"from python", "ReadFile")
    check(not k.ReadFile(r, buf, 64, byref(n), None) and k.GetLastError() == ERROR_BROKEN_PIPE,
          "ReadFile at the end: ERROR_BROKEN_PIPE")
    k.CloseHandle(r)

    # A message pipe served by a thread, called with CallNamedPipe.
    name = f"\\\\.\\pipe\\python-ctypes-{pid}".encode()
    check(k.CreateNamedPipeA(b"plain-name", PIPE_ACCESS_DUPLEX, 0, 1, 0, 0, 0, None) == INVALID_HANDLE_VALUE
          and k.GetLastError() == ERROR_INVALID_NAME, "a plain pipe name: ERROR_INVALID_NAME")
    server = k.CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE,
                                1, 512, 512, 0, None)
    check(server != INVALID_HANDLE_VALUE, "CreateNamedPipeA")

    def serve():
        if not k.ConnectNamedPipe(server, None) and k.GetLastError() != ERROR_PIPE_CONNECTED:
            return
        request, got = ctypes.create_string_buffer(64), DWORD()
        if k.ReadFile(server, request, 64, byref(got), None):
            reply = b"echo: " + request.raw[: got.value]
            k.WriteFile(server, reply, len(reply), byref(got), None)

    thread = threading.Thread(target=serve)
    thread.start()
    reply = ctypes.create_string_buffer(64)
    check(k.CallNamedPipeA(name, b"hello", 5, reply, 64, byref(n), 0xFFFFFFFF), "CallNamedPipeA")
    check(reply.raw[: n.value] == b"echo: hello", "the reply")
    thread.join()
    k.CloseHandle(server)
    missing = f"\\\\.\\pipe\\python-ctypes-missing-{pid}".encode()
    check(k.CreateFileA(missing, GENERIC_READ | GENERIC_WRITE, 0, None, OPEN_EXISTING, 0, None)
          == INVALID_HANDLE_VALUE and k.GetLastError() == ERROR_FILE_NOT_FOUND,
          "a missing pipe: ERROR_FILE_NOT_FOUND")

    # A named event and a named mapping: the second create finds the first.
    event_name = f"python-ctypes-event-{pid}".encode()
    event = k.CreateEventA(None, True, False, event_name)
    again = k.CreateEventA(None, True, False, event_name)
    check(again and k.GetLastError() == ERROR_ALREADY_EXISTS, "CreateEventA: ERROR_ALREADY_EXISTS")
    check(k.WaitForSingleObject(event, 0) == WAIT_TIMEOUT, "not signaled yet")
    k.SetEvent(again)
    check(k.WaitForSingleObject(event, 0) == WAIT_OBJECT_0, "signaled through the other handle")
    k.CloseHandle(again)
    k.CloseHandle(event)

    map_name = f"Local\\python-ctypes-map-{pid}".encode()
    mapping = k.CreateFileMappingA(INVALID_HANDLE_VALUE, None, PAGE_READWRITE, 0, 4096, map_name)
    view = k.MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, 0)
    check(view, "MapViewOfFile")
    ctypes.memmove(view, b"shared\0", 7)
    other = k.OpenFileMappingA(FILE_MAP_ALL_ACCESS, False, map_name)
    view2 = k.MapViewOfFile(other, FILE_MAP_ALL_ACCESS, 0, 0, 0)
    check(ctypes.string_at(view2) == b"shared", "the second view sees the first's bytes")
    for v in (view, view2):
        k.UnmapViewOfFile(v)
    k.CloseHandle(other)
    k.CloseHandle(mapping)
    print("pipework_win32 from Python: ok")


if __name__ == "__main__":
    main()
