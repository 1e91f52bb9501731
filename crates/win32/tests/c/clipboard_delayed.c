/* Delayed rendering: the owner window announces CF_TEXT and a registered format with
 * SetClipboardData(format, NULL); a second process pastes CF_TEXT, which reaches the owner as
 * WM_RENDERFORMAT in its message loop (rendered once); destroyed while it still owns the
 * clipboard, the owner gets WM_RENDERALLFORMATS and renders the rest, which outlives it.
 * Runs on a headless clipboard of its own (PIPEWORK_WIN32_CLIPBOARD). */
#include <string.h>
#include <unistd.h>
#include "check.h"

#define WM_PASTED (WM_USER + 1)

static UINT Private, Own;
static int RenderText, RenderPrivate, RenderOwn, RenderAll;

static HGLOBAL Global(const char *text)
{
    size_t n = strlen(text) + 1;
    HGLOBAL h = GlobalAlloc(GMEM_MOVEABLE, n);
    CHECK(h != NULL);
    char *p = (char *)GlobalLock(h);
    memcpy(p, text, n);
    GlobalUnlock(h);
    return h;
}

static LRESULT CALLBACK Owner(HWND hwnd, UINT msg, WPARAM wparam, LPARAM lparam)
{
    switch (msg) {
    case WM_RENDERFORMAT:
        /* The clipboard is not opened here: the asker holds it. */
        if (wparam == CF_TEXT) {
            RenderText++;
            CHECK(SetClipboardData(CF_TEXT, Global("rendered late")) != NULL);
        } else if (wparam == Own) {
            RenderOwn++;
            CHECK(SetClipboardData(Own, Global("own, late")) != NULL);
        } else if (wparam == Private) {
            RenderPrivate++;
            CHECK(SetClipboardData(Private, Global("private, late")) != NULL);
        }
        return 0;
    case WM_RENDERALLFORMATS:
        RenderAll++;
        CHECK(OpenClipboard(hwnd));
        if (GetClipboardOwner() == hwnd) {
            CHECK(SetClipboardData(Private, Global("private, at the end")) != NULL);
        }
        CHECK(CloseClipboard());
        return 0;
    }
    return DefWindowProcA(hwnd, msg, wparam, lparam);
}

static int Child(HWND owner)
{
    Private = RegisterClipboardFormatA("PipeworkDelayedTest");
    CHECK(IsClipboardFormatAvailable(CF_TEXT));
    CHECK(IsClipboardFormatAvailable(Private));
    CHECK(OpenClipboard(NULL));
    for (int i = 0; i < 2; i++) {
        HANDLE h = GetClipboardData(CF_TEXT);
        CHECK(h != NULL);
        const char *text = (const char *)GlobalLock(h);
        CHECK(text != NULL && strcmp(text, "rendered late") == 0);
        GlobalUnlock(h);
    }
    CHECK(CloseClipboard());
    CHECK(PostMessageA(owner, WM_PASTED, 0, 0));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "child") == 0)
        return Child((HWND)(ULONG_PTR)strtoull(argv[2], NULL, 16));

    char name[64];
    unique_name(name, sizeof name, "win32-c-delayed");
    CHECK(setenv("PIPEWORK_WIN32_CLIPBOARD", name, 1) == 0);
    Private = RegisterClipboardFormatA("PipeworkDelayedTest");
    CHECK(Private >= 0xC000);
    Own = RegisterClipboardFormatA("PipeworkDelayedOwn");

    WNDCLASSA wc;
    memset(&wc, 0, sizeof wc);
    wc.lpfnWndProc = Owner;
    wc.lpszClassName = "PipeworkDelayedOwner";
    CHECK(RegisterClassA(&wc));
    HWND hwnd = CreateWindowExA(0, "PipeworkDelayedOwner", NULL, 0, 0, 0, 0, 0, HWND_MESSAGE,
                                NULL, NULL, NULL);
    CHECK(hwnd != NULL);

    /* Without owning it (no EmptyClipboard), a format cannot be announced. */
    CHECK(OpenClipboard(hwnd));
    CHECK_ERROR(SetClipboardData(CF_TEXT, NULL) == NULL, ERROR_ACCESS_DENIED);
    CHECK(EmptyClipboard());
    CHECK_ERROR(SetClipboardData(CF_TEXT, NULL) == NULL, NO_ERROR);
    CHECK_ERROR(SetClipboardData(Private, NULL) == NULL, NO_ERROR);
    CHECK_ERROR(SetClipboardData(Own, NULL) == NULL, NO_ERROR);
    CHECK(CloseClipboard());
    CHECK(IsClipboardFormatAvailable(CF_TEXT));
    CHECK(RenderText == 0);
    /* Outside WM_RENDERFORMAT, SetClipboardData needs the clipboard open. */
    HGLOBAL stray = Global("stray");
    CHECK_ERROR(SetClipboardData(CF_TEXT, stray) == NULL, ERROR_CLIPBOARD_NOT_OPEN);
    GlobalFree(stray);

    char line[600];
    snprintf(line, sizeof line, "\"%s\" child %llx", argv[0],
             (unsigned long long)(ULONG_PTR)hwnd);
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    CHECK(CreateProcessA(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi));

    /* The message loop renders for the child, which says when it has pasted. */
    MSG msg;
    for (;;) {
        BOOL r = GetMessageA(&msg, NULL, 0, 0);
        CHECK(r > 0);
        if (msg.message == WM_PASTED)
            break;
        DispatchMessageA(&msg);
    }
    CHECK(WaitForSingleObject(pi.hProcess, 30000) == WAIT_OBJECT_0);
    DWORD code = 1;
    CHECK(GetExitCodeProcess(pi.hProcess, &code) && code == 0);
    CHECK(RenderText == 1 && RenderPrivate == 0);

    /* Pasted by the owner's own thread: rendered here, once. */
    CHECK(OpenClipboard(hwnd));
    for (int i = 0; i < 2; i++) {
        HANDLE own = GetClipboardData(Own);
        CHECK(own != NULL && strcmp((const char *)GlobalLock(own), "own, late") == 0);
        GlobalUnlock(own);
    }
    CHECK(CloseClipboard());
    CHECK(RenderOwn == 1);

    /* Destroyed still owning the clipboard: WM_RENDERALLFORMATS, and the data stays. */
    CHECK(DestroyWindow(hwnd));
    CHECK(RenderAll == 1 && RenderPrivate == 0);
    CHECK(OpenClipboard(NULL));
    HANDLE h = GetClipboardData(Private);
    CHECK(h != NULL);
    const char *text = (const char *)GlobalLock(h);
    CHECK(text != NULL && strcmp(text, "private, at the end") == 0);
    GlobalUnlock(h);
    h = GetClipboardData(CF_TEXT);
    CHECK(h != NULL && strcmp((const char *)GlobalLock(h), "rendered late") == 0);
    GlobalUnlock(h);
    CHECK(CloseClipboard());
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    puts("clipboard_delayed ok");
    return 0;
}
