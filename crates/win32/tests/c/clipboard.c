/* The clipboard: OpenClipboard, EmptyClipboard, SetClipboardData with GlobalAlloc'd memory,
 * GetClipboardData (synthesized text formats), IsClipboardFormatAvailable,
 * EnumClipboardFormats, CountClipboardFormats, GetClipboardSequenceNumber,
 * GetClipboardOwner, CloseClipboard and their error codes; a second process pastes.
 * Runs on a headless clipboard of its own (PIPEWORK_WIN32_CLIPBOARD).
 * This program is also its own child (argv[1] == "child"). */
#include <string.h>
#include <unistd.h>
#include "check.h"

static HGLOBAL global_text(const char *text)
{
    size_t n = strlen(text) + 1;
    HGLOBAL h = GlobalAlloc(GMEM_MOVEABLE, n);
    CHECK(h != NULL);
    char *p = (char *)GlobalLock(h);
    CHECK(p != NULL);
    memcpy(p, text, n);
    CHECK_ERROR(!GlobalUnlock(h), NO_ERROR);
    return h;
}

static DWORD WINAPI try_open(LPVOID unused)
{
    (void)unused;
    CHECK_ERROR(!OpenClipboard(NULL), ERROR_ACCESS_DENIED);
    return 0;
}

static int child(UINT cf)
{
    /* Paste: the text as CF_TEXT and, synthesized, CF_UNICODETEXT; the private format. */
    CHECK(IsClipboardFormatAvailable(CF_TEXT));
    CHECK(IsClipboardFormatAvailable(CF_UNICODETEXT));
    CHECK(OpenClipboard(NULL));
    HANDLE h = GetClipboardData(CF_TEXT);
    CHECK(h != NULL);
    const char *text = (const char *)GlobalLock(h);
    CHECK(text != NULL && strcmp(text, "copied text") == 0);
    GlobalUnlock(h);
    HANDLE w = GetClipboardData(CF_UNICODETEXT);
    CHECK(w != NULL);
    const WCHAR *wide = (const WCHAR *)GlobalLock(w);
    CHECK(wide[0] == 'c' && wide[10] == 't' && wide[11] == 0);
    CHECK(GlobalSize(w) == 12 * sizeof(WCHAR));
    GlobalUnlock(w);
    HANDLE p = GetClipboardData(cf);
    CHECK(p != NULL && GlobalSize(p) == 4 && memcmp(GlobalLock(p), "\1\2\3\4", 4) == 0);
    GlobalUnlock(p);
    CHECK(CloseClipboard());
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "child") == 0)
        return child((UINT)strtoul(argv[2], NULL, 10));

    char name[64];
    unique_name(name, sizeof name, "win32-c-test");
    CHECK(setenv("PIPEWORK_WIN32_CLIPBOARD", name, 1) == 0);

    /* Global memory. */
    HGLOBAL g = GlobalAlloc(GHND, 10);
    CHECK(g != NULL && GlobalSize(g) == 10);
    CHECK_ERROR(!GlobalUnlock(g), ERROR_NOT_LOCKED);
    unsigned char *bytes = GlobalLock(g);
    CHECK(bytes != NULL && bytes[0] == 0 && bytes[9] == 0);
    CHECK(GlobalLock(g) == bytes);
    CHECK(GlobalUnlock(g)); /* still locked once */
    CHECK_ERROR(!GlobalUnlock(g), NO_ERROR);
    CHECK(GlobalFree(g) == NULL);
    CHECK_ERROR(GlobalSize(g) == 0, ERROR_INVALID_HANDLE);
    CHECK_ERROR(GlobalFree(g) == g, ERROR_INVALID_HANDLE);
    void *fixed = GlobalAlloc(GPTR, 3);
    CHECK(fixed != NULL && GlobalLock(fixed) == fixed && GlobalSize(fixed) == 3);
    CHECK(GlobalFree(fixed) == NULL);

    /* Not open. */
    CHECK_ERROR(!CloseClipboard(), ERROR_CLIPBOARD_NOT_OPEN);
    CHECK_ERROR(!EmptyClipboard(), ERROR_CLIPBOARD_NOT_OPEN);
    CHECK_ERROR(GetClipboardData(CF_TEXT) == NULL, ERROR_CLIPBOARD_NOT_OPEN);
    HGLOBAL unused = global_text("x");
    CHECK_ERROR(SetClipboardData(CF_TEXT, unused) == NULL, ERROR_CLIPBOARD_NOT_OPEN);
    CHECK(GlobalFree(unused) == NULL);
    CHECK_ERROR(EnumClipboardFormats(0) == 0, ERROR_CLIPBOARD_NOT_OPEN);

    /* Copy. */
    UINT cf = RegisterClipboardFormatA("Pipework Test Format");
    CHECK(cf >= 0xC000);
    DWORD seq = GetClipboardSequenceNumber();
    HWND owner = (HWND)(ULONG_PTR)0x1230;
    CHECK(OpenClipboard(owner));
    CHECK(OpenClipboard(owner)); /* the same thread again */
    CHECK(EmptyClipboard());
    CHECK(GetClipboardSequenceNumber() != seq);
    CHECK(GetClipboardOwner() == owner);
    CHECK(CountClipboardFormats() == 0);
    HGLOBAL text = global_text("copied text");
    CHECK(SetClipboardData(CF_TEXT, text) == text);
    HGLOBAL priv = GlobalAlloc(GMEM_MOVEABLE, 4);
    memcpy(GlobalLock(priv), "\1\2\3\4", 4);
    GlobalUnlock(priv);
    CHECK(SetClipboardData(cf, priv) == priv);
    CHECK_ERROR(SetClipboardData(CF_TEXT, g) == NULL, ERROR_INVALID_HANDLE); /* freed */
    CHECK(CountClipboardFormats() == 2);
    /* Placed formats in order, then the synthesized ones. */
    CHECK(EnumClipboardFormats(0) == CF_TEXT);
    CHECK(EnumClipboardFormats(CF_TEXT) == cf);
    UINT f = cf;
    int synthesized = 0;
    while ((f = EnumClipboardFormats(f)) != 0)
        synthesized++;
    CHECK(GetLastError() == NO_ERROR);
    CHECK(synthesized == 2); /* CF_UNICODETEXT, CF_OEMTEXT */
    CHECK(!IsClipboardFormatAvailable(CF_DIB));

    /* Another thread cannot open it meanwhile. */
    HANDLE t = CreateThread(NULL, 0, try_open, NULL, 0, NULL);
    CHECK(t != NULL && WaitForSingleObject(t, 30000) == WAIT_OBJECT_0);
    CloseHandle(t);
    CHECK(CloseClipboard());
    CHECK_ERROR(!CloseClipboard(), ERROR_CLIPBOARD_NOT_OPEN);

    char self[512], line[700];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = 0;

    /* Paste in another process. */
    snprintf(line, sizeof line, "\"%s\" child %u", self, cf);
    STARTUPINFOA si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    PROCESS_INFORMATION pi;
    CHECK(CreateProcessA(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi));
    CHECK(WaitForSingleObject(pi.hProcess, 30000) == WAIT_OBJECT_0);
    DWORD code = 1;
    CHECK(GetExitCodeProcess(pi.hProcess, &code) && code == 0);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    CHECK(GetClipboardOwner() == owner);
    return 0;
}
