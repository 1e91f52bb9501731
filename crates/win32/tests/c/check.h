/* check.h: assertions for the C tests. A failed CHECK prints the line, the expression and the
 * thread's last error, and ends the program with status 1. */
#ifndef PIPEWORK_TEST_CHECK_H
#define PIPEWORK_TEST_CHECK_H

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <windows.h>

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (GetLastError() = %u)\n",         \
                    __FILE__, __LINE__, #cond, (unsigned)GetLastError());             \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

/* A call that must fail with `code`: FALSE / NULL / INVALID_HANDLE_VALUE is checked by the
 * caller's expression, the code here. */
#define CHECK_ERROR(cond, code)                                                       \
    do {                                                                              \
        SetLastError(0xdeadbeef);                                                     \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK_ERROR(%s) did not fail as expected "        \
                    "(GetLastError() = %u)\n", __FILE__, __LINE__, #cond,             \
                    (unsigned)GetLastError());                                        \
            exit(1);                                                                  \
        }                                                                             \
        if (GetLastError() != (DWORD)(code)) {                                        \
            fprintf(stderr, "%s:%d: %s: GetLastError() = %u, expected %s (%u)\n",      \
                    __FILE__, __LINE__, #cond, (unsigned)GetLastError(), #code,       \
                    (unsigned)(code));                                                \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

/* A name unique to this run: prefix + process id + the clock's nanoseconds. Process ids come
 * round again (pid_max may be 32768), and some objects outlive their run (a headless
 * clipboard stays in the runtime directory): the id alone could meet an earlier run's. */
static inline void unique_name(char *out, size_t size, const char *prefix)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(out, size, "%s-%u-%lx", prefix, (unsigned)GetCurrentProcessId(),
             (unsigned long)now.tv_nsec);
}

#endif
