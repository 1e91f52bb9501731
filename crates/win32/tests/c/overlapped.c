/* Overlapped I/O on named pipe handles opened with FILE_FLAG_OVERLAPPED: pending operations
 * (FALSE + ERROR_IO_PENDING), completion (hEvent set, Internal/InternalHigh filled),
 * GetOverlappedResult with bWait FALSE (ERROR_IO_INCOMPLETE) and TRUE, HasOverlappedIoCompleted,
 * operations that complete at once (TRUE, event set), CancelIo / CancelIoEx
 * (ERROR_OPERATION_ABORTED, ERROR_NOT_FOUND), TransactNamedPipe, and ReadFileEx / WriteFileEx
 * completion routines run by SleepEx, WaitForSingleObjectEx and WaitForMultipleObjectsEx
 * (WAIT_IO_COMPLETION) on the issuing thread. The peer is driven from this thread or a second
 * one; every wait is bounded. */
#include <pthread.h>
#include <string.h>
#include "check.h"

static char name[128];

static DWORD routine_calls, routine_error, routine_bytes;
static LPOVERLAPPED routine_ov;
static pthread_t routine_thread;

static VOID WINAPI on_done(DWORD error, DWORD bytes, LPOVERLAPPED ov)
{
    routine_calls++;
    routine_error = error;
    routine_bytes = bytes;
    routine_ov = ov;
    routine_thread = pthread_self();
}

/* Writes one message to `h` from another thread (so that a completion is not caused by this
 * thread). */
struct later { HANDLE h; const char *text; };

static void *write_later(void *arg)
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

