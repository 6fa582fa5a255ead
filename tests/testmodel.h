/* testmodel: the model fixtures the tests share (kept out of testutil so that tests of util/ and
 * policy/ need not link model/). Failures are Check assertions. */
#ifndef YOPO_TESTMODEL_H
#define YOPO_TESTMODEL_H

#include "model.h"

/* The committed fixture model families/<family> (testutil_fixtures()), opened; model_close it. */
struct model *testmodel_open_family(const char *family);

/* Copies the checkpoint directory src (config.json, model.safetensors, tokenizer files) into the
 * existing directory dst with every tensor converted to dtype (round to nearest even). */
void testmodel_copy_dtype(const char *src, const char *dst, enum safetensors_dtype dtype);

#endif
