/* File mappings: CreateFileMapping, OpenFileMapping, MapViewOfFile(Ex), UnmapViewOfFile,
 * FlushViewOfFile, with the codes of spec section 4. */
#include <string.h>
#include "check.h"

int main(void)
{
    char name[64], missing[64];
    HANDLE m, m2, ev, f, fm;
    char *v, *v2, *ro;
    DWORD n;

    unique_name(name, sizeof name, "Local\\pipework-c-map");
    unique_name(missing, sizeof missing, "pipework-c-map-missing");

    /* Backed by memory: the size is required. */
    CHECK_ERROR(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 0, name)
                == NULL, ERROR_INVALID_PARAMETER);
    m = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 65536, name);
    CHECK(m != NULL && GetLastError() == ERROR_SUCCESS);
    /* The existing object, ERROR_ALREADY_EXISTS. */
    m2 = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 4096, name);
    CHECK(m2 != NULL && GetLastError() == ERROR_ALREADY_EXISTS);
    CHECK(CloseHandle(m2));
    /* One namespace with the sync objects: another kind's name is ERROR_INVALID_HANDLE. */
    CHECK_ERROR(CreateEventA(NULL, FALSE, FALSE, name) == NULL, ERROR_INVALID_HANDLE);
    ev = CreateEventA(NULL, FALSE, FALSE, missing);
    CHECK(ev != NULL);
    CHECK_ERROR(CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 4096, missing)
                == NULL, ERROR_INVALID_HANDLE);
    CHECK_ERROR(OpenFileMappingA(FILE_MAP_READ, FALSE, missing) == NULL, ERROR_INVALID_HANDLE);
    CHECK(CloseHandle(ev));
    CHECK_ERROR(OpenFileMappingA(FILE_MAP_READ, FALSE, missing) == NULL, ERROR_FILE_NOT_FOUND);

    /* Pages start zeroed; views of one object are coherent. */
    v = MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0, 0);
    CHECK(v != NULL);
    CHECK(v[0] == 0 && v[65535] == 0);
    m2 = OpenFileMappingA(FILE_MAP_ALL_ACCESS, FALSE, name);
    CHECK(m2 != NULL);
    v2 = MapViewOfFile(m2, FILE_MAP_WRITE, 0, 0, 4096);
    CHECK(v2 != NULL && v2 != v);
    strcpy(v2, "through the other view");
    CHECK(strcmp(v, "through the other view") == 0);
    ro = MapViewOfFile(m2, FILE_MAP_READ, 0, 0, 0);
    CHECK(ro != NULL && strcmp(ro, "through the other view") == 0);
    CHECK(FlushViewOfFile(v, 0));
    CHECK(FlushViewOfFile(v + 100, 10));
    CHECK(UnmapViewOfFile(ro));
    CHECK(UnmapViewOfFile(v2));
    CHECK(CloseHandle(m2));

    /* A read-only handle maps no writable view. */
    m2 = OpenFileMappingA(FILE_MAP_READ, FALSE, name);
    CHECK(m2 != NULL);
    CHECK_ERROR(MapViewOfFile(m2, FILE_MAP_WRITE, 0, 0, 0) == NULL, ERROR_ACCESS_DENIED);
    /* Copy-on-write: private pages. */
    v2 = MapViewOfFile(m2, FILE_MAP_COPY, 0, 0, 0);
    CHECK(v2 != NULL);
    v2[0] = 'T';
    CHECK(v[0] == 't');
    CHECK(UnmapViewOfFile(v2));
    CHECK(CloseHandle(m2));

    /* A base address of our choosing is not offered; bad addresses are refused. */
    CHECK_ERROR(MapViewOfFileEx(m, FILE_MAP_READ, 0, 0, 0, (void *)0x10000000) == NULL,
                ERROR_INVALID_ADDRESS);
    CHECK_ERROR(!UnmapViewOfFile(v + 1), ERROR_INVALID_ADDRESS);
    CHECK_ERROR(!FlushViewOfFile((void *)16, 0), ERROR_INVALID_ADDRESS);
    CHECK_ERROR(MapViewOfFile(NULL, FILE_MAP_READ, 0, 0, 0) == NULL, ERROR_INVALID_HANDLE);

    /* The object outlives its handles while a view remains; the name does not. */
    CHECK(CloseHandle(m));
    CHECK(strcmp(v, "through the other view") == 0);
    CHECK_ERROR(OpenFileMappingA(FILE_MAP_READ, FALSE, name) == NULL, ERROR_FILE_NOT_FOUND);
    CHECK(UnmapViewOfFile(v));

    /* Unnamed, and backed by a file (which grows to the size asked). */
    m = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 100, NULL);
    CHECK(m != NULL);
    CHECK(CloseHandle(m));
    f = CreateFileA("mapped-file.bin", GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                    FILE_ATTRIBUTE_NORMAL, NULL);
    CHECK(f != INVALID_HANDLE_VALUE);
    CHECK(WriteFile(f, "file", 4, &n, NULL) && n == 4);
    fm = CreateFileMappingA(f, NULL, PAGE_READWRITE, 0, 8192, NULL);
    CHECK(fm != NULL);
    v = MapViewOfFile(fm, FILE_MAP_WRITE, 0, 0, 0);
    CHECK(v != NULL && memcmp(v, "file", 4) == 0 && v[8191] == 0);
    v[4] = '!';
    CHECK(FlushViewOfFile(v, 0));
    CHECK(UnmapViewOfFile(v));
    CHECK(CloseHandle(fm) && CloseHandle(f));
    CHECK(DeleteFileA("mapped-file.bin"));
    CHECK_ERROR(!DeleteFileA("mapped-file.bin"), ERROR_FILE_NOT_FOUND);
    return 0;
}
