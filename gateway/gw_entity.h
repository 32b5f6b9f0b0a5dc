/* gw_entity.h - sending a JSON response body the HTTP way: a strong ETag
 * and 304 Not Modified for GET 200 responses, gzip when the client accepts
 * it and the body is worth compressing (Vary: Accept-Encoding).
 *
 * ETags are the 64-bit FNV-1a hash of the JSON body in hex: "<16 hex>" for
 * the identity body and "<16 hex>-gz" for its gzip form (a strong ETag
 * names one representation). If-None-Match matches either form of the
 * hash, with or without W/, in a list, or "*".
 */
#ifndef GW_ENTITY_H
#define GW_ENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "gw_request.h"

#define GW_ENTITY_DEFAULT_GZIP_MIN 1024
#define GW_ENTITY_DEFAULT_GZIP_LEVEL 1

/* A body to send. The edge cache (later) keeps these: it passes what it
 * stored (gz and etag precomputed), the proxy passes only json/len and
 * gw_entity_send fills in what it computed. */
typedef struct gw_entity {
    const char *json;   /* the JSON body */
    size_t len;
    const char *gz;     /* its gzip form, NULL: not computed (yet) */
    size_t gz_len;
    uint64_t etag;      /* FNV-1a of json; 0: not computed (yet) */
    int has_etag;       /* etag is valid */
} gw_entity;

/* gzip bodies of at least min_bytes at zlib `level` (1..9; 0 turns gzip
 * off). THREAD: main, before the loops start. */
void gw_entity_configure(size_t gzip_min_bytes, int gzip_level);

uint64_t gw_entity_hash(const char *data, size_t len);

/* Sends e as the whole response with `status` and Content-Type
 * application/json. `validators`: a GET 200 (ETag, If-None-Match -> 304
 * with no body). gzip when accepted and worth it (smaller and >= min).
 * On return e->gz / e->etag hold what was computed; e->gz then points into
 * a per-loop buffer valid until the next gw_entity_send on this loop (copy
 * it to keep it). THREAD: the loop's, once per request. */
void gw_entity_send(gw_request *r, int status, gw_entity *e, int validators);

/* Exposed for unit tests: 1 when `accept_encoding` accepts gzip (a gzip or
 * * member whose q is not 0); 1 when `if_none_match` matches etag. */
int gw_entity_accepts_gzip(const char *accept_encoding, size_t len);
int gw_entity_etag_matches(const char *if_none_match, size_t len, uint64_t etag);

#endif
