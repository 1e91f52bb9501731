/* Processes: CreateProcess (STARTUPINFO std handles, bInheritHandles), GetStdHandle/SetStdHandle,
 * GetCurrentProcessId, OpenProcess, GetExitCodeProcess, TerminateProcess, processes and
 * abandoned mutexes in the wait functions. This program is also its own child (argv[1]). */
#include <string.h>
#include <unistd.h>
#include "check.h"

static char self[512];

static HANDLE start(const char *args, BOOL inherit, STARTUPINFOA *si, DWORD *pid)
{
    char line[1024];
    PROCESS_INFORMATION pi;
    STARTUPINFOA plain;
    if (si == NULL) {
        memset(&plain, 0, sizeof plain);
        plain.cb = sizeof plain;
        si = &plain;
    }
    snprintf(line, sizeof line, "\"%s\" %s", self, args);
    CHECK(CreateProcessA(NULL, line, NULL, NULL, inherit, 0, NULL, NULL, si, &pi));
    CHECK(pi.hProcess != NULL && pi.hThread != NULL && pi.dwProcessId != 0);
    CHECK(CloseHandle(pi.hThread));
    if (pid)
        *pid = pi.dwProcessId;
    return pi.hProcess;
}

static DWORD finish(HANDLE process)
{
    DWORD code;
    CHECK(WaitForSingleObject(process, 30000) == WAIT_OBJECT_0);
    CHECK(GetExitCodeProcess(process, &code));
    CHECK(CloseHandle(process));
    return code;
}

static int child(int argc, char **argv)
{
    if (strcmp(argv[1], "signal") == 0 && argc == 3) {
        /* The handle value came on the command line: inherited handles keep their values. */
        HANDLE event = (HANDLE)(ULONG_PTR)strtoull(argv[2], NULL, 16);
        if (!SetEvent(event))
            return GetLastError() == ERROR_INVALID_HANDLE ? 3 : 4;
        return 7;
    }
    if (strcmp(argv[1], "echo") == 0) {
        /* Standard handles as STARTUPINFO gave them. */
        char buf[64];
        DWORD n, total = 0;
        HANDLE in = GetStdHandle(STD_INPUT_HANDLE), out = GetStdHandle(STD_OUTPUT_HANDLE);
        if (in == INVALID_HANDLE_VALUE || out == INVALID_HANDLE_VALUE)
            return 2;
        while (ReadFile(in, buf, sizeof buf, &n, NULL) && n > 0) {
            if (!WriteFile(out, buf, n, &n, NULL))
                return 3;
            total += n;
        }
        if (GetLastError() != ERROR_BROKEN_PIPE)
            return 4;
        return total == 5 ? 0 : 5;
    }
    if (strcmp(argv[1], "hold") == 0 && argc == 3) {
        /* Takes two named mutexes and exits without releasing them: abandoned. */
        char name[96];
        HANDLE m;
        snprintf(name, sizeof name, "%s-1", argv[2]);
        m = OpenMutexA(SYNCHRONIZE, FALSE, name);
        if (m == NULL || WaitForSingleObject(m, 0) != WAIT_OBJECT_0)
            return 2;
        snprintf(name, sizeof name, "%s-2", argv[2]);
        m = OpenMutexA(SYNCHRONIZE, FALSE, name);
        if (m == NULL || WaitForSingleObject(m, 0) != WAIT_OBJECT_0)
            return 3;
        return 0;
    }
    if (strcmp(argv[1], "inherited") == 0 && argc == 4) {
        /* An unnamed mapping and a pipe's write end, inherited under the parent's values. */
        HANDLE mapping = (HANDLE)(ULONG_PTR)strtoull(argv[2], NULL, 16);
        HANDLE pipe = (HANDLE)(ULONG_PTR)strtoull(argv[3], NULL, 16);
        char *view = MapViewOfFile(mapping, FILE_MAP_WRITE, 0, 0, 0);
        DWORD n;
        if (view == NULL)
            return 2;
        strcpy(view, "written by the child");
        UnmapViewOfFile(view);
        if (!WriteFile(pipe, "done", 4, &n, NULL))
            return 3;
        return 0;
    }
    if (strcmp(argv[1], "wait") == 0) {
        HANDLE forever = CreateEventA(NULL, TRUE, FALSE, NULL);
        WaitForSingleObject(forever, INFINITE);
        return 1;
    }
    return 100;
}

