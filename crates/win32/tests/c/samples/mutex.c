/* The Win32 sample "Using Mutex Objects", written for pipework: threads take turns writing to a
 * shared "database" under a mutex, each waiting with WaitForSingleObject and handling
 * WAIT_ABANDONED. A child process (this program with "abandon") then takes a named mutex and
 * exits without releasing it: the next waiter gets WAIT_ABANDONED and owns it. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADCOUNT 4
#define WRITES 20

static HANDLE ghMutex;
static volatile LONG gDatabase, gInside;

static DWORD WINAPI WriteToDatabase(LPVOID lpParam)
{
    DWORD dwCount = 0, dwWaitResult;
    (void)lpParam;
    while (dwCount < WRITES) {
        dwWaitResult = WaitForSingleObject(ghMutex, INFINITE);
        switch (dwWaitResult) {
        case WAIT_OBJECT_0:
            /* Only one thread at a time in here. */
            if (__sync_add_and_fetch(&gInside, 1) != 1)
                return 2;
            gDatabase = gDatabase + 1;
            dwCount++;
            __sync_sub_and_fetch(&gInside, 1);
            if (!ReleaseMutex(ghMutex))
                return 3;
            break;
        case WAIT_ABANDONED:
            return 4;
        default:
            return 5;
        }
    }
    return 0;
}

int main(int argc, char *argv[])
{
    HANDLE aThread[THREADCOUNT], hNamed;
    DWORD ThreadID, i, code;
    char name[64];
    CHAR cmd[700];
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;

    snprintf(name, sizeof name, "Local\\sample-mutex-%u",
             argc > 2 ? (unsigned)atoi(argv[2]) : (unsigned)GetCurrentProcessId());
    if (argc > 1 && strcmp(argv[1], "abandon") == 0) {
        hNamed = OpenMutexA(SYNCHRONIZE, FALSE, name);
        if (hNamed == NULL || WaitForSingleObject(hNamed, INFINITE) != WAIT_OBJECT_0)
            return 1;
        return 0; /* exits owning it */
    }

    ghMutex = CreateMutexA(NULL, FALSE, NULL);
    if (ghMutex == NULL) {
        fprintf(stderr, "CreateMutex error: %u\n", (unsigned)GetLastError());
        return 1;
    }
    for (i = 0; i < THREADCOUNT; i++) {
        aThread[i] = CreateThread(NULL, 0, WriteToDatabase, NULL, 0, &ThreadID);
        if (aThread[i] == NULL) {
            fprintf(stderr, "CreateThread error: %u\n", (unsigned)GetLastError());
            return 1;
        }
    }
    if (WaitForMultipleObjects(THREADCOUNT, aThread, TRUE, 30000) != WAIT_OBJECT_0)
        return 1;
    for (i = 0; i < THREADCOUNT; i++) {
        if (!GetExitCodeThread(aThread[i], &code) || code != 0) {
            fprintf(stderr, "thread %u: %u\n", (unsigned)i, (unsigned)code);
            return 1;
        }
        CloseHandle(aThread[i]);
    }
    CloseHandle(ghMutex);
    if (gDatabase != THREADCOUNT * WRITES)
        return 1;

    /* Abandonment across processes. */
    hNamed = CreateMutexA(NULL, FALSE, name);
    if (hNamed == NULL)
        return 1;
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    snprintf(cmd, sizeof cmd, "\"%s\" abandon %u", argv[0], (unsigned)GetCurrentProcessId());
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
        return 1;
    CloseHandle(pi.hThread);
    if (WaitForSingleObject(pi.hProcess, 30000) != WAIT_OBJECT_0
        || !GetExitCodeProcess(pi.hProcess, &code) || code != 0)
        return 1;
    CloseHandle(pi.hProcess);
    if (WaitForSingleObject(hNamed, 30000) != WAIT_ABANDONED) {
        fprintf(stderr, "expected WAIT_ABANDONED\n");
        return 1;
    }
    if (!ReleaseMutex(hNamed))
        return 1;
    CloseHandle(hNamed);
    printf("database: %d writes\n", (int)gDatabase);
    return 0;
}
