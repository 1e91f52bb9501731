/* ReadFileEx / WriteFileEx: the completion routine runs on the issuing thread, only during its
 * alertable waits: SleepEx, WaitForSingleObjectEx and WaitForMultipleObjectsEx return
 * WAIT_IO_COMPLETION once routines ran; a plain or non-alertable wait runs none. A cancelled
 * operation's routine gets ERROR_OPERATION_ABORTED. Ex calls on a handle not opened for
 * overlapped I/O are ERROR_INVALID_PARAMETER. */
#include "overlapped.h"

static DWORD calls, last_error, last_bytes;
static LPOVERLAPPED last_ov;
static pthread_t last_thread;

static VOID WINAPI on_done(DWORD error, DWORD bytes, LPOVERLAPPED ov)
{
    calls++;
    last_error = error;
    last_bytes = bytes;
    last_ov = ov;
    last_thread = pthread_self();
}

int main(void)
{
    HANDLE s, c, ev, ev2, waits[2], r, w;
    OVERLAPPED ov, ov2;
    DWORD n;
    char buf[64];
    pthread_t t;
    void *ret;
    struct later l;

    overlapped_pair("pipework-c-ova", &s, &c);
    ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    ev2 = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK(ev && ev2);

    /* Nothing there yet: the read is under way, no routine runs. */
    ZeroMemory(&ov, sizeof ov);
    CHECK(ReadFileEx(s, buf, sizeof buf, &ov, on_done));
    CHECK(SleepEx(0, TRUE) == 0 && calls == 0);
    CHECK(WriteFile(c, "routine", 7, &n, NULL));
    /* Completed, but a non-alertable wait runs no routine. */
    while (!HasOverlappedIoCompleted(&ov))
        CHECK(WaitForSingleObjectEx(ev, 1, FALSE) == WAIT_TIMEOUT);
    CHECK(calls == 0);
    CHECK(SleepEx(10000, TRUE) == WAIT_IO_COMPLETION);
    CHECK(calls == 1 && last_error == 0 && last_bytes == 7 && last_ov == &ov);
    CHECK(pthread_equal(last_thread, pthread_self()));
    CHECK(memcmp(buf, "routine", 7) == 0);
    /* Nothing more queued: an alertable SleepEx runs out its time. */
    CHECK(SleepEx(1, TRUE) == 0 && calls == 1);

    /* WaitForSingleObjectEx on an event nobody sets: the routine ends the wait. */
    ZeroMemory(&ov, sizeof ov);
    CHECK(ReadFileEx(s, buf, sizeof buf, &ov, on_done));
    l.h = c;
    l.text = "single";
    CHECK(pthread_create(&t, NULL, write_later, &l) == 0);
    CHECK(WaitForSingleObjectEx(ev, 10000, TRUE) == WAIT_IO_COMPLETION);
    CHECK(calls == 2 && last_bytes == 6 && memcmp(buf, "single", 6) == 0);
    CHECK(pthread_join(t, &ret) == 0 && ret == NULL);
    /* A signaled object still wins when no routine is queued. */
    CHECK(SetEvent(ev));
    CHECK(WaitForSingleObjectEx(ev, 0, TRUE) == WAIT_OBJECT_0);
    CHECK(ResetEvent(ev));

    /* WriteFileEx, and WaitForMultipleObjectsEx. */
    ZeroMemory(&ov, sizeof ov);
    CHECK(WriteFileEx(c, "multi", 5, &ov, on_done));
    waits[0] = ev;
    waits[1] = ev2;
    CHECK(WaitForMultipleObjectsEx(2, waits, FALSE, 10000, TRUE) == WAIT_IO_COMPLETION);
    CHECK(calls == 3 && last_bytes == 5 && last_error == 0);
    ZeroMemory(&ov2, sizeof ov2);
    ov2.hEvent = ev2;
    CHECK(ReadFile(s, buf, sizeof buf, &n, &ov2) && n == 5 && memcmp(buf, "multi", 5) == 0);

    /* A cancelled ReadFileEx: its routine gets ERROR_OPERATION_ABORTED. */
    ZeroMemory(&ov, sizeof ov);
    CHECK(ReadFileEx(s, buf, sizeof buf, &ov, on_done));
    CHECK(CancelIoEx(s, &ov));
    CHECK(SleepEx(10000, TRUE) == WAIT_IO_COMPLETION);
    CHECK(calls == 4 && last_error == ERROR_OPERATION_ABORTED && last_bytes == 0);

    /* The peer gone: a ReadFileEx fails at once (ERROR_BROKEN_PIPE), no routine queued. */
    CHECK(CloseHandle(c));
    ZeroMemory(&ov, sizeof ov);
    CHECK_ERROR(!ReadFileEx(s, buf, sizeof buf, &ov, on_done), ERROR_BROKEN_PIPE);
    CHECK(SleepEx(0, TRUE) == 0 && calls == 4);

    /* Not opened for overlapped I/O: refused. */
    CHECK(CreatePipe(&r, &w, NULL, 0));
    CHECK_ERROR(!ReadFileEx(r, buf, sizeof buf, &ov, on_done), ERROR_INVALID_PARAMETER);
    CHECK_ERROR(!WriteFileEx(w, "x", 1, &ov, on_done), ERROR_INVALID_PARAMETER);
    CHECK(CloseHandle(r) && CloseHandle(w) && CloseHandle(s));
    CHECK(CloseHandle(ev) && CloseHandle(ev2));
    return 0;
}
