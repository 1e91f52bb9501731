/* The Win32 samples "Multithreaded Pipe Server" and "Named Pipe Client", written for pipework.
 * The server creates an instance, waits in ConnectNamedPipe, hands each connected client to a
 * thread of its own (which answers every request, then flushes, disconnects and closes), and
 * creates the next instance. The clients are this program started with "client N": each opens
 * the pipe (waiting with WaitNamedPipe while every instance is busy), switches to message-read
 * mode, sends a request and reads the answer in pieces (ERROR_MORE_DATA).
 *
 * The documented server runs forever; this one serves CLIENTS clients and checks them. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUFSIZE 512
#define CLIENTS 4

static char lpszPipename[128];
static volatile LONG answered;

static void GetAnswerToRequest(const CHAR *request, DWORD requestBytes, CHAR *reply, DWORD *replyBytes)
{
    *replyBytes = (DWORD)snprintf(reply, BUFSIZE, "answer to [%.*s] from the server",
                                  (int)requestBytes, request);
}

static DWORD WINAPI InstanceThread(LPVOID lpvParam)
{
    HANDLE hPipe = (HANDLE)lpvParam;
    CHAR request[BUFSIZE], reply[BUFSIZE];
    DWORD cbBytesRead = 0, cbReplyBytes = 0, cbWritten = 0;
    BOOL fSuccess;

    for (;;) {
        fSuccess = ReadFile(hPipe, request, BUFSIZE, &cbBytesRead, NULL);
        if (!fSuccess || cbBytesRead == 0) {
            if (GetLastError() != ERROR_BROKEN_PIPE) {
                fprintf(stderr, "InstanceThread ReadFile failed, GLE=%u\n", (unsigned)GetLastError());
                return 1;
            }
            break; /* the client closed */
        }
        GetAnswerToRequest(request, cbBytesRead, reply, &cbReplyBytes);
        fSuccess = WriteFile(hPipe, reply, cbReplyBytes, &cbWritten, NULL);
        if (!fSuccess || cbReplyBytes != cbWritten) {
            fprintf(stderr, "InstanceThread WriteFile failed, GLE=%u\n", (unsigned)GetLastError());
            return 2;
        }
        __sync_fetch_and_add(&answered, 1);
    }
    FlushFileBuffers(hPipe);
    DisconnectNamedPipe(hPipe);
    CloseHandle(hPipe);
    return 0;
}

