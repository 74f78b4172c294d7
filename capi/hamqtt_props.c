/* The MQTT 5 property lists of the C API (hamqtt_props_*): plain C, since the bindings call
 * these accessors once per property of every message and a call into Go costs far more than
 * one into C. The wire form (hamqtt_props_encode/decode) is in props.go. */
#include <stdio.h>
#include "capi.h"

#define MAX_STRING 65535u
#define MAX_SUBID 268435455u

static int fail(int code, const char *msg) {
    hqcapi_set_error(msg, strlen(msg));
    hqcapi_set_reason(0);
    return code;
}

int hqcapi_valid_utf8(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

hamqtt_props *hamqtt_props_new(void) {
    hamqtt_props *p = (hamqtt_props *)calloc(1, sizeof *p);
    if (p == NULL) {
        fail(HAMQTT_ERR_INTERNAL, "hamqtt_props_new: out of memory");
        return NULL;
    }
    p->owned = 1;
    return p;
}

void hamqtt_props_free(hamqtt_props *p) {
    size_t i;
    if (p == NULL || !p->owned) return;
    for (i = 0; i < HQCAPI_PROP_STRS; i++) free((void *)p->strs[i].p);
    for (i = 0; i < p->nuser; i++) free((void *)p->user[i].key.p); /* key and value: one block */
    free(p->user);
    free(p->subids);
    free(p);
}

/* copy returns a NUL-terminated malloc'd copy of n bytes (NULL: out of memory). */
static char *copy(const void *data, size_t n) {
    char *c = (char *)malloc(n + 1);
    if (c == NULL) return NULL;
    if (n) memcpy(c, data, n);
    c[n] = 0;
    return c;
}

int hqcapi_props_put_int(hamqtt_props *p, int id, uint32_t v) {
    int slot = hqcapi_prop_slot(id);
    if (hqcapi_prop_kind(id) != HQCAPI_KIND_INT || slot < 0) return HAMQTT_ERR_INVALID;
    p->ints[slot] = v;
    p->present |= (uint64_t)1 << id;
    return HAMQTT_OK;
}

int hqcapi_props_put_bytes(hamqtt_props *p, int id, const void *data, size_t len) {
    int kind = hqcapi_prop_kind(id), slot = hqcapi_prop_slot(id);
    char *c;
    if ((kind != HQCAPI_KIND_STR && kind != HQCAPI_KIND_BIN) || slot < 0) return HAMQTT_ERR_INVALID;
    if ((c = copy(data, len)) == NULL) return HAMQTT_ERR_INTERNAL;
    free((void *)p->strs[slot].p);
    p->strs[slot].p = c;
    p->strs[slot].len = len;
    p->present |= (uint64_t)1 << id;
    return HAMQTT_OK;
}

int hqcapi_props_put_user(hamqtt_props *p, const char *key, size_t klen, const char *value, size_t vlen) {
    char *block;
    if (p->nuser == p->capuser) {
        size_t cap = p->capuser ? 2 * p->capuser : 4;
        hqcapi_pair *u = (hqcapi_pair *)realloc(p->user, cap * sizeof *u);
        if (u == NULL) return HAMQTT_ERR_INTERNAL;
        p->user = u;
        p->capuser = cap;
    }
    block = (char *)malloc(klen + vlen + 2);
    if (block == NULL) return HAMQTT_ERR_INTERNAL;
    if (klen) memcpy(block, key, klen);
    block[klen] = 0;
    if (vlen) memcpy(block + klen + 1, value, vlen);
    block[klen + 1 + vlen] = 0;
    p->user[p->nuser].key.p = block;
    p->user[p->nuser].key.len = klen;
    p->user[p->nuser].value.p = block + klen + 1;
    p->user[p->nuser].value.len = vlen;
    p->nuser++;
    return HAMQTT_OK;
}

int hqcapi_props_put_subid(hamqtt_props *p, uint32_t v) {
    if (p->nsubids == p->capsubids) {
        size_t cap = p->capsubids ? 2 * p->capsubids : 2;
        uint32_t *s = (uint32_t *)realloc(p->subids, cap * sizeof *s);
        if (s == NULL) return HAMQTT_ERR_INTERNAL;
        p->subids = s;
        p->capsubids = cap;
    }
    p->subids[p->nsubids++] = v;
    return HAMQTT_OK;
}

/* owned_list checks that a setter's list may be changed. */
static int owned_list(const char *fn, const hamqtt_props *p) {
    char msg[256];
    if (p == NULL) {
        snprintf(msg, sizeof msg, "%s: props is NULL", fn);
        return fail(HAMQTT_ERR_INVALID, msg);
    }
    if (!p->owned) {
        snprintf(msg, sizeof msg, "%s: the properties of a received message belong to the library and cannot be changed: "
                 "copy them into a list of hamqtt_props_new()", fn);
        return fail(HAMQTT_ERR_INVALID, msg);
    }
    return HAMQTT_OK;
}

/* settable checks what every public setter of a single property needs: an owned list and a
 * settable id of the kind. */
static int settable(const char *fn, hamqtt_props *p, int id, int kind) {
    char msg[256];
    int rc = owned_list(fn, p);
    if (rc != HAMQTT_OK) return rc;
    if (hqcapi_prop_kind(id) != kind) {
        const char *want = kind == HQCAPI_KIND_STR ? "a string" : kind == HQCAPI_KIND_BIN ? "a binary" : "an integer";
        snprintf(msg, sizeof msg, "%s: property 0x%02X is not %s property%s", fn, (unsigned)id & 0xFFFFu, want,
                 hqcapi_prop_kind(id) == HQCAPI_KIND_USER ? " (user properties: hamqtt_props_add_user)" : "");
        return fail(HAMQTT_ERR_INVALID, msg);
    }
    switch (id) {
    case HAMQTT_PROP_PAYLOAD_FORMAT: case HAMQTT_PROP_MESSAGE_EXPIRY: case HAMQTT_PROP_SUBSCRIPTION_ID:
    case HAMQTT_PROP_CONTENT_TYPE: case HAMQTT_PROP_RESPONSE_TOPIC: case HAMQTT_PROP_CORRELATION_DATA:
    case HAMQTT_PROP_SESSION_EXPIRY: case HAMQTT_PROP_REASON_STRING: /* a DISCONNECT's */
        return HAMQTT_OK;
    }
    snprintf(msg, sizeof msg, "%s: property 0x%02X is read only (a CONNACK's)", fn, (unsigned)id);
    return fail(HAMQTT_ERR_INVALID, msg);
}

int hamqtt_props_set_int(hamqtt_props *p, int id, uint32_t value) {
    int rc;
    if ((rc = settable("hamqtt_props_set_int", p, id, hqcapi_prop_kind(id) == HQCAPI_KIND_SUBID ? HQCAPI_KIND_SUBID : HQCAPI_KIND_INT)) != HAMQTT_OK)
        return rc;
    if (id == HAMQTT_PROP_SUBSCRIPTION_ID) {
        if (value == 0 || value > MAX_SUBID) {
            char msg[128];
            snprintf(msg, sizeof msg, "hamqtt_props_set_int: subscription identifier %lu out of range 1..268435455", (unsigned long)value);
            return fail(HAMQTT_ERR_INVALID, msg);
        }
        rc = hqcapi_props_put_subid(p, value);
    } else {
        if (id == HAMQTT_PROP_PAYLOAD_FORMAT && value > 1)
            return fail(HAMQTT_ERR_INVALID, "hamqtt_props_set_int: payload format must be 0 (bytes) or 1 (UTF-8 text)");
        rc = hqcapi_props_put_int(p, id, value);
    }
    return rc == HAMQTT_OK ? rc : fail(rc, "hamqtt_props_set_int: out of memory");
}

static int check_string(const char *fn, const char *what, const char *s, size_t *n) {
    char msg[256];
    if (s == NULL) {
        snprintf(msg, sizeof msg, "%s: %s is NULL", fn, what);
        return fail(HAMQTT_ERR_INVALID, msg);
    }
    *n = strlen(s);
    if (*n > MAX_STRING) {
        snprintf(msg, sizeof msg, "%s: %s is %zu bytes long: MQTT allows at most 65535", fn, what, *n);
        return fail(HAMQTT_ERR_INVALID, msg);
    }
    if (!hqcapi_valid_utf8(s, *n)) {
        snprintf(msg, sizeof msg, "%s: %s is not valid UTF-8", fn, what);
        return fail(HAMQTT_ERR_INVALID, msg);
    }
    return HAMQTT_OK;
}

int hamqtt_props_set_string(hamqtt_props *p, int id, const char *value) {
    size_t n;
    int rc;
    if ((rc = settable("hamqtt_props_set_string", p, id, HQCAPI_KIND_STR)) != HAMQTT_OK) return rc;
    if ((rc = check_string("hamqtt_props_set_string", "value", value, &n)) != HAMQTT_OK) return rc;
    rc = hqcapi_props_put_bytes(p, id, value, n);
    return rc == HAMQTT_OK ? rc : fail(rc, "hamqtt_props_set_string: out of memory");
}

int hamqtt_props_set_binary(hamqtt_props *p, int id, const void *data, size_t len) {
    char msg[256];
    int rc;
    if ((rc = settable("hamqtt_props_set_binary", p, id, HQCAPI_KIND_BIN)) != HAMQTT_OK) return rc;
    if (data == NULL && len > 0) return fail(HAMQTT_ERR_INVALID, "hamqtt_props_set_binary: data is NULL but len is not 0");
    if (len > MAX_STRING) {
        snprintf(msg, sizeof msg, "hamqtt_props_set_binary: %zu bytes: MQTT allows at most 65535", len);
        return fail(HAMQTT_ERR_INVALID, msg);
    }
    rc = hqcapi_props_put_bytes(p, id, data, len);
    return rc == HAMQTT_OK ? rc : fail(rc, "hamqtt_props_set_binary: out of memory");
}

int hamqtt_props_add_user(hamqtt_props *p, const char *key, const char *value) {
    size_t kn, vn;
    int rc;
    if ((rc = owned_list("hamqtt_props_add_user", p)) != HAMQTT_OK) return rc;
    if ((rc = check_string("hamqtt_props_add_user", "key", key, &kn)) != HAMQTT_OK) return rc;
    if ((rc = check_string("hamqtt_props_add_user", "value", value, &vn)) != HAMQTT_OK) return rc;
    rc = hqcapi_props_put_user(p, key, kn, value, vn);
    return rc == HAMQTT_OK ? rc : fail(rc, "hamqtt_props_add_user: out of memory");
}

/* readable checks a getter's list and id. */
static int readable(const char *fn, const hamqtt_props *p, int id, int ok1, int ok2, const void *out) {
    char msg[256];
    int kind = hqcapi_prop_kind(id);
    if (p == NULL || out == NULL) {
        snprintf(msg, sizeof msg, "%s: %s is NULL", fn, p == NULL ? "props" : "the output pointer");
        return fail(HAMQTT_ERR_INVALID, msg);
    }
    if (kind == HQCAPI_KIND_NONE || (kind != ok1 && kind != ok2)) {
        snprintf(msg, sizeof msg, "%s: property 0x%02X is %s", fn, (unsigned)id & 0xFFFFu,
                 kind == HQCAPI_KIND_NONE ? "not a property of enum hamqtt_prop" : "of another type");
        return fail(HAMQTT_ERR_INVALID, msg);
    }
    return HAMQTT_OK;
}

static int absent(const char *fn, int id) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s: property 0x%02X is absent", fn, (unsigned)id);
    return fail(HAMQTT_ERR_NOT_FOUND, msg);
}

