/*
 * mkanchors -- turn the pinned CA bundle into C source.
 *
 *	mkanchors vendor/ca-roots.pem vendor/ca-roots.txt > build/anchors.c
 *
 * Checks that the certificates in the PEM file are exactly those listed
 * in the text file (same number, same order, same SHA-256 of the DER),
 * so the bundle cannot change without its reviewed fingerprint list
 * changing too.  Then prints the definition of trust_builtin_anchors
 * and trust_builtin_count (see src/trust.h).  Prints nothing to
 * standard output unless every check passed.  Exit status: 0 on
 * success, 1 on any error, with a message on standard error.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trust.h"

/* Input sizes.  The real files are about 40 KiB and 4 KiB. */
#define PEM_FILE_MAX    TRUST_FILE_MAX
#define LIST_FILE_MAX   (1024 * 1024)
#define ROOTS_MAX       1000
#define NAME_MAX_LEN    200

#define FINGERPRINT_HEX (2 * br_sha256_SIZE)

/* One line of the fingerprint list. */
struct root {
	unsigned char sha256[br_sha256_SIZE];
	const char *name;	/* into the list buffer, not terminated */
	size_t namelen;
	size_t line;
};

struct root_list {
	struct root roots[ROOTS_MAX];
	size_t count;
	const char *path;
};

/* What check_fingerprint has seen of the PEM file so far. */
struct check {
	const struct root_list *list;
	size_t certs;
};

/* Reads a whole file into a new buffer; exits on error. */
static char *
read_file(const char *path, size_t max, size_t *lenp)
{
	FILE *f;
	char *buf;
	size_t len;

	f = fopen(path, "rb");
	if (f == NULL)
		err(1, "%s", path);
	buf = malloc(max + 1);
	if (buf == NULL)
		err(1, "malloc");
	len = fread(buf, 1, max + 1, f);
	if (ferror(f))
		err(1, "%s: read", path);
	if (len > max)
		errx(1, "%s: larger than %zu bytes", path, max);
	fclose(f);
	*lenp = len;
	return buf;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Parses one "<64 lowercase hex>  <name>" line.  Names end up in C
 * comments, so they are limited to printable ASCII without "*" + "/".
 */
static void
parse_root_line(const char *path, size_t lineno, const char *line,
    size_t len, struct root *root)
{
	size_t i;

	if (len < FINGERPRINT_HEX + 3 || line[FINGERPRINT_HEX] != ' ' ||
	    line[FINGERPRINT_HEX + 1] != ' ' ||
	    line[FINGERPRINT_HEX + 2] == ' ')
		errx(1, "%s:%zu: expected 64 lowercase hex digits, two spaces "
		    "and a name", path, lineno);
	for (i = 0; i < br_sha256_SIZE; i++) {
		int hi = hex_value(line[2 * i]);
		int lo = hex_value(line[2 * i + 1]);

		if (hi < 0 || lo < 0)
			errx(1, "%s:%zu: fingerprint is not 64 lowercase hex "
			    "digits", path, lineno);
		root->sha256[i] = (unsigned char)(hi << 4 | lo);
	}
	root->name = line + FINGERPRINT_HEX + 2;
	root->namelen = len - (FINGERPRINT_HEX + 2);
	root->line = lineno;
	if (root->namelen > NAME_MAX_LEN)
		errx(1, "%s:%zu: name longer than %d characters", path, lineno,
		    NAME_MAX_LEN);
	for (i = 0; i < root->namelen; i++) {
		char c = root->name[i];

		if (c < 0x20 || c > 0x7e || (c == '*' &&
		    i + 1 < root->namelen && root->name[i + 1] == '/'))
			errx(1, "%s:%zu: name must be printable ASCII without "
			    "\"*/\"", path, lineno);
	}
}

/* Fills list from the text file; blank lines and '#' lines are skipped. */
static void
parse_root_list(const char *path, const char *buf, size_t len,
    struct root_list *list)
{
	size_t off = 0, lineno = 0;

	list->count = 0;
	list->path = path;
	while (off < len) {
		const char *line = buf + off, *nl;
		size_t linelen;

		nl = memchr(line, '\n', len - off);
		linelen = nl != NULL ? (size_t)(nl - line) : len - off;
		off += linelen + (nl != NULL);
		lineno++;
		if (linelen == 0 || line[0] == '#')
			continue;
		if (list->count == ROOTS_MAX)
			errx(1, "%s:%zu: more than %d roots", path, lineno,
			    ROOTS_MAX);
		parse_root_line(path, lineno, line, linelen,
		    &list->roots[list->count]);
		list->count++;
	}
	if (list->count == 0)
		errx(1, "%s: no roots listed", path);
}

static void
hex_string(const unsigned char *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/* trust_cert_fn: certificate number must match line number of the list. */
static int
check_fingerprint(void *ctx, size_t number, const unsigned char *der,
    size_t derlen, char *msg, size_t msglen)
{
	struct check *check = ctx;
	const struct root_list *list = check->list;
	const struct root *root;
	br_sha256_context sha;
	unsigned char sum[br_sha256_SIZE];
	char hex[FINGERPRINT_HEX + 1];

	check->certs = number;
	br_sha256_init(&sha);
	br_sha256_update(&sha, der, derlen);
	br_sha256_out(&sha, sum);
	hex_string(sum, sizeof sum, hex);
	if (number > list->count) {
		snprintf(msg, msglen, "certificate %zu (SHA-256 %s) is not "
		    "listed in %s, which has %zu roots", number, hex,
		    list->path, list->count);
		return -1;
	}
	root = &list->roots[number - 1];
	if (memcmp(sum, root->sha256, sizeof sum) != 0) {
		char pinned[FINGERPRINT_HEX + 1];

		hex_string(root->sha256, sizeof root->sha256, pinned);
		snprintf(msg, msglen, "certificate %zu has SHA-256 %s, but "
		    "%s:%zu pins %s for \"%.*s\"", number, hex, list->path,
		    root->line, pinned, (int)root->namelen, root->name);
		return -1;
	}
	return 0;
}

static void
print_bytes(const char *name, size_t number, const char *part,
    const unsigned char *bytes, size_t len)
{
	size_t i;

	printf("static unsigned char %s_%zu_%s[%zu] = {", name, number, part,
	    len);
	for (i = 0; i < len; i++)
		printf("%s0x%02x,", i % 12 == 0 ? "\n\t" : " ", bytes[i]);
	printf("\n};\n");
}

static const char *
curve_name(int curve)
{
	switch (curve) {
	case BR_EC_secp256r1:
		return "BR_EC_secp256r1";
	case BR_EC_secp384r1:
		return "BR_EC_secp384r1";
	case BR_EC_secp521r1:
		return "BR_EC_secp521r1";
	}
	errx(1, "unexpected curve %d", curve);
}

static void
print_anchors(const struct trust_store *ts, const struct root_list *list)
{
	size_t i;

	printf("/*\n"
	    " * Generated by tools/mkanchors from vendor/ca-roots.pem,\n"
	    " * checked against the fingerprints in vendor/ca-roots.txt.\n"
	    " * Do not edit.\n"
	    " *\n"
	    " * The byte arrays are not const because br_x509_trust_anchor\n"
	    " * points to non-const bytes; nothing writes to them.\n"
	    " */\n"
	    "#include \"trust.h\"\n");
	for (i = 0; i < ts->count; i++) {
		const br_x509_trust_anchor *ta = &ts->anchors[i];
		const struct root *root = &list->roots[i];
		char hex[FINGERPRINT_HEX + 1];

		hex_string(root->sha256, sizeof root->sha256, hex);
		printf("\n/* %zu: %.*s\n * SHA-256 %s */\n", i + 1,
		    (int)root->namelen, root->name, hex);
		print_bytes("root", i + 1, "dn", ta->dn.data, ta->dn.len);
		if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
			print_bytes("root", i + 1, "n", ta->pkey.key.rsa.n,
			    ta->pkey.key.rsa.nlen);
			print_bytes("root", i + 1, "e", ta->pkey.key.rsa.e,
			    ta->pkey.key.rsa.elen);
		} else {
			print_bytes("root", i + 1, "q", ta->pkey.key.ec.q,
			    ta->pkey.key.ec.qlen);
		}
	}

	printf("\nconst br_x509_trust_anchor trust_builtin_anchors[] = {\n");
	for (i = 0; i < ts->count; i++) {
		const br_x509_trust_anchor *ta = &ts->anchors[i];
		const struct root *root = &list->roots[i];
		size_t n = i + 1;

		printf("\t{ /* %zu: %.*s */\n", n, (int)root->namelen,
		    root->name);
		printf("\t\t.dn = { root_%zu_dn, sizeof root_%zu_dn },\n",
		    n, n);
		printf("\t\t.flags = BR_X509_TA_CA,\n");
		if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
			printf("\t\t.pkey = { .key_type = BR_KEYTYPE_RSA, "
			    ".key.rsa = {\n"
			    "\t\t\troot_%zu_n, sizeof root_%zu_n,\n"
			    "\t\t\troot_%zu_e, sizeof root_%zu_e } },\n",
			    n, n, n, n);
		} else {
			printf("\t\t.pkey = { .key_type = BR_KEYTYPE_EC, "
			    ".key.ec = {\n"
			    "\t\t\t%s, root_%zu_q, sizeof root_%zu_q } },\n",
			    curve_name(ta->pkey.key.ec.curve), n, n);
		}
		printf("\t},\n");
	}
	printf("};\n\n"
	    "const size_t trust_builtin_count =\n"
	    "    sizeof trust_builtin_anchors /\n"
	    "    sizeof trust_builtin_anchors[0];\n");
}

