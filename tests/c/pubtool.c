/* pubtool ENDPOINTS TOPIC PAYLOAD [QOS]: publishes one message through libhamqtt (for test
 * scripts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hamqtt.h"

int main(int argc, char **argv) {
    hamqtt_client c;
    int rc;
    if (argc < 4) {
        fprintf(stderr, "usage: %s ENDPOINTS TOPIC PAYLOAD [QOS]\n", argv[0]);
        return 2;
    }
    if ((rc = hamqtt_client_new(argv[1], NULL, &c)) != HAMQTT_OK ||
        (rc = hamqtt_connect(c)) != HAMQTT_OK ||
        (rc = hamqtt_publish(c, argv[2], argv[3], strlen(argv[3]), argc > 4 ? atoi(argv[4]) : 1, 0)) != HAMQTT_OK) {
        fprintf(stderr, "pubtool: %s: %s\n", hamqtt_strerror(rc), hamqtt_last_error());
        return 1;
    }
    return hamqtt_close(c) == HAMQTT_OK ? 0 : 1;
}
