/* The Win32 sample "Named Pipe Server Using Overlapped I/O", written for pipework.
 * One thread serves several pipe instances at once: each instance has its own OVERLAPPED and
 * manual-reset event and moves through connecting, reading and writing states; the server waits
 * on every event with WaitForMultipleObjects, finishes the step that completed with
 * GetOverlappedResult and starts the next one. When a client leaves, its instance is
 * disconnected and connects again for the next client.
 *
 * The clients are this program started with "client PID N": each opens the pipe (waiting with
 * WaitNamedPipe while every instance is busy), sends ROUNDS messages and checks each answer.
 * The documented server runs forever; this one ends once CLIENTS clients were served. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INSTANCES 3
#define CLIENTS 5
#define ROUNDS 3
#define BUFSIZE 256

enum state { CONNECTING, READING, WRITING };

typedef struct {
    OVERLAPPED oOverlap;
    HANDLE hPipeInst;
    CHAR chRequest[BUFSIZE];
    DWORD cbRead;
    CHAR chReply[BUFSIZE];
    DWORD cbToWrite;
    enum state dwState;
    BOOL fPendingIO;
} PIPEINST;

static CHAR lpszPipename[128];
static PIPEINST Pipe[INSTANCES];
static HANDLE hEvents[INSTANCES];
static int served;

static void GetAnswerToRequest(PIPEINST *pipe)
{
    DWORD n = pipe->cbRead < BUFSIZE - 8 ? pipe->cbRead : BUFSIZE - 8;
    memcpy(pipe->chReply, "echo [", 6);
    memcpy(pipe->chReply + 6, pipe->chRequest, n);
    pipe->chReply[6 + n] = ']';
    pipe->cbToWrite = n + 7;
}

/* Starts an overlapped connect: TRUE when it is pending, FALSE when a client is there already
 * (the event is then set by hand so that the loop reads from it). */
static BOOL ConnectToNewClient(HANDLE hPipe, LPOVERLAPPED lpo)
{
    if (ConnectNamedPipe(hPipe, lpo)) {
        /* An overlapped ConnectNamedPipe reports its outcome through the OVERLAPPED. */
        return FALSE;
    }
    switch (GetLastError()) {
    case ERROR_IO_PENDING:
        return TRUE;
    case ERROR_PIPE_CONNECTED:
        if (SetEvent(lpo->hEvent))
            return FALSE;
        /* fall through */
    default:
        fprintf(stderr, "ConnectNamedPipe failed with %u.\n", (unsigned)GetLastError());
        exit(1);
    }
}

