/* hamqtt.h compiles as strict C99 (-std=c99 -Wall -Wextra -Werror -pedantic) and its
 * initialiser macros cover every field (-Wextra warns about missing initialisers). */
#include "hamqtt.h"
#include "hamqtt.h" /* include guard */

int hamqtt_header_c99(void);

int hamqtt_header_c99(void) {
    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    hamqtt_callbacks c = HAMQTT_CALLBACKS_INIT;
    hamqtt_event e;
    const char *(*f)(int) = hamqtt_strerror;
    int (*p)(hamqtt_client, const char *, const void *, size_t, int, int) = hamqtt_publish;
    (void)f;
    (void)p;
    e.kind = HAMQTT_EVENT_MESSAGE;
    return (int)o.struct_size + (int)c.struct_size + e.kind;
}
