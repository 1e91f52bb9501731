/* DDEML across two processes: this program is the client; it starts itself as the server
 * ("server" argument), which registers a service with DdeNameService and answers through its
 * callback (XTYP_CONNECT, CONNECT_CONFIRM, REQUEST, POKE, EXECUTE, ADVSTART, ADVREQ, ADVSTOP,
 * DISCONNECT) in its GetMessage loop. The client runs each transaction type, an advise loop
 * (hot and warm links), an asynchronous request, both sides' DdeDisconnect, and checks the
 * DMLERR_* codes of what fails. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <windows.h>
#include "check.h"

static char Service[64];
static DWORD Inst;

/* ---- the server ---- */

static HSZ HszTopic, HszSystem;
static char Cell1[64] = "1";
static char Cell2[64] = "2";
static int Disconnects, Confirms, AdvStarts, AdvStops;
static volatile int Quit;
static HANDLE Go;

static HDDEDATA Text(HSZ item, const char *s)
{
    return DdeCreateDataHandle(Inst, (LPBYTE)s, (DWORD)strlen(s) + 1, 0, item, CF_TEXT, 0);
}

static const char *ItemName(HSZ hsz, char *buf, DWORD size)
{
    DdeQueryStringA(Inst, hsz, buf, size, CP_WINANSI);
    return buf;
}

static HDDEDATA CALLBACK ServerCallback(UINT type, UINT fmt, HCONV conv, HSZ hsz1, HSZ hsz2,
                                        HDDEDATA data, ULONG_PTR d1, ULONG_PTR d2)
{
    char item[64], cmd[64];
    (void)d1;
    (void)d2;
    switch (type) {
    case XTYP_CONNECT:
        /* hsz1 the topic, hsz2 the service. */
        return (HDDEDATA)(ULONG_PTR)(DdeCmpStringHandles(hsz1, HszTopic) == 0);
    case XTYP_CONNECT_CONFIRM:
        CHECK(conv != NULL);
        Confirms++;
        return NULL;
    case XTYP_DISCONNECT:
        Disconnects++;
        if (Quit)
            PostQuitMessage(0);
        return NULL;
    case XTYP_REQUEST:
    case XTYP_ADVREQ:
        if (fmt != CF_TEXT)
            return NULL;
        ItemName(hsz2, item, sizeof item);
        if (strcasecmp(item, "R1C1") == 0)
            return Text(hsz2, Cell1);
        if (strcasecmp(item, "R1C2") == 0)
            return Text(hsz2, Cell2);
        if (strcasecmp(item, "Disconnects") == 0) {
            char n[16];
            snprintf(n, sizeof n, "%d", Disconnects);
            return Text(hsz2, n);
        }
        return NULL;
    case XTYP_POKE:
        ItemName(hsz2, item, sizeof item);
        if (strcasecmp(item, "R1C1") != 0 || fmt != CF_TEXT)
            return (HDDEDATA)DDE_FNOTPROCESSED;
        CHECK(DdeGetData(data, NULL, 0, 0) <= sizeof Cell1);
        DdeGetData(data, (LPBYTE)Cell1, sizeof Cell1, 0);
        return (HDDEDATA)DDE_FACK;
    case XTYP_EXECUTE: {
        DWORD n = DdeGetData(data, (LPBYTE)cmd, sizeof cmd - 1, 0);
        cmd[n] = 0;
        if (strcmp(cmd, "[busy]") == 0)
            return (HDDEDATA)DDE_FBUSY;
        if (strcmp(cmd, "[ok]") == 0)
            return (HDDEDATA)DDE_FACK;
        if (strcmp(cmd, "[wait]") == 0) {
            /* Holds the transaction until the client, timed out, says go. */
            CHECK(WaitForSingleObject(Go, 30000) == WAIT_OBJECT_0);
            return (HDDEDATA)DDE_FACK;
        }
        if (strncmp(cmd, "[set ", 5) == 0) {
            char *end = strchr(cmd, ']');
            CHECK(end != NULL);
            *end = 0;
            snprintf(Cell1, sizeof Cell1, "%s", cmd + 5);
            snprintf(Cell2, sizeof Cell2, "%s!", cmd + 5);
            HSZ r1 = DdeCreateStringHandleA(Inst, "R1C1", CP_WINANSI);
            HSZ r2 = DdeCreateStringHandleA(Inst, "R1C2", CP_WINANSI);
            CHECK(DdePostAdvise(Inst, HszTopic, r1));
            CHECK(DdePostAdvise(Inst, HszTopic, r2));
            DdeFreeStringHandle(Inst, r1);
            DdeFreeStringHandle(Inst, r2);
            return (HDDEDATA)DDE_FACK;
        }
        if (strcmp(cmd, "[bye]") == 0) {
            /* The server ends this conversation itself. */
            CHECK(DdeDisconnect(conv));
            return (HDDEDATA)DDE_FACK;
        }
        if (strcmp(cmd, "[quit]") == 0) {
            /* Ends once the client hangs up. */
            Quit = 1;
            return (HDDEDATA)DDE_FACK;
        }
        return (HDDEDATA)DDE_FNOTPROCESSED;
    }
    case XTYP_ADVSTART:
        ItemName(hsz2, item, sizeof item);
        AdvStarts++;
        return (HDDEDATA)(ULONG_PTR)(strcasecmp(item, "R1C1") == 0 ||
                                     strcasecmp(item, "R1C2") == 0);
    case XTYP_ADVSTOP:
        AdvStops++;
        return NULL;
    }
    return NULL;
}

