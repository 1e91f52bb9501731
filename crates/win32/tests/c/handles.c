/* Handles: values, CloseHandle, DuplicateHandle, Get/SetHandleInformation, GetLastError. */
#include "check.h"

int main(void)
{
    HANDLE e, d, d2;
    DWORD flags;

    /* Last error is per thread and keeps what was set. */
    SetLastError(1234);
    CHECK(GetLastError() == 1234);

    e = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK(e != NULL);
    CHECK(((ULONG_PTR)e % 4) == 0);
    CHECK(GetLastError() == ERROR_SUCCESS);

    /* Not inheritable unless asked. */
    CHECK(GetHandleInformation(e, &flags));
    CHECK(flags == 0);
    CHECK(SetHandleInformation(e, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT));
    CHECK(GetHandleInformation(e, &flags) && flags == HANDLE_FLAG_INHERIT);
    CHECK(SetHandleInformation(e, HANDLE_FLAG_INHERIT, 0));
    CHECK(GetHandleInformation(e, &flags) && flags == 0);

    /* A duplicate is the same object under another value. */
    CHECK(DuplicateHandle(GetCurrentProcess(), e, GetCurrentProcess(), &d, 0, TRUE,
                          DUPLICATE_SAME_ACCESS));
    CHECK(d != e && d != NULL);
    CHECK(GetHandleInformation(d, &flags) && flags == HANDLE_FLAG_INHERIT);
    CHECK(SetEvent(d));
    CHECK(WaitForSingleObject(e, 0) == WAIT_OBJECT_0);

    /* DUPLICATE_CLOSE_SOURCE closes the source. */
    CHECK(DuplicateHandle(GetCurrentProcess(), d, GetCurrentProcess(), &d2, 0, FALSE,
                          DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE));
    /* (the freed value may be reused at once, as Windows reuses handle values) */
    if (d2 != d)
        CHECK_ERROR(!CloseHandle(d), ERROR_INVALID_HANDLE);
    CHECK(ResetEvent(d2));
    CHECK(WaitForSingleObject(e, 0) == WAIT_TIMEOUT);

    /* A protected handle is not closed. */
    CHECK(SetHandleInformation(d2, HANDLE_FLAG_PROTECT_FROM_CLOSE, HANDLE_FLAG_PROTECT_FROM_CLOSE));
    CHECK_ERROR(!CloseHandle(d2), ERROR_INVALID_HANDLE);
    CHECK(SetHandleInformation(d2, HANDLE_FLAG_PROTECT_FROM_CLOSE, 0));
    CHECK(CloseHandle(d2));

    /* The object lives while a handle does. */
    CHECK(CloseHandle(e));
    CHECK_ERROR(!CloseHandle(e), ERROR_INVALID_HANDLE);
    CHECK_ERROR(!CloseHandle(NULL), ERROR_INVALID_HANDLE);
    CHECK_ERROR(!CloseHandle((HANDLE)(ULONG_PTR)0x7777770), ERROR_INVALID_HANDLE);
    CHECK_ERROR(!SetEvent(e), ERROR_INVALID_HANDLE);
    CHECK_ERROR(!GetHandleInformation(e, &flags), ERROR_INVALID_HANDLE);
    CHECK_ERROR(WaitForSingleObject(e, 0) == WAIT_FAILED, ERROR_INVALID_HANDLE);

    /* Values are reused, as on Windows. */
    d = CreateEventA(NULL, FALSE, FALSE, NULL);
    CHECK(d != NULL);
    CHECK(CloseHandle(d));

    /* INVALID_HANDLE_VALUE is -1 and GetCurrentProcess() the same pseudo-handle. */
    CHECK(INVALID_HANDLE_VALUE == (HANDLE)(LONG_PTR)-1);
    CHECK(GetCurrentProcess() == INVALID_HANDLE_VALUE);
    CHECK(GetProcessId(GetCurrentProcess()) == GetCurrentProcessId());
    return 0;
}