int main(void)
{
    HANDLE s, c, ev, ev2, waits[2];
    OVERLAPPED ov, ov2;
    DWORD n, mode = PIPE_READMODE_MESSAGE;
    char buf[64], big_in[200000], base[64];
    static char big[200000];
    pthread_t t;
    void *ret;
    struct later l;

    unique_name(base, sizeof base, "pipework-c-ov");
    snprintf(name, sizeof name, "\\\\.\\pipe\\%s", base);
    ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    ev2 = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK(ev && ev2);

    s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE);

    /* ConnectNamedPipe with no client: pending; the event is reset as it starts. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK(SetEvent(ev));
    CHECK_ERROR(!ConnectNamedPipe(s, &ov), ERROR_IO_PENDING);
    CHECK(!HasOverlappedIoCompleted(&ov) && ov.Internal == STATUS_PENDING);
    CHECK(WaitForSingleObject(ev, 0) == WAIT_TIMEOUT);
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_IO_INCOMPLETE);
    /* A client arrives: the connect completes, the event is set. */
    c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                    FILE_FLAG_OVERLAPPED, NULL);
    CHECK(c != INVALID_HANDLE_VALUE);
    CHECK(SetNamedPipeHandleState(c, &mode, NULL, NULL));
    CHECK(WaitForSingleObject(ev, 10000) == WAIT_OBJECT_0);
    CHECK(HasOverlappedIoCompleted(&ov) && ov.Internal == 0);
    CHECK(GetOverlappedResult(s, &ov, &n, FALSE));

    /* A read with nothing there: pending; GetOverlappedResult(bWait FALSE) says incomplete,
     * then bWait TRUE waits for the client's write from another thread. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_IO_INCOMPLETE);
    l.h = c;
    l.text = "hello";
    CHECK(pthread_create(&t, NULL, write_later, &l) == 0);
    n = 0;
    CHECK(GetOverlappedResult(s, &ov, &n, TRUE) && n == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK(ov.Internal == 0 && ov.InternalHigh == 5);
    CHECK(WaitForSingleObject(ev, 0) == WAIT_OBJECT_0);
    CHECK(pthread_join(t, &ret) == 0 && ret == NULL);

    /* Data already there: the read completes at once (TRUE, count given, event set). */
    CHECK(WriteFile(c, "again", 5, &n, NULL) && n == 5);
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    n = 0;
    CHECK(ReadFile(s, buf, sizeof buf, &n, &ov) && n == 5 && memcmp(buf, "again", 5) == 0);
    CHECK(WaitForSingleObject(ev, 0) == WAIT_OBJECT_0 && ov.InternalHigh == 5);
    /* A message larger than the buffer, at once: FALSE + ERROR_MORE_DATA, as Windows. */
    CHECK(WriteFile(c, "0123456789", 10, &n, NULL));
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(s, buf, 4, &n, &ov), ERROR_MORE_DATA);
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_MORE_DATA);
    CHECK(n == 4);
    CHECK(ReadFile(s, buf, sizeof buf, &n, &ov) && n == 6);

    /* CancelIoEx on the pending read: it ends with ERROR_OPERATION_ABORTED; nothing is left to
     * cancel afterwards (ERROR_NOT_FOUND). */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    CHECK(CancelIoEx(s, &ov));
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, TRUE), ERROR_OPERATION_ABORTED);
    CHECK(n == 0 && HasOverlappedIoCompleted(&ov));
    CHECK_ERROR(!CancelIoEx(s, &ov), ERROR_NOT_FOUND);
    /* CancelIo: the calling thread's operations on the handle. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    CHECK(CancelIo(s));
    CHECK(WaitForSingleObject(ev, 10000) == WAIT_OBJECT_0);
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_OPERATION_ABORTED);
    /* The pipe still works after a cancel. */
    CHECK(WriteFile(c, "after", 5, &n, NULL));
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK(ReadFile(s, buf, sizeof buf, &n, &ov) && n == 5 && memcmp(buf, "after", 5) == 0);

    /* A write the pipe has no room for is pending until the client reads. */
    memset(big, 'b', sizeof big);
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!WriteFile(s, big, sizeof big, &n, &ov), ERROR_IO_PENDING);
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_IO_INCOMPLETE);
    CHECK(ReadFile(c, big_in, sizeof big_in, &n, NULL) && n == sizeof big_in);
    CHECK(GetOverlappedResult(s, &ov, &n, TRUE) && n == sizeof big);
    CHECK(memcmp(big_in, big, sizeof big) == 0);

    /* TransactNamedPipe on the client: the request goes at once, the reply is pending. */
    ZeroMemory(&ov2, sizeof ov2);
    ov2.hEvent = ev2;
    CHECK_ERROR(!TransactNamedPipe(c, "question", 8, buf, sizeof buf, &n, &ov2), ERROR_IO_PENDING);
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK(ReadFile(s, buf + 32, 32, &n, &ov) && n == 8 && memcmp(buf + 32, "question", 8) == 0);
    CHECK(WriteFile(s, "answer", 6, &n, &ov) && n == 6);
    CHECK(GetOverlappedResult(c, &ov2, &n, TRUE) && n == 6 && memcmp(buf, "answer", 6) == 0);

    /* ReadFileEx: the routine runs only in an alertable wait of this thread. */
    ZeroMemory(&ov, sizeof ov);
    CHECK(ReadFileEx(s, buf, sizeof buf, &ov, on_done));
    CHECK(SleepEx(0, TRUE) == 0 && routine_calls == 0);
    CHECK(WriteFile(c, "routine", 7, &n, NULL));
    /* The read is complete (the OVERLAPPED says so) but the routine waits for an alertable
     * wait: a plain wait does not run it. */
    CHECK(WaitForSingleObject(ev2, 0) == WAIT_OBJECT_0);
    CHECK(SleepEx(10000, TRUE) == WAIT_IO_COMPLETION);
    CHECK(routine_calls == 1 && routine_error == 0 && routine_bytes == 7 && routine_ov == &ov);
    CHECK(pthread_equal(routine_thread, pthread_self()));
    CHECK(memcmp(buf, "routine", 7) == 0);
    /* WaitForSingleObjectEx: an event that is never set; the routine ends the wait. */
    ZeroMemory(&ov, sizeof ov);
    CHECK(ReadFileEx(s, buf, sizeof buf, &ov, on_done));
    l.h = c;
    l.text = "single";
    CHECK(pthread_create(&t, NULL, write_later, &l) == 0);
    CHECK(ResetEvent(ev));
    CHECK(WaitForSingleObjectEx(ev, 10000, TRUE) == WAIT_IO_COMPLETION);
    CHECK(routine_calls == 2 && routine_bytes == 6);
    CHECK(pthread_join(t, &ret) == 0 && ret == NULL);
    /* WriteFileEx, and WaitForMultipleObjectsEx. */
    ZeroMemory(&ov, sizeof ov);
    CHECK(WriteFileEx(c, "multi", 5, &ov, on_done));
    waits[0] = ev;
    waits[1] = ev;
    CHECK(ResetEvent(ev));
    CHECK(WaitForMultipleObjectsEx(2, waits, FALSE, 10000, TRUE) == WAIT_IO_COMPLETION);
    CHECK(routine_calls == 3 && routine_bytes == 5 && routine_error == 0);
    CHECK(ReadFile(s, buf, sizeof buf, &n, &ov2) && n == 5);
    /* A cancelled ReadFileEx: the routine gets ERROR_OPERATION_ABORTED. */
    ZeroMemory(&ov, sizeof ov);
    CHECK(ReadFileEx(s, buf, sizeof buf, &ov, on_done));
    CHECK(CancelIoEx(s, &ov));
    CHECK(SleepEx(10000, TRUE) == WAIT_IO_COMPLETION);
    CHECK(routine_calls == 4 && routine_error == ERROR_OPERATION_ABORTED);
    /* A non-alertable SleepEx with nothing queued returns 0; Ex on a handle not opened for
     * overlapped I/O is refused. */
    CHECK(SleepEx(1, FALSE) == 0);

    /* A pending read on a handle being closed ends (ERROR_OPERATION_ABORTED). */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(c, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    CHECK(CloseHandle(c));
    CHECK(WaitForSingleObject(ev, 10000) == WAIT_OBJECT_0);
    CHECK(ov.Internal != STATUS_PENDING);
    CHECK(CloseHandle(s));
    return 0;
}
