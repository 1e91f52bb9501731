/* winbase.h: the base API; includes every other header of this library and adds mailslots. */
#ifndef PIPEWORK_WINBASE_H
#define PIPEWORK_WINBASE_H

#include <minwinbase.h>
#include <winerror.h>
#include <errhandlingapi.h>
#include <handleapi.h>
#include <synchapi.h>
#include <fileapi.h>
#include <namedpipeapi.h>
#include <memoryapi.h>
#include <processthreadsapi.h>
#include <processenv.h>
#include <ioapiset.h>
#include <sysinfoapi.h>

#define MAILSLOT_NO_MESSAGE ((DWORD)-1)
#define MAILSLOT_WAIT_FOREVER ((DWORD)-1)

#define HasOverlappedIoCompleted(lpOverlapped) (((DWORD)(lpOverlapped)->Internal) != STATUS_PENDING)

#ifdef __cplusplus
extern "C" {
#endif

HANDLE WINAPI CreateMailslotA(LPCSTR lpName, DWORD nMaxMessageSize, DWORD lReadTimeout,
    LPSECURITY_ATTRIBUTES lpSecurityAttributes);
HANDLE WINAPI CreateMailslotW(LPCWSTR lpName, DWORD nMaxMessageSize, DWORD lReadTimeout,
    LPSECURITY_ATTRIBUTES lpSecurityAttributes);
BOOL WINAPI GetMailslotInfo(HANDLE hMailslot, LPDWORD lpMaxMessageSize, LPDWORD lpNextSize,
    LPDWORD lpMessageCount, LPDWORD lpReadTimeout);
BOOL WINAPI SetMailslotInfo(HANDLE hMailslot, DWORD lReadTimeout);

#ifdef __cplusplus
}
#endif

#ifdef UNICODE
#define CreateMailslot CreateMailslotW
#else
#define CreateMailslot CreateMailslotA
#endif

#endif
