/* testmodel: the model fixtures the tests share (kept out of testutil so that tests of util/ and
 * policy/ need not link model/). Failures are Check assertions. */
#ifndef YOPO_TESTMODEL_H
#define YOPO_TESTMODEL_H

#include "model.h"

/* The committed fixture model families/<family> (testutil_fixtures()), opened; model_close it. */
struct model *testmodel_open_family(const char *family);

#endif