int
main(int argc, char *argv[])
{
	static struct root_list list;
	struct check check;
	struct trust_store ts;
	char *pem, *txt;
	size_t pemlen, txtlen;
	char msg[512];

	if (argc != 3) {
		fprintf(stderr, "usage: mkanchors ca-roots.pem ca-roots.txt "
		    "> anchors.c\n");
		return 1;
	}
	pem = read_file(argv[1], PEM_FILE_MAX, &pemlen);
	txt = read_file(argv[2], LIST_FILE_MAX, &txtlen);
	parse_root_list(argv[2], txt, txtlen, &list);

	check.list = &list;
	check.certs = 0;
	if (trust_pem_each_cert((const unsigned char *)pem, pemlen,
	    check_fingerprint, &check, msg, sizeof msg) != 0)
		errx(1, "%s: %s", argv[1], msg);
	if (check.certs != list.count) {
		const struct root *missing = &list.roots[check.certs];

		errx(1, "%s: %zu certificates, but %s lists %zu roots; "
		    "\"%.*s\" (line %zu) is missing", argv[1], check.certs,
		    argv[2], list.count, (int)missing->namelen, missing->name,
		    missing->line);
	}
	if (trust_from_pem((const unsigned char *)pem, pemlen, &ts,
	    msg, sizeof msg) != 0)
		errx(1, "%s: %s", argv[1], msg);
	if (ts.count != list.count)
		errx(1, "%s: decoded %zu anchors from %zu certificates",
		    argv[1], ts.count, list.count);

	print_anchors(&ts, &list);
	if (fflush(stdout) != 0 || ferror(stdout))
		errx(1, "error writing output");
	trust_free(&ts);
	free(pem);
	free(txt);
	return 0;
}
