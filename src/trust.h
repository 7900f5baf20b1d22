/*
 * trust.h -- trust anchors: the compiled-in CA roots, and PEM
 * certificates turned into BearSSL trust anchors (for --ca-file and
 * for tools/mkanchors, which generates the compiled-in roots).
 *
 * Error messages written to err are short, human, NUL-terminated and
 * truncated to errlen bytes (nothing is written if errlen is 0).  They
 * never contain certificate bytes, only positions, sizes, the path and
 * BearSSL error numbers.
 */
#ifndef TRUST_H
#define TRUST_H

#include <stddef.h>

#include <bearssl.h>

/* Largest file trust_load_file reads.  All of Mozilla's roots in PEM
 * are about 220 KiB; a CA file ten times that is a mistake. */
#define TRUST_FILE_MAX          (4 * 1024 * 1024)

/* Largest DER certificate in a PEM input.  Roots are under 2 KiB; big
 * name-constraint or policy extensions stay well below this. */
#define TRUST_CERT_MAX          (64 * 1024)

/* Largest subject name of a certificate.  Real CA names are a few
 * hundred bytes; BearSSL compares them byte for byte. */
#define TRUST_DN_MAX            1024

/* A set of trust anchors, owned by whoever filled it: anchors and all
 * the bytes the anchors point to are heap memory released by
 * trust_free.  Pass anchors and count to br_ssl_client_init_full or
 * br_x509_minimal_init. */
struct trust_store {
	br_x509_trust_anchor *anchors;
	size_t count;
};

/*
 * Called by trust_pem_each_cert for each CERTIFICATE object, in input
 * order.  number counts the certificates from 1; der and derlen are
 * the decoded certificate, valid only during the call.  Return 0 to go
 * on, or -1 after writing a message to err to stop the walk (which then
 * fails).
 */
typedef int trust_cert_fn(void *ctx, size_t number,
    const unsigned char *der, size_t derlen, char *err, size_t errlen);

/*
 * Walk the PEM text pem[0..len) and call fn(ctx, ...) with the DER
 * bytes of every CERTIFICATE object.  Other object types and text
 * outside objects are skipped.  Neither pem nor the DER needs a NUL
 * terminator.  Returns 0 if at least one certificate was found and fn
 * accepted all of them; -1 with a message in err if there was none, on
 * invalid Base64 inside an object, on an object with no END line, on a
 * certificate over TRUST_CERT_MAX bytes, on allocation failure, or when
 * fn returned -1 (fn's message is kept).
 */
int trust_pem_each_cert(const unsigned char *pem, size_t len,
    trust_cert_fn *fn, void *ctx, char *err, size_t errlen);

/*
 * Decode one DER certificate into *ta: its subject name and public
 * key, flagged BR_X509_TA_CA (whoever supplies the certificate trusts
 * it to sign server chains; its own CA flag is not consulted).  The
 * name and key bytes are copied to heap memory that *ta owns and
 * trust_anchor_free releases; der is not kept.  Returns 0; or -1 with a
 * message in err, and *ta zeroed, if BearSSL cannot decode the
 * certificate, the name is empty or over TRUST_DN_MAX bytes, the key is
 * neither RSA nor EC on P-256, P-384 or P-521, or memory ran out.
 */
int trust_anchor_from_der(const unsigned char *der, size_t len,
    br_x509_trust_anchor *ta, char *err, size_t errlen);

/* Release what trust_anchor_from_der allocated in *ta and zero *ta.
 * Safe on a zeroed anchor. */
void trust_anchor_free(br_x509_trust_anchor *ta);

/*
 * Parse every CERTIFICATE in pem[0..len) into trust anchors (see
 * trust_pem_each_cert and trust_anchor_from_der) and store them in
 * *out, which the caller then owns and releases with trust_free.
 * Returns 0 with out->count >= 1; or -1 with *out set to { NULL, 0 }
 * and a message in err ("certificate N: ..." when one certificate is
 * at fault) on any failure of those two functions.
 */
int trust_from_pem(const unsigned char *pem, size_t len,
    struct trust_store *out, char *err, size_t errlen);

/*
 * Read the file at path (at most TRUST_FILE_MAX bytes; pipes and other
 * non-regular files work too) and parse it with trust_from_pem.
 * Returns 0, or -1 with *out set to { NULL, 0 } and a message starting
 * with the path in err if the file cannot be opened or read, is larger
 * than TRUST_FILE_MAX, or does not parse.  Uses strerror, so call it
 * at startup, before threads exist.
 */
int trust_load_file(const char *path, struct trust_store *out,
    char *err, size_t errlen);

/* Release everything in *ts and set it to { NULL, 0 }.  Safe on an
 * empty or already freed store and on NULL. */
void trust_free(struct trust_store *ts);

/*
 * The pinned roots compiled into the binary: vendor/ca-roots.pem, its
 * fingerprints checked against vendor/ca-roots.txt by tools/mkanchors,
 * which generates their definition (build/anchors.c).  Read-only in
 * spirit; the byte arrays are not const only because BearSSL's anchor
 * structure points to non-const bytes.
 */
extern const br_x509_trust_anchor trust_builtin_anchors[];
extern const size_t trust_builtin_count;

#endif