static int ServerMain(const char *ready_name, const char *go_name)
{
    CHECK(DdeInitializeA(&Inst, ServerCallback, CBF_SKIP_REGISTRATIONS, 0) == DMLERR_NO_ERROR);
    HszTopic = DdeCreateStringHandleA(Inst, "Sheet1", CP_WINANSI);
    HszSystem = DdeCreateStringHandleA(Inst, SZDDESYS_TOPIC, CP_WINANSI);
    HSZ service = DdeCreateStringHandleA(Inst, Service, CP_WINANSI);
    CHECK(HszTopic && HszSystem && service);
    CHECK(DdeNameService(Inst, service, NULL, DNS_REGISTER) != NULL);
    Go = OpenEventA(SYNCHRONIZE | EVENT_MODIFY_STATE, FALSE, go_name);
    HANDLE ready = OpenEventA(EVENT_MODIFY_STATE, FALSE, ready_name);
    CHECK(Go != NULL && ready != NULL);
    CHECK(SetEvent(ready));

    MSG msg;
    BOOL r;
    while ((r = GetMessageA(&msg, NULL, 0, 0)) != 0) {
        CHECK(r != -1);
        DispatchMessageA(&msg);
    }
    CHECK(Confirms >= 4);
    CHECK(AdvStarts >= 2 && AdvStops >= 1);
    CHECK(DdeNameService(Inst, service, NULL, DNS_UNREGISTER) != NULL);
    CHECK(DdeFreeStringHandle(Inst, service));
    CHECK(DdeUninitialize(Inst));
    return 0;
}

/* ---- the client ---- */

static char HotData[64];
static int HotCount, WarmCount;
static volatile int Advised, XactDone, Hangups;
static HCONV HungUp;
static DWORD Completed;
static char CompletedData[64];
static HCONV AdvConv;

static HDDEDATA CALLBACK ClientCallback(UINT type, UINT fmt, HCONV conv, HSZ hsz1, HSZ hsz2,
                                        HDDEDATA data, ULONG_PTR d1, ULONG_PTR d2)
{
    char item[64];
    (void)hsz1;
    (void)d2;
    switch (type) {
    case XTYP_ADVDATA:
        CHECK(conv == AdvConv);
        CHECK(fmt == CF_TEXT);
        ItemName(hsz2, item, sizeof item);
        if (strcasecmp(item, "R1C1") == 0) {
            CHECK(data != NULL);
            DdeGetData(data, (LPBYTE)HotData, sizeof HotData, 0);
            HotCount++;
        } else {
            /* The warm link: a notice, no data. */
            CHECK(strcasecmp(item, "R1C2") == 0);
            CHECK(data == NULL);
            WarmCount++;
        }
        if (HotCount >= 1 && WarmCount >= 1)
            Advised = 1;
        return (HDDEDATA)DDE_FACK;
    case XTYP_DISCONNECT:
        /* The server ended a conversation. */
        HungUp = conv;
        Hangups++;
        return NULL;
    case XTYP_XACT_COMPLETE:
        Completed = (DWORD)d1;
        if (data != NULL)
            DdeGetData(data, (LPBYTE)CompletedData, sizeof CompletedData, 0);
        XactDone = 1;
        return NULL;
    }
    return NULL;
}

