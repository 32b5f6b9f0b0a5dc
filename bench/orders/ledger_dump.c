/* ledger_dump.c - se-bench-ledger: prints the mock payment gateway's ledger
 * as tab-separated lines "order_id<TAB>status<TAB>charge_id" (status is
 * approved or declined), oldest first, for bench/orders/run.sh to load into
 * PostgreSQL and compare with the orders' final states.
 *
 *   se-bench-ledger TARGET      e.g. 127.0.0.1:50054
 *
 * Reads every page of ListLedger (1,000 charges a page). Exit status 0, or
 * 1 with a message on stderr when a call fails.
 */
#include <inttypes.h>
#include <stdio.h>

#include "se_log.h"
#include "se_rpc.h"
#include "swifteats/v1/payment_gateway.se.h"

#define PAGE_SIZE 1000

/* Prints one page; returns how many charges it held, or -1. */
static int dump_page(se_channel *ch, int page, int64_t *total)
{
    Swifteats__V1__ListLedgerRequest req = SWIFTEATS__V1__LIST_LEDGER_REQUEST__INIT;
    req.page = page;
    req.page_size = PAGE_SIZE;
    Swifteats__V1__ListLedgerResponse *resp = NULL;
    se_status st;
    se_call_opts opts = {.timeout_ms = 30000};
    if (swifteats_v1_payment_gateway_service_list_ledger(ch, &req, &resp, &opts, &st) != 0) {
        fprintf(stderr, "se-bench-ledger: ListLedger page %d: %s: %s\n", page,
                se_status_name(st.code), st.message);
        return -1;
    }
    for (size_t i = 0; i < resp->n_charges; i++) {
        const Swifteats__V1__ChargeRecord *c = resp->charges[i];
        printf("%" PRId64 "\t%s\t%s\n", c->order_id,
               c->status == SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED ? "approved"
                                                                                : "declined",
               c->charge_id);
    }
    int n = (int)resp->n_charges;
    *total = resp->total;
    se_msg_free(&resp->base);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s TARGET\n", argv[0]);
        return 2;
    }
    se_log_init("bench-ledger");
    se_rpc_init();
    se_channel *ch = se_channel_get(argv[1]);
    int rc = 0;
    int64_t printed = 0, total = 0;
    for (int page = 1;; page++) {
        int n = dump_page(ch, page, &total);
        if (n < 0) {
            rc = 1;
            break;
        }
        printed += n;
        if (n < PAGE_SIZE || printed >= total)
            break;
    }
    if (rc == 0 && printed != total) {
        fprintf(stderr, "se-bench-ledger: read %" PRId64 " charges, ledger says %" PRId64 "\n",
                printed, total);
        rc = 1;
    }
    fflush(stdout);
    se_rpc_shutdown();
    return rc;
}
