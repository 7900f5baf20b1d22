/*
 * trust.c -- PEM certificates to BearSSL trust anchors.
 *
 * The PEM walk exists once, in trust_pem_each_cert; trust_from_pem and
 * tools/mkanchors both build on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trust.h"

static void set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Size of br_pem_decoder_context's name buffer (bearssl_pem.h: names
 * of up to 127 characters). */
#define PEM_NAME_SIZE   128

/* Decoded bytes of the PEM object being read. */
struct der_buffer {
	unsigned char *data;
	size_t len;
	size_t cap;
	int overflow;
};

static void
der_append(void *ctx, const void *src, size_t len)
{
	struct der_buffer *der = ctx;

	if (der->overflow || len > der->cap - der->len) {
		der->overflow = 1;
		return;
	}
	memcpy(der->data + der->len, src, len);
	der->len += len;
}

/*
 * Whether a PEM object name, as the decoder reports it, is CERTIFICATE.
 * BearSSL keeps names NUL-terminated in a 128-byte buffer.  Version 0.6
 * leaves the trailing dashes in the name when the BEGIN line ends in
 * CR LF, so those are skipped.
 */
static int
is_certificate(const char *name)
{
	static const char label[] = "CERTIFICATE";
	size_t i = sizeof label - 1;

	if (memcmp(name, label, i) != 0)
		return 0;
	while (i < PEM_NAME_SIZE - 1 && name[i] == '-')
		i++;
	return name[i] == '\0';
}

int
trust_pem_each_cert(const unsigned char *pem, size_t len,
    trust_cert_fn *fn, void *ctx, char *err, size_t errlen)
{
	br_pem_decoder_context pc;
	struct der_buffer der = { NULL, 0, 0, 0 };
	size_t off = 0, certs = 0, steps, max_steps;
	int in_object = 0, in_cert = 0, final_newline = 0, rc = -1;

	if (len > SIZE_MAX / 4) {
		set_error(err, errlen, "PEM input too large");
		return -1;
	}
	/* The DER of one object is shorter than its Base64 text, so len
	 * bytes always suffice and TRUST_CERT_MAX bounds the allocation. */
	der.cap = len < TRUST_CERT_MAX ? len : TRUST_CERT_MAX;
	der.data = malloc(der.cap > 0 ? der.cap : 1);
	if (der.data == NULL) {
		set_error(err, errlen, "out of memory");
		goto done;
	}
	br_pem_decoder_init(&pc);

	/*
	 * Each step either consumes input or reads the one event that
	 * stopped the decoder, and an event needs input before the next,
	 * so 2 * (len + 1) steps suffice.  The limit guards against a
	 * decoder that would stop making progress.
	 */
	max_steps = 2 * (len + 1) + 2;
	for (steps = 0; steps < max_steps; steps++) {
		int event;

		if (off < len) {
			off += br_pem_decoder_push(&pc, pem + off, len - off);
		} else if (!final_newline) {
			/* The decoder acts on an END line only at its newline;
			 * supply one in case the input ends without it. */
			final_newline = br_pem_decoder_push(&pc, "\n", 1) == 1;
		}
		event = br_pem_decoder_event(&pc);
		if (event == BR_PEM_BEGIN_OBJ) {
			in_object = 1;
			in_cert = is_certificate(br_pem_decoder_name(&pc));
			der.len = 0;
			der.overflow = 0;
			if (in_cert)
				br_pem_decoder_setdest(&pc, der_append, &der);
			else
				br_pem_decoder_setdest(&pc, NULL, NULL);
		} else if (event == BR_PEM_END_OBJ) {
			in_object = 0;
			if (!in_cert)
				continue;
			in_cert = 0;
			certs++;
			if (der.overflow) {
				set_error(err, errlen, "certificate %zu: over "
				    "%d bytes", certs, TRUST_CERT_MAX);
				goto done;
			}
			if (fn(ctx, certs, der.data, der.len, err, errlen) != 0)
				goto done;
		} else if (event == BR_PEM_ERROR) {
			set_error(err, errlen, "invalid PEM: bad Base64 "
			    "before byte %zu", off);
			goto done;
		} else if (off == len && final_newline) {
			break;
		}
	}
	if (steps == max_steps) {
		set_error(err, errlen, "PEM decoder made no progress");
		goto done;
	}
	if (in_object) {
		set_error(err, errlen, "truncated PEM: no END line");
		goto done;
	}
	if (certs == 0) {
		set_error(err, errlen, "no CERTIFICATE found in PEM data");
		goto done;
	}
	rc = 0;
done:
	free(der.data);
	return rc;
}

