/* Overlapped ConnectNamedPipe on a handle opened with FILE_FLAG_OVERLAPPED: with no client it is
 * pending (FALSE + ERROR_IO_PENDING, Internal == STATUS_PENDING, the event reset as it starts,
 * GetOverlappedResult(bWait FALSE) == ERROR_IO_INCOMPLETE); a client's open completes it (the
 * event set, Internal 0); with a client already there it is FALSE + ERROR_PIPE_CONNECTED. */
#include "overlapped.h"

int main(void)
{
    HANDLE s, c, ev;
    OVERLAPPED ov;
    DWORD n;
    char base[64], name[128];

    unique_name(base, sizeof base, "pipework-c-ovc");
    snprintf(name, sizeof name, "\\\\.\\pipe\\%s", base);
    ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK(ev != NULL);
    s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE);

    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK(SetEvent(ev));
    CHECK_ERROR(!ConnectNamedPipe(s, &ov), ERROR_IO_PENDING);
    CHECK(!HasOverlappedIoCompleted(&ov) && ov.Internal == STATUS_PENDING);
    CHECK(WaitForSingleObject(ev, 0) == WAIT_TIMEOUT);
    CHECK_ERROR(!GetOverlappedResult(s, &ov, &n, FALSE), ERROR_IO_INCOMPLETE);

    c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                    FILE_FLAG_OVERLAPPED, NULL);
    CHECK(c != INVALID_HANDLE_VALUE);
    CHECK(WaitForSingleObject(ev, 10000) == WAIT_OBJECT_0);
    CHECK(HasOverlappedIoCompleted(&ov) && ov.Internal == 0);
    CHECK(GetOverlappedResult(s, &ov, &n, FALSE));
    /* ConnectNamedPipe on a client end: ERROR_INVALID_FUNCTION. */
    CHECK_ERROR(!ConnectNamedPipe(c, &ov), ERROR_INVALID_FUNCTION);
    CHECK(CloseHandle(c));
    CHECK(DisconnectNamedPipe(s));

    /* Pending again after a disconnect, and cancelled by closing the handle. */
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ConnectNamedPipe(s, &ov), ERROR_IO_PENDING);
    CHECK(CloseHandle(s));
    CHECK(WaitForSingleObject(ev, 10000) == WAIT_OBJECT_0);
    CHECK(HasOverlappedIoCompleted(&ov));

    /* The client came first (a new pipe listens from its creation): FALSE with
     * ERROR_PIPE_CONNECTED, and the instance is connected. */
    s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE);
    c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                    FILE_FLAG_OVERLAPPED, NULL);
    CHECK(c != INVALID_HANDLE_VALUE);
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = ev;
    CHECK_ERROR(!ConnectNamedPipe(s, &ov), ERROR_PIPE_CONNECTED);
    CHECK(WriteFile(c, "hi", 2, &n, &ov) && n == 2);
    CHECK(CloseHandle(c) && CloseHandle(s) && CloseHandle(ev));
    return 0;
}
