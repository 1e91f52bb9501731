/* errhandlingapi.h: the calling thread's last error. */
#ifndef PIPEWORK_ERRHANDLINGAPI_H
#define PIPEWORK_ERRHANDLINGAPI_H

#include <minwindef.h>

#ifdef __cplusplus
extern "C" {
#endif

DWORD WINAPI GetLastError(void);
void WINAPI SetLastError(DWORD dwErrCode);

#ifdef __cplusplus
}
#endif
#endif
