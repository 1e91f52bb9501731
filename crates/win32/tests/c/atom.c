/* Global atoms: GlobalAddAtom, GlobalFindAtom, GlobalGetAtomName, GlobalDeleteAtom (reference
 * counts, integer atoms, case), RegisterClipboardFormat, seen from a second process too.
 * This program is also its own child (argv[1] == "child"). */
#include <string.h>
#include <unistd.h>
#include "check.h"

static int child(const char *name, const char *format)
{
    ATOM a = GlobalFindAtomA(name);
    CHECK(a >= MAXINTATOM);
    char buf[64];
    CHECK(GlobalGetAtomNameA(a, buf, sizeof buf) == strlen(name));
    CHECK(strcmp(buf, name) == 0);
    /* The same name registers the same format in every process. */
    CHECK(RegisterClipboardFormatA(format) == (UINT)GlobalFindAtomA(format));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "child") == 0)
        return child(argv[2], argv[3]);

    char name[64], upper[64], format[64];
    unique_name(name, sizeof name, "pipework-atom");
    unique_name(format, sizeof format, "pipework-format");
    for (size_t i = 0; i <= strlen(name); i++)
        upper[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32 : name[i]);

    CHECK_ERROR(GlobalFindAtomA(name) == 0, ERROR_FILE_NOT_FOUND);
    ATOM a = GlobalAddAtomA(name);
    CHECK(a >= MAXINTATOM);
    CHECK(GlobalAddAtomA(upper) == a); /* case-insensitive; counted twice now */
    CHECK(GlobalFindAtomA(upper) == a);

    WCHAR wide[64];
    for (size_t i = 0; i <= strlen(name); i++)
        wide[i] = (WCHAR)name[i];
    CHECK(GlobalFindAtomW(wide) == a);

    char buf[64];
    memset(buf, '.', sizeof buf);
    CHECK(GlobalGetAtomNameA(a, buf, sizeof buf) == strlen(name));
    CHECK(strcmp(buf, name) == 0); /* the case of the first add */
    WCHAR wbuf[64];
    CHECK(GlobalGetAtomNameW(a, wbuf, 64) == strlen(name));
    CHECK(memcmp(wbuf, wide, (strlen(name) + 1) * sizeof(WCHAR)) == 0);
    CHECK_ERROR(GlobalGetAtomNameA(a, buf, 3) == 0, ERROR_MORE_DATA);
    CHECK_ERROR(GlobalGetAtomNameA(a, buf, 0) == 0, ERROR_MORE_DATA);

    /* Integer atoms. */
    CHECK(GlobalAddAtomA("#1234") == 1234);
    CHECK(GlobalAddAtomA(MAKEINTATOM(77)) == 77);
    CHECK(GlobalGetAtomNameA(77, buf, sizeof buf) == 3 && strcmp(buf, "#77") == 0);
    CHECK(GlobalDeleteAtom(77) == 0);
    CHECK_ERROR(GlobalAddAtomA("#0") == 0, ERROR_INVALID_PARAMETER);

    /* Names: at most 255 characters. */
    char longname[300];
    memset(longname, 'q', 256);
    longname[256] = 0;
    CHECK_ERROR(GlobalAddAtomA(longname) == 0, ERROR_INVALID_PARAMETER);
    CHECK_ERROR(GlobalFindAtomA(longname) == 0, ERROR_INVALID_PARAMETER);

    /* RegisterClipboardFormat: a string atom, never deleted. */
    UINT cf = RegisterClipboardFormatA(format);
    CHECK(cf >= 0xC000 && cf <= 0xFFFF);
    CHECK(RegisterClipboardFormatA(format) == cf);
    CHECK(GetClipboardFormatNameA(cf, buf, sizeof buf) == (int)strlen(format));
    CHECK(strcmp(buf, format) == 0);
    CHECK(GetClipboardFormatNameA(cf, buf, 4) == 3 && strncmp(buf, format, 3) == 0 && buf[3] == 0);
    WCHAR wformat[64];
    CHECK(GetClipboardFormatNameW(cf, wformat, 64) == (int)strlen(format) && wformat[0] == 'p');
    CHECK(GetClipboardFormatNameA(CF_TEXT, buf, sizeof buf) == 0); /* a standard format */

    /* Another process sees the same table. */
    char self[512], line[1200];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = 0;
    snprintf(line, sizeof line, "\"%s\" child %s %s", self, name, format);
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

    /* Two adds, two deletes: then it is gone. */
    CHECK(GlobalDeleteAtom(a) == 0);
    CHECK(GlobalFindAtomA(name) == a);
    CHECK(GlobalDeleteAtom(a) == 0);
    CHECK_ERROR(GlobalFindAtomA(name) == 0, ERROR_FILE_NOT_FOUND);
    CHECK_ERROR(GlobalDeleteAtom(a) == a, ERROR_INVALID_HANDLE);
    CHECK_ERROR(GlobalGetAtomNameA(a, buf, sizeof buf) == 0, ERROR_INVALID_HANDLE);
    return 0;
}
