/* A DDEML server and client, as "Using the Dynamic Data Exchange Management Library" shows
 * them, written for pipework. The server registers the service "Quotes" (with this run's
 * process id) with DdeNameService and serves the topic "Market", whose items are stock
 * symbols; its callback answers XTYP_CONNECT, XTYP_REQUEST, XTYP_ADVSTART, XTYP_ADVREQ and
 * XTYP_EXECUTE ("[Trade MSFT 412]" sets a price and calls DdePostAdvise). The client (this
 * program with "client") connects, requests a quote, starts a hot advise loop on it, trades,
 * gets the new price in XTYP_ADVDATA, stops the loop, tells the server to close and
 * disconnects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <windows.h>

static DWORD idInst;
static HSZ hszService, hszTopic;
static char szService[64];

typedef struct {
    const char *symbol;
    char price[16];
} QUOTE;

static QUOTE Quotes[] = {{"MSFT", "405"}, {"IBM", "190"}, {"INTC", "31"}};
static BOOL fClosing;

static QUOTE *FindQuote(HSZ hszItem)
{
    char sz[32];
    DdeQueryStringA(idInst, hszItem, sz, sizeof sz, CP_WINANSI);
    for (size_t i = 0; i < sizeof Quotes / sizeof Quotes[0]; i++)
        if (strcasecmp(Quotes[i].symbol, sz) == 0)
            return &Quotes[i];
    return NULL;
}

static HDDEDATA CALLBACK ServerCallback(UINT uType, UINT uFmt, HCONV hconv, HSZ hsz1, HSZ hsz2,
                                        HDDEDATA hdata, ULONG_PTR dwData1, ULONG_PTR dwData2)
{
    (void)hconv;
    (void)dwData1;
    (void)dwData2;
    switch (uType) {
    case XTYP_CONNECT:
        return (HDDEDATA)(ULONG_PTR)(DdeCmpStringHandles(hsz1, hszTopic) == 0);
    case XTYP_ADVSTART:
        return (HDDEDATA)(ULONG_PTR)(uFmt == CF_TEXT && FindQuote(hsz2) != NULL);
    case XTYP_REQUEST:
    case XTYP_ADVREQ: {
        QUOTE *q = uFmt == CF_TEXT ? FindQuote(hsz2) : NULL;
        if (q == NULL)
            return NULL;
        return DdeCreateDataHandle(idInst, (LPBYTE)q->price, (DWORD)strlen(q->price) + 1, 0,
                                   hsz2, CF_TEXT, 0);
    }
    case XTYP_EXECUTE: {
        char szCmd[64], szSymbol[16], szPrice[16];
        DWORD cb = DdeGetData(hdata, (LPBYTE)szCmd, sizeof szCmd - 1, 0);
        szCmd[cb] = 0;
        if (strcmp(szCmd, "[Close]") == 0) {
            fClosing = TRUE;
            return (HDDEDATA)DDE_FACK;
        }
        if (sscanf(szCmd, "[Trade %15s %15[0-9]]", szSymbol, szPrice) == 2) {
            HSZ hszItem = DdeCreateStringHandleA(idInst, szSymbol, CP_WINANSI);
            QUOTE *q = FindQuote(hszItem);
            if (q != NULL) {
                snprintf(q->price, sizeof q->price, "%s", szPrice);
                DdePostAdvise(idInst, hszTopic, hszItem);
            }
            DdeFreeStringHandle(idInst, hszItem);
            return (HDDEDATA)(ULONG_PTR)(q != NULL ? DDE_FACK : DDE_FNOTPROCESSED);
        }
        return (HDDEDATA)DDE_FNOTPROCESSED;
    }
    case XTYP_DISCONNECT:
        if (fClosing)
            PostQuitMessage(0);
        return NULL;
    }
    return NULL;
}

static char szLastQuote[16];
static BOOL fUpdated;

static HDDEDATA CALLBACK ClientCallback(UINT uType, UINT uFmt, HCONV hconv, HSZ hsz1, HSZ hsz2,
                                        HDDEDATA hdata, ULONG_PTR dwData1, ULONG_PTR dwData2)
{
    (void)uFmt;
    (void)hconv;
    (void)hsz1;
    (void)hsz2;
    (void)dwData1;
    (void)dwData2;
    if (uType == XTYP_ADVDATA) {
        DdeGetData(hdata, (LPBYTE)szLastQuote, sizeof szLastQuote, 0);
        printf("advise: MSFT is now %s\n", szLastQuote);
        fUpdated = TRUE;
        return (HDDEDATA)DDE_FACK;
    }
    return NULL;
}

static int ClientMain(void)
{
    if (DdeInitializeA(&idInst, ClientCallback, APPCMD_CLIENTONLY, 0) != DMLERR_NO_ERROR)
        return 1;
    hszService = DdeCreateStringHandleA(idInst, szService, CP_WINANSI);
    hszTopic = DdeCreateStringHandleA(idInst, "Market", CP_WINANSI);
    HSZ hszItem = DdeCreateStringHandleA(idInst, "MSFT", CP_WINANSI);
    HCONV hconv = DdeConnect(idInst, hszService, hszTopic, NULL);
    if (hconv == NULL) {
        fprintf(stderr, "DdeConnect failed (0x%x)\n", DdeGetLastError(idInst));
        return 1;
    }

    char sz[16];
    HDDEDATA hData =
        DdeClientTransaction(NULL, 0, hconv, hszItem, CF_TEXT, XTYP_REQUEST, 5000, NULL);
    if (hData == NULL)
        return 1;
    DdeGetData(hData, (LPBYTE)sz, sizeof sz, 0);
    DdeFreeDataHandle(hData);
    printf("request: MSFT is %s\n", sz);
    if (strcmp(sz, "405") != 0)
        return 1;

    if (!DdeClientTransaction(NULL, 0, hconv, hszItem, CF_TEXT, XTYP_ADVSTART, 5000, NULL))
        return 1;
    const char *trade = "[Trade MSFT 412]";
    if (!DdeClientTransaction((LPBYTE)trade, (DWORD)strlen(trade) + 1, hconv, NULL, 0,
                              XTYP_EXECUTE, 5000, NULL))
        return 1;
    MSG msg;
    while (!fUpdated && GetMessage(&msg, NULL, 0, 0) > 0)
        DispatchMessage(&msg);
    if (strcmp(szLastQuote, "412") != 0)
        return 1;

    DdeClientTransaction(NULL, 0, hconv, hszItem, CF_TEXT, XTYP_ADVSTOP, 5000, NULL);
    const char *close = "[Close]";
    DdeClientTransaction((LPBYTE)close, (DWORD)strlen(close) + 1, hconv, NULL, 0, XTYP_EXECUTE,
                         5000, NULL);
    DdeDisconnect(hconv);
    DdeFreeStringHandle(idInst, hszItem);
    DdeFreeStringHandle(idInst, hszTopic);
    DdeFreeStringHandle(idInst, hszService);
    DdeUninitialize(idInst);
    return 0;
}

int main(int argc, char *argv[])
{
    snprintf(szService, sizeof szService, "Quotes%u",
             argc > 2 ? (unsigned)atoi(argv[2]) : (unsigned)GetCurrentProcessId());
    if (argc > 2 && strcmp(argv[1], "client") == 0)
        return ClientMain();

    if (DdeInitializeA(&idInst, ServerCallback, CBF_FAIL_POKES | CBF_SKIP_REGISTRATIONS, 0) !=
        DMLERR_NO_ERROR)
        return 1;
    hszService = DdeCreateStringHandleA(idInst, szService, CP_WINANSI);
    hszTopic = DdeCreateStringHandleA(idInst, "Market", CP_WINANSI);
    if (!DdeNameService(idInst, hszService, NULL, DNS_REGISTER)) {
        fprintf(stderr, "DdeNameService failed (0x%x)\n", DdeGetLastError(idInst));
        return 1;
    }

    char cmd[600];
    snprintf(cmd, sizeof cmd, "\"%s\" client %u", argv[0], (unsigned)GetCurrentProcessId());
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
        return 1;

    MSG msg;
    while (GetMessage(&msg, NULL, 0, 0) > 0) {
        TranslateMessage(&msg);
        DispatchMessage(&msg);
    }

    DWORD code = 1;
    WaitForSingleObject(pi.hProcess, 30000);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    DdeNameService(idInst, NULL, NULL, DNS_UNREGISTER);
    DdeFreeStringHandle(idInst, hszTopic);
    DdeFreeStringHandle(idInst, hszService);
    DdeUninitialize(idInst);
    printf("client exited with %u\n", (unsigned)code);
    return code == 0 ? 0 : 1;
}
