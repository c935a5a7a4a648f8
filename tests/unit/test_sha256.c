/*
 * Unit tests of lib/sha256.c against the FIPS 180-2 / NIST example
 * vectors, fed whole and in awkward pieces.
 */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sha256.h"

static void
hash_hex(const void *p, size_t n, char *hex)
{
	struct sha256	 s;

	sha256_init(&s);
	sha256_update(&s, p, n);
	sha256_final_hex(&s, hex);
}

static void
test_empty(void **state)
{
	char	 hex[SHA256_HEX_LEN + 1];

	(void)state;
	hash_hex("", 0, hex);
	assert_string_equal(hex,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void
test_abc(void **state)
{
	char	 hex[SHA256_HEX_LEN + 1];

	(void)state;
	hash_hex("abc", 3, hex);
	assert_string_equal(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* 448 bits: the padding needs a second block. */
static void
test_two_blocks(void **state)
{
	const char	*m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char		 hex[SHA256_HEX_LEN + 1];

	(void)state;
	hash_hex(m, strlen(m), hex);
	assert_string_equal(hex,
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void
test_896_bits(void **state)
{
	const char	*m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	    "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	char		 hex[SHA256_HEX_LEN + 1];

	(void)state;
	hash_hex(m, strlen(m), hex);
	assert_string_equal(hex,
	    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

/* One million 'a', fed in pieces of sizes that straddle block edges. */
static void
test_million_a_in_pieces(void **state)
{
	struct sha256	 s;
	char		*m, hex[SHA256_HEX_LEN + 1];
	size_t		 off = 0, step = 1;

	(void)state;
	m = malloc(1000000);
	assert_non_null(m);
	memset(m, 'a', 1000000);
	sha256_init(&s);
	while (off < 1000000) {
		size_t	 n = step < 1000000 - off ? step : 1000000 - off;

		sha256_update(&s, m + off, n);
		off += n;
		step = step * 3 % 997 + 1;
	}
	sha256_final_hex(&s, hex);
	assert_string_equal(hex,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	hash_hex(m, 1000000, hex);
	assert_string_equal(hex,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(m);
}

/* Lengths 55, 56 and 64 sit on the padding boundaries. */
static void
test_padding_edges(void **state)
{
	char	 m[64], hex[SHA256_HEX_LEN + 1];

	(void)state;
	memset(m, 'a', sizeof(m));
	hash_hex(m, 55, hex);
	assert_string_equal(hex,
	    "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
	hash_hex(m, 56, hex);
	assert_string_equal(hex,
	    "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
	hash_hex(m, 64, hex);
	assert_string_equal(hex,
	    "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_abc),
		cmocka_unit_test(test_two_blocks),
		cmocka_unit_test(test_896_bits),
		cmocka_unit_test(test_million_a_in_pieces),
		cmocka_unit_test(test_padding_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
