/* The Win32 sample "Using Event Objects", written for pipework: the main thread fills a shared
 * buffer and then signals a manual-reset event; reader threads wait on it, read the buffer, and
 * the main thread waits for all of them with WaitForMultipleObjects. */
#include <windows.h>
#include <stdio.h>
#include <string.h>

#define THREADCOUNT 4

static HANDLE ghWriteEvent;
static HANDLE ghThreads[THREADCOUNT];
static char gBuffer[64];

static DWORD WINAPI ThreadProc(LPVOID lpParam)
{
    DWORD dwWaitResult;
    (void)lpParam;
    dwWaitResult = WaitForSingleObject(ghWriteEvent, INFINITE);
    switch (dwWaitResult) {
    case WAIT_OBJECT_0:
        /* The buffer is written: read it. */
        return strcmp(gBuffer, "written by the main thread") == 0 ? 0 : 2;
    default:
        fprintf(stderr, "Wait error (%u)\n", (unsigned)GetLastError());
        return 1;
    }
}

static BOOL CreateEventsAndThreads(void)
{
    int i;
    DWORD dwThreadID;
    char name[64];
    snprintf(name, sizeof name, "WriteEvent-%u", (unsigned)GetCurrentProcessId());
    /* Manual reset, initially nonsignaled: every waiting thread is released by one SetEvent. */
    ghWriteEvent = CreateEventA(NULL, TRUE, FALSE, name);
    if (ghWriteEvent == NULL) {
        fprintf(stderr, "CreateEvent failed (%u)\n", (unsigned)GetLastError());
        return FALSE;
    }
    for (i = 0; i < THREADCOUNT; i++) {
        ghThreads[i] = CreateThread(NULL, 0, ThreadProc, NULL, 0, &dwThreadID);
        if (ghThreads[i] == NULL) {
            fprintf(stderr, "CreateThread failed (%u)\n", (unsigned)GetLastError());
            return FALSE;
        }
    }
    return TRUE;
}

static BOOL WriteToBuffer(void)
{
    strcpy(gBuffer, "written by the main thread");
    if (!SetEvent(ghWriteEvent)) {
        fprintf(stderr, "SetEvent failed (%u)\n", (unsigned)GetLastError());
        return FALSE;
    }
    return TRUE;
}

int main(void)
{
    DWORD dwWaitResult, code;
    int i;

    if (!CreateEventsAndThreads() || !WriteToBuffer())
        return 1;
    dwWaitResult = WaitForMultipleObjects(THREADCOUNT, ghThreads, TRUE, 30000);
    switch (dwWaitResult) {
    case WAIT_OBJECT_0:
        printf("All threads ended, cleaning up for application exit...\n");
        break;
    default:
        fprintf(stderr, "WaitForMultipleObjects failed (%u)\n", (unsigned)GetLastError());
        return 1;
    }
    for (i = 0; i < THREADCOUNT; i++) {
        if (!GetExitCodeThread(ghThreads[i], &code) || code != 0)
            return 1;
        CloseHandle(ghThreads[i]);
    }
    CloseHandle(ghWriteEvent);
    return 0;
}
