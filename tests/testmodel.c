/* testmodel: shared model fixtures of the tests. See testmodel.h. */
#include "testmodel.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "testutil.h"

struct model *testmodel_open_family(const char *family)
{
	char dir[1024], err[ERR_MAX];
	snprintf(dir, sizeof dir, "%s/families/%s", testutil_fixtures(), family);
	struct model *m = NULL;
	ck_assert_msg(model_open(&m, dir, err, sizeof err) == 0, "model_open(%s): %s", dir, err);
	return m;
}

void testmodel_copy_dtype(const char *src, const char *dst, enum safetensors_dtype dtype)
{
	char from[1024], to[1024];
	DIR *d = opendir(src);
	ck_assert_ptr_nonnull(d);
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "model.safetensors") ||
		    !strcmp(de->d_name, "expected.json"))
			continue;
		testutil_path_join(from, sizeof from, src, de->d_name);
		testutil_path_join(to, sizeof to, dst, de->d_name);
		testutil_file_copy(from, to);
	}
	closedir(d);
	testutil_path_join(from, sizeof from, src, "model.safetensors");
	testutil_path_join(to, sizeof to, dst, "model.safetensors");
	struct safetensors *st = NULL;
	ck_assert_int_eq(safetensors_open(&st, from), 0);
	int n = safetensors_count(st);
	struct safetensors_entry *e = calloc((size_t)n, sizeof *e);
	void **bufs = calloc((size_t)n, sizeof *bufs);
	ck_assert(e && bufs);
	for (int i = 0; i < n; i++) {
		const struct safetensors_tensor *t = safetensors_at(st, i);
		float *f = malloc((t->nelem ? t->nelem : 1) * sizeof *f);
		bufs[i] = malloc((t->nelem ? t->nelem : 1) * safetensors_dtype_size(dtype));
		ck_assert(f && bufs[i]);
		safetensors_read_f32(f, t);
		safetensors_convert_from_f32(bufs[i], dtype, f, t->nelem);
		free(f);
		e[i] = (struct safetensors_entry){.name = t->name, .dtype = dtype, .ndim = t->ndim,
						  .data = bufs[i]};
		memcpy(e[i].shape, t->shape, sizeof t->shape);
	}
	ck_assert_int_eq(safetensors_write(to, e, n, NULL, 0), 0);
	for (int i = 0; i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(e);
	safetensors_close(st);
}
