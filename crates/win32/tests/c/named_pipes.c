/* Named pipes: CreateNamedPipe, ConnectNamedPipe, DisconnectNamedPipe, CreateFile, WaitNamedPipe,
 * CallNamedPipe, TransactNamedPipe, PeekNamedPipe, GetNamedPipeInfo, Get/SetNamedPipeHandleState,
 * FlushFileBuffers, with the codes of spec section 2. */
#include <pthread.h>
#include <string.h>
#include "check.h"

static char pipe_name[128];

/* The documentation's idiom: a client that came before the call is ERROR_PIPE_CONNECTED. */
#define CONNECTED(h) (ConnectNamedPipe((h), NULL) ? TRUE : (GetLastError() == ERROR_PIPE_CONNECTED))

/* A client: opens, writes "ping" as a message, reads the reply, sends it back as the exit. */
static void *client(void *arg)
{
    HANDLE h;
    DWORD n, mode = PIPE_READMODE_MESSAGE;
    char buf[16];
    (void)arg;
    h = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return (void *)1;
    /* Clients start in byte-read mode. */
    if (!SetNamedPipeHandleState(h, &mode, NULL, NULL))
        return (void *)2;
    if (!WriteFile(h, "ping", 4, &n, NULL) || n != 4)
        return (void *)3;
    if (!WriteFile(h, "", 0, &n, NULL) || n != 0)
        return (void *)4;
    if (!FlushFileBuffers(h))
        return (void *)5;
    /* The reply is 10 bytes: 4 fit, ERROR_MORE_DATA, the rest follows. */
    if (ReadFile(h, buf, 4, &n, NULL) || GetLastError() != ERROR_MORE_DATA || n != 4)
        return (void *)6;
    if (!ReadFile(h, buf + 4, sizeof buf - 4, &n, NULL) || n != 6 || memcmp(buf, "pong pong!", 10))
        return (void *)7;
    /* TransactNamedPipe: one message out, one in. */
    if (!TransactNamedPipe(h, "question", 8, buf, sizeof buf, &n, NULL) || n != 6
        || memcmp(buf, "answer", 6))
        return (void *)8;
    CloseHandle(h);
    return NULL;
}

static void *caller(void *arg)
{
    char buf[4];
    DWORD n;
    (void)arg;
    /* CallNamedPipe: the reply does not fit: ERROR_MORE_DATA with its first part. */
    if (CallNamedPipeA(pipe_name, "call", 4, buf, sizeof buf, &n, NMPWAIT_WAIT_FOREVER)
        || GetLastError() != ERROR_MORE_DATA || n != 4 || memcmp(buf, "repl", 4))
        return (void *)1;
    return NULL;
}