/* Subject name of the certificate being decoded. */
struct dn_buffer {
	unsigned char data[TRUST_DN_MAX];
	size_t len;
	int overflow;
};

static void
dn_append(void *ctx, const void *src, size_t len)
{
	struct dn_buffer *dn = ctx;

	if (dn->overflow || len > sizeof dn->data - dn->len) {
		dn->overflow = 1;
		return;
	}
	memcpy(dn->data + dn->len, src, len);
	dn->len += len;
}

static unsigned char *
copy_bytes(const unsigned char *src, size_t len)
{
	unsigned char *p;

	p = malloc(len > 0 ? len : 1);
	if (p != NULL && len > 0)
		memcpy(p, src, len);
	return p;
}

static int
is_supported_curve(int curve)
{
	return curve == BR_EC_secp256r1 || curve == BR_EC_secp384r1 ||
	    curve == BR_EC_secp521r1;
}

int
trust_anchor_from_der(const unsigned char *der, size_t len,
    br_x509_trust_anchor *ta, char *err, size_t errlen)
{
	br_x509_decoder_context dc;
	struct dn_buffer dn;
	const br_x509_pkey *pk;
	int rc = -1;

	memset(ta, 0, sizeof *ta);
	dn.len = 0;
	dn.overflow = 0;
	br_x509_decoder_init(&dc, dn_append, &dn);
	br_x509_decoder_push(&dc, der, len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL) {
		int code = br_x509_decoder_last_error(&dc);

		if (code == BR_ERR_X509_UNSUPPORTED)
			set_error(err, errlen, "unsupported public key type or "
			    "certificate feature (BearSSL error %d)", code);
		else
			set_error(err, errlen, "not a valid X.509 certificate "
			    "(BearSSL error %d)", code);
		goto done;
	}
	if (dn.overflow || dn.len == 0) {
		set_error(err, errlen, "subject name empty or longer than %d "
		    "bytes", TRUST_DN_MAX);
		goto done;
	}

	if (pk->key_type == BR_KEYTYPE_RSA) {
		const br_rsa_public_key *rsa = &pk->key.rsa;
		unsigned char *key;

		if (rsa->nlen == 0 || rsa->elen == 0) {
			set_error(err, errlen, "empty RSA key");
			goto done;
		}
		/* One allocation: modulus, then exponent. */
		key = malloc(rsa->nlen + rsa->elen);
		if (key == NULL) {
			set_error(err, errlen, "out of memory");
			goto done;
		}
		memcpy(key, rsa->n, rsa->nlen);
		memcpy(key + rsa->nlen, rsa->e, rsa->elen);
		ta->pkey.key_type = BR_KEYTYPE_RSA;
		ta->pkey.key.rsa.n = key;
		ta->pkey.key.rsa.nlen = rsa->nlen;
		ta->pkey.key.rsa.e = key + rsa->nlen;
		ta->pkey.key.rsa.elen = rsa->elen;
	} else if (pk->key_type == BR_KEYTYPE_EC) {
		const br_ec_public_key *ec = &pk->key.ec;

		/* BearSSL 0.6 refuses other curves already; this keeps
		 * the contract should a later version know more. */
		if (!is_supported_curve(ec->curve) || ec->qlen == 0) {
			set_error(err, errlen, "unsupported elliptic curve "
			    "(BearSSL curve %d)", ec->curve);
			goto done;
		}
		ta->pkey.key.ec.q = copy_bytes(ec->q, ec->qlen);
		if (ta->pkey.key.ec.q == NULL) {
			set_error(err, errlen, "out of memory");
			goto done;
		}
		ta->pkey.key_type = BR_KEYTYPE_EC;
		ta->pkey.key.ec.curve = ec->curve;
		ta->pkey.key.ec.qlen = ec->qlen;
	} else {
		set_error(err, errlen, "unsupported public key type %d",
		    pk->key_type);
		goto done;
	}

	ta->dn.data = copy_bytes(dn.data, dn.len);
	if (ta->dn.data == NULL) {
		set_error(err, errlen, "out of memory");
		goto done;
	}
	ta->dn.len = dn.len;
	ta->flags = BR_X509_TA_CA;
	rc = 0;
done:
	if (rc != 0)
		trust_anchor_free(ta);
	return rc;
}