static int Client(const char *n)
{
    HANDLE hPipe;
    CHAR chBuf[8], lpvMessage[64], answer[BUFSIZE], expected[BUFSIZE];
    BOOL fSuccess = FALSE;
    DWORD cbRead, cbToWrite, cbWritten, dwMode, total = 0;

    snprintf(lpvMessage, sizeof lpvMessage, "Default message from client %s.", n);
    for (;;) {
        hPipe = CreateFileA(lpszPipename, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (hPipe != INVALID_HANDLE_VALUE)
            break;
        if (GetLastError() != ERROR_PIPE_BUSY && GetLastError() != ERROR_FILE_NOT_FOUND) {
            fprintf(stderr, "Could not open pipe. GLE=%u\n", (unsigned)GetLastError());
            return 1;
        }
        /* Busy (or between instances): wait for one. */
        if (!WaitNamedPipeA(lpszPipename, 20000) && GetLastError() != ERROR_FILE_NOT_FOUND) {
            fprintf(stderr, "Could not open pipe: 20 second wait timed out.\n");
            return 2;
        }
    }
    dwMode = PIPE_READMODE_MESSAGE;
    fSuccess = SetNamedPipeHandleState(hPipe, &dwMode, NULL, NULL);
    if (!fSuccess) {
        fprintf(stderr, "SetNamedPipeHandleState failed. GLE=%u\n", (unsigned)GetLastError());
        return 3;
    }
    cbToWrite = (DWORD)strlen(lpvMessage);
    fSuccess = WriteFile(hPipe, lpvMessage, cbToWrite, &cbWritten, NULL);
    if (!fSuccess) {
        fprintf(stderr, "WriteFile to pipe failed. GLE=%u\n", (unsigned)GetLastError());
        return 4;
    }
    do {
        fSuccess = ReadFile(hPipe, chBuf, sizeof chBuf, &cbRead, NULL);
        if (!fSuccess && GetLastError() != ERROR_MORE_DATA)
            break;
        memcpy(answer + total, chBuf, cbRead);
        total += cbRead;
    } while (!fSuccess);
    if (!fSuccess) {
        fprintf(stderr, "ReadFile from pipe failed. GLE=%u\n", (unsigned)GetLastError());
        return 5;
    }
    CloseHandle(hPipe);
    snprintf(expected, sizeof expected, "answer to [%s] from the server", lpvMessage);
    if (total != strlen(expected) || memcmp(answer, expected, total) != 0) {
        fprintf(stderr, "client %s got: %.*s\n", n, (int)total, answer);
        return 6;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    BOOL fConnected = FALSE;
    DWORD dwThreadId = 0, code, i;
    HANDLE hPipe = INVALID_HANDLE_VALUE, hThread[CLIENTS], hProcess[CLIENTS];

    snprintf(lpszPipename, sizeof lpszPipename, "\\\\.\\pipe\\mynamedpipe-%u",
             argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : (unsigned)GetCurrentProcessId());
    if (argc > 1 && strcmp(argv[1], "client") == 0)
        return Client(argv[3]);

    /* The server's first instance exists before any client starts. */
    hPipe = CreateNamedPipeA(lpszPipename, PIPE_ACCESS_DUPLEX,
                             PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                             PIPE_UNLIMITED_INSTANCES, BUFSIZE, BUFSIZE, 0, NULL);
    if (hPipe == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "CreateNamedPipe failed, GLE=%u.\n", (unsigned)GetLastError());
        return 1;
    }
    for (i = 0; i < CLIENTS; i++) {
        CHAR cmd[700];
        STARTUPINFOA si;
        PROCESS_INFORMATION pi;
        ZeroMemory(&si, sizeof si);
        si.cb = sizeof si;
        snprintf(cmd, sizeof cmd, "\"%s\" client %u %u", argv[0], (unsigned)GetCurrentProcessId(), (unsigned)i);
        if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
            fprintf(stderr, "CreateProcess failed, GLE=%u.\n", (unsigned)GetLastError());
            return 1;
        }
        CloseHandle(pi.hThread);
        hProcess[i] = pi.hProcess;
    }

    for (i = 0; i < CLIENTS; i++) {
        if (hPipe == INVALID_HANDLE_VALUE) {
            hPipe = CreateNamedPipeA(lpszPipename, PIPE_ACCESS_DUPLEX,
                                     PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                                     PIPE_UNLIMITED_INSTANCES, BUFSIZE, BUFSIZE, 0, NULL);
            if (hPipe == INVALID_HANDLE_VALUE) {
                fprintf(stderr, "CreateNamedPipe failed, GLE=%u.\n", (unsigned)GetLastError());
                return 1;
            }
        }
        fConnected = ConnectNamedPipe(hPipe, NULL) ? TRUE : (GetLastError() == ERROR_PIPE_CONNECTED);
        if (!fConnected) {
            fprintf(stderr, "ConnectNamedPipe failed, GLE=%u.\n", (unsigned)GetLastError());
            return 1;
        }
        hThread[i] = CreateThread(NULL, 0, InstanceThread, (LPVOID)hPipe, 0, &dwThreadId);
        if (hThread[i] == NULL) {
            fprintf(stderr, "CreateThread failed, GLE=%u.\n", (unsigned)GetLastError());
            return 1;
        }
        hPipe = INVALID_HANDLE_VALUE;
    }

    if (WaitForMultipleObjects(CLIENTS, hProcess, TRUE, 30000) != WAIT_OBJECT_0
        || WaitForMultipleObjects(CLIENTS, hThread, TRUE, 30000) != WAIT_OBJECT_0) {
        fprintf(stderr, "clients or threads did not finish\n");
        return 1;
    }
    for (i = 0; i < CLIENTS; i++) {
        if (!GetExitCodeProcess(hProcess[i], &code) || code != 0) {
            fprintf(stderr, "client %u exited with %u\n", (unsigned)i, (unsigned)code);
            return 1;
        }
        if (!GetExitCodeThread(hThread[i], &code) || code != 0) {
            fprintf(stderr, "thread %u returned %u\n", (unsigned)i, (unsigned)code);
            return 1;
        }
        CloseHandle(hProcess[i]);
        CloseHandle(hThread[i]);
    }
    if (answered != CLIENTS) {
        fprintf(stderr, "%d answers\n", (int)answered);
        return 1;
    }
    printf("served %d clients\n", CLIENTS);
    return 0;
}
