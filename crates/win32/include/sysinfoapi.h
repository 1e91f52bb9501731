/* sysinfoapi.h: the tick count. */
#ifndef PIPEWORK_SYSINFOAPI_H
#define PIPEWORK_SYSINFOAPI_H

#include <minwindef.h>

#ifdef __cplusplus
extern "C" {
#endif

DWORD WINAPI GetTickCount(void);
ULONGLONG WINAPI GetTickCount64(void);

#ifdef __cplusplus
}
#endif
#endif