void
trust_anchor_free(br_x509_trust_anchor *ta)
{
	free(ta->dn.data);
	if (ta->pkey.key_type == BR_KEYTYPE_RSA)
		free(ta->pkey.key.rsa.n);	/* holds e too */
	else if (ta->pkey.key_type == BR_KEYTYPE_EC)
		free(ta->pkey.key.ec.q);
	memset(ta, 0, sizeof *ta);
}

/* Adds each certificate to the store being filled by trust_from_pem. */
static int
add_anchor(void *ctx, size_t number, const unsigned char *der,
    size_t derlen, char *err, size_t errlen)
{
	struct trust_store *ts = ctx;
	br_x509_trust_anchor ta, *grown;
	char why[160];

	if (trust_anchor_from_der(der, derlen, &ta, why, sizeof why) != 0) {
		set_error(err, errlen, "certificate %zu: %s", number, why);
		return -1;
	}
	grown = reallocarray(ts->anchors, ts->count + 1, sizeof *grown);
	if (grown == NULL) {
		trust_anchor_free(&ta);
		set_error(err, errlen, "out of memory");
		return -1;
	}
	ts->anchors = grown;
	ts->anchors[ts->count++] = ta;
	return 0;
}

int
trust_from_pem(const unsigned char *pem, size_t len,
    struct trust_store *out, char *err, size_t errlen)
{
	struct trust_store ts = { NULL, 0 };

	out->anchors = NULL;
	out->count = 0;
	if (trust_pem_each_cert(pem, len, add_anchor, &ts, err, errlen) != 0) {
		trust_free(&ts);
		return -1;
	}
	*out = ts;
	return 0;
}

int
trust_load_file(const char *path, struct trust_store *out,
    char *err, size_t errlen)
{
	unsigned char *buf = NULL, *grown;
	size_t len = 0, cap = 0;
	char why[160];
	int fd, rc = -1;

	out->anchors = NULL;
	out->count = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		set_error(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* Every read either fills the buffer further or ends the loop,
	 * and the buffer stops growing one byte past TRUST_FILE_MAX. */
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap > TRUST_FILE_MAX) {
				set_error(err, errlen, "%s: larger than %d "
				    "bytes", path, TRUST_FILE_MAX);
				goto done;
			}
			cap = cap == 0 ? 64 * 1024 : 2 * cap;
			if (cap > TRUST_FILE_MAX + 1)
				cap = TRUST_FILE_MAX + 1;
			grown = realloc(buf, cap);
			if (grown == NULL) {
				set_error(err, errlen, "%s: out of memory",
				    path);
				goto done;
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			set_error(err, errlen, "%s: %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (trust_from_pem(buf, len, out, why, sizeof why) != 0) {
		set_error(err, errlen, "%s: %s", path, why);
		goto done;
	}
	rc = 0;
done:
	free(buf);
	close(fd);
	return rc;
}

void
trust_free(struct trust_store *ts)
{
	size_t i;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->count; i++)
		trust_anchor_free(&ts->anchors[i]);
	free(ts->anchors);
	ts->anchors = NULL;
	ts->count = 0;
}
