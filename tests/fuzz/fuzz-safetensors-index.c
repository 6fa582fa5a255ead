/* fuzz-safetensors-index: a sharded checkpoint through safetensors_open_dir. The input is the
 * model.safetensors.index.json text, optionally followed by a NUL and the bytes of the first
 * shard (model-00001-of-00002.safetensors); without the NUL both shards are the valid ones
 * written at start-up: "a" (F32 [2]) and "b" (F16 [2, 2]) in the first, "c" (BF16 [3]) in the
 * second. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "safetensors.h"

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

static void write_shards(void)
{
	static const float a[2] = {1, -2};
	static const uint16_t b[4] = {0x3c00, 0xc000, 0x7c00, 0x0001};
	static const uint16_t c[3] = {0x3f80, 0x7fc0, 0x0000};
	struct safetensors_entry e1[2] = {
		{"a", SAFETENSORS_DTYPE_F32, 1, {2}, a},
		{"b", SAFETENSORS_DTYPE_F16, 2, {2, 2}, b},
	};
	struct safetensors_entry e2[1] = {{"c", SAFETENSORS_DTYPE_BF16, 1, {3}, c}};
	if (safetensors_write(fuzz_path(SHARD1), e1, 2, NULL, 0) ||
	    safetensors_write(fuzz_path(SHARD2), e2, 1, NULL, 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool written, dirty; /* shards on disk; shard 1 holds fuzzer bytes */
	const uint8_t *nul = memchr(data, 0, size);
	size_t index_len = nul ? (size_t)(nul - data) : size;
	if (!written || (dirty && !nul))
		write_shards();
	written = true;
	dirty = nul != NULL;
	if (nul)
		fuzz_write(SHARD1, nul + 1, size - index_len - 1);
	fuzz_write("model.safetensors.index.json", data, index_len);
	struct safetensors *st = NULL;
	if (safetensors_open_dir(&st, fuzz_dir())) {
		if (st)
			abort();
		return 0;
	}
	fuzz_walk_tensors(st);
	safetensors_close(st);
	return 0;
}
