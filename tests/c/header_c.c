/* hamqtt.h compiles as strict C99 (-std=c99 -Wall -Wextra -Werror -pedantic) and its
 * initialiser macros cover every field (-Wextra warns about missing initialisers). */
#include "hamqtt.h"
#include "hamqtt.h" /* include guard */

int hamqtt_header_c99(void);

int hamqtt_header_c99(void) {
    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    hamqtt_callbacks c = HAMQTT_CALLBACKS_INIT;
    struct hamqtt_outbox_stats s = HAMQTT_OUTBOX_STATS_INIT;
    hamqtt_event e;
    int (*os)(hamqtt_client, struct hamqtt_outbox_stats *) = hamqtt_outbox_stats;
    const char *(*f)(int) = hamqtt_strerror;
    int (*p)(hamqtt_client, const char *, const void *, size_t, int, int) = hamqtt_publish;
    (void)f;
    (void)p;
    (void)os;
    e.kind = HAMQTT_EVENT_MESSAGE;
    return (int)o.struct_size + (int)c.struct_size + (int)s.struct_size + e.kind + HAMQTT_STORED;
}
