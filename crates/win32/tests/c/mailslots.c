/* Mailslots: CreateMailslot, GetMailslotInfo, SetMailslotInfo, CreateFile + WriteFile, ReadFile,
 * with the codes of spec section 3. */
#include <string.h>
#include "check.h"

int main(void)
{
    char name[128], base[64], buf[64];
    HANDLE slot, w;
    DWORD max, next, count, timeout, n;
    WCHAR wname[128];
    size_t i;

    unique_name(base, sizeof base, "pipework-c-ms");
    snprintf(name, sizeof name, "\\\\.\\mailslot\\%s\\box", base);

    /* Names: \\.\mailslot\ only. */
    CHECK_ERROR(CreateMailslotA(base, 0, 0, NULL) == INVALID_HANDLE_VALUE, ERROR_INVALID_NAME);
    /* No such slot: ERROR_FILE_NOT_FOUND. */
    CHECK_ERROR(CreateFileA(name, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_FILE_NOT_FOUND);

    slot = CreateMailslotA(name, 16, 0, NULL);
    CHECK(slot != INVALID_HANDLE_VALUE);
    /* An existing name (in any case) fails. */
    for (i = 0; name[i]; i++)
        wname[i] = (WCHAR)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    wname[i] = 0;
    CHECK_ERROR(CreateMailslotW(wname, 0, 0, NULL) == INVALID_HANDLE_VALUE, ERROR_ALREADY_EXISTS);

    CHECK(GetMailslotInfo(slot, &max, &next, &count, &timeout));
    CHECK(max == 16 && next == MAILSLOT_NO_MESSAGE && count == 0 && timeout == 0);
    /* Empty, timeout 0: ERROR_SEM_TIMEOUT (the spec's warning: also with timeout 0). */
    CHECK_ERROR(!ReadFile(slot, buf, sizeof buf, &n, NULL), ERROR_SEM_TIMEOUT);
    CHECK(SetMailslotInfo(slot, 20));
    CHECK(GetMailslotInfo(slot, NULL, NULL, NULL, &timeout) && timeout == 20);
    CHECK_ERROR(!ReadFile(slot, buf, sizeof buf, &n, NULL), ERROR_SEM_TIMEOUT);
    CHECK(SetMailslotInfo(slot, MAILSLOT_WAIT_FOREVER));
    CHECK(GetMailslotInfo(slot, NULL, NULL, NULL, &timeout) && timeout == MAILSLOT_WAIT_FOREVER);

    /* Clients only write; the server only reads. */
    w = CreateFileW(wname, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                    FILE_ATTRIBUTE_NORMAL, NULL);
    CHECK(w != INVALID_HANDLE_VALUE);
    CHECK_ERROR(!ReadFile(w, buf, sizeof buf, &n, NULL), ERROR_ACCESS_DENIED);
    CHECK_ERROR(!WriteFile(slot, "x", 1, &n, NULL), ERROR_ACCESS_DENIED);

    CHECK(WriteFile(w, "first", 5, &n, NULL) && n == 5);
    CHECK(WriteFile(w, "", 0, &n, NULL) && n == 0);
    CHECK(WriteFile(w, "third message", 13, &n, NULL));
    /* Larger than the slot's maximum: refused. */
    SetLastError(0);
    CHECK(!WriteFile(w, "seventeen bytes!!", 17, &n, NULL));
    CHECK(GetMailslotInfo(slot, NULL, &next, &count, NULL));
    CHECK(next == 5 && count == 3);

    /* One whole message per read, in order; a buffer too small: ERROR_INSUFFICIENT_BUFFER and
     * the message stays. */
    CHECK_ERROR(!ReadFile(slot, buf, 4, &n, NULL), ERROR_INSUFFICIENT_BUFFER);
    CHECK(ReadFile(slot, buf, sizeof buf, &n, NULL) && n == 5 && memcmp(buf, "first", 5) == 0);
    CHECK(ReadFile(slot, buf, sizeof buf, &n, NULL) && n == 0);
    CHECK(ReadFile(slot, buf, sizeof buf, &n, NULL) && n == 13);
    CHECK(GetMailslotInfo(slot, NULL, &next, &count, NULL));
    CHECK(next == MAILSLOT_NO_MESSAGE && count == 0);

    CHECK(CloseHandle(w));
    CHECK(CloseHandle(slot));
    /* The name goes with the server. */
    CHECK_ERROR(CreateFileA(name, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL)
                == INVALID_HANDLE_VALUE, ERROR_FILE_NOT_FOUND);
    CHECK_ERROR(!GetMailslotInfo(slot, NULL, NULL, NULL, NULL), ERROR_INVALID_HANDLE);
    return 0;
}
