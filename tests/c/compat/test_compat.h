/* The compatibility cases of test_capi: a program built with the 0.4 header (test_compat04.c)
 * and the event layouts of the current one (test_layout.c). */
#ifndef HAMQTT_TEST_COMPAT_H
#define HAMQTT_TEST_COMPAT_H

void test_compat04_poll(void);
void test_layout_poll(void);

#endif
