/* The outbox cases of test_capi (test_outbox.c). */
#ifndef HAMQTT_TEST_OUTBOX_H
#define HAMQTT_TEST_OUTBOX_H

void test_outbox_options(void);
void test_outbox_before_connect(void);
void test_outbox_outage(void);
void test_outbox_disk(void);
void test_outbox_full(void);
void test_outbox_outcomes(void);
void test_outbox_config(void);

#endif
