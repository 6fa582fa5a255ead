/* fuzz-safetensors: the fuzzer's bytes as one .safetensors file through safetensors_open, then
 * every reader of the opened set (index, lookup by name, f32 conversion, metadata). Aborts on a
 * broken invariant: lookup not finding a listed tensor, a byte count disagreeing with the shape. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write("model.safetensors", data, size);
	struct safetensors *st = NULL;
	if (safetensors_open(&st, path)) {
		if (st)
			abort(); /* output written on failure */
		return 0;
	}
	fuzz_walk_tensors(st);
	safetensors_close(st);
	return 0;
}
