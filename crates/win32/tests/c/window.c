/* Windows: RegisterClassEx, CreateWindowEx(HWND_MESSAGE), FindWindow(Ex), SendMessage,
 * SendMessageTimeout, PostMessage, GetMessage, PeekMessage, DispatchMessage, DefWindowProc,
 * PostQuitMessage, IsWindow, GetWindowThreadProcessId and WM_COPYDATA between two processes.
 * This program is also its own child (argv[1] == "child"). */
#include <string.h>
#include <unistd.h>
#include "check.h"

#define CLASS "PipeworkTestWindow"
#define WM_DOUBLE (WM_USER + 1)
#define WM_DONE (WM_USER + 2)
#define WM_PING (WM_APP + 7)
#define WM_BACK (WM_USER + 3)

static int creates, copies, pings;
static DWORD child_pid;
static HWND child_hwnd;

static LRESULT CALLBACK proc(HWND hwnd, UINT msg, WPARAM wp, LPARAM lp)
{
    switch (msg) {
    case WM_CREATE: {
        CREATESTRUCTA *cs = (CREATESTRUCTA *)lp;
        CHECK(cs != NULL && cs->lpCreateParams == (LPVOID)0x1234);
        creates++;
        return 0;
    }
    case WM_DOUBLE:
        return (LRESULT)wp * 2;
    case WM_COPYDATA: {
        COPYDATASTRUCT *cds = (COPYDATASTRUCT *)lp;
        CHECK(cds != NULL && cds->dwData == 42 && cds->cbData == 6);
        CHECK(memcmp(cds->lpData, "hello", 6) == 0);
        /* wParam: the sender's window, another process's. */
        child_hwnd = (HWND)wp;
        CHECK(IsWindow(child_hwnd));
        DWORD pid = 0;
        CHECK(GetWindowThreadProcessId(child_hwnd, &pid) != 0);
        child_pid = pid;
        /* The sender handles this while it waits for our answer, as on Windows. */
        CHECK(SendMessageA(child_hwnd, WM_BACK, 5, 0) == 99);
        copies++;
        return 77;
    }
    case WM_PING:
        pings++;
        return 0;
    case WM_DONE:
        PostQuitMessage(5);
        return 0;
    }
    return DefWindowProcA(hwnd, msg, wp, lp);
}

static DWORD WINAPI other_thread(LPVOID param)
{
    HWND hwnd = (HWND)param;
    DWORD_PTR result = 1;
    /* The owning thread is not pumping: the send times out. */
    CHECK_ERROR(!SendMessageTimeoutA(hwnd, WM_DOUBLE, 1, 0, SMTO_ABORTIFHUNG | SMTO_BLOCK, 100,
                                      &result),
                ERROR_TIMEOUT);
    /* Only the creating thread may destroy it. */
    CHECK_ERROR(!DestroyWindow(hwnd), ERROR_ACCESS_DENIED);
    return 0;
}

static LRESULT CALLBACK sender_proc(HWND hwnd, UINT msg, WPARAM wp, LPARAM lp)
{
    if (msg == WM_BACK)
        return wp == 5 ? 99 : 0;
    return DefWindowProcA(hwnd, msg, wp, lp);
}

