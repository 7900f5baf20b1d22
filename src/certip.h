/*
 * certip.h -- match an IP address against a certificate's
 * subjectAltName iPAddress entries.  A pure function over DER bytes.
 *
 * BearSSL's minimal X.509 engine checks DNS names only; when the
 * upstream is an IP literal (https://127.0.0.1/...), this is the check
 * that takes its place (RFC 6125: an IP reference identity matches an
 * iPAddress SAN, never a DNS name or the common name).
 */
#ifndef CERTIP_H
#define CERTIP_H

#include <stddef.h>

/*
 * Look through the subjectAltName extension of the DER certificate
 * der[0..length) for an iPAddress equal to ip[0..ip_length) (4 bytes
 * for IPv4, 16 for IPv6, network order).  Returns 1 on a match, 0 when
 * there is none, -1 when the DER cannot be walked.
 */
int certip_matches(const unsigned char *der, size_t length,
    const unsigned char *ip, size_t ip_length);

#endif
