/* The wide (W) forms, through the UNICODE macros as a Windows program compiled for Unicode
 * calls them: TEXT("...") is a 16-bit string. */
#define UNICODE
#include <string.h>
#include <uchar.h>
#include "check.h"

/* A wide copy of an ASCII string. */
static void widen(WCHAR *out, const char *in)
{
    while ((*out++ = (WCHAR)(unsigned char)*in++) != 0)
        ;
}

int main(void)
{
    char a[128];
    WCHAR name[128], pipe[128], slot[128], missing[128];
    HANDLE m, m2, s, e, map, h;
    DWORD state;
    SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, FALSE };

    unique_name(a, sizeof a, "Local\\pipework-c-wide");
    widen(name, a);
    m = CreateMutex(NULL, FALSE, name);
    CHECK(m != NULL && GetLastError() == ERROR_SUCCESS);
    m2 = OpenMutex(SYNCHRONIZE, FALSE, name);
    CHECK(m2 != NULL);
    CHECK_ERROR(OpenSemaphore(SYNCHRONIZE, FALSE, name) == NULL, ERROR_INVALID_HANDLE);
    CHECK_ERROR(CreateEvent(NULL, FALSE, FALSE, name) == NULL, ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(m) && CloseHandle(m2));
    s = CreateSemaphore(&sa, 0, 1, name);
    CHECK(s != NULL && GetLastError() == ERROR_SUCCESS);
    CHECK(CloseHandle(s));
    e = CreateEventEx(NULL, NULL, CREATE_EVENT_MANUAL_RESET | CREATE_EVENT_INITIAL_SET, EVENT_ALL_ACCESS);
    CHECK(e != NULL && WaitForSingleObject(e, 0) == WAIT_OBJECT_0);
    CHECK(WaitForSingleObject(e, 0) == WAIT_OBJECT_0);
    CHECK(CloseHandle(e));
    m = CreateMutexEx(NULL, NULL, CREATE_MUTEX_INITIAL_OWNER, MUTANT_ALL_ACCESS);
    CHECK(m != NULL && ReleaseMutex(m) && CloseHandle(m));

    map = CreateFileMapping(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 4096, name);
    CHECK(map != NULL);
    h = OpenFileMapping(FILE_MAP_READ, FALSE, name);
    CHECK(h != NULL && CloseHandle(h) && CloseHandle(map));
    CHECK_ERROR(OpenFileMapping(FILE_MAP_READ, FALSE, name) == NULL, ERROR_FILE_NOT_FOUND);

    unique_name(a, sizeof a, "\\\\.\\pipe\\pipework-c-wide");
    widen(pipe, a);
    strcat(a, "-missing");
    widen(missing, a);
    h = CreateNamedPipe(pipe, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 0, 0, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK(WaitNamedPipe(pipe, NMPWAIT_USE_DEFAULT_WAIT));
    CHECK(GetNamedPipeHandleState(h, &state, NULL, NULL, NULL, NULL, 0) && state == PIPE_READMODE_MESSAGE);
    CHECK_ERROR(CreateNamedPipe(TEXT("plain"), PIPE_ACCESS_DUPLEX, 0, 1, 0, 0, 0, NULL) == INVALID_HANDLE_VALUE,
                ERROR_INVALID_NAME);
    CHECK_ERROR(!WaitNamedPipe(missing, 0), ERROR_FILE_NOT_FOUND);
    CHECK_ERROR(CreateFile(missing, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL) == INVALID_HANDLE_VALUE,
                ERROR_FILE_NOT_FOUND);
    {
        char buf[4];
        DWORD n;
        CHECK_ERROR(!CallNamedPipe(missing, "x", 1, buf, sizeof buf, &n, 0), ERROR_FILE_NOT_FOUND);
    }
    CHECK(CloseHandle(h));

    unique_name(a, sizeof a, "\\\\.\\mailslot\\pipework-c-wide");
    widen(slot, a);
    h = CreateMailslot(slot, 0, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    e = CreateFile(slot, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(e != INVALID_HANDLE_VALUE);
    CHECK(CloseHandle(e) && CloseHandle(h));

    /* CreateProcessW: a program that exits 3. */
    {
        WCHAR line[] = u"/bin/sh -c \"exit 3\"";
        STARTUPINFO si;
        PROCESS_INFORMATION pi;
        DWORD code;
        memset(&si, 0, sizeof si);
        si.cb = sizeof si;
        CHECK(CreateProcess(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi));
        CHECK(WaitForSingleObject(pi.hProcess, 30000) == WAIT_OBJECT_0);
        CHECK(GetExitCodeProcess(pi.hProcess, &code) && code == 3);
        CHECK(CloseHandle(pi.hProcess) && CloseHandle(pi.hThread));
    }
    return 0;
}
