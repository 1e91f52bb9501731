/* windef.h: the basic Windows definitions (this library has no GDI types beyond these). */
#ifndef PIPEWORK_WINDEF_H
#define PIPEWORK_WINDEF_H

#include <minwindef.h>

#endif
