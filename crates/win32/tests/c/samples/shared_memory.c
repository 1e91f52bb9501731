/* The Win32 sample "Creating Named Shared Memory", written for pipework: the first process
 * creates a named file mapping backed by the paging file, maps a view and copies a message into
 * it; the second process (this program with "second") opens the mapping by name, maps it and
 * reads the message. A named event tells the first process the second has read it. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_SIZE 256

static char szName[64], szDone[64];
static const char szMsg[] = "Message from first process.";

static int Second(void)
{
    HANDLE hMapFile, hDone;
    LPCSTR pBuf;

    hMapFile = OpenFileMappingA(FILE_MAP_ALL_ACCESS, FALSE, szName);
    if (hMapFile == NULL) {
        fprintf(stderr, "Could not open file mapping object (%u).\n", (unsigned)GetLastError());
        return 1;
    }
    pBuf = (LPCSTR)MapViewOfFile(hMapFile, FILE_MAP_ALL_ACCESS, 0, 0, BUF_SIZE);
    if (pBuf == NULL) {
        fprintf(stderr, "Could not map view of file (%u).\n", (unsigned)GetLastError());
        CloseHandle(hMapFile);
        return 1;
    }
    printf("second process read: %s\n", pBuf);
    if (strcmp(pBuf, szMsg) != 0)
        return 2;
    /* And answers in the same memory. */
    strcpy((char *)pBuf + 128, "Reply from second process.");
    UnmapViewOfFile(pBuf);
    CloseHandle(hMapFile);
    hDone = OpenEventA(EVENT_MODIFY_STATE, FALSE, szDone);
    if (hDone == NULL || !SetEvent(hDone))
        return 3;
    CloseHandle(hDone);
    return 0;
}

int main(int argc, char *argv[])
{
    HANDLE hMapFile, hDone;
    LPSTR pBuf;
    CHAR cmd[700];
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    DWORD code;
    unsigned id = argc > 2 ? (unsigned)atoi(argv[2]) : (unsigned)GetCurrentProcessId();

    snprintf(szName, sizeof szName, "Local\\MyFileMappingObject-%u", id);
    snprintf(szDone, sizeof szDone, "Local\\MyFileMappingDone-%u", id);
    if (argc > 1 && strcmp(argv[1], "second") == 0)
        return Second();

    hMapFile = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, BUF_SIZE, szName);
    if (hMapFile == NULL) {
        fprintf(stderr, "Could not create file mapping object (%u).\n", (unsigned)GetLastError());
        return 1;
    }
    pBuf = (LPSTR)MapViewOfFile(hMapFile, FILE_MAP_ALL_ACCESS, 0, 0, BUF_SIZE);
    if (pBuf == NULL) {
        fprintf(stderr, "Could not map view of file (%u).\n", (unsigned)GetLastError());
        return 1;
    }
    CopyMemory(pBuf, szMsg, sizeof szMsg);
    hDone = CreateEventA(NULL, TRUE, FALSE, szDone);
    if (hDone == NULL)
        return 1;

    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    snprintf(cmd, sizeof cmd, "\"%s\" second %u", argv[0], id);
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
        return 1;
    CloseHandle(pi.hThread);
    if (WaitForSingleObject(hDone, 30000) != WAIT_OBJECT_0) {
        fprintf(stderr, "the second process did not answer\n");
        return 1;
    }
    if (strcmp(pBuf + 128, "Reply from second process.") != 0)
        return 1;
    if (WaitForSingleObject(pi.hProcess, 30000) != WAIT_OBJECT_0
        || !GetExitCodeProcess(pi.hProcess, &code) || code != 0)
        return 1;
    CloseHandle(pi.hProcess);
    UnmapViewOfFile(pBuf);
    CloseHandle(hMapFile);
    CloseHandle(hDone);
    return 0;
}
