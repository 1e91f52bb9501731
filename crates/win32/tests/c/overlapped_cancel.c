/* Cancelling overlapped operations: CancelIoEx on one OVERLAPPED and CancelIo (the calling
 * thread's operations) end a pending read with ERROR_OPERATION_ABORTED (event set, Internal no
 * longer STATUS_PENDING); nothing pending is ERROR_NOT_FOUND; CancelIo from another thread
 * leaves this thread's operation alone; closing the handle ends its pending operations; the
 * pipe works after a cancel. */
#include "overlapped.h"

static HANDLE shared_s;

static void *cancel_io_elsewhere(void *arg)
{
    (void)arg;
    return CancelIo(shared_s) ? NULL : (void *)1;
}

int main(void)
{
    HANDLE s, c, ev;
    OVERLAPPED ov;
    DWORD n;
    char buf[64];
    pthread_t t;
    void *ret;

    overlapped_pair("pipework-c-ovx", &s, &c);
    ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK(ev != NULL);

    /* CancelIoEx on the pending read. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    CHECK(CancelIoEx(s, &ov));
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, TRUE), ERROR_OPERATION_ABORTED);
    CHECK(n == 0 && HasOverlappedIoCompleted(&ov));
    CHECK(WaitForSingleObject(ev, 0) == WAIT_OBJECT_0);
    CHECK_ERROR(!CancelIoEx(s, &ov), ERROR_NOT_FOUND);
    CHECK_ERROR(!CancelIoEx(s, NULL), ERROR_NOT_FOUND);

    /* CancelIo from another thread does not touch this thread's operation; from this one it
     * does. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    shared_s = s;
    CHECK(pthread_create(&t, NULL, cancel_io_elsewhere, NULL) == 0);
    CHECK(pthread_join(t, &ret) == 0 && ret == NULL);
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_IO_INCOMPLETE);
    CHECK(CancelIo(s));
    CHECK(WaitForSingleObject(ev, 10000) == WAIT_OBJECT_0);
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_OPERATION_ABORTED);

    /* The pipe still works after a cancel. */
    CHECK(WriteFile(c, "after", 5, &n, NULL));
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK(ReadFile(s, buf, sizeof buf, &n, &ov) && n == 5 && memcmp(buf, "after", 5) == 0);

    /* CancelIoEx(h, NULL): every operation on the handle. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(c, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    CHECK(CancelIoEx(c, NULL));
    CHECK_ERROR(!GetOverlappedResult(c, &ov, &n, TRUE), ERROR_OPERATION_ABORTED);

    /* Closing the handle ends its pending read. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(c, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    CHECK(CloseHandle(c));
    CHECK(WaitForSingleObject(ev, 10000) == WAIT_OBJECT_0);
    CHECK(HasOverlappedIoCompleted(&ov));
    CHECK(CloseHandle(s) && CloseHandle(ev));
    return 0;
}
