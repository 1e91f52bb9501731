/* overlapped.h: what the overlapped C tests share: a connected message pipe whose two ends
 * were opened with FILE_FLAG_OVERLAPPED, and a writer thread. */
#ifndef PIPEWORK_TEST_OVERLAPPED_H
#define PIPEWORK_TEST_OVERLAPPED_H

#include <pthread.h>
#include <string.h>
#include "check.h"

/* A server end `*s` and a client end `*c` (message-read mode both), connected. */
static inline void overlapped_pair(const char *prefix, HANDLE *s, HANDLE *c)
{
    char base[64], name[128];
    DWORD mode = PIPE_READMODE_MESSAGE;
    unique_name(base, sizeof base, prefix);
    snprintf(name, sizeof name, "\\\\.\\pipe\\%s", base);
    *s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                          PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096, 0, NULL);
    CHECK(*s != INVALID_HANDLE_VALUE);
    *c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                     FILE_FLAG_OVERLAPPED, NULL);
    CHECK(*c != INVALID_HANDLE_VALUE);
    CHECK(SetNamedPipeHandleState(*c, &mode, NULL, NULL));
    CHECK_ERROR(!ConnectNamedPipe(*s, NULL), ERROR_PIPE_CONNECTED);
}

/* Writes one message to `h` from another thread, with its own OVERLAPPED. */
struct later { HANDLE h; const char *text; };

static inline void *write_later(void *arg)
{
    struct later *l = arg;
    DWORD n;
    OVERLAPPED ov;
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    if (!WriteFile(l->h, l->text, (DWORD)strlen(l->text), &n, &ov)) {
        if (GetLastError() != ERROR_IO_PENDING || !GetOverlappedResult(l->h, &ov, &n, TRUE))
            return (void *)1;
    }
    CloseHandle(ov.hEvent);
    return NULL;
}

#endif
