/* ioapiset.h: the outcome of overlapped operations. */
#ifndef PIPEWORK_IOAPISET_H
#define PIPEWORK_IOAPISET_H

#include <minwinbase.h>

#ifdef __cplusplus
extern "C" {
#endif

BOOL WINAPI GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped,
    LPDWORD lpNumberOfBytesTransferred, BOOL bWait);
BOOL WINAPI CancelIo(HANDLE hFile);
BOOL WINAPI CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped);

#ifdef __cplusplus
}
#endif
#endif
