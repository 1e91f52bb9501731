/* windows.h: everything pipework_win32 declares (the IPC part of the Win32 API). */
#ifndef PIPEWORK_WINDOWS_H
#define PIPEWORK_WINDOWS_H

#include <windef.h>
#include <winbase.h>
#include <winuser.h>
#include <ddeml.h>

#endif
