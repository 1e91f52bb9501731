/* The Win32 sample "Creating a Child Process with Redirected Input and Output", written for
 * pipework: the parent makes two inheritable pipes, keeps its own ends out of the child, starts
 * itself as the child with STARTUPINFO's standard handles on the pipes, writes a file into the
 * child's input, closes it, and reads the child's output to its end.
 *
 * Run without arguments: the parent. With "child": the child, which copies its input to its
 * output in upper case. */
#include <windows.h>
#include <stdio.h>
#include <string.h>

#define BUFSIZE 64

static HANDLE g_hChildStd_IN_Rd = NULL;
static HANDLE g_hChildStd_IN_Wr = NULL;
static HANDLE g_hChildStd_OUT_Rd = NULL;
static HANDLE g_hChildStd_OUT_Wr = NULL;
static HANDLE g_hInputFile = NULL;

static void ErrorExit(const char *what)
{
    fprintf(stderr, "%s failed with error %u\n", what, (unsigned)GetLastError());
    ExitProcess(1);
}

static int Child(void)
{
    CHAR chBuf[BUFSIZE];
    DWORD dwRead, dwWritten, i;
    HANDLE hStdin = GetStdHandle(STD_INPUT_HANDLE);
    HANDLE hStdout = GetStdHandle(STD_OUTPUT_HANDLE);

    if (hStdout == INVALID_HANDLE_VALUE || hStdin == INVALID_HANDLE_VALUE)
        return 1;
    for (;;) {
        BOOL bSuccess = ReadFile(hStdin, chBuf, BUFSIZE, &dwRead, NULL);
        if (!bSuccess || dwRead == 0)
            break;
        for (i = 0; i < dwRead; i++)
            if (chBuf[i] >= 'a' && chBuf[i] <= 'z')
                chBuf[i] -= 32;
        bSuccess = WriteFile(hStdout, chBuf, dwRead, &dwWritten, NULL);
        if (!bSuccess)
            break;
    }
    return 0;
}

static void CreateChildProcess(const char *self)
{
    CHAR szCmdline[600];
    PROCESS_INFORMATION piProcInfo;
    STARTUPINFOA siStartInfo;
    BOOL bSuccess;

    snprintf(szCmdline, sizeof szCmdline, "\"%s\" child", self);
    ZeroMemory(&piProcInfo, sizeof(PROCESS_INFORMATION));
    ZeroMemory(&siStartInfo, sizeof(STARTUPINFOA));
    siStartInfo.cb = sizeof(STARTUPINFOA);
    siStartInfo.hStdError = g_hChildStd_OUT_Wr;
    siStartInfo.hStdOutput = g_hChildStd_OUT_Wr;
    siStartInfo.hStdInput = g_hChildStd_IN_Rd;
    siStartInfo.dwFlags |= STARTF_USESTDHANDLES;

    bSuccess = CreateProcessA(NULL, szCmdline, NULL, NULL, TRUE, 0, NULL, NULL, &siStartInfo,
                              &piProcInfo);
    if (!bSuccess)
        ErrorExit("CreateProcess");
    CloseHandle(piProcInfo.hProcess);
    CloseHandle(piProcInfo.hThread);
    /* Without these closes the parent would never see the end of the child's output. */
    CloseHandle(g_hChildStd_OUT_Wr);
    CloseHandle(g_hChildStd_IN_Rd);
}

static void WriteToPipe(void)
{
    DWORD dwRead, dwWritten;
    CHAR chBuf[BUFSIZE];
    BOOL bSuccess = FALSE;

    for (;;) {
        bSuccess = ReadFile(g_hInputFile, chBuf, BUFSIZE, &dwRead, NULL);
        if (!bSuccess || dwRead == 0)
            break;
        bSuccess = WriteFile(g_hChildStd_IN_Wr, chBuf, dwRead, &dwWritten, NULL);
        if (!bSuccess)
            break;
    }
    /* The child sees the end of its input. */
    if (!CloseHandle(g_hChildStd_IN_Wr))
        ErrorExit("StdInWr CloseHandle");
}

static DWORD ReadFromPipe(CHAR *out, DWORD size)
{
    DWORD dwRead, total = 0;
    for (;;) {
        BOOL bSuccess = ReadFile(g_hChildStd_OUT_Rd, out + total, size - total, &dwRead, NULL);
        if (!bSuccess || dwRead == 0)
            break;
        total += dwRead;
    }
    if (GetLastError() != ERROR_BROKEN_PIPE)
        ErrorExit("ReadFile of the child's output");
    return total;
}

int main(int argc, char *argv[])
{
    SECURITY_ATTRIBUTES saAttr;
    const char *text = "the quick brown fox\njumps over the lazy dog\n";
    CHAR result[4096];
    DWORD n;

    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return Child();

    saAttr.nLength = sizeof(SECURITY_ATTRIBUTES);
    saAttr.bInheritHandle = TRUE;
    saAttr.lpSecurityDescriptor = NULL;

    if (!CreatePipe(&g_hChildStd_OUT_Rd, &g_hChildStd_OUT_Wr, &saAttr, 0))
        ErrorExit("StdoutRd CreatePipe");
    if (!SetHandleInformation(g_hChildStd_OUT_Rd, HANDLE_FLAG_INHERIT, 0))
        ErrorExit("Stdout SetHandleInformation");
    if (!CreatePipe(&g_hChildStd_IN_Rd, &g_hChildStd_IN_Wr, &saAttr, 0))
        ErrorExit("Stdin CreatePipe");
    if (!SetHandleInformation(g_hChildStd_IN_Wr, HANDLE_FLAG_INHERIT, 0))
        ErrorExit("Stdin SetHandleInformation");

    CreateChildProcess(argv[0]);

    /* The input file, written here for the run. */
    g_hInputFile = CreateFileA("child_redirect.txt", GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                               FILE_ATTRIBUTE_NORMAL, NULL);
    if (g_hInputFile == INVALID_HANDLE_VALUE)
        ErrorExit("CreateFile (write)");
    if (!WriteFile(g_hInputFile, text, (DWORD)strlen(text), &n, NULL))
        ErrorExit("WriteFile (input file)");
    CloseHandle(g_hInputFile);
    g_hInputFile = CreateFileA("child_redirect.txt", GENERIC_READ, 0, NULL, OPEN_EXISTING,
                               FILE_ATTRIBUTE_READONLY, NULL);
    if (g_hInputFile == INVALID_HANDLE_VALUE)
        ErrorExit("CreateFile (read)");

    WriteToPipe();
    n = ReadFromPipe(result, sizeof result);
    CloseHandle(g_hInputFile);
    DeleteFileA("child_redirect.txt");
    if (n != strlen(text) || memcmp(result, "THE QUICK BROWN FOX\nJUMPS OVER THE LAZY DOG\n", n)) {
        fprintf(stderr, "unexpected output (%u bytes): %.*s\n", (unsigned)n, (int)n, result);
        return 1;
    }
    printf("child output: %.*s", (int)n, result);
    return 0;
}
