// hamqtt.h compiles as C++ (98 and 17, -Wall -Wextra -Werror -pedantic) with C linkage.
#include "hamqtt.h"

// Redeclaring a function with C linkage must agree with the header.
extern "C" int hamqtt_close(hamqtt_client client);

int hamqtt_header_cxx();

int hamqtt_header_cxx() {
    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    hamqtt_callbacks c = HAMQTT_CALLBACKS_INIT;
    struct hamqtt_outbox_stats s = HAMQTT_OUTBOX_STATS_INIT;
    int (*close_fn)(hamqtt_client) = &hamqtt_close;
    int (*stats_fn)(hamqtt_client, struct hamqtt_outbox_stats *) = &hamqtt_outbox_stats;
    (void)close_fn;
    (void)stats_fn;
    return static_cast<int>(o.struct_size + c.struct_size + s.struct_size);
}
