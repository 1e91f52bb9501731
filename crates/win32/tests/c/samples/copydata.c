/* The Win32 sample "Using Data Copy" (WM_COPYDATA), written for pipework. The receiver
 * registers a window class, creates a message-only window and starts the sender (this program
 * with "sender"), which finds the window with FindWindow and sends it a record with
 * SendMessage(WM_COPYDATA); the receiver's window procedure copies the record out of the
 * COPYDATASTRUCT and ends the message loop. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MYPRINT 1
#define MYLIST 2

typedef struct tagMYREC {
    char s1[80];
    char s2[80];
    DWORD n;
} MYREC;

static char WindowTitle[64];
static MYREC Received;
static HWND Sender;

static LRESULT CALLBACK ReceiverProc(HWND hwnd, UINT uMsg, WPARAM wParam, LPARAM lParam)
{
    switch (uMsg) {
    case WM_COPYDATA: {
        PCOPYDATASTRUCT pMyCDS = (PCOPYDATASTRUCT)lParam;
        if (pMyCDS->dwData == MYPRINT && pMyCDS->cbData == sizeof(MYREC)) {
            memcpy(&Received, pMyCDS->lpData, sizeof(MYREC));
            Sender = (HWND)wParam;
            printf("received from %p: %s %s %u\n", (void *)Sender, Received.s1, Received.s2,
                   (unsigned)Received.n);
            PostQuitMessage(0);
            return TRUE;
        }
        return FALSE;
    }
    case WM_DESTROY:
        return 0;
    }
    return DefWindowProc(hwnd, uMsg, wParam, lParam);
}

static int SenderMain(void)
{
    WNDCLASSEXA wc;
    memset(&wc, 0, sizeof wc);
    wc.cbSize = sizeof wc;
    wc.lpfnWndProc = DefWindowProcA;
    wc.lpszClassName = "CopyDataSender";
    if (!RegisterClassExA(&wc))
        return 1;
    HWND hwnd = CreateWindowExA(0, "CopyDataSender", NULL, 0, 0, 0, 0, 0, HWND_MESSAGE, NULL,
                                NULL, NULL);
    HWND hwDispatch = FindWindowA("CopyDataReceiver", WindowTitle);
    if (hwnd == NULL || hwDispatch == NULL) {
        fprintf(stderr, "no receiver window (%u)\n", (unsigned)GetLastError());
        return 1;
    }

    MYREC MyRec;
    memset(&MyRec, 0, sizeof MyRec);
    strcpy(MyRec.s1, "Hello");
    strcpy(MyRec.s2, "World");
    MyRec.n = 42;

    COPYDATASTRUCT MyCDS;
    MyCDS.dwData = MYPRINT;
    MyCDS.cbData = sizeof(MyRec);
    MyCDS.lpData = &MyRec;
    LRESULT result = SendMessage(hwDispatch, WM_COPYDATA, (WPARAM)(HWND)hwnd, (LPARAM)(LPVOID)&MyCDS);
    DestroyWindow(hwnd);
    return result == TRUE ? 0 : 1;
}

int main(int argc, char *argv[])
{
    snprintf(WindowTitle, sizeof WindowTitle, "CopyData-%u",
             argc > 2 ? (unsigned)atoi(argv[2]) : (unsigned)GetCurrentProcessId());
    if (argc > 1 && strcmp(argv[1], "sender") == 0)
        return SenderMain();

    WNDCLASSEXA wc;
    memset(&wc, 0, sizeof wc);
    wc.cbSize = sizeof wc;
    wc.lpfnWndProc = ReceiverProc;
    wc.lpszClassName = "CopyDataReceiver";
    if (!RegisterClassExA(&wc)) {
        fprintf(stderr, "RegisterClassEx failed (%u)\n", (unsigned)GetLastError());
        return 1;
    }
    HWND hwnd = CreateWindowExA(0, "CopyDataReceiver", WindowTitle, 0, 0, 0, 0, 0, HWND_MESSAGE,
                                NULL, NULL, NULL);
    if (hwnd == NULL) {
        fprintf(stderr, "CreateWindowEx failed (%u)\n", (unsigned)GetLastError());
        return 1;
    }

    char cmd[600];
    snprintf(cmd, sizeof cmd, "\"%s\" sender %u", argv[0], (unsigned)GetCurrentProcessId());
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
        fprintf(stderr, "CreateProcess failed (%u)\n", (unsigned)GetLastError());
        return 1;
    }

    MSG msg;
    BOOL bRet;
    while ((bRet = GetMessage(&msg, NULL, 0, 0)) != 0) {
        if (bRet == -1)
            return 1;
        TranslateMessage(&msg);
        DispatchMessage(&msg);
    }

    DWORD code = 1;
    WaitForSingleObject(pi.hProcess, 30000);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    DestroyWindow(hwnd);
    if (code != 0 || strcmp(Received.s1, "Hello") != 0 || strcmp(Received.s2, "World") != 0 ||
        Received.n != 42 || Sender == NULL) {
        fprintf(stderr, "the record did not arrive whole (sender exit %u)\n", (unsigned)code);
        return 1;
    }
    return 0;
}
