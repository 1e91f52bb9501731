/* PIPEWORK_WIN32_HANDLES is not trusted: a process whose environment names descriptors it holds
 * for other things (a file of its own, a pipe end under the wrong kind, a close-on-exec
 * descriptor, a handle value far out of range, a descriptor twice, garbage) takes none of
 * them, closes none and changes none, and works on. Only an entry that names an inherited
 * descriptor by its true identity and kind becomes a handle. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

static void Identity(int fd, unsigned long *dev, unsigned long *ino)
{
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    *dev = (unsigned long)st.st_dev;
    *ino = (unsigned long)st.st_ino;
}

static void Refused(ULONG_PTR h)
{
    DWORD flags;
    CHECK_ERROR(!GetHandleInformation((HANDLE)h, &flags), ERROR_INVALID_HANDLE);
}

int main(void)
{
    /* Descriptors this process holds for its own purposes, inheritable as a parent's would
     * be, and one close-on-exec. */
    int own = open("/dev/null", O_RDONLY);
    int p[2];
    CHECK(own >= 3 && pipe(p) == 0);
    int cloexec = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int spare[2];
    CHECK(cloexec >= 3 && pipe(spare) == 0);
    unsigned long odev, oino, wdev, wino, rdev, rino, cdev, cino;
    Identity(own, &odev, &oino);
    Identity(p[1], &wdev, &wino);
    Identity(spare[0], &rdev, &rino);
    Identity(cloexec, &cdev, &cino);

    char spec[1024];
    snprintf(spec, sizeof spec,
             "4:f:%d:0:0;"        /* its own file, identity not matching */
             "8:r:%d:%lx:%lx;"    /* a pipe's write end claimed as a read end */
             "fffffffffc:f:%d:%lx:%lx;" /* a handle value out of range */
             "c:e:%d:%lx:%lx;"    /* a file claimed as an event */
             "10:f:99999:1:1;"    /* no such descriptor */
             ";garbage;::;-4:f:5:1:1;1c:f:-5:0:0;"
             "20:f:%d:%lx:%lx:extra;" /* a field too many */
             "24:f:%d:%lx:%lx;"   /* close-on-exec: not inherited */
             "14:r:%d:%lx:%lx;"   /* a read end, as its parent would name it */
             "18:r:%d:%lx:%lx;"   /* ... named twice */
             "28:rr:%d:%lx:%lx;", /* a kind of two letters */
             own, p[1], wdev, wino, own, odev, oino, own, odev, oino, own, odev, oino, cloexec,
             cdev, cino, spare[0], rdev, rino, spare[0], rdev, rino, own, odev, oino);
    CHECK(setenv("PIPEWORK_WIN32_HANDLES", spec, 1) == 0);

    /* The first call builds the handle table from the variable. */
    Refused(0x4);
    Refused(0x8);
    Refused(0xc);
    Refused(0x10);
    Refused(0x1c);
    Refused(0x20);
    Refused(0x24);
    Refused(0x18);
    Refused(0x28);
    Refused((ULONG_PTR)0xfffffffffcULL);
    DWORD flags = 0;
    CHECK(GetHandleInformation((HANDLE)0x14, &flags) && flags == HANDLE_FLAG_INHERIT);
    CHECK(getenv("PIPEWORK_WIN32_HANDLES") == NULL);

    /* Nothing of its own was closed or changed. */
    CHECK(fcntl(own, F_GETFD) == 0);
    CHECK(fcntl(p[0], F_GETFD) == 0 && fcntl(p[1], F_GETFD) == 0);
    CHECK(fcntl(cloexec, F_GETFD) == FD_CLOEXEC);
    CHECK(write(p[1], "x", 1) == 1);
    char c = 0;
    CHECK(read(p[0], &c, 1) == 1 && c == 'x');
    /* The adopted read end works as a handle: its write end is still this process's. */
    CHECK(write(spare[1], "y", 1) == 1);
    DWORD n = 0;
    CHECK(ReadFile((HANDLE)0x14, &c, 1, &n, NULL) && n == 1 && c == 'y');

    /* And the table goes on as usual. */
    HANDLE r, w;
    CHECK(CreatePipe(&r, &w, NULL, 0));
    CHECK(r != (HANDLE)0x14 && w != (HANDLE)0x14);
    CHECK(WriteFile(w, "z", 1, &n, NULL) && n == 1);
    CHECK(ReadFile(r, &c, 1, &n, NULL) && c == 'z');
    CHECK(CloseHandle(r) && CloseHandle(w) && CloseHandle((HANDLE)0x14));
    puts("inherit_hostile ok");
    return 0;
}