int hamqtt_props_get_int(const hamqtt_props *p, int id, uint32_t *value) {
    int rc = readable("hamqtt_props_get_int", p, id, HQCAPI_KIND_INT, HQCAPI_KIND_SUBID, value);
    if (rc != HAMQTT_OK) return rc;
    *value = 0;
    if (id == HAMQTT_PROP_SUBSCRIPTION_ID) {
        if (p->nsubids == 0) return absent("hamqtt_props_get_int", id);
        *value = p->subids[0];
        return HAMQTT_OK;
    }
    if (!(p->present & ((uint64_t)1 << id))) return absent("hamqtt_props_get_int", id);
    *value = p->ints[hqcapi_prop_slot(id)];
    return HAMQTT_OK;
}

int hamqtt_props_get_string(const hamqtt_props *p, int id, const char **value, size_t *len) {
    int rc = readable("hamqtt_props_get_string", p, id, HQCAPI_KIND_STR, HQCAPI_KIND_STR, value);
    if (len != NULL) *len = 0;
    if (rc != HAMQTT_OK) return rc;
    *value = NULL;
    if (!(p->present & ((uint64_t)1 << id))) return absent("hamqtt_props_get_string", id);
    *value = p->strs[hqcapi_prop_slot(id)].p;
    if (len != NULL) *len = p->strs[hqcapi_prop_slot(id)].len;
    return HAMQTT_OK;
}

