/* Overlapped ReadFile, WriteFile and TransactNamedPipe on handles opened with
 * FILE_FLAG_OVERLAPPED: pending (FALSE + ERROR_IO_PENDING) when the peer has to act first, then
 * completed (hEvent set, Internal 0, InternalHigh the bytes) and reported by
 * GetOverlappedResult with bWait FALSE (ERROR_IO_INCOMPLETE while pending) or TRUE (waits);
 * TRUE at once with the event set when the data is there; FALSE + ERROR_MORE_DATA at once for a
 * message larger than the buffer. */
#include "overlapped.h"

static char big[200000], big_in[200000];

int main(void)
{
    HANDLE s, c, ev, ev2;
    OVERLAPPED ov, ov2;
    DWORD n;
    char buf[64];
    pthread_t t;
    void *ret;
    struct later l;

    overlapped_pair("pipework-c-ovio", &s, &c);
    ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    ev2 = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK(ev && ev2);

    /* Nothing to read: pending, incomplete, then complete once another thread writes. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    CHECK(!HasOverlappedIoCompleted(&ov));
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_IO_INCOMPLETE);
    CHECK(WaitForSingleObject(ev, 0) == WAIT_TIMEOUT);
    l.h = c;
    l.text = "hello";
    CHECK(pthread_create(&t, NULL, write_later, &l) == 0);
    n = 0;
    CHECK(GetOverlappedResult(s, &ov, &n, TRUE) && n == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK(ov.Internal == 0 && ov.InternalHigh == 5);
    CHECK(WaitForSingleObject(ev, 0) == WAIT_OBJECT_0);
    CHECK(pthread_join(t, &ret) == 0 && ret == NULL);

    /* Completion seen through the event alone, then GetOverlappedResult(bWait FALSE). */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    l.text = "event";
    CHECK(pthread_create(&t, NULL, write_later, &l) == 0);
    CHECK(WaitForSingleObject(ev, 10000) == WAIT_OBJECT_0);
    CHECK(HasOverlappedIoCompleted(&ov));
    CHECK(GetOverlappedResult(s, &ov, &n, FALSE) && n == 5 && memcmp(buf, "event", 5) == 0);
    CHECK(pthread_join(t, &ret) == 0 && ret == NULL);

    /* Data already there: TRUE at once, the count given, the event set. */
    CHECK(WriteFile(c, "again", 5, &n, NULL) && n == 5);
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    n = 0;
    CHECK(ReadFile(s, buf, sizeof buf, &n, &ov) && n == 5 && memcmp(buf, "again", 5) == 0);
    CHECK(WaitForSingleObject(ev, 0) == WAIT_OBJECT_0 && ov.InternalHigh == 5);
    /* A message larger than the buffer: FALSE + ERROR_MORE_DATA at once, the rest follows. */
    CHECK(WriteFile(c, "0123456789", 10, &n, NULL));
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(s, buf, 4, &n, &ov), ERROR_MORE_DATA);
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_MORE_DATA);
    CHECK(n == 4);
    CHECK(ReadFile(s, buf, sizeof buf, &n, &ov) && n == 6 && memcmp(buf, "456789", 6) == 0);

    /* A write the pipe has no room for: pending until the client reads it. */
    memset(big, 'b', sizeof big);
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!WriteFile(s, big, sizeof big, &n, &ov), ERROR_IO_PENDING);
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_IO_INCOMPLETE);
    CHECK(ReadFile(c, big_in, sizeof big_in, &n, NULL) && n == sizeof big_in);
    CHECK(GetOverlappedResult(s, &ov, &n, TRUE) && n == sizeof big);
    CHECK(memcmp(big_in, big, sizeof big) == 0);
    /* A small write with room: TRUE at once. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK(WriteFile(s, "small", 5, &n, &ov) && n == 5);
    CHECK(WaitForSingleObject(ev, 0) == WAIT_OBJECT_0);
    CHECK(ReadFile(c, buf, sizeof buf, &n, NULL) && n == 5);

    /* TransactNamedPipe: the request goes at once, the reply is pending. */
    ZeroMemory(&ov2, sizeof ov2);
    ov2.hEvent = ev2;
    CHECK_ERROR(!TransactNamedPipe(c, "question", 8, buf, sizeof buf, &n, &ov2), ERROR_IO_PENDING);
    CHECK(WaitForSingleObject(ev2, 0) == WAIT_TIMEOUT);
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK(ReadFile(s, buf + 32, 32, &n, &ov) && n == 8 && memcmp(buf + 32, "question", 8) == 0);
    CHECK(WriteFile(s, "answer", 6, &n, &ov) && n == 6);
    CHECK(GetOverlappedResult(c, &ov2, &n, TRUE) && n == 6 && memcmp(buf, "answer", 6) == 0);
    CHECK(WaitForSingleObject(ev2, 0) == WAIT_OBJECT_0);

    /* The client goes: a pending read on the server completes with ERROR_BROKEN_PIPE. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ReadFile(s, buf, sizeof buf, &n, &ov), ERROR_IO_PENDING);
    CHECK(CloseHandle(c));
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, TRUE), ERROR_BROKEN_PIPE);
    CHECK(CloseHandle(s) && CloseHandle(ev) && CloseHandle(ev2));
    return 0;
}
