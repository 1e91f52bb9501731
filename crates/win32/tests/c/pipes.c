/* Anonymous pipes: CreatePipe, ReadFile, WriteFile, PeekNamedPipe, GetNamedPipeInfo,
 * Get/SetNamedPipeHandleState, FlushFileBuffers, with the codes of spec section 1. */
#include <string.h>
#include "check.h"

int main(void)
{
    HANDLE r, w;
    SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
    DWORD n, total, left, flags, out_size, in_size, max, state, instances;
    char buf[64];
    OVERLAPPED ov;
    HANDLE done;

    CHECK(CreatePipe(&r, &w, NULL, 0));
    CHECK(GetHandleInformation(r, &flags) && flags == 0);
    CHECK(GetFileType(r) == FILE_TYPE_PIPE);

    /* A byte stream: two writes read as one. */
    CHECK(WriteFile(w, "hello ", 6, &n, NULL) && n == 6);
    CHECK(WriteFile(w, "world", 5, &n, NULL) && n == 5);
    CHECK(PeekNamedPipe(r, buf, 5, &n, &total, &left));
    CHECK(n == 5 && total == 11 && left == 0 && memcmp(buf, "hello", 5) == 0);
    CHECK(PeekNamedPipe(r, NULL, 0, NULL, &total, NULL) && total == 11);
    CHECK(ReadFile(r, buf, sizeof buf, &n, NULL) && n == 11);
    CHECK(memcmp(buf, "hello world", 11) == 0);

    /* Read end: read only; write end: write only. */
    CHECK_ERROR(!WriteFile(r, "x", 1, &n, NULL), ERROR_ACCESS_DENIED);
    CHECK_ERROR(!ReadFile(w, buf, 1, &n, NULL), ERROR_ACCESS_DENIED);

    /* The read end is the server end of a one-instance byte pipe. */
    CHECK(GetNamedPipeInfo(r, &flags, &out_size, &in_size, &max));
    CHECK(flags == (PIPE_SERVER_END | PIPE_TYPE_BYTE) && max == 1 && in_size >= 4096);
    CHECK(GetNamedPipeInfo(w, &flags, NULL, NULL, NULL) && flags == PIPE_CLIENT_END);
    CHECK(GetNamedPipeHandleStateA(r, &state, &instances, NULL, NULL, NULL, 0));
    CHECK(state == (PIPE_WAIT | PIPE_READMODE_BYTE) && instances == 1);

    /* Message read mode on a byte pipe: ERROR_INVALID_PARAMETER; PIPE_NOWAIT: ERROR_NO_DATA. */
    state = PIPE_READMODE_MESSAGE;
    CHECK_ERROR(!SetNamedPipeHandleState(r, &state, NULL, NULL), ERROR_INVALID_PARAMETER);
    state = PIPE_NOWAIT;
    CHECK(SetNamedPipeHandleState(r, &state, NULL, NULL));
    CHECK_ERROR(!ReadFile(r, buf, sizeof buf, &n, NULL), ERROR_NO_DATA);
    state = PIPE_WAIT;
    CHECK(SetNamedPipeHandleState(r, &state, NULL, NULL));
    CHECK_ERROR(!TransactNamedPipe(r, "x", 1, buf, sizeof buf, &n, NULL), ERROR_BAD_PIPE);
    CHECK_ERROR(!ConnectNamedPipe(r, NULL), ERROR_INVALID_FUNCTION);

    /* lpOverlapped is ignored on anonymous pipes: the call completes, the event is set. */
    memset(&ov, 0, sizeof ov);
    done = CreateEventA(NULL, TRUE, FALSE, NULL);
    ov.hEvent = done;
    CHECK(WriteFile(w, "ov", 2, NULL, &ov));
    CHECK(HasOverlappedIoCompleted(&ov));
    CHECK(WaitForSingleObject(done, 0) == WAIT_OBJECT_0);
    CHECK(GetOverlappedResult(w, &ov, &n, TRUE) && n == 2);
    CHECK(CancelIo(w));
    CHECK_ERROR(!CancelIoEx(w, &ov), ERROR_NOT_FOUND);
    CHECK(CloseHandle(done));

    /* Buffered data stays readable after the writer closes; then ERROR_BROKEN_PIPE. */
    CHECK(FlushFileBuffers(w) || GetLastError() == ERROR_SUCCESS);
    CHECK(CloseHandle(w));
    CHECK(ReadFile(r, buf, sizeof buf, &n, NULL) && n == 2 && memcmp(buf, "ov", 2) == 0);
    CHECK_ERROR(!ReadFile(r, buf, sizeof buf, &n, NULL), ERROR_BROKEN_PIPE);
    CHECK(n == 0);
    CHECK(CloseHandle(r));

    /* Write after the read end closed: ERROR_NO_DATA (the docs say BROKEN_PIPE; Windows says
     * NO_DATA), and no signal kills this process. */
    CHECK(CreatePipe(&r, &w, &sa, 1));
    CHECK(GetHandleInformation(w, &flags) && flags == HANDLE_FLAG_INHERIT);
    CHECK(CloseHandle(r));
    CHECK_ERROR(!WriteFile(w, "x", 1, &n, NULL), ERROR_NO_DATA);
    CHECK(CloseHandle(w));

    CHECK_ERROR(!CreatePipe(NULL, &w, NULL, 0), ERROR_INVALID_PARAMETER);
    CHECK_ERROR(!ReadFile(NULL, buf, 1, &n, NULL), ERROR_INVALID_HANDLE);
    return 0;
}
