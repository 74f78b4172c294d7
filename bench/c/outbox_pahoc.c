/* Eclipse Paho C, asynchronous API, with its file persistence and offline buffering: see
 * outbox_common.h for what this program does.
 *
 * MQTTCLIENT_PERSISTENCE_DEFAULT keeps every QoS 1 message in a file of its own under DIR
 * until its PUBACK (open, write, close; removed on the acknowledgement), and the publishes
 * made while disconnected as buffered commands, in files too. It never calls fsync, so its
 * store survives the process's crash but not a power loss: hamqtt's SyncNever (or
 * SyncInterval) is the fair counterpart. Reconnection is Paho's own automatic reconnect at
 * its shortest interval (1 s). persistQoS0 is left alone: every message here is QoS 1. */
#include <MQTTAsync.h>

#include "outbox_common.h"

typedef struct {
    latch_t conn;
    latch_t lost;
    acks_t acks;
    window_t win;
    int windowed;
} state_t;

static state_t st;

static void on_conn_ok(void *ctx, MQTTAsync_successData *r) {
    (void)ctx, (void)r;
    latch_set(&st.conn, 0);
}

static void on_conn_fail(void *ctx, MQTTAsync_failureData *r) {
    (void)ctx;
    latch_set(&st.conn, r && r->code ? r->code : -1);
}

static void on_pub_ok(void *ctx, MQTTAsync_successData *r) {
    (void)ctx, (void)r;
    acks_hit(&st.acks, 1);
    if (st.windowed) win_release(&st.win, 1);
}

static void on_pub_fail(void *ctx, MQTTAsync_failureData *r) {
    (void)ctx;
    fprintf(stderr, "paho c: publish failed: %d %s\n", r ? r->code : 0, r && r->message ? r->message : "");
    acks_hit(&st.acks, 0);
    if (st.windowed) win_release(&st.win, 0);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m) {
    (void)ctx, (void)topic_len;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_lost(void *ctx, char *cause) {
    (void)ctx, (void)cause;
    latch_set(&st.lost, 0);
}

int main(int argc, char **argv) {
    ob_args a = ob_parse(argc, argv);
    latch_init(&st.conn);
    latch_init(&st.lost);
    st.windowed = !a.flush;
    win_init(&st.win, a.window);

    char id[64];
    client_id(id, sizeof id, "outbox-pahoc");
    MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
    cro.sendWhileDisconnected = 1;
    /* Applies while connected too; the run never has more than N outstanding. */
    cro.maxBufferedMessages = (int)(a.n + 1);
    cro.MQTTVersion = MQTTVERSION_3_1_1;
    cro.deleteOldestMessages = 0;
    MQTTAsync c;
    int rc = MQTTAsync_createWithOptions(&c, a.uri, id, MQTTCLIENT_PERSISTENCE_DEFAULT, (void *)a.dir, &cro);
    if (rc != MQTTASYNC_SUCCESS) die("MQTTAsync_createWithOptions", MQTTAsync_strerror(rc));
    MQTTAsync_setCallbacks(c, NULL, on_lost, on_message, NULL);

    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = 30;
    co.cleansession = 1;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.maxInflight = a.flush ? 65535 : a.window;
    co.automaticReconnect = 1;
    co.minRetryInterval = 1;
    co.maxRetryInterval = 1;
    co.onSuccess = on_conn_ok;
    co.onFailure = on_conn_fail;
    if ((rc = MQTTAsync_connect(c, &co)) != MQTTASYNC_SUCCESS) die("MQTTAsync_connect", MQTTAsync_strerror(rc));
    if ((rc = latch_wait(&st.conn, 10)) != 0) die("connect", rc == -1000 ? "timeout" : MQTTAsync_strerror(rc));

    unsigned char *payload = malloc(a.size ? a.size : 1);
    random_payload(payload, a.size);
    MQTTAsync_responseOptions po = MQTTAsync_responseOptions_initializer;
    po.onSuccess = on_pub_ok;
    po.onFailure = on_pub_fail;
    int64_t up = 0;
    if (a.flush) {
        ob_say("ready");
        ob_expect("down");
        if (latch_wait(&st.lost, 30) != 0) die("paho c", "the connection was not seen lost");
    }
    int64_t start = now_ns();
    for (long i = 0; i < a.n; i++) {
        MQTTAsync_message m = MQTTAsync_message_initializer;
        m.payload = payload;
        m.payloadlen = (int)a.size;
        m.qos = 1;
        m.retained = 0;
        if (st.windowed) win_acquire(&st.win);
        rc = MQTTAsync_sendMessage(c, a.topic, &m, &po);
        if (rc != MQTTASYNC_SUCCESS) die("MQTTAsync_sendMessage", MQTTAsync_strerror(rc));
    }
    int64_t store_ns = now_ns() - start;
    if (a.flush) {
        ob_say("stored");
        ob_expect("up");
        up = now_ns();
    }
    acks_wait(&st.acks, a.n);
    ob_result(&a, &st.acks, start, store_ns, up);
    /* MQTTAsync_disconnect + MQTTAsync_destroy take seconds; the measurement is done. */
    free(payload);
    _exit(0);
}