static void *byte_client(void *arg)
{
    HANDLE h;
    DWORD n;
    (void)arg;
    h = CreateFileA(pipe_name, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return (void *)1;
    if (!WriteFile(h, "abc", 3, &n, NULL) || !WriteFile(h, "def", 3, &n, NULL))
        return (void *)2;
    CloseHandle(h);
    return NULL;
}

int main(void)
{
    HANDLE s, s2, c;
    DWORD n, flags, out_size, in_size, max, state, instances, total, left, pid;
    char buf[64], base[64], missing[128];
    pthread_t t;
    void *ret;

    unique_name(base, sizeof base, "pipework-c-np");
    snprintf(pipe_name, sizeof pipe_name, "\\\\.\\pipe\\%s", base);
    snprintf(missing, sizeof missing, "\\\\.\\pipe\\%s-missing", base);

    /* Names: plain names are refused (issue 18 point 8), as are other servers' for a server. */
    CHECK_ERROR(CreateNamedPipeA(base, PIPE_ACCESS_DUPLEX, 0, 1, 0, 0, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_INVALID_NAME);
    CHECK_ERROR(CreateNamedPipeA("\\\\host\\pipe\\x", PIPE_ACCESS_DUPLEX, 0, 1, 0, 0, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_INVALID_NAME);
    CHECK_ERROR(!WaitNamedPipeA(base, 0), ERROR_INVALID_NAME);
    CHECK_ERROR(!CallNamedPipeA(base, "x", 1, buf, 1, &n, 0), ERROR_INVALID_NAME);
    /* Parameters. */
    CHECK_ERROR(CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, 0, 0, 0, 0, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_INVALID_PARAMETER);
    CHECK_ERROR(CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, 0, 256, 0, 0, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_INVALID_PARAMETER);
    CHECK_ERROR(CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX,
                                 PIPE_TYPE_BYTE | PIPE_READMODE_MESSAGE, 1, 0, 0, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_INVALID_PARAMETER);
    CHECK_ERROR(CreateNamedPipeA(pipe_name, 0, 0, 1, 0, 0, 0, NULL) == INVALID_HANDLE_VALUE,
                ERROR_INVALID_PARAMETER);

    /* No such pipe: ERROR_FILE_NOT_FOUND, at once for WaitNamedPipe. */
    CHECK_ERROR(CreateFileA(missing, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_FILE_NOT_FOUND);
    CHECK_ERROR(!WaitNamedPipeA(missing, NMPWAIT_WAIT_FOREVER), ERROR_FILE_NOT_FOUND);
    CHECK_ERROR(!CallNamedPipeA(missing, "x", 1, buf, 1, &n, 0), ERROR_FILE_NOT_FOUND);

    /* A duplex message pipe of two instances. */
    s = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
                         PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 2, 1024, 2048,
                         0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE && GetLastError() == ERROR_SUCCESS);
    CHECK(GetFileType(s) == FILE_TYPE_PIPE);
    CHECK(GetNamedPipeInfo(s, &flags, &out_size, &in_size, &max));
    CHECK(flags == (PIPE_SERVER_END | PIPE_TYPE_MESSAGE) && max == 2);
    CHECK(out_size >= 1024 && in_size >= 2048); /* granted: at least what was asked */
    CHECK(GetNamedPipeHandleStateA(s, &state, &instances, NULL, NULL, NULL, 0));
    CHECK(state == PIPE_READMODE_MESSAGE && instances == 1);
    /* FILE_FLAG_FIRST_PIPE_INSTANCE on an existing pipe: ERROR_ACCESS_DENIED; another access
     * mode: ERROR_ACCESS_DENIED; another instance: ERROR_ALREADY_EXISTS as the last error. */
    CHECK_ERROR(CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
                                 PIPE_TYPE_MESSAGE, 2, 0, 0, 0, NULL) == INVALID_HANDLE_VALUE,
                ERROR_ACCESS_DENIED);
    CHECK_ERROR(CreateNamedPipeA(pipe_name, PIPE_ACCESS_INBOUND, PIPE_TYPE_MESSAGE, 2, 0, 0, 0,
                                 NULL) == INVALID_HANDLE_VALUE, ERROR_ACCESS_DENIED);
    s2 = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE, 2, 0, 0, 0, NULL);
    CHECK(s2 != INVALID_HANDLE_VALUE && GetLastError() == ERROR_ALREADY_EXISTS);
    /* Beyond the instance limit: ERROR_PIPE_BUSY. */
    CHECK_ERROR(CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE, 2, 0, 0, 0,
                                 NULL) == INVALID_HANDLE_VALUE, ERROR_PIPE_BUSY);
    CHECK(CloseHandle(s2));

    /* I/O on a listening instance: ERROR_PIPE_LISTENING; disconnect without a client:
     * ERROR_PIPE_NOT_CONNECTED. */
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, NULL), ERROR_PIPE_LISTENING);
    CHECK_ERROR(!DisconnectNamedPipe(s), ERROR_PIPE_NOT_CONNECTED);
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, NULL), ERROR_PIPE_NOT_CONNECTED);
    /* An instance is waiting: WaitNamedPipe returns at once. */
    CHECK(WaitNamedPipeA(pipe_name, NMPWAIT_USE_DEFAULT_WAIT));

    /* A client in another thread; the server reads messages. */
    CHECK(pthread_create(&t, NULL, client, NULL) == 0);
    CHECK(CONNECTED(s));
    CHECK(GetNamedPipeClientProcessId(s, &pid) && pid == GetCurrentProcessId());
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 4 && memcmp(buf, "ping", 4) == 0);
    /* A 0-byte write is a real message; peek shows it is there. */
    CHECK(PeekNamedPipe(s, buf, sizeof buf, &n, &total, &left) && n == 0 && left == 0);
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 0);
    CHECK(WriteFile(s, "pong pong!", 10, &n, NULL) && n == 10);
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 8 && memcmp(buf, "question", 8) == 0);
    CHECK(WriteFile(s, "answer", 6, &n, NULL));
    CHECK(pthread_join(t, &ret) == 0 && ret == NULL);
    /* The client closed: ERROR_BROKEN_PIPE to reads, ERROR_NO_DATA to writes. */
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, NULL), ERROR_BROKEN_PIPE);
    CHECK_ERROR(!WriteFile(s, "x", 1, &n, NULL), ERROR_NO_DATA);
    CHECK(DisconnectNamedPipe(s));
    CHECK_ERROR(!DisconnectNamedPipe(s), ERROR_PIPE_NOT_CONNECTED);

    /* CallNamedPipe against the same instance. */
    CHECK(pthread_create(&t, NULL, caller, NULL) == 0);
    CHECK(CONNECTED(s));
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 4 && memcmp(buf, "call", 4) == 0);
    CHECK(WriteFile(s, "reply", 5, &n, NULL));
    CHECK(pthread_join(t, &ret) == 0 && ret == NULL);
    CHECK(DisconnectNamedPipe(s));

    /* Nonblocking: ConnectNamedPipe with no client: ERROR_PIPE_LISTENING. */
    state = PIPE_READMODE_MESSAGE | PIPE_NOWAIT;
    CHECK(SetNamedPipeHandleState(s, &state, NULL, NULL));
    CHECK(GetNamedPipeHandleStateA(s, &state, NULL, NULL, NULL, NULL, 0));
    CHECK(state == (PIPE_READMODE_MESSAGE | PIPE_NOWAIT));
    CHECK_ERROR(!ConnectNamedPipe(s, NULL), ERROR_PIPE_LISTENING);
    CHECK(CloseHandle(s));
    /* The name goes with its last instance. */
    CHECK_ERROR(CreateFileA(pipe_name, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_FILE_NOT_FOUND);

    /* A byte pipe, inbound: reads run across writes; a message read mode is refused. */
    s = CreateNamedPipeA(pipe_name, PIPE_ACCESS_INBOUND, PIPE_TYPE_BYTE, 1, 0, 0, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE);
    state = PIPE_READMODE_MESSAGE;
    CHECK_ERROR(!SetNamedPipeHandleState(s, &state, NULL, NULL), ERROR_INVALID_PARAMETER);
    CHECK(pthread_create(&t, NULL, byte_client, NULL) == 0);
    CHECK(CONNECTED(s));
    CHECK(pthread_join(t, &ret) == 0 && ret == NULL);
    n = 0;
    while (n < 6) {
        DWORD got;
        CHECK(ReadFile(s, buf + n, sizeof buf - n, &got, NULL));
        n += got;
    }
    CHECK(memcmp(buf, "abcdef", 6) == 0);
    /* The only instance is connected: a new client finds it busy, WaitNamedPipe times out. */
    CHECK_ERROR(CreateFileA(pipe_name, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_PIPE_BUSY);
    CHECK_ERROR(!WaitNamedPipeA(pipe_name, 20), ERROR_SEM_TIMEOUT);
    CHECK_ERROR(!ConnectNamedPipe(GetStdHandle(STD_INPUT_HANDLE), NULL), ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(s));
    (void)c;
    return 0;
}
