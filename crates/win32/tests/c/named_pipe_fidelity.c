/* Named pipes as Windows orders them: a client's CreateFile completes while an instance
 * listens, before the server's ConnectNamedPipe (which then says ERROR_PIPE_CONNECTED);
 * ERROR_PIPE_BUSY only when no instance listens; after DisconnectNamedPipe the client's
 * ReadFile, WriteFile and PeekNamedPipe fail with ERROR_PIPE_NOT_CONNECTED; GetNamedPipeInfo
 * reports the buffer sizes granted, the same from both ends. One thread: nothing here waits. */
#include <string.h>
#include "check.h"

int main(void)
{
    HANDLE s, c;
    DWORD n, flags, out_size, in_size, max, cflags, cout, cin, cmax, total, left;
    char buf[64], base[64], name[128];

    unique_name(base, sizeof base, "pipework-c-fid");
    snprintf(name, sizeof name, "\\\\.\\pipe\\%s", base);

    s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1,
                         4096, 8192, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE);
    /* An instance listens: WaitNamedPipe returns at once, and the open completes now, in this
     * very thread, with no ConnectNamedPipe yet. */
    CHECK(WaitNamedPipeA(name, 0));
    c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(c != INVALID_HANDLE_VALUE);
    /* What the client writes before the server's connect waits in the pipe. */
    CHECK(WriteFile(c, "early", 5, &n, NULL) && n == 5);
    /* The client came first: ConnectNamedPipe is FALSE with ERROR_PIPE_CONNECTED. */
    CHECK_ERROR(!ConnectNamedPipe(s, NULL), ERROR_PIPE_CONNECTED);
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 5 && memcmp(buf, "early", 5) == 0);

    /* The only instance is taken: ERROR_PIPE_BUSY, and WaitNamedPipe times out. */
    CHECK_ERROR(CreateFileA(name, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_PIPE_BUSY);
    CHECK_ERROR(!WaitNamedPipeA(name, 1), ERROR_SEM_TIMEOUT);

    /* GetNamedPipeInfo: the sizes granted, the same pipe seen from both ends. */
    CHECK(GetNamedPipeInfo(s, &flags, &out_size, &in_size, &max));
    CHECK(flags == (PIPE_SERVER_END | PIPE_TYPE_MESSAGE) && max == 1);
    CHECK(out_size >= 4096 && in_size >= 8192);
    CHECK(GetNamedPipeInfo(c, &cflags, &cout, &cin, &cmax));
    CHECK(cflags == PIPE_TYPE_MESSAGE && cmax == 1);
    CHECK(cout == out_size && cin == in_size);

    /* The server disconnects: the client's reads, writes and peeks fail with
     * ERROR_PIPE_NOT_CONNECTED (233). */
    CHECK(DisconnectNamedPipe(s));
    CHECK_ERROR(!ReadFile(c, buf, sizeof buf, &n, NULL), ERROR_PIPE_NOT_CONNECTED);
    CHECK_ERROR(!WriteFile(c, "x", 1, &n, NULL), ERROR_PIPE_NOT_CONNECTED);
    CHECK_ERROR(!PeekNamedPipe(c, buf, sizeof buf, &n, &total, &left), ERROR_PIPE_NOT_CONNECTED);
    CHECK(ERROR_PIPE_NOT_CONNECTED == 233);
    /* The server's own end: no client. */
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, NULL), ERROR_PIPE_NOT_CONNECTED);
    CHECK(CloseHandle(c));

    CHECK(CloseHandle(s));

    /* Data the client had not read when the server disconnected: this library still delivers
     * it (Windows discards it; the crate docs list this), then ERROR_PIPE_NOT_CONNECTED. */
    s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1,
                         0, 0, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE);
    c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(c != INVALID_HANDLE_VALUE);
    CHECK_ERROR(!ConnectNamedPipe(s, NULL), ERROR_PIPE_CONNECTED);
    CHECK(WriteFile(s, "unread", 6, &n, NULL));
    CHECK(DisconnectNamedPipe(s));
    CHECK(ReadFile(c, buf, sizeof buf, &n, NULL) && n == 6 && memcmp(buf, "unread", 6) == 0);
    CHECK_ERROR(!ReadFile(c, buf, sizeof buf, &n, NULL), ERROR_PIPE_NOT_CONNECTED);
    CHECK(CloseHandle(c) && CloseHandle(s));
    return 0;
}
