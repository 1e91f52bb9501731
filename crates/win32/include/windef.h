/* windef.h: the basic Windows definitions (this library has no GDI types beyond these). */
#ifndef PIPEWORK_WINDEF_H
#define PIPEWORK_WINDEF_H

#include <minwindef.h>

typedef struct HWND__ *HWND;
typedef HANDLE HICON;
typedef HANDLE HCURSOR;
typedef HANDLE HBRUSH;
typedef HANDLE HMENU;
typedef DWORD_PTR *PDWORD_PTR;

typedef struct tagPOINT {
    LONG x;
    LONG y;
} POINT, *PPOINT, *LPPOINT;

#endif
