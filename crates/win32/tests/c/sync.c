/* Mutexes, semaphores, events and the wait functions, with the codes of spec section 4. */
#include <pthread.h>
#include <string.h>
#include "check.h"

static HANDLE shared_mutex;

static void *take_and_release(void *arg)
{
    (void)arg;
    /* Another thread: not the owner. */
    SetLastError(0);
    if (ReleaseMutex(shared_mutex) || GetLastError() != ERROR_NOT_OWNER)
        return (void *)1;
    /* Waits until main releases it, then owns it. */
    if (WaitForSingleObject(shared_mutex, 10000) != WAIT_OBJECT_0)
        return (void *)2;
    if (!ReleaseMutex(shared_mutex))
        return (void *)3;
    return NULL;
}

int main(void)
{
    char name[64], other[64];
    HANDLE m, m2, s, s2, e, e2, handles[3];
    LONG prev;
    pthread_t t;
    void *ret;
    DWORD start;

    unique_name(name, sizeof name, "Local\\pipework-c-sync");
    unique_name(other, sizeof other, "pipework-c-sync-missing");

    /* Mutex: recursive, released by its owner only. */
    m = CreateMutexA(NULL, TRUE, name);
    CHECK(m != NULL && GetLastError() == ERROR_SUCCESS);
    CHECK(WaitForSingleObject(m, 0) == WAIT_OBJECT_0);
    CHECK(ReleaseMutex(m));
    shared_mutex = m;
    CHECK(pthread_create(&t, NULL, take_and_release, NULL) == 0);
    CHECK(ReleaseMutex(m));
    CHECK(pthread_join(t, &ret) == 0 && ret == NULL);
    CHECK_ERROR(!ReleaseMutex(m), ERROR_NOT_OWNER);

    /* Same name, same kind: the existing object and ERROR_ALREADY_EXISTS. */
    m2 = CreateMutexA(NULL, FALSE, name);
    CHECK(m2 != NULL && GetLastError() == ERROR_ALREADY_EXISTS);
    CHECK(CloseHandle(m2));
    m2 = OpenMutexA(SYNCHRONIZE, FALSE, name);
    CHECK(m2 != NULL);
    CHECK(WaitForSingleObject(m2, 0) == WAIT_OBJECT_0);
    CHECK(ReleaseMutex(m));
    CHECK(CloseHandle(m2));

    /* Same name, another kind: ERROR_INVALID_HANDLE, for create and open. */
    CHECK_ERROR(CreateEventA(NULL, FALSE, FALSE, name) == NULL, ERROR_INVALID_HANDLE);
    CHECK_ERROR(OpenSemaphoreA(SYNCHRONIZE, FALSE, name) == NULL, ERROR_INVALID_HANDLE);
    /* A missing name: ERROR_FILE_NOT_FOUND. */
    CHECK_ERROR(OpenMutexA(SYNCHRONIZE, FALSE, other) == NULL, ERROR_FILE_NOT_FOUND);
    CHECK_ERROR(OpenEventA(SYNCHRONIZE, FALSE, other) == NULL, ERROR_FILE_NOT_FOUND);
    CHECK(CloseHandle(m));

    /* Wide names reach the same objects. */
    {
        WCHAR wname[64];
        size_t i;
        for (i = 0; name[i]; i++)
            wname[i] = (WCHAR)name[i];
        wname[i] = 0;
        e = CreateEventW(NULL, TRUE, TRUE, wname);
        CHECK(e != NULL && GetLastError() == ERROR_SUCCESS);
        e2 = OpenEventA(EVENT_ALL_ACCESS, FALSE, name);
        CHECK(e2 != NULL);
        CHECK(WaitForSingleObject(e2, 0) == WAIT_OBJECT_0);
        CHECK(CloseHandle(e2));
        CHECK(CloseHandle(e));
    }

    /* Semaphore: the count, its maximum, ERROR_TOO_MANY_POSTS leaving it unchanged. */
    s = CreateSemaphoreA(NULL, 1, 2, NULL);
    CHECK(s != NULL);
    CHECK(ReleaseSemaphore(s, 1, &prev) && prev == 1);
    CHECK_ERROR(!ReleaseSemaphore(s, 1, &prev), ERROR_TOO_MANY_POSTS);
    CHECK(WaitForSingleObject(s, 0) == WAIT_OBJECT_0);
    CHECK(WaitForSingleObject(s, 0) == WAIT_OBJECT_0);
    CHECK(WaitForSingleObject(s, 0) == WAIT_TIMEOUT);
    CHECK_ERROR(!ReleaseSemaphore(s, 0, NULL), ERROR_INVALID_PARAMETER);
    CHECK_ERROR(CreateSemaphoreA(NULL, 3, 2, NULL) == NULL, ERROR_INVALID_PARAMETER);
    CHECK_ERROR(CreateSemaphoreA(NULL, 0, 0, NULL) == NULL, ERROR_INVALID_PARAMETER);
    CHECK_ERROR(!ReleaseSemaphore(NULL, 1, NULL), ERROR_INVALID_HANDLE);
    s2 = CreateMutexA(NULL, FALSE, NULL);
    CHECK_ERROR(!ReleaseSemaphore(s2, 1, NULL), ERROR_INVALID_HANDLE);
    CHECK_ERROR(!SetEvent(s2), ERROR_INVALID_HANDLE);

    /* Events: manual reset stays signaled; auto reset releases one waiter. */
    e = CreateEventA(NULL, TRUE, FALSE, NULL);
    e2 = CreateEventA(NULL, FALSE, FALSE, NULL);
    CHECK(e && e2);
    CHECK(WaitForSingleObject(e, 0) == WAIT_TIMEOUT);
    CHECK(SetEvent(e) && SetEvent(e2));
    CHECK(WaitForSingleObject(e, 0) == WAIT_OBJECT_0);
    CHECK(WaitForSingleObject(e, 0) == WAIT_OBJECT_0);
    CHECK(WaitForSingleObject(e2, 0) == WAIT_OBJECT_0);
    CHECK(WaitForSingleObject(e2, 0) == WAIT_TIMEOUT);
    CHECK(ResetEvent(e));
    CHECK(WaitForSingleObject(e, 0) == WAIT_TIMEOUT);
    CHECK(PulseEvent(e));
    CHECK(WaitForSingleObject(e, 0) == WAIT_TIMEOUT);

    /* WaitForMultipleObjects: the lowest signaled index; wait-all changes nothing until all. */
    handles[0] = e;
    handles[1] = e2;
    handles[2] = s;
    CHECK(WaitForMultipleObjects(3, handles, FALSE, 0) == WAIT_TIMEOUT);
    CHECK(ReleaseSemaphore(s, 1, NULL));
    CHECK(SetEvent(e2));
    CHECK(WaitForMultipleObjects(3, handles, FALSE, 0) == WAIT_OBJECT_0 + 1);
    CHECK(WaitForMultipleObjects(3, handles, FALSE, 0) == WAIT_OBJECT_0 + 2);
    CHECK(ReleaseSemaphore(s, 1, NULL));
    CHECK(SetEvent(e2));
    CHECK(WaitForMultipleObjects(3, handles, TRUE, 0) == WAIT_TIMEOUT);
    CHECK(WaitForSingleObject(e2, 0) == WAIT_OBJECT_0); /* untouched by the failed wait-all */
    CHECK(SetEvent(e2) && SetEvent(e));
    CHECK(WaitForMultipleObjects(3, handles, TRUE, 0) == WAIT_OBJECT_0);
    CHECK(WaitForSingleObject(s, 0) == WAIT_TIMEOUT);
    CHECK(WaitForSingleObject(e2, 0) == WAIT_TIMEOUT);
    CHECK(WaitForSingleObject(e, 0) == WAIT_OBJECT_0); /* manual reset */
    CHECK_ERROR(WaitForMultipleObjects(0, handles, FALSE, 0) == WAIT_FAILED, ERROR_INVALID_PARAMETER);
    CHECK_ERROR(WaitForMultipleObjects(65, handles, FALSE, 0) == WAIT_FAILED, ERROR_INVALID_PARAMETER);
    handles[2] = (HANDLE)(ULONG_PTR)0x7777770;
    CHECK_ERROR(WaitForMultipleObjects(3, handles, FALSE, 0) == WAIT_FAILED, ERROR_INVALID_HANDLE);

    /* A timed wait that runs out, and the tick count moving meanwhile. */
    start = GetTickCount();
    CHECK(WaitForSingleObject(e2, 30) == WAIT_TIMEOUT);
    Sleep(1);
    CHECK(GetTickCount() - start >= 30);
    CHECK(GetTickCount64() >= GetTickCount());

    CHECK(CloseHandle(e) && CloseHandle(e2) && CloseHandle(s) && CloseHandle(s2));
    return 0;
}
