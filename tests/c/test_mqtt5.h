/* The MQTT 5 cases of test_capi (test_mqtt5.c). */
#ifndef HAMQTT_TEST_MQTT5_H
#define HAMQTT_TEST_MQTT5_H

void test_mqtt5_props(void);
void test_mqtt5_messages(void);
void test_mqtt5_refused(void);
void test_mqtt5_disconnect(void);

#endif