/* The message loop, until the callbacks have counted `want` in `counter`. */
static void PumpUntil(volatile int *counter, int want)
{
    MSG msg;
    while (*counter < want) {
        BOOL r = GetMessageA(&msg, NULL, 0, 0);
        CHECK(r != -1);
        if (r)
            DispatchMessageA(&msg);
    }
}

static HDDEDATA Xact(HCONV conv, const char *item, UINT type, const char *data, DWORD timeout,
                     DWORD *result)
{
    HSZ hsz = item ? DdeCreateStringHandleA(Inst, item, CP_WINANSI) : NULL;
    HDDEDATA r = DdeClientTransaction((LPBYTE)data, data ? (DWORD)strlen(data) + 1 : 0, conv,
                                      hsz, CF_TEXT, type, timeout, result);
    if (hsz)
        DdeFreeStringHandle(Inst, hsz);
    return r;
}

static void RequestIs(HCONV conv, const char *item, const char *want)
{
    DWORD status = 0;
    HDDEDATA h = Xact(conv, item, XTYP_REQUEST, NULL, 10000, &status);
    CHECK(h != NULL);
    CHECK(status & DDE_FACK);
    char buf[64] = {0};
    DWORD size = 0;
    LPBYTE p = DdeAccessData(h, &size);
    CHECK(p != NULL && size == strlen(want) + 1);
    CHECK(DdeGetData(h, (LPBYTE)buf, sizeof buf, 0) == size);
    if (strcmp(buf, want) != 0) {
        fprintf(stderr, "%s is \"%s\", expected \"%s\"\n", item, buf, want);
        exit(1);
    }
    CHECK(DdeUnaccessData(h));
    CHECK(DdeFreeDataHandle(h));
}

static void ExpectFail(HDDEDATA r, UINT code)
{
    CHECK(r == NULL);
    UINT got = DdeGetLastError(Inst);
    if (got != code) {
        fprintf(stderr, "DdeGetLastError() = 0x%x, expected 0x%x\n", got, code);
        exit(1);
    }
}

