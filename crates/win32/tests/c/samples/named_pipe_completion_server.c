/* The Win32 sample "Named Pipe Server Using Completion Routines", written for pipework.
 * One thread, one listening instance at a time: the server starts an overlapped connect and
 * waits for its event with WaitForSingleObjectEx(..., TRUE). Each connected client gets a
 * heap-allocated instance whose I/O runs as a chain of completion routines: ReadFileEx's
 * routine answers with WriteFileEx, whose routine reads again, until the client leaves and the
 * instance is disconnected and freed. The routines run while the thread waits alertably (the
 * wait then returns WAIT_IO_COMPLETION); a new instance listens for the next client at once.
 *
 * The clients are this program started with "client PID N"; each sends ROUNDS messages and
 * checks the answers. The documented server runs forever; this one ends once CLIENTS clients
 * were served. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS 4
#define ROUNDS 3
#define BUFSIZE 256

typedef struct {
    OVERLAPPED oOverlap; /* first: the routines get back to the instance from it */
    HANDLE hPipeInst;
    CHAR chRequest[BUFSIZE];
    DWORD cbRead;
    CHAR chReply[BUFSIZE];
    DWORD cbToWrite;
} PIPEINST, *LPPIPEINST;

static CHAR lpszPipename[128];
static int served, completions;

static VOID WINAPI CompletedWriteRoutine(DWORD, DWORD, LPOVERLAPPED);
static VOID WINAPI CompletedReadRoutine(DWORD, DWORD, LPOVERLAPPED);

static void DisconnectAndClose(LPPIPEINST lpPipeInst)
{
    if (!DisconnectNamedPipe(lpPipeInst->hPipeInst))
        fprintf(stderr, "DisconnectNamedPipe failed with %u.\n", (unsigned)GetLastError());
    CloseHandle(lpPipeInst->hPipeInst);
    free(lpPipeInst);
    served++;
}

static void GetAnswerToRequest(LPPIPEINST pipe)
{
    DWORD n = pipe->cbRead < BUFSIZE - 8 ? pipe->cbRead : BUFSIZE - 8;
    memcpy(pipe->chReply, "echo [", 6);
    memcpy(pipe->chReply + 6, pipe->chRequest, n);
    pipe->chReply[6 + n] = ']';
    pipe->cbToWrite = n + 7;
}

/* The answer went out: read the next request. */
static VOID WINAPI CompletedWriteRoutine(DWORD dwErr, DWORD cbWritten, LPOVERLAPPED lpOverLap)
{
    LPPIPEINST lpPipeInst = (LPPIPEINST)lpOverLap;
    BOOL fRead = FALSE;
    completions++;
    if (dwErr == 0 && cbWritten == lpPipeInst->cbToWrite)
        fRead = ReadFileEx(lpPipeInst->hPipeInst, lpPipeInst->chRequest, BUFSIZE,
                           (LPOVERLAPPED)lpPipeInst, CompletedReadRoutine);
    if (!fRead)
        DisconnectAndClose(lpPipeInst);
}

/* A request came in: answer it. */
static VOID WINAPI CompletedReadRoutine(DWORD dwErr, DWORD cbBytesRead, LPOVERLAPPED lpOverLap)
{
    LPPIPEINST lpPipeInst = (LPPIPEINST)lpOverLap;
    BOOL fWrite = FALSE;
    completions++;
    if (dwErr == 0 && cbBytesRead != 0) {
        lpPipeInst->cbRead = cbBytesRead;
        GetAnswerToRequest(lpPipeInst);
        fWrite = WriteFileEx(lpPipeInst->hPipeInst, lpPipeInst->chReply, lpPipeInst->cbToWrite,
                             (LPOVERLAPPED)lpPipeInst, CompletedWriteRoutine);
    }
    if (!fWrite)
        DisconnectAndClose(lpPipeInst); /* the client left: ERROR_BROKEN_PIPE */
}

/* A new instance and an overlapped connect on it; *pending says whether it waits. */
static HANDLE CreateAndConnectInstance(LPOVERLAPPED lpoOverlap, BOOL *pending)
{
    HANDLE hPipe = CreateNamedPipeA(lpszPipename, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                    PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                                    PIPE_UNLIMITED_INSTANCES, BUFSIZE, BUFSIZE, 5000, NULL);
    if (hPipe == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "CreateNamedPipe failed with %u.\n", (unsigned)GetLastError());
        exit(1);
    }
    if (ConnectNamedPipe(hPipe, lpoOverlap)) {
        *pending = FALSE;
        return hPipe;
    }
    switch (GetLastError()) {
    case ERROR_IO_PENDING:
        *pending = TRUE;
        break;
    case ERROR_PIPE_CONNECTED:
        *pending = FALSE;
        if (!SetEvent(lpoOverlap->hEvent))
            exit(1);
        break;
    default:
        fprintf(stderr, "ConnectNamedPipe failed with %u.\n", (unsigned)GetLastError());
        exit(1);
    }
    return hPipe;
}