static void DisconnectAndReconnect(DWORD i)
{
    if (!DisconnectNamedPipe(Pipe[i].hPipeInst)) {
        fprintf(stderr, "DisconnectNamedPipe failed with %u.\n", (unsigned)GetLastError());
        exit(1);
    }
    served++;
    Pipe[i].fPendingIO = ConnectToNewClient(Pipe[i].hPipeInst, &Pipe[i].oOverlap);
    Pipe[i].dwState = Pipe[i].fPendingIO ? CONNECTING : READING;
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
        if (GetLastError() != ERROR_PIPE_BUSY) {
            fprintf(stderr, "client %s: CreateFile failed with %u\n", n, (unsigned)GetLastError());
            return 1;
        }
        if (!WaitNamedPipeA(lpszPipename, 20000)) {
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
    DWORD i, dwWait, cbRet, dwErr, code;
    BOOL fSuccess;
    HANDLE hProcess[CLIENTS];

    snprintf(lpszPipename, sizeof lpszPipename, "\\\\.\\pipe\\ovpipe-%u",
             argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : (unsigned)GetCurrentProcessId());
    if (argc > 3 && strcmp(argv[1], "client") == 0)
        return Client(argv[3]);

    /* Every instance starts with an overlapped connect. */
    for (i = 0; i < INSTANCES; i++) {
        hEvents[i] = CreateEventA(NULL, TRUE, TRUE, NULL);
        if (hEvents[i] == NULL) {
            fprintf(stderr, "CreateEvent failed with %u.\n", (unsigned)GetLastError());
            return 1;
        }
        ZeroMemory(&Pipe[i].oOverlap, sizeof Pipe[i].oOverlap);
        Pipe[i].oOverlap.hEvent = hEvents[i];
        Pipe[i].hPipeInst = CreateNamedPipeA(lpszPipename, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                             PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                                             INSTANCES, BUFSIZE, BUFSIZE, 5000, NULL);
        if (Pipe[i].hPipeInst == INVALID_HANDLE_VALUE) {
            fprintf(stderr, "CreateNamedPipe failed with %u.\n", (unsigned)GetLastError());
            return 1;
        }
        Pipe[i].fPendingIO = ConnectToNewClient(Pipe[i].hPipeInst, &Pipe[i].oOverlap);
        Pipe[i].dwState = Pipe[i].fPendingIO ? CONNECTING : READING;
    }

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
        dwWait = WaitForMultipleObjects(INSTANCES, hEvents, FALSE, 30000);
        if (dwWait >= WAIT_OBJECT_0 + INSTANCES) {
            fprintf(stderr, "WaitForMultipleObjects returned %u (%u).\n", (unsigned)dwWait,
                    (unsigned)GetLastError());
            return 1;
        }
        i = dwWait - WAIT_OBJECT_0;

        /* The step that was pending has finished: its outcome. */
        if (Pipe[i].fPendingIO) {
            fSuccess = GetOverlappedResult(Pipe[i].hPipeInst, &Pipe[i].oOverlap, &cbRet, FALSE);
            switch (Pipe[i].dwState) {
            case CONNECTING:
                if (!fSuccess) {
                    fprintf(stderr, "connect failed with %u.\n", (unsigned)GetLastError());
                    return 1;
                }
                Pipe[i].dwState = READING;
                break;
            case READING:
                if (!fSuccess || cbRet == 0) {
                    DisconnectAndReconnect(i);
                    continue;
                }
                Pipe[i].cbRead = cbRet;
                Pipe[i].dwState = WRITING;
                break;
            case WRITING:
                if (!fSuccess || cbRet != Pipe[i].cbToWrite) {
                    DisconnectAndReconnect(i);
                    continue;
                }
                Pipe[i].dwState = READING;
                break;
            }
        }

        /* The next step. */
        switch (Pipe[i].dwState) {
        case READING:
            fSuccess = ReadFile(Pipe[i].hPipeInst, Pipe[i].chRequest, BUFSIZE, &Pipe[i].cbRead,
                                &Pipe[i].oOverlap);
            if (fSuccess && Pipe[i].cbRead != 0) {
                Pipe[i].fPendingIO = FALSE;
                Pipe[i].dwState = WRITING;
                continue;
            }
            dwErr = GetLastError();
            if (!fSuccess && dwErr == ERROR_IO_PENDING) {
                Pipe[i].fPendingIO = TRUE;
                continue;
            }
            /* The client closed (ERROR_BROKEN_PIPE). */
            DisconnectAndReconnect(i);
            break;
        case WRITING:
            GetAnswerToRequest(&Pipe[i]);
            fSuccess = WriteFile(Pipe[i].hPipeInst, Pipe[i].chReply, Pipe[i].cbToWrite, &cbRet,
                                 &Pipe[i].oOverlap);
            if (fSuccess && cbRet == Pipe[i].cbToWrite) {
                Pipe[i].fPendingIO = FALSE;
                Pipe[i].dwState = READING;
                continue;
            }
            dwErr = GetLastError();
            if (!fSuccess && dwErr == ERROR_IO_PENDING) {
                Pipe[i].fPendingIO = TRUE;
                continue;
            }
            DisconnectAndReconnect(i);
            break;
        default:
            fprintf(stderr, "invalid pipe state.\n");
            return 1;
        }
    }

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
    for (i = 0; i < INSTANCES; i++) {
        CloseHandle(Pipe[i].hPipeInst);
        CloseHandle(hEvents[i]);
    }
    printf("served %d clients over %d overlapped instances\n", served, INSTANCES);
    return 0;
}