static void Local(void)
{
    DWORD inst = 0, bogus = 12345;
    /* DdeInitialize's arguments. */
    CHECK(DdeInitializeA(NULL, ClientCallback, 0, 0) == DMLERR_INVALIDPARAMETER);
    CHECK(DdeInitializeA(&inst, NULL, 0, 0) == DMLERR_INVALIDPARAMETER);
    CHECK(DdeInitializeA(&bogus, ClientCallback, 0, 0) == DMLERR_INVALIDPARAMETER);
    CHECK(DdeGetLastError(999999) == DMLERR_DLL_NOT_INITIALIZED);

    /* A client-only instance registers no service. */
    CHECK(DdeInitializeW(&inst, ClientCallback, APPCMD_CLIENTONLY, 0) == DMLERR_NO_ERROR);
    CHECK(inst != 0);
    HSZ s = DdeCreateStringHandleW(inst, u"Whatever", CP_WINUNICODE);
    CHECK(s != NULL);
    CHECK(DdeNameService(inst, s, NULL, DNS_REGISTER) == NULL);
    CHECK(DdeGetLastError(inst) == DMLERR_DLL_USAGE);
    CHECK(DdeGetLastError(inst) == DMLERR_NO_ERROR);

    /* String handles: one per string whatever its case, counted. */
    HSZ a = DdeCreateStringHandleA(inst, "Hello", CP_WINANSI);
    HSZ b = DdeCreateStringHandleA(inst, "HELLO", CP_WINANSI);
    HSZ c = DdeCreateStringHandleA(inst, "World", CP_WINANSI);
    CHECK(a && b && c);
    CHECK(DdeCmpStringHandles(a, b) == 0);
    CHECK(DdeCmpStringHandles(a, c) != 0);
    CHECK(DdeCmpStringHandles(a, c) == -DdeCmpStringHandles(c, a));
    char buf[16];
    CHECK(DdeQueryStringA(inst, b, NULL, 0, CP_WINANSI) == 5);
    CHECK(DdeQueryStringA(inst, b, buf, sizeof buf, CP_WINANSI) == 5 && strcmp(buf, "Hello") == 0);
    CHECK(DdeQueryStringA(inst, b, buf, 3, CP_WINANSI) == 2 && strcmp(buf, "He") == 0);
    WCHAR wbuf[16];
    CHECK(DdeQueryStringW(inst, c, wbuf, 16, CP_WINUNICODE) == 5 && wbuf[0] == u'W' &&
          wbuf[5] == 0);
    CHECK(DdeKeepStringHandle(inst, c));
    CHECK(DdeFreeStringHandle(inst, c));
    CHECK(DdeFreeStringHandle(inst, c));
    CHECK(DdeQueryStringA(inst, c, buf, sizeof buf, CP_WINANSI) == 0);
    CHECK(!DdeFreeStringHandle(inst, c));
    CHECK(DdeFreeStringHandle(inst, b));
    CHECK(DdeQueryStringA(inst, a, buf, sizeof buf, CP_WINANSI) == 5);
    CHECK(DdeFreeStringHandle(inst, a));
    CHECK(DdeCreateStringHandleA(inst, NULL, CP_WINANSI) == NULL);
    CHECK(DdeGetLastError(inst) == DMLERR_INVALIDPARAMETER);

    /* Data handles. */
    HDDEDATA d = DdeCreateDataHandle(inst, (LPBYTE) "abc", 4, 2, NULL, CF_TEXT, 0);
    CHECK(d != NULL);
    CHECK(DdeGetData(d, NULL, 0, 0) == 6);
    DWORD size = 0;
    LPBYTE p = DdeAccessData(d, &size);
    CHECK(p != NULL && size == 6 && p[0] == 0 && p[1] == 0 && strcmp((char *)p + 2, "abc") == 0);
    CHECK(DdeUnaccessData(d));
    CHECK(DdeAddData(d, (LPBYTE) "xyz", 4, 5) == d);
    CHECK(DdeGetData(d, (LPBYTE)buf, sizeof buf, 2) == 7 && strcmp(buf, "abcxyz") == 0);
    CHECK(DdeGetData(d, (LPBYTE)buf, 2, 2) == 2 && buf[0] == 'a' && buf[1] == 'b');
    CHECK(DdeFreeDataHandle(d));
    CHECK(!DdeFreeDataHandle(d));

    /* Nobody serves this. */
    HSZ none = DdeCreateStringHandleA(inst, "NoSuchServiceAnywhere", CP_WINANSI);
    CHECK(DdeConnect(inst, none, NULL, NULL) == NULL);
    CHECK(DdeGetLastError(inst) == DMLERR_NO_CONV_ESTABLISHED);
    DdeFreeStringHandle(inst, none);
    DdeFreeStringHandle(inst, s);
    CHECK(DdeUninitialize(inst));
    CHECK(!DdeUninitialize(inst));
    CHECK(DdeGetLastError(inst) == DMLERR_DLL_NOT_INITIALIZED);
}