int main(int argc, char **argv)
{
    HANDLE event, p, handles[2], in_r, in_w, out_r, out_w, m1, m2;
    SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
    STARTUPINFOA si;
    char args[128], buf[64], base[64], name[96];
    DWORD code, pid, n, total;

    if (argc > 1)
        return child(argc, argv);
    snprintf(self, sizeof self, "%s", argv[0]);

    /* An inheritable event reaches the child under the same value. */
    event = CreateEventA(&sa, TRUE, FALSE, NULL);
    CHECK(event != NULL);
    snprintf(args, sizeof args, "signal %llx", (unsigned long long)(ULONG_PTR)event);
    p = start(args, TRUE, NULL, &pid);
    CHECK(finish(p) == 7);
    CHECK(WaitForSingleObject(event, 0) == WAIT_OBJECT_0);
    CHECK(ResetEvent(event));
    /* Not inherited without bInheritHandles, nor when not inheritable. */
    p = start(args, FALSE, NULL, NULL);
    CHECK(finish(p) == 3);
    CHECK(SetHandleInformation(event, HANDLE_FLAG_INHERIT, 0));
    p = start(args, TRUE, NULL, NULL);
    CHECK(finish(p) == 3);
    CHECK(WaitForSingleObject(event, 0) == WAIT_TIMEOUT);
    CHECK(CloseHandle(event));

    /* An unnamed mapping and a pipe end travel by inheritance alone. */
    {
        HANDLE mapping = CreateFileMappingA(INVALID_HANDLE_VALUE, &sa, PAGE_READWRITE, 0, 4096, NULL);
        char *view;
        CHECK(mapping != NULL);
        CHECK(CreatePipe(&out_r, &out_w, &sa, 0));
        CHECK(SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0));
        snprintf(args, sizeof args, "inherited %llx %llx", (unsigned long long)(ULONG_PTR)mapping,
                 (unsigned long long)(ULONG_PTR)out_w);
        p = start(args, TRUE, NULL, NULL);
        CHECK(CloseHandle(out_w));
        CHECK(ReadFile(out_r, buf, sizeof buf, &n, NULL) && n == 4 && memcmp(buf, "done", 4) == 0);
        CHECK_ERROR(!ReadFile(out_r, buf, sizeof buf, &n, NULL), ERROR_BROKEN_PIPE);
        CHECK(finish(p) == 0);
        view = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
        CHECK(view != NULL && strcmp(view, "written by the child") == 0);
        CHECK(UnmapViewOfFile(view) && CloseHandle(mapping) && CloseHandle(out_r));
    }

    /* STARTUPINFO's standard handles: the child echoes its input. */
    CHECK(CreatePipe(&in_r, &in_w, &sa, 0));
    CHECK(CreatePipe(&out_r, &out_w, &sa, 0));
    CHECK(SetHandleInformation(in_w, HANDLE_FLAG_INHERIT, 0));
    CHECK(SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0));
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = in_r;
    si.hStdOutput = out_w;
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    p = start("echo", TRUE, &si, NULL);
    CHECK(CloseHandle(in_r) && CloseHandle(out_w));
    CHECK(WriteFile(in_w, "hello", 5, &n, NULL) && n == 5);
    CHECK(CloseHandle(in_w));
    total = 0;
    while (ReadFile(out_r, buf + total, sizeof buf - total, &n, NULL) && n > 0)
        total += n;
    CHECK(GetLastError() == ERROR_BROKEN_PIPE);
    CHECK(total == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK(finish(p) == 0);
    CHECK(CloseHandle(out_r));

    /* A running process: STILL_ACTIVE; TerminateProcess's code; OpenProcess by id. */
    p = start("wait", FALSE, NULL, &pid);
    CHECK(GetExitCodeProcess(p, &code) && code == STILL_ACTIVE);
    CHECK(WaitForSingleObject(p, 0) == WAIT_TIMEOUT);
    CHECK(GetProcessId(p) == pid);
    handles[0] = OpenProcess(SYNCHRONIZE | PROCESS_TERMINATE, FALSE, pid);
    CHECK(handles[0] != NULL);
    CHECK(TerminateProcess(handles[0], 42));
    CHECK(WaitForSingleObject(handles[0], 30000) == WAIT_OBJECT_0);
    CHECK(CloseHandle(handles[0]));
    /* Gone already: ERROR_ACCESS_DENIED; the code given stands for every handle. */
    CHECK_ERROR(!TerminateProcess(p, 43), ERROR_ACCESS_DENIED);
    CHECK(finish(p) == 42);
    CHECK_ERROR(OpenProcess(SYNCHRONIZE, FALSE, 0x7ffffff0) == NULL, ERROR_INVALID_PARAMETER);

    /* An owner that exits holding mutexes abandons them: WAIT_ABANDONED, WAIT_ABANDONED_0 + i. */
    unique_name(base, sizeof base, "pipework-c-proc");
    snprintf(name, sizeof name, "%s-1", base);
    m1 = CreateMutexA(NULL, FALSE, name);
    snprintf(name, sizeof name, "%s-2", base);
    m2 = CreateMutexA(NULL, FALSE, name);
    CHECK(m1 && m2);
    snprintf(args, sizeof args, "hold %s", base);
    p = start(args, FALSE, NULL, NULL);
    CHECK(finish(p) == 0);
    CHECK(WaitForSingleObject(m1, 1000) == WAIT_ABANDONED);
    CHECK(ReleaseMutex(m1));
    CHECK(WaitForSingleObject(m1, 0) == WAIT_OBJECT_0); /* normal again */
    CHECK(ReleaseMutex(m1));
    event = CreateEventA(NULL, TRUE, FALSE, NULL);
    handles[0] = event;
    handles[1] = m2;
    CHECK(WaitForMultipleObjects(2, handles, FALSE, 1000) == WAIT_ABANDONED_0 + 1);
    CHECK(ReleaseMutex(m2));
    CHECK(CloseHandle(m1) && CloseHandle(m2) && CloseHandle(event));

    /* A process is waitable among other objects. */
    p = start("signal 0", FALSE, NULL, NULL);
    event = CreateEventA(NULL, TRUE, FALSE, NULL);
    handles[0] = event;
    handles[1] = p;
    CHECK(WaitForMultipleObjects(2, handles, FALSE, 30000) == WAIT_OBJECT_0 + 1);
    CHECK(finish(p) == 3);
    CHECK(CloseHandle(event));

    /* No such program: ERROR_FILE_NOT_FOUND. */
    {
        char line[] = "/nonexistent/pipework-no-such-program";
        PROCESS_INFORMATION pi;
        memset(&si, 0, sizeof si);
        si.cb = sizeof si;
        CHECK_ERROR(!CreateProcessA(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi),
                    ERROR_FILE_NOT_FOUND);
    }

    /* Standard handles: set and got back; this process's id. */
    {
        HANDLE old = GetStdHandle(STD_OUTPUT_HANDLE);
        CHECK(old != NULL && old != INVALID_HANDLE_VALUE);
        CHECK(GetStdHandle(STD_OUTPUT_HANDLE) == old);
        CHECK(SetStdHandle(STD_OUTPUT_HANDLE, (HANDLE)(ULONG_PTR)0x40));
        CHECK(GetStdHandle(STD_OUTPUT_HANDLE) == (HANDLE)(ULONG_PTR)0x40);
        CHECK(SetStdHandle(STD_OUTPUT_HANDLE, old));
        CHECK_ERROR(GetStdHandle(5) == INVALID_HANDLE_VALUE, ERROR_INVALID_HANDLE);
        CHECK(GetCurrentProcessId() == (DWORD)getpid());
    }
    return 0;
}