static int child(const char *title)
{
    WNDCLASSEXA wc;
    memset(&wc, 0, sizeof wc);
    wc.cbSize = sizeof wc;
    wc.lpfnWndProc = sender_proc;
    wc.lpszClassName = "PipeworkTestSender";
    CHECK(RegisterClassExA(&wc) != 0);
    HWND me = CreateWindowExA(0, "PipeworkTestSender", NULL, 0, 0, 0, 0, 0, HWND_MESSAGE, NULL,
                              NULL, NULL);
    CHECK(me != NULL);
    HWND target = FindWindowA("pipeworktestwindow", title); /* classes compare without case */
    CHECK(target != NULL);
    CHECK(FindWindowExA(HWND_MESSAGE, NULL, CLASS, title) == target);
    CHECK(FindWindowExA(HWND_MESSAGE, target, CLASS, title) == NULL);
    CHECK(IsWindow(target));
    CHECK(SendMessageA(target, WM_DOUBLE, 21, 0) == 42);
    DWORD_PTR result = 0;
    CHECK(SendMessageTimeoutA(target, WM_DOUBLE, 50, 0, SMTO_ABORTIFHUNG, 10000, &result));
    CHECK(result == 100);
    COPYDATASTRUCT cds = { 42, 6, (PVOID) "hello" };
    CHECK(SendMessageA(target, WM_COPYDATA, (WPARAM)me, (LPARAM)&cds) == 77);
    CHECK_ERROR(!PostMessageA(target, WM_COPYDATA, (WPARAM)me, (LPARAM)&cds),
                ERROR_MESSAGE_SYNC_ONLY);
    CHECK(PostMessageA(target, WM_PING, 0, 0));
    CHECK(PostMessageA(target, WM_DONE, 0, 0));
    CHECK(DestroyWindow(me));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "child") == 0)
        return child(argv[2]);

    WNDCLASSEXA wc;
    memset(&wc, 0, sizeof wc);
    wc.cbSize = sizeof wc;
    wc.lpfnWndProc = proc;
    wc.lpszClassName = CLASS;
    ATOM atom = RegisterClassExA(&wc);
    CHECK(atom != 0);
    CHECK_ERROR(RegisterClassExA(&wc) == 0, ERROR_CLASS_ALREADY_EXISTS);
    CHECK_ERROR(CreateWindowExA(0, "NoSuchClass", NULL, 0, 0, 0, 0, 0, HWND_MESSAGE, NULL, NULL,
                                NULL) == NULL,
                ERROR_CANNOT_FIND_WND_CLASS);

    char title[64];
    unique_name(title, sizeof title, "window-test");
    HWND hwnd = CreateWindowExA(0, CLASS, title, 0, 0, 0, 0, 0, HWND_MESSAGE, NULL, NULL,
                                (LPVOID)0x1234);
    CHECK(hwnd != NULL);
    CHECK(creates == 1);
    CHECK(IsWindow(hwnd));
    DWORD pid = 0;
    CHECK(GetWindowThreadProcessId(hwnd, &pid) == GetCurrentThreadId());
    CHECK(pid == GetCurrentProcessId());
    CHECK(FindWindowA(CLASS, title) == hwnd);

    /* The same thread: the window procedure is called directly. */
    CHECK(SendMessageA(hwnd, WM_DOUBLE, 4, 0) == 8);
    CHECK_ERROR(SendMessageA((HWND)(ULONG_PTR)0x5157, WM_DOUBLE, 4, 0) == 0,
                ERROR_INVALID_WINDOW_HANDLE);
    CHECK(!IsWindow((HWND)(ULONG_PTR)0x5157));

    /* Posted messages: PeekMessage with and without PM_REMOVE, DispatchMessage. */
    MSG msg;
    CHECK(!PeekMessageA(&msg, NULL, 0, 0, PM_REMOVE));
    CHECK(PostMessageA(hwnd, WM_PING, 1, 2));
    CHECK(PeekMessageA(&msg, NULL, 0, 0, PM_NOREMOVE));
    CHECK(msg.hwnd == hwnd && msg.message == WM_PING && msg.wParam == 1 && msg.lParam == 2);
    CHECK(!PeekMessageA(&msg, NULL, WM_USER, WM_USER + 5, PM_REMOVE)); /* filtered out */
    CHECK(PeekMessageA(&msg, hwnd, 0, 0, PM_REMOVE));
    CHECK(msg.message == WM_PING);
    CHECK(!TranslateMessage(&msg));
    DispatchMessageA(&msg);
    CHECK(pings == 1);
    CHECK(!PeekMessageA(&msg, NULL, 0, 0, PM_REMOVE));

    /* Another thread's sends wait for this thread to pump. */
    HANDLE t = CreateThread(NULL, 0, other_thread, hwnd, 0, NULL);
    CHECK(t != NULL);
    CHECK(WaitForSingleObject(t, 30000) == WAIT_OBJECT_0);
    CloseHandle(t);
    /* The timed-out send still reaches the procedure once this thread pumps. */
    CHECK(!PeekMessageA(&msg, NULL, 0, 0, PM_REMOVE));

    /* Another process: FindWindow, SendMessage, WM_COPYDATA, PostMessage. */
    char line[600], self[512];
    DWORD n = (DWORD)readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0 && n < sizeof self);
    self[n] = 0;
    snprintf(line, sizeof line, "\"%s\" child %s", self, title);
    STARTUPINFOA si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    PROCESS_INFORMATION pi;
    CHECK(CreateProcessA(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi));
    BOOL got;
    while ((got = GetMessageA(&msg, NULL, 0, 0)) != 0) {
        CHECK(got != -1);
        TranslateMessage(&msg);
        DispatchMessageA(&msg);
    }
    CHECK(msg.message == WM_QUIT && msg.wParam == 5);
    CHECK(copies == 1 && pings == 2);
    CHECK(child_pid == pi.dwProcessId);
    CHECK(WaitForSingleObject(pi.hProcess, 30000) == WAIT_OBJECT_0);
    DWORD code = 1;
    CHECK(GetExitCodeProcess(pi.hProcess, &code) && code == 0);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    CHECK(!IsWindow(child_hwnd));

    CHECK_ERROR(!UnregisterClassA(CLASS, NULL), ERROR_CLASS_HAS_WINDOWS);
    /* WM_CLOSE through DefWindowProc destroys the window. */
    SendMessageA(hwnd, WM_CLOSE, 0, 0);
    CHECK(!IsWindow(hwnd));
    CHECK_ERROR(!DestroyWindow(hwnd), ERROR_INVALID_WINDOW_HANDLE);
    CHECK(FindWindowA(CLASS, title) == NULL);
    CHECK(UnregisterClassA(CLASS, NULL));
    return 0;
}
