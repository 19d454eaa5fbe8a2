/* sha256.c - SHA-256 and HMAC-SHA-256 through OpenSSL's libcrypto */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rollgate/util.h"

void rg_sha256(uint8_t out[RG_SHA256_LEN], const void *data, size_t len)
{
    unsigned int n = RG_SHA256_LEN;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

static void to_hex(char *out, const uint8_t *bytes, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void rg_sha256_hex(char out[65], const void *data, size_t len)
{
    uint8_t digest[RG_SHA256_LEN];
    rg_sha256(digest, data, len);
    to_hex(out, digest, sizeof(digest));
}

void rg_hmac_sha256(uint8_t out[RG_SHA256_LEN], const void *key, size_t keylen, const void *data,
                    size_t len)
{
    unsigned int n = RG_SHA256_LEN;
    HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n);
}

void rg_hash_id(char out[13], const char *id)
{
    char hex[65];
    rg_sha256_hex(hex, id, strlen(id));
    memcpy(out, hex, 12);
    out[12] = '\0';
}
