/* The wide (W) forms of the window, atom and clipboard-format functions through the UNICODE
 * macros, and the few functions no other test calls: SignalObjectAndWait, GetThreadId,
 * GetNamedPipeServerProcessId, DeleteFileW. */
#define UNICODE
#include <string.h>
#include <uchar.h>
#include "check.h"

static int Seen;

static LRESULT CALLBACK Proc(HWND hwnd, UINT msg, WPARAM wparam, LPARAM lparam)
{
    if (msg == WM_USER + 7)
        Seen++;
    return DefWindowProc(hwnd, msg, wparam, lparam);
}

static DWORD WINAPI Nothing(LPVOID unused)
{
    (void)unused;
    return 5;
}

static void widen(WCHAR *out, const char *in)
{
    while ((*out++ = (WCHAR)(unsigned char)*in++) != 0)
        ;
}

int main(void)
{
    char a[128];
    WCHAR title[128], name[128];

    /* Classes and windows, wide. */
    WNDCLASSEX wc;
    memset(&wc, 0, sizeof wc);
    wc.cbSize = sizeof wc;
    wc.lpfnWndProc = Proc;
    wc.lpszClassName = u"PipeworkWideClass";
    CHECK(RegisterClassEx(&wc) != 0);
    CHECK_ERROR(RegisterClassEx(&wc) == 0, ERROR_CLASS_ALREADY_EXISTS);
    WNDCLASS wc2;
    memset(&wc2, 0, sizeof wc2);
    wc2.lpfnWndProc = Proc;
    wc2.lpszClassName = u"PipeworkWideClass2";
    CHECK(RegisterClass(&wc2) != 0);
    CHECK(UnregisterClass(u"PipeworkWideClass2", NULL));
    CHECK_ERROR(!UnregisterClass(u"PipeworkWideClass2", NULL), ERROR_CLASS_DOES_NOT_EXIST);

    unique_name(a, sizeof a, "wide-window");
    widen(title, a);
    HWND hwnd = CreateWindowEx(0, u"PipeworkWideClass", title, 0, 0, 0, 0, 0, HWND_MESSAGE, NULL,
                               NULL, NULL);
    CHECK(hwnd != NULL);
    CHECK(FindWindowEx(HWND_MESSAGE, NULL, u"pipeworkwideclass", title) == hwnd);
    CHECK(PostMessage(hwnd, WM_USER + 7, 0, 0));
    MSG msg;
    CHECK(PeekMessage(&msg, NULL, 0, 0, PM_REMOVE) && msg.message == WM_USER + 7);
    DispatchMessage(&msg);
    CHECK(Seen == 1);
    CHECK(!PeekMessage(&msg, NULL, 0, 0, PM_REMOVE));
    CHECK(DestroyWindow(hwnd));
    CHECK(UnregisterClass(u"PipeworkWideClass", NULL));

    /* Atoms, registered formats and messages, wide: one table, the same number as ANSI. */
    unique_name(a, sizeof a, "wide-atom");
    widen(name, a);
    ATOM atom = GlobalAddAtom(name);
    CHECK(atom != 0 && GlobalFindAtomA(a) == atom);
    CHECK(GlobalDeleteAtom(atom) == 0);
    UINT cf = RegisterClipboardFormat(name);
    CHECK(cf >= 0xC000 && RegisterClipboardFormatA(a) == cf);
    CHECK(RegisterWindowMessage(name) == cf);

    /* SignalObjectAndWait: signals one, waits on the other. */
    HANDLE ev = CreateEvent(NULL, TRUE, FALSE, NULL);
    HANDLE sem = CreateSemaphore(NULL, 0, 1, NULL);
    CHECK(ev != NULL && sem != NULL);
    CHECK(SignalObjectAndWait(sem, ev, 0, FALSE) == WAIT_TIMEOUT);
    CHECK(WaitForSingleObject(sem, 0) == WAIT_OBJECT_0);
    CHECK(SetEvent(ev));
    CHECK(SignalObjectAndWait(sem, ev, 0, FALSE) == WAIT_OBJECT_0);
    CHECK_ERROR(SignalObjectAndWait(NULL, ev, 0, FALSE) == WAIT_FAILED, ERROR_INVALID_HANDLE);

    /* GetThreadId of a thread CreateThread started. */
    DWORD tid = 0, code = 0;
    HANDLE t = CreateThread(NULL, 0, Nothing, NULL, 0, &tid);
    CHECK(t != NULL && GetThreadId(t) == tid);
    CHECK(WaitForSingleObject(t, 10000) == WAIT_OBJECT_0);
    CHECK(GetExitCodeThread(t, &code) && code == 5);
    CHECK_ERROR(GetThreadId(ev) == 0, ERROR_INVALID_HANDLE);

    /* GetNamedPipeServerProcessId from both ends. */
    unique_name(a, sizeof a, "\\\\.\\pipe\\pipework-c-wide-windows");
    widen(name, a);
    HANDLE server = CreateNamedPipe(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0,
                                    NULL);
    CHECK(server != INVALID_HANDLE_VALUE);
    HANDLE client = CreateFile(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0,
                               NULL);
    CHECK(client != INVALID_HANDLE_VALUE);
    ULONG pid = 0;
    CHECK(GetNamedPipeServerProcessId(client, &pid) && pid == GetCurrentProcessId());
    pid = 0;
    CHECK(GetNamedPipeServerProcessId(server, &pid) && pid == GetCurrentProcessId());
    CHECK_ERROR(!GetNamedPipeServerProcessId(ev, &pid), ERROR_INVALID_HANDLE);

    /* DeleteFileW. */
    unique_name(a, sizeof a, "/tmp/pipework-c-wide-file");
    widen(name, a);
    HANDLE f = CreateFile(name, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
    CHECK(f != INVALID_HANDLE_VALUE && CloseHandle(f));
    CHECK(DeleteFile(name));
    CHECK_ERROR(!DeleteFile(name), ERROR_FILE_NOT_FOUND);

    CHECK(CloseHandle(client) && CloseHandle(server) && CloseHandle(t));
    CHECK(CloseHandle(ev) && CloseHandle(sem));
    puts("wide_windows ok");
    return 0;
}
