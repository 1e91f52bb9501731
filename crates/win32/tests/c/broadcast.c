/* HWND_BROADCAST across two processes with a registered message: RegisterWindowMessage gives
 * the same number in both; SendMessageTimeout(HWND_BROADCAST) reaches the other process's
 * top-level window and this process's own, and so does PostMessage(HWND_BROADCAST); a
 * message-only window (HWND_MESSAGE) is left out, as on Windows. */
#include <string.h>
#include <windows.h>
#include "check.h"

static UINT Msg;
static int SentSeen, PostedSeen;
static WPARAM SentWparam;

static LRESULT CALLBACK Proc(HWND hwnd, UINT msg, WPARAM wparam, LPARAM lparam)
{
    if (msg == Msg) {
        /* The sent broadcast carries 41, the posted one 0. */
        if (wparam != 0) {
            SentSeen++;
            SentWparam = wparam;
        } else {
            PostedSeen++;
        }
        return (LRESULT)wparam + 1;
    }
    return DefWindowProcA(hwnd, msg, wparam, lparam);
}

static int HiddenSeen;

static LRESULT CALLBACK HiddenProc(HWND hwnd, UINT msg, WPARAM wparam, LPARAM lparam)
{
    if (msg == Msg)
        HiddenSeen++;
    return DefWindowProcA(hwnd, msg, wparam, lparam);
}

static HWND Create(const char *title)
{
    WNDCLASSA wc;
    memset(&wc, 0, sizeof wc);
    wc.lpfnWndProc = Proc;
    wc.lpszClassName = "PipeworkBroadcastTest";
    RegisterClassA(&wc);
    /* No parent: a top-level window, which broadcasts reach. */
    HWND h = CreateWindowExA(0, "PipeworkBroadcastTest", title, 0, 0, 0, 0, 0, NULL, NULL, NULL,
                             NULL);
    CHECK(h != NULL);
    return h;
}

/* The other process: its window gets the sent broadcast, then the posted one (whose lParam
 * is its exit code). */
static int Child(const char *name, UINT expected, const char *ready_name)
{
    Msg = RegisterWindowMessageA(name);
    CHECK(Msg == expected);
    HWND h = Create("child");
    HANDLE ready = OpenEventA(EVENT_MODIFY_STATE, FALSE, ready_name);
    CHECK(ready != NULL && SetEvent(ready));
    MSG m;
    for (;;) {
        BOOL r = GetMessageA(&m, NULL, 0, 0);
        CHECK(r > 0);
        if (m.message == Msg) {
            DispatchMessageA(&m);
            break;
        }
        DispatchMessageA(&m);
    }
    CHECK(SentSeen == 1 && SentWparam == 41 && PostedSeen == 1);
    DestroyWindow(h);
    return (int)m.lParam;
}

int main(int argc, char *argv[])
{
    char name[64];
    if (argc > 4 && strcmp(argv[1], "child") == 0)
        return Child(argv[2], (UINT)strtoul(argv[3], NULL, 10), argv[4]);

    unique_name(name, sizeof name, "PipeworkBroadcast");
    Msg = RegisterWindowMessageA(name);
    CHECK(Msg >= 0xC000 && Msg <= 0xFFFF);
    CHECK(RegisterWindowMessageA(name) == Msg);
    CHECK_ERROR(RegisterWindowMessageA("") == 0, ERROR_INVALID_PARAMETER);
    HWND mine = Create("parent");
    WNDCLASSA hc;
    memset(&hc, 0, sizeof hc);
    hc.lpfnWndProc = HiddenProc;
    hc.lpszClassName = "PipeworkBroadcastHidden";
    CHECK(RegisterClassA(&hc));
    HWND hidden = CreateWindowExA(0, "PipeworkBroadcastHidden", "hidden", 0, 0, 0, 0, 0,
                                  HWND_MESSAGE, NULL, NULL, NULL);
    CHECK(hidden != NULL);

    char ready_name[64];
    unique_name(ready_name, sizeof ready_name, "PipeworkBroadcastReady");
    HANDLE ready = CreateEventA(NULL, TRUE, FALSE, ready_name);
    CHECK(ready != NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "\"%s\" child %s %u %s", argv[0], name, Msg, ready_name);
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    CHECK(CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi));
    CHECK(WaitForSingleObject(ready, 30000) == WAIT_OBJECT_0);

    /* Sent to every window: the child's procedure runs in its GetMessage, ours here. */
    DWORD_PTR result = 0;
    CHECK(SendMessageTimeoutA(HWND_BROADCAST, Msg, 41, 0, SMTO_ABORTIFHUNG, 5000, &result));
    CHECK(SentSeen == 1 && SentWparam == 41);

    /* Posted to every window: the child ends with lParam as its exit code. */
    CHECK(PostMessageA(HWND_BROADCAST, Msg, 0, 7));
    CHECK(WaitForSingleObject(pi.hProcess, 30000) == WAIT_OBJECT_0);
    DWORD code = 0;
    CHECK(GetExitCodeProcess(pi.hProcess, &code));
    CHECK(code == 7);
    MSG m;
    while (PeekMessageA(&m, NULL, 0, 0, PM_REMOVE))
        DispatchMessageA(&m);
    CHECK(PostedSeen == 1);
    /* The message-only window heard neither. */
    CHECK(HiddenSeen == 0);
    CHECK(SendMessageA(hidden, Msg, 1, 0) == 0 && HiddenSeen == 1);
    CHECK(DestroyWindow(hidden));

    /* WM_COPYDATA cannot be posted, to one window or all. */
    CHECK_ERROR(!PostMessageA(HWND_BROADCAST, WM_COPYDATA, 0, 0), ERROR_MESSAGE_SYNC_ONLY);
    CHECK(DestroyWindow(mine));
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    puts("broadcast ok");
    return 0;
}