static int Client(const char *n)
{
    HANDLE hPipe;
    DWORD dwMode = PIPE_READMODE_MESSAGE, cbWritten, cbRead;
    CHAR msg[64], reply[BUFSIZE], expected[BUFSIZE];
    int round;

    for (;;) {
        hPipe = CreateFileA(lpszPipename, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                            0, NULL);
        if (hPipe != INVALID_HANDLE_VALUE)
            break;
        /* Between two instances the name may be busy (or briefly have no instance). */
        if (GetLastError() != ERROR_PIPE_BUSY && GetLastError() != ERROR_FILE_NOT_FOUND) {
            fprintf(stderr, "client %s: CreateFile failed with %u\n", n, (unsigned)GetLastError());
            return 1;
        }
        if (!WaitNamedPipeA(lpszPipename, 20000) && GetLastError() != ERROR_FILE_NOT_FOUND) {
            fprintf(stderr, "client %s: WaitNamedPipe failed with %u\n", n, (unsigned)GetLastError());
            return 2;
        }
    }
    if (!SetNamedPipeHandleState(hPipe, &dwMode, NULL, NULL))
        return 3;
    for (round = 0; round < ROUNDS; round++) {
        snprintf(msg, sizeof msg, "client %s round %d", n, round);
        if (!WriteFile(hPipe, msg, (DWORD)strlen(msg), &cbWritten, NULL))
            return 4;
        if (!ReadFile(hPipe, reply, sizeof reply, &cbRead, NULL))
            return 5;
        snprintf(expected, sizeof expected, "echo [%s]", msg);
        if (cbRead != strlen(expected) || memcmp(reply, expected, cbRead) != 0) {
            fprintf(stderr, "client %s got %.*s\n", n, (int)cbRead, reply);
            return 6;
        }
    }
    CloseHandle(hPipe);
    return 0;
}

int main(int argc, char *argv[])
{
    HANDLE hConnectEvent, hPipe, hProcess[CLIENTS];
    OVERLAPPED oConnect;
    LPPIPEINST lpPipeInst;
    DWORD dwWait, cbRet, i, code;
    BOOL fSuccess, fPendingIO;

    snprintf(lpszPipename, sizeof lpszPipename, "\\\\.\\pipe\\crpipe-%u",
             argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : (unsigned)GetCurrentProcessId());
    if (argc > 3 && strcmp(argv[1], "client") == 0)
        return Client(argv[3]);

    hConnectEvent = CreateEventA(NULL, TRUE, TRUE, NULL);
    if (hConnectEvent == NULL) {
        fprintf(stderr, "CreateEvent failed with %u.\n", (unsigned)GetLastError());
        return 1;
    }
    ZeroMemory(&oConnect, sizeof oConnect);
    oConnect.hEvent = hConnectEvent;
    hPipe = CreateAndConnectInstance(&oConnect, &fPendingIO);

    for (i = 0; i < CLIENTS; i++) {
        CHAR cmd[700];
        STARTUPINFOA si;
        PROCESS_INFORMATION pi;
        ZeroMemory(&si, sizeof si);
        si.cb = sizeof si;
        snprintf(cmd, sizeof cmd, "\"%s\" client %u %u", argv[0],
                 (unsigned)GetCurrentProcessId(), (unsigned)i);
        if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
            fprintf(stderr, "CreateProcess failed with %u.\n", (unsigned)GetLastError());
            return 1;
        }
        CloseHandle(pi.hThread);
        hProcess[i] = pi.hProcess;
    }

    while (served < CLIENTS) {
        /* Alertable: completion routines run here, and end the wait. */
        dwWait = WaitForSingleObjectEx(hConnectEvent, 30000, TRUE);
        switch (dwWait) {
        case WAIT_OBJECT_0:
            /* A client connected: hand the instance over to the routines. */
            if (fPendingIO) {
                fSuccess = GetOverlappedResult(hPipe, &oConnect, &cbRet, FALSE);
                if (!fSuccess) {
                    fprintf(stderr, "ConnectNamedPipe (%u)\n", (unsigned)GetLastError());
                    return 1;
                }
            }
            lpPipeInst = (LPPIPEINST)calloc(1, sizeof(PIPEINST));
            if (lpPipeInst == NULL)
                return 1;
            lpPipeInst->hPipeInst = hPipe;
            lpPipeInst->cbToWrite = 0;
            /* Start with a zero-length "write" done: the write routine reads the request. */
            CompletedWriteRoutine(0, 0, (LPOVERLAPPED)lpPipeInst);
            /* The next client's instance. */
            hPipe = CreateAndConnectInstance(&oConnect, &fPendingIO);
            break;
        case WAIT_IO_COMPLETION:
            break;
        default:
            fprintf(stderr, "WaitForSingleObjectEx returned %u (%u)\n", (unsigned)dwWait,
                    (unsigned)GetLastError());
            return 1;
        }
    }
    CloseHandle(hPipe);

    if (WaitForMultipleObjects(CLIENTS, hProcess, TRUE, 30000) != WAIT_OBJECT_0) {
        fprintf(stderr, "clients did not finish\n");
        return 1;
    }
    for (i = 0; i < CLIENTS; i++) {
        if (!GetExitCodeProcess(hProcess[i], &code) || code != 0) {
            fprintf(stderr, "client %u exited with %u\n", (unsigned)i, (unsigned)code);
            return 1;
        }
        CloseHandle(hProcess[i]);
    }
    /* Per client: one read per request and one at the end, one write per request. */
    if (completions < CLIENTS * (2 * ROUNDS + 1)) {
        fprintf(stderr, "only %d completion routines ran\n", completions);
        return 1;
    }
    printf("served %d clients with %d completion routines\n", served, completions);
    return 0;
}