int main(int argc, char *argv[])
{
    snprintf(Service, sizeof Service, "DdeTest-%u",
             argc > 4 ? (unsigned)atoi(argv[4]) : (unsigned)GetCurrentProcessId());
    if (argc > 4 && strcmp(argv[1], "server") == 0)
        return ServerMain(argv[2], argv[3]);

    Local();

    char ready_name[64], go_name[64];
    unique_name(ready_name, sizeof ready_name, "DdeTestReady");
    unique_name(go_name, sizeof go_name, "DdeTestGo");
    HANDLE ready = CreateEventA(NULL, TRUE, FALSE, ready_name);
    HANDLE go = CreateEventA(NULL, TRUE, FALSE, go_name);
    CHECK(ready && go);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "\"%s\" server %s %s %u", argv[0], ready_name, go_name,
             (unsigned)GetCurrentProcessId());
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    CHECK(CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi));
    CHECK(WaitForSingleObject(ready, 30000) == WAIT_OBJECT_0);

    CHECK(DdeInitializeA(&Inst, ClientCallback, APPCMD_CLIENTONLY, 0) == DMLERR_NO_ERROR);
    char upper[64];
    snprintf(upper, sizeof upper, "%s", Service);
    for (char *u = upper; *u; u++)
        *u = (char)toupper((unsigned char)*u);
    HSZ service = DdeCreateStringHandleA(Inst, upper, CP_WINANSI);
    HSZ topic = DdeCreateStringHandleA(Inst, "sheet1", CP_WINANSI);
    HSZ refused = DdeCreateStringHandleA(Inst, "Sheet9", CP_WINANSI);

    /* XTYP_CONNECT says no to this topic. */
    CHECK(DdeConnect(Inst, service, refused, NULL) == NULL);
    CHECK(DdeGetLastError(Inst) == DMLERR_NO_CONV_ESTABLISHED);

    HCONV conv = DdeConnect(Inst, service, topic, NULL);
    CHECK(conv != NULL);
    AdvConv = conv;

    /* Request, poke, execute. */
    RequestIs(conv, "R1C1", "1");
    DWORD status = 0xdead;
    ExpectFail(Xact(conv, "Nope", XTYP_REQUEST, NULL, 10000, &status), DMLERR_NOTPROCESSED);
    CHECK(Xact(conv, "R1C1", XTYP_POKE, "77", 10000, &status) != NULL);
    CHECK(status & DDE_FACK);
    RequestIs(conv, "r1c1", "77");
    ExpectFail(Xact(conv, "R9C9", XTYP_POKE, "x", 10000, NULL), DMLERR_NOTPROCESSED);
    CHECK(Xact(conv, NULL, XTYP_EXECUTE, "[ok]", 10000, NULL) != NULL);
    ExpectFail(Xact(conv, NULL, XTYP_EXECUTE, "[busy]", 10000, &status), DMLERR_BUSY);
    CHECK(status & DDE_FBUSY);
    ExpectFail(Xact(conv, NULL, XTYP_EXECUTE, "[what]", 10000, NULL), DMLERR_NOTPROCESSED);
    /* Not a client transaction; a request names an item. */
    ExpectFail(Xact(conv, "R1C1", XTYP_CONNECT, NULL, 10000, NULL), DMLERR_INVALIDPARAMETER);
    ExpectFail(Xact(conv, NULL, XTYP_REQUEST, NULL, 10000, NULL), DMLERR_INVALIDPARAMETER);
    /* A data handle as pData (cbData -1). */
    HDDEDATA poke = DdeCreateDataHandle(Inst, (LPBYTE) "88", 3, 0, NULL, CF_TEXT, 0);
    HSZ r1c1 = DdeCreateStringHandleA(Inst, "R1C1", CP_WINANSI);
    CHECK(DdeClientTransaction((LPBYTE)poke, (DWORD)-1, conv, r1c1, CF_TEXT, XTYP_POKE, 10000,
                               NULL) != NULL);
    RequestIs(conv, "R1C1", "88");

    /* The server holds an execute past its timeout. */
    ExpectFail(Xact(conv, NULL, XTYP_EXECUTE, "[wait]", 300, NULL), DMLERR_EXECACKTIMEOUT);
    CHECK(SetEvent(go));

    /* An advise loop: a hot link on R1C1, a warm one on R1C2. */
    CHECK(Xact(conv, "R1C1", XTYP_ADVSTART, NULL, 10000, NULL) != NULL);
    CHECK(Xact(conv, "R1C2", XTYP_ADVSTART | XTYPF_NODATA, NULL, 10000, NULL) != NULL);
    ExpectFail(Xact(conv, "Other", XTYP_ADVSTART, NULL, 10000, NULL), DMLERR_NOTPROCESSED);
    CHECK(Xact(conv, NULL, XTYP_EXECUTE, "[set 5]", 10000, NULL) != NULL);
    PumpUntil(&Advised, 1);
    CHECK(HotCount >= 1 && WarmCount >= 1);
    CHECK(strcmp(HotData, "5") == 0);
    CHECK(Xact(conv, "R1C1", XTYP_ADVSTOP, NULL, 10000, NULL) != NULL);
    ExpectFail(Xact(conv, "R1C1", XTYP_ADVSTOP, NULL, 10000, NULL), DMLERR_NOTPROCESSED);

    /* Asynchronous: TRUE and an id at once, XTYP_XACT_COMPLETE later. */
    DWORD id = 0;
    CHECK(Xact(conv, "R1C2", XTYP_REQUEST, NULL, TIMEOUT_ASYNC, &id) != NULL);
    CHECK(id != 0);
    PumpUntil(&XactDone, 1);
    CHECK(Completed == id);
    CHECK(strcmp(CompletedData, "5!") == 0);

    /* Abandoned: no XTYP_XACT_COMPLETE, even once it has completed. */
    CHECK(!DdeAbandonTransaction(Inst, conv, 12345));
    CHECK(DdeGetLastError(Inst) == DMLERR_UNFOUND_QUEUE_ID);
    DWORD abandoned = 0, kept = 0;
    CHECK(Xact(conv, "R1C1", XTYP_REQUEST, NULL, TIMEOUT_ASYNC, &abandoned) != NULL);
    CHECK(DdeAbandonTransaction(Inst, conv, abandoned));
    CHECK(Xact(conv, "R1C2", XTYP_REQUEST, NULL, TIMEOUT_ASYNC, &kept) != NULL);
    CHECK(kept != abandoned);
    XactDone = 0;
    PumpUntil(&XactDone, 1);
    CHECK(Completed == kept);

    /* The client ends a conversation: the server's callback hears XTYP_DISCONNECT. */
    HCONV second = DdeConnect(Inst, service, topic, NULL);
    CHECK(second != NULL);
    CHECK(DdeDisconnect(second));
    RequestIs(conv, "Disconnects", "1");
    CHECK(!DdeDisconnect(second));

    /* The server ends one: transactions on it fail. */
    HCONV third = DdeConnect(Inst, service, topic, NULL);
    CHECK(third != NULL);
    CHECK(Xact(third, NULL, XTYP_EXECUTE, "[bye]", 10000, NULL) != NULL);
    ExpectFail(Xact(third, "R1C1", XTYP_REQUEST, NULL, 10000, NULL), DMLERR_NO_CONV_ESTABLISHED);
    /* ... and this client's callback hears XTYP_DISCONNECT for it. */
    PumpUntil(&Hangups, 1);
    CHECK(Hangups == 1 && HungUp == third);
    CHECK(!DdeDisconnect(third));

    HCONV last = DdeConnect(Inst, service, topic, NULL);
    CHECK(last != NULL);
    CHECK(Xact(conv, NULL, XTYP_EXECUTE, "[quit]", 10000, NULL) != NULL);
    CHECK(DdeDisconnect(conv));
    CHECK(WaitForSingleObject(pi.hProcess, 30000) == WAIT_OBJECT_0);
    DWORD code = 1;
    CHECK(GetExitCodeProcess(pi.hProcess, &code));
    CHECK(code == 0);

    /* The server unregistered as it ended: XTYP_DISCONNECT for the last conversation, which is
     * gone. */
    PumpUntil(&Hangups, 2);
    CHECK(HungUp == last);
    ExpectFail(Xact(last, "R1C1", XTYP_REQUEST, NULL, 10000, NULL), DMLERR_NO_CONV_ESTABLISHED);
    DdeFreeStringHandle(Inst, r1c1);
    DdeFreeStringHandle(Inst, service);
    DdeFreeStringHandle(Inst, topic);
    DdeFreeStringHandle(Inst, refused);
    CHECK(DdeUninitialize(Inst));
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    puts("dde ok");
    return 0;
}
