/* A mailslot client handle inherited by a CreateProcess child: the child writes through the
 * parent's handle value, the parent reads the messages. A handle not marked inheritable is not
 * there in the child (ERROR_INVALID_HANDLE). This program is also its own child (argv[1]). */
#include <string.h>
#include "check.h"

static int child(HANDLE inherited, HANDLE kept)
{
    DWORD n;
    CHECK(WriteFile(inherited, "from the child", 14, &n, NULL) && n == 14);
    CHECK(WriteFile(inherited, "twice", 5, &n, NULL) && n == 5);
    CHECK_ERROR(!WriteFile(kept, "x", 1, &n, NULL), ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(inherited));
    return 0;
}

int main(int argc, char **argv)
{
    HANDLE slot, writer, kept;
    SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    DWORD n, code, next, count;
    char name[128], base[64], line[512], buf[64];

    if (argc == 4 && strcmp(argv[1], "child") == 0)
        return child((HANDLE)(ULONG_PTR)strtoull(argv[2], NULL, 16),
                     (HANDLE)(ULONG_PTR)strtoull(argv[3], NULL, 16));

    unique_name(base, sizeof base, "pipework-c-inherit-slot");
    snprintf(name, sizeof name, "\\\\.\\mailslot\\%s", base);
    slot = CreateMailslotA(name, 0, MAILSLOT_WAIT_FOREVER, NULL);
    CHECK(slot != INVALID_HANDLE_VALUE);
    writer = CreateFileA(name, GENERIC_WRITE, FILE_SHARE_READ, &sa, OPEN_EXISTING, 0, NULL);
    CHECK(writer != INVALID_HANDLE_VALUE);
    kept = CreateFileA(name, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(kept != INVALID_HANDLE_VALUE);

    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    snprintf(line, sizeof line, "\"%s\" child %llx %llx", argv[0],
             (unsigned long long)(ULONG_PTR)writer, (unsigned long long)(ULONG_PTR)kept);
    CHECK(CreateProcessA(NULL, line, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi));
    CHECK(WaitForSingleObject(pi.hProcess, 30000) == WAIT_OBJECT_0);
    CHECK(GetExitCodeProcess(pi.hProcess, &code) && code == 0);
    CHECK(CloseHandle(pi.hProcess) && CloseHandle(pi.hThread));

    CHECK(GetMailslotInfo(slot, NULL, &next, &count, NULL) && count == 2 && next == 14);
    CHECK(ReadFile(slot, buf, sizeof buf, &n, NULL) && n == 14 && memcmp(buf, "from the child", 14) == 0);
    CHECK(ReadFile(slot, buf, sizeof buf, &n, NULL) && n == 5 && memcmp(buf, "twice", 5) == 0);
    /* The parent's own handle still writes. */
    CHECK(WriteFile(writer, "parent", 6, &n, NULL));
    CHECK(ReadFile(slot, buf, sizeof buf, &n, NULL) && n == 6);
    CHECK(CloseHandle(writer) && CloseHandle(kept) && CloseHandle(slot));
    return 0;
}
