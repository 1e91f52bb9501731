/* The Win32 sample "Using the Clipboard" (copying and pasting text), written for pipework.
 * The first process copies a string to the clipboard as CF_TEXT in GMEM_MOVEABLE memory; the
 * second (this program with "paste") checks IsClipboardFormatAvailable, opens the clipboard
 * and reads the text with GetClipboardData and GlobalLock.
 * pipework-specific: PIPEWORK_WIN32_CLIPBOARD names a headless clipboard of this run, so the
 * sample leaves the session's clipboard alone. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *Text = "Text copied by the clipboard sample";

static BOOL EditCopy(HWND hwndOwner, const char *text)
{
    if (!OpenClipboard(hwndOwner))
        return FALSE;
    EmptyClipboard();

    size_t cch = strlen(text);
    HGLOBAL hglbCopy = GlobalAlloc(GMEM_MOVEABLE, (cch + 1) * sizeof(char));
    if (hglbCopy == NULL) {
        CloseClipboard();
        return FALSE;
    }
    LPSTR lptstrCopy = GlobalLock(hglbCopy);
    memcpy(lptstrCopy, text, cch * sizeof(char));
    lptstrCopy[cch] = 0;
    GlobalUnlock(hglbCopy);

    SetClipboardData(CF_TEXT, hglbCopy);
    CloseClipboard();
    return TRUE;
}

static int EditPaste(void)
{
    if (!IsClipboardFormatAvailable(CF_TEXT))
        return 1;
    if (!OpenClipboard(NULL))
        return 1;
    int status = 1;
    HGLOBAL hglb = GetClipboardData(CF_TEXT);
    if (hglb != NULL) {
        LPSTR lptstr = GlobalLock(hglb);
        if (lptstr != NULL) {
            printf("pasted: %s\n", lptstr);
            if (strcmp(lptstr, Text) == 0)
                status = 0;
            GlobalUnlock(hglb);
        }
    }
    CloseClipboard();
    return status;
}

int main(int argc, char *argv[])
{
    if (argc > 1 && strcmp(argv[1], "paste") == 0)
        return EditPaste();

    char name[64];
    snprintf(name, sizeof name, "clipboard-sample-%u", (unsigned)GetCurrentProcessId());
    setenv("PIPEWORK_WIN32_CLIPBOARD", name, 1);

    if (!EditCopy(NULL, Text)) {
        fprintf(stderr, "copy failed (%u)\n", (unsigned)GetLastError());
        return 1;
    }

    char cmd[600];
    snprintf(cmd, sizeof cmd, "\"%s\" paste", argv[0]);
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
        return 1;
    DWORD code = 1;
    WaitForSingleObject(pi.hProcess, 30000);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    return (int)code;
}