int hamqtt_props_get_binary(const hamqtt_props *p, int id, const void **data, size_t *len) {
    int rc = readable("hamqtt_props_get_binary", p, id, HQCAPI_KIND_BIN, HQCAPI_KIND_STR, data);
    if (len != NULL) *len = 0;
    if (rc != HAMQTT_OK) return rc;
    *data = NULL;
    if (!(p->present & ((uint64_t)1 << id))) return absent("hamqtt_props_get_binary", id);
    *data = p->strs[hqcapi_prop_slot(id)].p;
    if (len != NULL) *len = p->strs[hqcapi_prop_slot(id)].len;
    return HAMQTT_OK;
}

size_t hamqtt_props_user_count(const hamqtt_props *p) { return p == NULL ? 0 : p->nuser; }

int hamqtt_props_user_at(const hamqtt_props *p, size_t i, const char **key, const char **value) {
    char msg[160];
    if (key != NULL) *key = NULL;
    if (value != NULL) *value = NULL;
    if (p == NULL || key == NULL || value == NULL)
        return fail(HAMQTT_ERR_INVALID, "hamqtt_props_user_at: props, key and value must not be NULL");
    if (i >= p->nuser) {
        snprintf(msg, sizeof msg, "hamqtt_props_user_at: index %zu, but the list has %zu user properties", i, p->nuser);
        return fail(HAMQTT_ERR_INVALID, msg);
    }
    *key = p->user[i].key.p;
    *value = p->user[i].value.p;
    return HAMQTT_OK;
}

size_t hamqtt_props_subscription_id_count(const hamqtt_props *p) { return p == NULL ? 0 : p->nsubids; }

uint32_t hamqtt_props_subscription_id_at(const hamqtt_props *p, size_t i) {
    return (p == NULL || i >= p->nsubids) ? 0 : p->subids[i];
}
