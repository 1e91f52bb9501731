/* The Win32 samples "Creating a Mailslot", "Writing to a Mailslot" and "Reading from a
 * Mailslot", written for pipework. The server creates the slot and starts the writer (this
 * program with "writer"), which opens the slot with CreateFile and writes three messages; the
 * server waits for the writer, then reads every message with the documented GetMailslotInfo
 * loop. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char SlotName[128];
static HANDLE hSlot;

static BOOL WriteSlot(HANDLE hSlot, const char *lpszMessage)
{
    BOOL fResult;
    DWORD cbWritten;
    fResult = WriteFile(hSlot, lpszMessage, (DWORD)strlen(lpszMessage) + 1, &cbWritten, NULL);
    if (!fResult) {
        fprintf(stderr, "WriteFile failed with %u.\n", (unsigned)GetLastError());
        return FALSE;
    }
    return TRUE;
}

static int Writer(void)
{
    HANDLE hFile = CreateFileA(SlotName, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                               FILE_ATTRIBUTE_NORMAL, NULL);
    if (hFile == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "CreateFile failed with %u.\n", (unsigned)GetLastError());
        return 1;
    }
    if (!WriteSlot(hFile, "Message one for mailslot.") || !WriteSlot(hFile, "Message two for mailslot.")
        || !WriteSlot(hFile, "Message three for mailslot."))
        return 2;
    CloseHandle(hFile);
    return 0;
}

static int ReadSlot(void)
{
    DWORD cbMessage, cMessage, cbRead, cAllMessages, seen = 0;
    BOOL fResult;
    char lpszBuffer[256];
    const char *expected[] = { "Message one for mailslot.", "Message two for mailslot.",
                               "Message three for mailslot." };

    fResult = GetMailslotInfo(hSlot, NULL, &cbMessage, &cMessage, NULL);
    if (!fResult) {
        fprintf(stderr, "GetMailslotInfo failed with %u.\n", (unsigned)GetLastError());
        return -1;
    }
    if (cbMessage == MAILSLOT_NO_MESSAGE) {
        fprintf(stderr, "Waiting for a message...\n");
        return 0;
    }
    cAllMessages = cMessage;
    while (cMessage != 0) {
        fResult = ReadFile(hSlot, lpszBuffer, cbMessage, &cbRead, NULL);
        if (!fResult || cbRead != cbMessage) {
            fprintf(stderr, "ReadFile failed with %u.\n", (unsigned)GetLastError());
            return -1;
        }
        printf("Contents of the mailslot: %s (message %u of %u)\n", lpszBuffer,
               (unsigned)(cAllMessages - cMessage + 1), (unsigned)cAllMessages);
        if (seen >= 3 || strcmp(lpszBuffer, expected[seen]) != 0)
            return -1;
        seen++;
        fResult = GetMailslotInfo(hSlot, NULL, &cbMessage, &cMessage, NULL);
        if (!fResult)
            return -1;
    }
    return (int)seen;
}

int main(int argc, char *argv[])
{
    CHAR cmd[700];
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    DWORD code;

    snprintf(SlotName, sizeof SlotName, "\\\\.\\mailslot\\sample_mailslot\\%u",
             argc > 2 ? (unsigned)atoi(argv[2]) : (unsigned)GetCurrentProcessId());
    if (argc > 1 && strcmp(argv[1], "writer") == 0)
        return Writer();

    hSlot = CreateMailslotA(SlotName, 0, MAILSLOT_WAIT_FOREVER, (LPSECURITY_ATTRIBUTES)NULL);
    if (hSlot == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "CreateMailslot failed with %u\n", (unsigned)GetLastError());
        return 1;
    }
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    snprintf(cmd, sizeof cmd, "\"%s\" writer %u", argv[0], (unsigned)GetCurrentProcessId());
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
        return 1;
    CloseHandle(pi.hThread);
    if (WaitForSingleObject(pi.hProcess, 30000) != WAIT_OBJECT_0
        || !GetExitCodeProcess(pi.hProcess, &code) || code != 0) {
        fprintf(stderr, "the writer failed\n");
        return 1;
    }
    CloseHandle(pi.hProcess);
    if (ReadSlot() != 3)
        return 1;
    CloseHandle(hSlot);
    return 0;
}
