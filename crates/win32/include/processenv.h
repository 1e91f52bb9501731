/* processenv.h: the standard handles. */
#ifndef PIPEWORK_PROCESSENV_H
#define PIPEWORK_PROCESSENV_H

#include <minwindef.h>

#define STD_INPUT_HANDLE ((DWORD)-10)
#define STD_OUTPUT_HANDLE ((DWORD)-11)
#define STD_ERROR_HANDLE ((DWORD)-12)

#ifdef __cplusplus
extern "C" {
#endif

HANDLE WINAPI GetStdHandle(DWORD nStdHandle);
BOOL WINAPI SetStdHandle(DWORD nStdHandle, HANDLE hHandle);

#ifdef __cplusplus
}
#endif
#endif
