/* layers_wrong_call.c - a server object that opens the store itself, which the layer graph
 * forbids (the server reaches the store through the engine): test_layers_catches checks that
 * scripts/check-layers.sh refuses it. Compiled, never linked. */
#include "rollgate/store.h"

int rg_layers_wrong_call(void);

int rg_layers_wrong_call(void)
{
    rg_store *store = NULL;
    int rc = rg_store_open(&store, "wrong.db");
    rg_store_free(store);
    return rc;
}
