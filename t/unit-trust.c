/*
 * unit-trust.c -- TAP tests for src/trust.c: PEM certificates to
 * BearSSL trust anchors, and the compiled-in roots.
 *
 * Inputs are placed against a PROT_NONE page, so reading one byte past
 * the end crashes the test.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "trust.h"

/* Public CA roots from vendor/ca-roots.pem, and two self-signed
 * certificates with keys BearSSL anchors cannot use. */
static const char ISRG_ROOT_X1[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIFazCCA1OgAwIBAgIRAIIQz7DSQONZRGPgu2OCiwAwDQYJKoZIhvcNAQELBQAw\n"
    "TzELMAkGA1UEBhMCVVMxKTAnBgNVBAoTIEludGVybmV0IFNlY3VyaXR5IFJlc2Vh\n"
    "cmNoIEdyb3VwMRUwEwYDVQQDEwxJU1JHIFJvb3QgWDEwHhcNMTUwNjA0MTEwNDM4\n"
    "WhcNMzUwNjA0MTEwNDM4WjBPMQswCQYDVQQGEwJVUzEpMCcGA1UEChMgSW50ZXJu\n"
    "ZXQgU2VjdXJpdHkgUmVzZWFyY2ggR3JvdXAxFTATBgNVBAMTDElTUkcgUm9vdCBY\n"
    "MTCCAiIwDQYJKoZIhvcNAQEBBQADggIPADCCAgoCggIBAK3oJHP0FDfzm54rVygc\n"
    "h77ct984kIxuPOZXoHj3dcKi/vVqbvYATyjb3miGbESTtrFj/RQSa78f0uoxmyF+\n"
    "0TM8ukj13Xnfs7j/EvEhmkvBioZxaUpmZmyPfjxwv60pIgbz5MDmgK7iS4+3mX6U\n"
    "A5/TR5d8mUgjU+g4rk8Kb4Mu0UlXjIB0ttov0DiNewNwIRt18jA8+o+u3dpjq+sW\n"
    "T8KOEUt+zwvo/7V3LvSye0rgTBIlDHCNAymg4VMk7BPZ7hm/ELNKjD+Jo2FR3qyH\n"
    "B5T0Y3HsLuJvW5iB4YlcNHlsdu87kGJ55tukmi8mxdAQ4Q7e2RCOFvu396j3x+UC\n"
    "B5iPNgiV5+I3lg02dZ77DnKxHZu8A/lJBdiB3QW0KtZB6awBdpUKD9jf1b0SHzUv\n"
    "KBds0pjBqAlkd25HN7rOrFleaJ1/ctaJxQZBKT5ZPt0m9STJEadao0xAH0ahmbWn\n"
    "OlFuhjuefXKnEgV4We0+UXgVCwOPjdAvBbI+e0ocS3MFEvzG6uBQE3xDk3SzynTn\n"
    "jh8BCNAw1FtxNrQHusEwMFxIt4I7mKZ9YIqioymCzLq9gwQbooMDQaHWBfEbwrbw\n"
    "qHyGO0aoSCqI3Haadr8faqU9GY/rOPNk3sgrDQoo//fb4hVC1CLQJ13hef4Y53CI\n"
    "rU7m2Ys6xt0nUW7/vGT1M0NPAgMBAAGjQjBAMA4GA1UdDwEB/wQEAwIBBjAPBgNV\n"
    "HRMBAf8EBTADAQH/MB0GA1UdDgQWBBR5tFnme7bl5AFzgAiIyBpY9umbbjANBgkq\n"
    "hkiG9w0BAQsFAAOCAgEAVR9YqbyyqFDQDLHYGmkgJykIrGF1XIpu+ILlaS/V9lZL\n"
    "ubhzEFnTIZd+50xx+7LSYK05qAvqFyFWhfFQDlnrzuBZ6brJFe+GnY+EgPbk6ZGQ\n"
    "3BebYhtF8GaV0nxvwuo77x/Py9auJ/GpsMiu/X1+mvoiBOv/2X/qkSsisRcOj/KK\n"
    "NFtY2PwByVS5uCbMiogziUwthDyC3+6WVwW6LLv3xLfHTjuCvjHIInNzktHCgKQ5\n"
    "ORAzI4JMPJ+GslWYHb4phowim57iaztXOoJwTdwJx4nLCgdNbOhdjsnvzqvHu7Ur\n"
    "TkXWStAmzOVyyghqpZXjFaH3pO3JLF+l+/+sKAIuvtd7u+Nxe5AW0wdeRlN8NwdC\n"
    "jNPElpzVmbUq4JUagEiuTDkHzsxHpFKVK7q4+63SM1N95R1NbdWhscdCb+ZAJzVc\n"
    "oyi3B43njTOQ5yOf+1CceWxG1bQVs5ZufpsMljq4Ui0/1lvh+wjChP4kqKOJ2qxq\n"
    "4RgqsahDYVvTH9w7jXbyLeiNdd8XM2w9U/t7y0Ff/9yi0GE44Za4rF2LN9d11TPA\n"
    "mRGunUHBcnWEvgJBQl9nJEiU0Zsnvgc/ubhPgXRR4Xq37Z0j4r7g1SgEEzwxA57d\n"
    "emyPxgcYxn/eR44/KJ4EBs+lVDR3veyJm+kXQ99b21/+jh5Xos1AnX5iItreGCc=\n"
    "-----END CERTIFICATE-----\n";

static const char ISRG_ROOT_X2[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICGzCCAaGgAwIBAgIQQdKd0XLq7qeAwSxs6S+HUjAKBggqhkjOPQQDAzBPMQsw\n"
    "CQYDVQQGEwJVUzEpMCcGA1UEChMgSW50ZXJuZXQgU2VjdXJpdHkgUmVzZWFyY2gg\n"
    "R3JvdXAxFTATBgNVBAMTDElTUkcgUm9vdCBYMjAeFw0yMDA5MDQwMDAwMDBaFw00\n"
    "MDA5MTcxNjAwMDBaME8xCzAJBgNVBAYTAlVTMSkwJwYDVQQKEyBJbnRlcm5ldCBT\n"
    "ZWN1cml0eSBSZXNlYXJjaCBHcm91cDEVMBMGA1UEAxMMSVNSRyBSb290IFgyMHYw\n"
    "EAYHKoZIzj0CAQYFK4EEACIDYgAEzZvVn4CDCuwJSvMWSj5cz3es3mcFDR0HttwW\n"
    "+1qLFNvicWDEukWVEYmO6gbf9yoWHKS5xcUy4APgHoIYOIvXRdgKam7mAHf7AlF9\n"
    "ItgKbppbd9/w+kHsOdx1ymgHDB/qo0IwQDAOBgNVHQ8BAf8EBAMCAQYwDwYDVR0T\n"
    "AQH/BAUwAwEB/zAdBgNVHQ4EFgQUfEKWrt5LSDv6kviejM9ti6lyN5UwCgYIKoZI\n"
    "zj0EAwMDaAAwZQIwe3lORlCEwkSHRhtFcP9Ymd70/aTSVaYgLXTWNLxBo1BfASdW\n"
    "tL4ndQavEi51mI38AjEAi/V3bNTIZargCyzuFJ0nN6T5U6VR5CmD1/iQMVtCnwr1\n"
    "/q4AaOeMSQ+2b1tbFfLn\n"
    "-----END CERTIFICATE-----\n";

static const char ED25519_CERT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBTzCCAQGgAwIBAgIUVKTtXdHvLAYk6xZ1aYN3gJe4zUowBQYDK2VwMB0xGzAZ\n"
    "BgNVBAMMEnVuaXQtdHJ1c3QgZWQyNTUxOTAeFw0yNjExMjMxNzExMzFaFw0zNjEx\n"
    "MjAxNzExMzFaMB0xGzAZBgNVBAMMEnVuaXQtdHJ1c3QgZWQyNTUxOTAqMAUGAytl\n"
    "cAMhAAzQRFReL0ZNmZGxdF6iZHxO9uZ+fTOWHY2TNfVIOxyXo1MwUTAdBgNVHQ4E\n"
    "FgQUzQtr9WHkyYajz1ZTQSK2UMW1wKEwHwYDVR0jBBgwFoAUzQtr9WHkyYajz1ZT\n"
    "QSK2UMW1wKEwDwYDVR0TAQH/BAUwAwEB/zAFBgMrZXADQQA+AsUGfo4MQ2jgAPh4\n"
    "jOzAVfD5WD7hPyNfXwZOeqNWWyoUBnlPFkC/QbRtdFAu2Jd8pB1ts29iO29VUAWZ\n"
    "8T0E\n"
    "-----END CERTIFICATE-----\n";

static const char SECP256K1_CERT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBkDCCATagAwIBAgIUGjIVtjfiq/CSE6n1+LH25eYVxzswCgYIKoZIzj0EAwIw\n"
    "HzEdMBsGA1UEAwwUdW5pdC10cnVzdCBzZWNwMjU2azEwHhcNMjYxMTIzMTcxMTMx\n"
    "WhcNMzYxMTIwMTcxMTMxWjAfMR0wGwYDVQQDDBR1bml0LXRydXN0IHNlY3AyNTZr\n"
    "MTBWMBAGByqGSM49AgEGBSuBBAAKA0IABMHQzlzO2hOBwUrWUWNRN561GHpUq1Xd\n"
    "9lydaJBK4Yf9ISnaX9GLnl+M2N4MJ1k2kSLTmKCQVufCJBzYaaScFI6jUzBRMB0G\n"
    "A1UdDgQWBBTYoPMgEr55LxYvaZgwfJAoe+UenTAfBgNVHSMEGDAWgBTYoPMgEr55\n"
    "LxYvaZgwfJAoe+UenTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUC\n"
    "IHKgqhOh5FH3W0BbtQSEQsTDLJs7CFd2z4f/omA2usFOAiEA+kF4aIAvtjXyOQwl\n"
    "ujsj/bw/Ox7Qgg1emX6yNzoMKmI=\n"
    "-----END CERTIFICATE-----\n";

static int test_count, failed_count;

static void ok(int pass, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
ok(int pass, const char *fmt, ...)
{
	va_list ap;

	test_count++;
	if (!pass)
		failed_count++;
	printf("%sok %d - ", pass ? "" : "not ", test_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* A copy of some bytes that ends right where an inaccessible page
 * begins. */
struct guarded {
	unsigned char *map;
	size_t maplen;
	const unsigned char *data;
};

static void
guard(struct guarded *g, const void *src, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = (len + page - 1) / page;
	unsigned char *start;

	g->maplen = (pages + 1) * page;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	if (mprotect(g->map + pages * page, page, PROT_NONE) != 0) {
		perror("mprotect");
		exit(2);
	}
	start = g->map + pages * page - len;
	if (len > 0)
		memcpy(start, src, len);
	g->data = start;
}

static void
unguard(struct guarded *g)
{
	munmap(g->map, g->maplen);
}

/* trust_from_pem on a guarded copy of text[0..len). */
static int
parse(const char *text, size_t len, struct trust_store *ts, char *err,
    size_t errlen)
{
	static br_x509_trust_anchor poison;
	struct guarded g;
	int rc;

	guard(&g, text, len);
	/* Junk, to see that a failure resets the store. */
	ts->anchors = &poison;
	ts->count = 42;
	rc = trust_from_pem(g.data, len, ts, err, errlen);
	unguard(&g);
	return rc;
}

static int
contains(const char *haystack, const char *needle)
{
	return strstr(haystack, needle) != NULL;
}

static int
same_bytes(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static int
same_anchor(const br_x509_trust_anchor *a, const br_x509_trust_anchor *b)
{
	if (!same_bytes(a->dn.data, a->dn.len, b->dn.data, b->dn.len) ||
	    a->flags != b->flags || a->pkey.key_type != b->pkey.key_type)
		return 0;
	if (a->pkey.key_type == BR_KEYTYPE_RSA)
		return same_bytes(a->pkey.key.rsa.n, a->pkey.key.rsa.nlen,
		    b->pkey.key.rsa.n, b->pkey.key.rsa.nlen) &&
		    same_bytes(a->pkey.key.rsa.e, a->pkey.key.rsa.elen,
		    b->pkey.key.rsa.e, b->pkey.key.rsa.elen);
	return a->pkey.key.ec.curve == b->pkey.key.ec.curve &&
	    same_bytes(a->pkey.key.ec.q, a->pkey.key.ec.qlen,
	    b->pkey.key.ec.q, b->pkey.key.ec.qlen);
}

/* Writes data to a new temporary file; returns its path (static). */
static const char *
write_temp(const void *data, size_t len)
{
	static char path[4096];
	const char *dir = getenv("TMPDIR");
	FILE *f;
	int fd;

	snprintf(path, sizeof path, "%s/unit-trust.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd == -1 || (f = fdopen(fd, "wb")) == NULL) {
		perror(path);
		exit(2);
	}
	if (fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	return path;
}

static void
test_builtin(void)
{
	size_t i, bad = 0;

	ok(trust_builtin_count > 0, "builtin roots exist (%zu)",
	    trust_builtin_count);
	for (i = 0; i < trust_builtin_count; i++) {
		const br_x509_trust_anchor *ta = &trust_builtin_anchors[i];

		if (ta->flags != BR_X509_TA_CA || ta->dn.len == 0 ||
		    (ta->pkey.key_type == BR_KEYTYPE_RSA ?
		    ta->pkey.key.rsa.nlen < 256 :
		    ta->pkey.key_type != BR_KEYTYPE_EC ||
		    ta->pkey.key.ec.qlen == 0))
			bad++;
	}
	ok(bad == 0, "every builtin root is a CA with a name and an RSA "
	    "(>= 2048 bits) or EC key");
}

static void
test_two_certificates(void)
{
	static char pem[8192];
	struct trust_store ts;
	const br_x509_trust_anchor *rsa, *ec;
	char err[256] = "";
	size_t i, matches = 0;
	int rc;

	snprintf(pem, sizeof pem, "%s%s", ISRG_ROOT_X1, ISRG_ROOT_X2);
	rc = parse(pem, strlen(pem), &ts, err, sizeof err);
	ok(rc == 0 && ts.count == 2, "two certificates give two anchors "
	    "(rc %d, %s)", rc, err);
	if (rc != 0 || ts.count != 2) {
		ok(0, "RSA anchor (skipped)");
		ok(0, "EC anchor (skipped)");
		ok(0, "anchors equal the builtin ones (skipped)");
		return;
	}
	rsa = &ts.anchors[0];
	ec = &ts.anchors[1];
	ok(rsa->flags == BR_X509_TA_CA &&
	    rsa->pkey.key_type == BR_KEYTYPE_RSA &&
	    rsa->pkey.key.rsa.nlen == 512 && rsa->pkey.key.rsa.elen == 3 &&
	    memcmp(rsa->pkey.key.rsa.e, "\x01\x00\x01", 3) == 0,
	    "first anchor: CA, RSA-4096, e = 65537");
	ok(ec->flags == BR_X509_TA_CA && ec->pkey.key_type == BR_KEYTYPE_EC &&
	    ec->pkey.key.ec.curve == BR_EC_secp384r1 &&
	    ec->pkey.key.ec.qlen == 97 && ec->pkey.key.ec.q[0] == 0x04,
	    "second anchor: CA, EC P-384, uncompressed point");
	for (i = 0; i < trust_builtin_count; i++) {
		const br_x509_trust_anchor *builtin = &trust_builtin_anchors[i];

		matches += (size_t)(same_anchor(builtin, rsa) +
		    same_anchor(builtin, ec));
	}
	ok(matches == 2, "both anchors equal the builtin ISRG roots");
	trust_free(&ts);
	ok(ts.anchors == NULL && ts.count == 0, "trust_free empties the store");
	trust_free(&ts);
	trust_free(NULL);
	ok(1, "trust_free twice and on NULL is harmless");
}

static void
test_accepted_layouts(void)
{
	static char pem[16384];
	struct trust_store ts;
	char err[256] = "";
	size_t i, o;
	int rc;

	/* Without the newline after the last END line. */
	snprintf(pem, sizeof pem, "%s", ISRG_ROOT_X2);
	rc = parse(pem, strlen(pem) - 1, &ts, err, sizeof err);
	ok(rc == 0 && ts.count == 1, "END line without final newline is "
	    "accepted (%s)", err);
	trust_free(&ts);

	/* CRLF line ends. */
	for (i = 0, o = 0; ISRG_ROOT_X2[i] != '\0' && o + 2 < sizeof pem; i++) {
		if (ISRG_ROOT_X2[i] == '\n')
			pem[o++] = '\r';
		pem[o++] = ISRG_ROOT_X2[i];
	}
	err[0] = '\0';
	rc = parse(pem, o, &ts, err, sizeof err);
	ok(rc == 0 && ts.count == 1, "CRLF line ends are accepted (%s)", err);
	trust_free(&ts);

	/* Text around and between blocks, and other block types. */
	snprintf(pem, sizeof pem, "# a comment\nsubject=CN = x\n%s\n"
	    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n"
	    "-----END PRIVATE KEY-----\nmore text\n%strailing text",
	    ISRG_ROOT_X1, ISRG_ROOT_X2);
	err[0] = '\0';
	rc = parse(pem, strlen(pem), &ts, err, sizeof err);
	ok(rc == 0 && ts.count == 2 &&
	    ts.anchors[0].pkey.key_type == BR_KEYTYPE_RSA &&
	    ts.anchors[1].pkey.key_type == BR_KEYTYPE_EC,
	    "text and non-certificate blocks are skipped (%s)", err);
	trust_free(&ts);
}

static const struct {
	const char *what;
	const char *pem;
	const char *message;
} rejected[] = {
	{ "garbage", "this is not PEM\n\x01\x02\xff", "no CERTIFICATE" },
	{ "empty input", "", "no CERTIFICATE" },
	{ "only a PRIVATE KEY block", "-----BEGIN PRIVATE KEY-----\n"
	    "MC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
	    "no CERTIFICATE" },
	{ "only a CERTIFICATE REQUEST block",
	    "-----BEGIN CERTIFICATE REQUEST-----\n"
	    "MIIFazCCA1OgAwIBAgIRAIIQz7DSQONZRGPgu2OCiwAw\n"
	    "-----END CERTIFICATE REQUEST-----\n", "no CERTIFICATE" },
	{ "Base64 that is not a certificate", "-----BEGIN CERTIFICATE-----\n"
	    "AAAA\n-----END CERTIFICATE-----\n", "certificate 1:" },
	{ "invalid Base64", "-----BEGIN CERTIFICATE-----\nMIIF*zCC\n"
	    "-----END CERTIFICATE-----\n", "invalid PEM" },
	{ "BEGIN without END", "-----BEGIN CERTIFICATE-----\n"
	    "MIIFazCCA1OgAwIBAgIRAIIQz7DSQONZRGPgu2OCiwAw\n", "truncated" },
	{ "Ed25519 key", ED25519_CERT, "unsupported" },
	{ "secp256k1 key", SECP256K1_CERT, "unsupported" },
};

static void
test_rejected(void)
{
	struct trust_store ts;
	char err[256];
	size_t i;
	int rc;

	for (i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
		err[0] = '\0';
		rc = parse(rejected[i].pem, strlen(rejected[i].pem), &ts, err,
		    sizeof err);
		ok(rc == -1 && ts.anchors == NULL && ts.count == 0 &&
		    contains(err, rejected[i].message),
		    "%s is rejected with \"%s\" (got \"%s\")", rejected[i].what,
		    rejected[i].message, err);
		trust_free(&ts);
	}
}

static void
test_truncated(void)
{
	static char pem[8192];
	struct trust_store ts;
	char err[256];
	size_t len = strlen(ISRG_ROOT_X2), end, n, accepted = 0;
	int rc;

	end = (size_t)(strstr(ISRG_ROOT_X2, "-----END") - ISRG_ROOT_X2);
	for (n = 0; n < end; n++) {
		accepted += parse(ISRG_ROOT_X2, n, &ts, err, sizeof err) == 0;
		trust_free(&ts);
	}
	ok(accepted == 0, "every prefix before the END line is rejected");
	for (n = end; n <= len; n++) {
		parse(ISRG_ROOT_X2, n, &ts, err, sizeof err);
		trust_free(&ts);
	}
	ok(1, "prefixes within the END line do not crash");

	/* A good first certificate does not survive a cut second one. */
	n = strlen(ISRG_ROOT_X1) / 2;
	while (ISRG_ROOT_X1[n - 1] != '\n')
		n--;
	snprintf(pem, sizeof pem, "%s%.*s", ISRG_ROOT_X2, (int)n, ISRG_ROOT_X1);
	rc = parse(pem, strlen(pem), &ts, err, sizeof err);
	ok(rc == -1 && ts.anchors == NULL && ts.count == 0 &&
	    contains(err, "truncated"),
	    "a good certificate followed by a cut one is rejected (%s)", err);

	snprintf(pem, sizeof pem, "%s%s", ISRG_ROOT_X2, ED25519_CERT);
	rc = parse(pem, strlen(pem), &ts, err, sizeof err);
	ok(rc == -1 && ts.anchors == NULL && contains(err, "certificate 2:"),
	    "the message names the failing certificate (%s)", err);
}

static void
test_error_buffer(void)
{
	struct trust_store ts;
	char err[8];

	memset(err, 'x', sizeof err);
	parse("junk", 4, &ts, err, sizeof err);
	ok(memchr(err, '\0', sizeof err) == err + sizeof err - 1,
	    "a message is cut to fit errlen and NUL-terminated");
	ok(parse("junk", 4, &ts, NULL, 0) == -1, "err may be NULL");
}

struct walk {
	size_t calls;
	size_t last;
	size_t derlen[4];
};

static int
stop_at_second(void *ctx, size_t number, const unsigned char *der,
    size_t derlen, char *err, size_t errlen)
{
	struct walk *w = ctx;

	if (w->calls < 4)
		w->derlen[w->calls] = derlen;
	w->calls++;
	w->last = number;
	(void)der;
	if (number == 2) {
		snprintf(err, errlen, "stopped at %zu", number);
		return -1;
	}
	return 0;
}

static void
test_walk(void)
{
	static char pem[16384];
	struct guarded g;
	struct walk w = { 0, 0, { 0 } };
	char err[64] = "";
	size_t len;
	int rc;

	snprintf(pem, sizeof pem, "%s%s%s", ISRG_ROOT_X1, ISRG_ROOT_X2,
	    ISRG_ROOT_X1);
	len = strlen(pem);
	guard(&g, pem, len);
	rc = trust_pem_each_cert(g.data, len, stop_at_second, &w, err,
	    sizeof err);
	unguard(&g);
	ok(rc == -1 && w.calls == 2 && w.last == 2 &&
	    strcmp(err, "stopped at 2") == 0,
	    "the walk stops when the callback fails and keeps its message");
	ok(w.derlen[0] == 1391 && w.derlen[1] == 543,
	    "the callback gets the whole DER of each certificate (%zu, %zu)",
	    w.derlen[0], w.derlen[1]);
}

static void
test_files(void)
{
	static const char missing[] = "/nonexistent-dir/unit-trust-missing.pem";
	struct trust_store ts;
	char err[512];
	char *big;
	const char *path;
	size_t head;
	int rc;

	big = malloc(TRUST_FILE_MAX + 1);
	if (big == NULL) {
		perror("malloc");
		exit(2);
	}
	head = (size_t)snprintf(big, TRUST_FILE_MAX, "%s%s", ISRG_ROOT_X1,
	    ISRG_ROOT_X2);
	memset(big + head, 'x', TRUST_FILE_MAX + 1 - head);

	path = write_temp(big, head);
	err[0] = '\0';
	rc = trust_load_file(path, &ts, err, sizeof err);
	ok(rc == 0 && ts.count == 2, "a CA file loads (%s)", err);
	trust_free(&ts);
	unlink(path);

	path = write_temp(big, TRUST_FILE_MAX);
	err[0] = '\0';
	rc = trust_load_file(path, &ts, err, sizeof err);
	ok(rc == 0 && ts.count == 2, "a file of exactly TRUST_FILE_MAX bytes "
	    "loads (%s)", err);
	trust_free(&ts);
	unlink(path);

	path = write_temp(big, TRUST_FILE_MAX + 1);
	err[0] = '\0';
	rc = trust_load_file(path, &ts, err, sizeof err);
	ok(rc == -1 && ts.anchors == NULL && ts.count == 0 &&
	    contains(err, path) && contains(err, "larger than"),
	    "a file one byte over TRUST_FILE_MAX is rejected (%s)", err);
	unlink(path);
	free(big);

	path = write_temp(ED25519_CERT, strlen(ED25519_CERT));
	err[0] = '\0';
	rc = trust_load_file(path, &ts, err, sizeof err);
	ok(rc == -1 && contains(err, path) && contains(err, "certificate 1:"),
	    "a parse error names the file and the certificate (%s)", err);
	unlink(path);

	err[0] = '\0';
	rc = trust_load_file(missing, &ts, err, sizeof err);
	ok(rc == -1 && ts.anchors == NULL && ts.count == 0 &&
	    contains(err, missing),
	    "a missing file is rejected and named (%s)", err);

	err[0] = '\0';
	rc = trust_load_file("/", &ts, err, sizeof err);
	ok(rc == -1 && contains(err, "/: "), "a directory is rejected (%s)",
	    err);
}

int
main(void)
{
	test_builtin();
	test_two_certificates();
	test_accepted_layouts();
	test_rejected();
	test_truncated();
	test_error_buffer();
	test_walk();
	test_files();
	printf("1..%d\n", test_count);
	return failed_count == 0 ? 0 : 1;
}
